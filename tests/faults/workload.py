"""A realistic mixed write load against a live `heartchain serve`, and the checks after a fault.

Custodial writes through GraphQL mutations, as the organisations make them: a charity records
donations (`recordDonation`), lots travel between custodians (`createLot`, then `offerLot` by the
holder and `acceptLot` by the taker), the operator registers members (`registerAccount`).
Every acknowledged write is kept with its index and leaf hash; every refusal is classified
(connection error, HTTP status, GraphQL error) and a request that gets no answer within
`HANG_SECONDS` counts as a hang, which the fault tests forbid.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from heartchain.ledger import merkle
from heartchain.ledger.entries import parse_entry
from heartchain.timeouts import client_limits
from tests.servers import run_cli
from tests.test_processes import stored_leaves

HANG_SECONDS = 20.0
ERROR_TYPES = {"ValidationError", "PermissionDenied", "NotFound", "Conflict"}
ERRORS = ("... on ValidationError { message field } ... on PermissionDenied { message } "
          "... on NotFound { message } ... on Conflict { message }")

REGISTER = ("mutation($role: String!, $label: String) { registerAccount(role: $role, "
            "label: $label) { __typename ... on AccountRegistered { token account { address } "
            "entry { index leafHash } } " + ERRORS + " } }")
DONATE = ("mutation($donor: String!, $quantity: Int64!) { recordDonation(donor: $donor, "
          "kind: \"cash\", quantity: $quantity, campaign: \"winter-2026\") { __typename "
          "... on DonationRecorded { entry { index leafHash } } " + ERRORS + " } }")
CREATE_CAMPAIGN = ('mutation { createCampaign(input: {slug: "winter-2026", titleZh: "冬季", '
                   'titleEn: "Winter", purpose: "winter food parcels", category: "food", '
                   'goal: 1000000, unit: "fen", starts: "2020-01-01T00:00:00.000Z", '
                   'beneficiary: "families in need"}) { __typename ' + ERRORS + " } }")
CREATE_LOT = ("mutation($input: CreateLotInput!) { createLot(input: $input) { __typename "
              "... on LotChanged { lot { id } entry { index leafHash } } " + ERRORS + " } }")
OFFER = ("mutation($lot: String!, $to: String!) { offerLot(lotId: $lot, to: $to, "
         "place: \"depot\", evidence: \"" + "cd" * 32 + "\") { __typename "
         "... on HandoverOffered { offer { id } } " + ERRORS + " } }")
ACCEPT = ("mutation($offer: String!) { acceptLot(offerId: $offer) { __typename "
          "... on LotChanged { entry { index leafHash } } " + ERRORS + " } }")


@dataclass(frozen=True)
class Ack:
    """A write the server acknowledged: it must stay in the log at `index`, forever."""

    operation: str
    index: int
    leaf_hash: bytes
    at: float


@dataclass
class Actor:
    address: str
    token: str


@dataclass
class Cast:
    operator: Actor
    charity: Actor
    donors: list[Actor]
    drivers: list[Actor]


@dataclass
class Tally:
    acks: list[Ack] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)  # fault errors, by how they surfaced
    typed: Counter[str] = field(default_factory=Counter)  # union error results
    hangs: int = 0
    retried_donations: int = 0  # gifts sent again with their Idempotency-Key after a fault
    refusal_times: list[float] = field(default_factory=list)
    slowest: float = 0.0

    def acks_between(self, start: float, end: float = float("inf")) -> list[Ack]:
        return [a for a in self.acks if start <= a.at < end]

    def refusals_between(self, start: float, end: float = float("inf")) -> int:
        return sum(1 for t in self.refusal_times if start <= t < end)


class Refused(Exception):
    """The request failed: `how` is "answered" (an HTTP error status or a GraphQL error: the
    server says it did not do it), "connection", "hang" or "typed" (a union error result)."""

    def __init__(self, how: str) -> None:
        super().__init__(how)
        self.how = how


class Load:
    """`workers` loops of mixed writes over one HTTP client, until `stop()`."""

    def __init__(self, url: str, cast: Cast, *, donors: int = 3, chains: int = 2,
                 registrars: int = 1) -> None:
        self.url = url
        self.cast = cast
        self.tally = Tally()
        self._stop = asyncio.Event()
        self._plan = ([self._donations] * donors + [self._handovers] * chains
                      + [self._registrations] * registrars)
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Load:
        self._client = httpx.AsyncClient(timeout=HANG_SECONDS, limits=client_limits())
        self._tasks = [asyncio.create_task(worker(n)) for n, worker in enumerate(self._plan)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        if self._client is not None:
            await self._client.aclose()

    async def call(self, query: str, variables: dict[str, Any], token: str,
                   idempotency_key: str | None = None) -> dict[str, Any]:
        """The mutation's result object; raises Refused for a fault, a typed error as Conflict."""
        if self._client is None:
            raise RuntimeError("use `async with Load(...)`")
        headers = {"Authorization": f"Bearer {token}"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        started = time.monotonic()
        try:
            response = await self._client.post(
                f"{self.url}/graphql", json={"query": query, "variables": variables},
                headers=headers)
        except httpx.TimeoutException:
            self.tally.hangs += 1
            raise Refused("hang") from None
        except httpx.TransportError as exc:
            self._refuse(f"connection: {type(exc).__name__}")
            await asyncio.sleep(0.05)  # the server is down: do not spin
            raise Refused("connection") from exc
        finally:
            self.tally.slowest = max(self.tally.slowest, time.monotonic() - started)
        if response.status_code != 200:
            self._refuse(f"HTTP {response.status_code}")
            raise Refused("answered")
        body = response.json()
        if body.get("errors"):
            self._refuse(f"GraphQL: {body['errors'][0]['message']}")
            raise Refused("answered")
        result: dict[str, Any] = next(iter(body["data"].values()))
        if result["__typename"] in ERROR_TYPES:
            self.tally.typed[f"{result['__typename']}: {result['message'][:80]}"] += 1
            raise Refused("typed")
        return result

    def _refuse(self, how: str) -> None:
        self.tally.refused[how] += 1
        self.tally.refusal_times.append(time.monotonic())

    def _ack(self, operation: str, entry: dict[str, Any]) -> None:
        self.tally.acks.append(Ack(operation, int(entry["index"]),
                                   base64.b64decode(entry["leafHash"]), time.monotonic()))

    async def _donations(self, n: int) -> None:
        """Like a till: a gift whose answer did not come is sent again with the same
        Idempotency-Key until it is acknowledged, so it must be in the log exactly once."""
        cast, i = self.cast, 0
        while not self._stop.is_set():
            i += 1
            donor = cast.donors[(n + i) % len(cast.donors)]
            quantity = 1_000_000 * (n + 1) + i  # unique: tells each gift apart in the log
            while not self._stop.is_set():
                try:
                    result = await self.call(
                        DONATE, {"donor": donor.address, "quantity": quantity},
                        cast.charity.token, idempotency_key=f"gift-{quantity}")
                except Refused as refused:
                    if refused.how == "typed":
                        break
                    self.tally.retried_donations += 1
                    await asyncio.sleep(0.1)  # a till waits a moment before it tries again
                    continue
                self._ack("recordDonation", result["entry"])
                break

    async def _handovers(self, n: int) -> None:
        """Create a lot, then pass it along the drivers; start a new lot after any refusal
        (a lost answer leaves the worker unsure who holds the lot)."""
        cast = self.cast
        custodians = [cast.charity, *cast.drivers]
        while not self._stop.is_set():
            try:
                created = await self.call(CREATE_LOT, {"input": {
                    "goods": "rice 大米", "quantity": 20, "unit": "items", "receipt": "ab" * 32,
                    "custodian": cast.charity.address}}, cast.charity.token)
            except Refused:
                continue
            self._ack("createLot", created["entry"])
            lot, holder = created["lot"]["id"], 0
            while not self._stop.is_set():
                taker = (holder + 1) % len(custodians)
                try:
                    offer = await self.call(OFFER, {"lot": lot, "to": custodians[taker].address},
                                            custodians[holder].token)
                    accepted = await self.call(ACCEPT, {"offer": offer["offer"]["id"]},
                                               custodians[taker].token)
                except Refused:
                    break
                self._ack("acceptLot", accepted["entry"])
                holder = taker

    async def _registrations(self, n: int) -> None:
        i = 0
        while not self._stop.is_set():
            i += 1
            try:
                result = await self.call(REGISTER, {"role": "member"},
                                         self.cast.operator.token)
            except Refused:
                continue
            self._ack("registerAccount", result["entry"])


async def post(url: str, query: str, variables: dict[str, Any], token: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=HANG_SECONDS) as client:
        return await client.post(f"{url}/graphql", json={
            "query": query, "variables": variables}, headers={"Authorization": f"Bearer {token}"})


async def gql(url: str, query: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
    response = await post(url, query, variables, token)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def operator_token(init_stdout: str) -> str:
    for line in init_stdout.splitlines():
        if line.startswith("operator token:"):
            return line.split()[2]
    raise AssertionError(f"no operator token in: {init_stdout}")


async def cast_of(url: str, init_stdout: str) -> Cast:
    """The operator (from `heartchain init`), a charity, donors and drivers, all custodial."""
    token = operator_token(init_stdout)
    me = await gql(url, "{ me { address } }", {}, token)
    operator = Actor(me["data"]["me"]["address"], token)

    async def register(role: str, label: str | None = None) -> Actor:
        result = (await gql(url, REGISTER, {"role": role, "label": label},
                            token))["data"]["registerAccount"]
        assert result["__typename"] == "AccountRegistered", result
        return Actor(result["account"]["address"], result["token"])

    charity = await register("charity", "Sunrise Food Bank")
    declared = (await gql(url, CREATE_CAMPAIGN, {}, charity.token))["data"]["createCampaign"]
    assert declared["__typename"] == "CampaignSaved", declared  # gifts name a declared campaign
    donors = [await register("member") for _ in range(3)]
    drivers = [await register("partner", f"driver {i}") for i in range(2)]
    return Cast(operator, charity, donors, drivers)


async def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def check_nothing_lost(url: str, env: dict[str, str], tally: Tally) -> int:
    """Every acknowledged write is in the log at its index with its leaf hash, no index was
    acknowledged twice, no request hung, and `heartchain verify` (replay every entry into a
    scratch store and compare every projection row) passes. Returns the log size.

    And no gift is in the log twice: refused gifts are retried with the same Idempotency-Key
    (a charity's till does), and a retry of a write that committed although its answer was lost
    returns that entry instead of writing another (else the donor would get hearts twice)."""
    assert tally.hangs == 0, f"{tally.hangs} requests got no answer in {HANG_SECONDS} s"
    indexes = [a.index for a in tally.acks]
    assert len(indexes) == len(set(indexes)), "an index was acknowledged twice"
    leaves = await stored_leaves(url)
    for ack in tally.acks:
        assert ack.index < len(leaves), f"acknowledged {ack} is missing from the log"
        assert merkle.leaf_hash(leaves[ack.index]) == ack.leaf_hash, f"{ack} was replaced"
    gifts = Counter(entry.body["quantity"] for entry in map(parse_entry, leaves)
                    if entry.kind == "donation.record")
    twice = sorted(quantity for quantity, count in gifts.items() if count > 1)
    assert not twice, f"gifts written more than once: {twice}"
    verify = run_cli(env, "verify", timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert f"verified {len(leaves)} entries" in verify.stdout, verify.stdout
    return len(leaves)


def summary(tally: Tally) -> str:
    kinds = Counter(a.operation for a in tally.acks)
    return (f"acks {dict(kinds)}; refused {dict(tally.refused)}; typed {dict(tally.typed)}; "
            f"slowest answer {tally.slowest:.2f} s")
