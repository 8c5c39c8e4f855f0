"""The load test's workload: a minimal HTTP client, the GraphQL documents, the world the clients
act in (a charity, a partner, members, each client's lot), the weighted operations, the closed
loop that runs them, and the read-back of every acknowledged write (bench/load.py drives it).
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from heartchain.ledger import merkle
from heartchain.ledger.tiles import TILE_WIDTH, decode_entry_bundle, index_path

# `floor` (weight 0 unless asked for): an authenticated request that does nothing, so its CPU
# is what every request pays before its own work (HTTP, middleware, GraphQL, the token).
# `attested_check` (weight 0 unless asked for): a check whose partner also takes the signed
# credential (`check` asks only for the answer, and the server signs a credential only when
# asked).
MIX = {"donation": 20, "handover": 10, "check": 10, "lot_page": 15, "donor_page": 15,
       "proof": 15, "tile": 15, "floor": 0, "attested_check": 0}
WRITES = ("donation", "handover", "check", "attested_check")

# ---------------------------------------------------------------------------------------------
# A minimal keep-alive HTTP/1.1 client: one connection per simulated client.


class HTTPError(Exception):
    pass


class Connection:
    def __init__(self, port: int, timeout: float = 60) -> None:
        self.port = port
        self.timeout = timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def request(self, method: str, path: str, body: bytes | None = None,
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        for attempt in (0, 1):
            fresh = self.writer is None
            if fresh:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            try:
                return await asyncio.wait_for(self._exchange(method, path, body, headers or {}),
                                              self.timeout)
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if fresh or attempt:  # a kept-alive connection the server closed: retry once
                    raise
        raise HTTPError("unreachable")

    async def _exchange(self, method: str, path: str, body: bytes | None,
                        headers: dict[str, str]) -> tuple[int, bytes]:
        if self.reader is None or self.writer is None:
            raise ConnectionError("not connected")
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        await self.writer.drain()
        status_line = await self.reader.readuntil(b"\r\n")
        status = int(status_line.split()[1])
        length, chunked, close = None, False, False
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and value == "close":
                close = True
        if chunked:
            data = bytearray()
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                data += await self.reader.readexactly(size)
                await self.reader.readexactly(2)
            while await self.reader.readuntil(b"\r\n") != b"\r\n":
                pass
            payload = bytes(data)
        elif length is not None:
            payload = await self.reader.readexactly(length)
        else:
            payload = await self.reader.read()
            close = True
        if close:
            await self.close()
        return status, payload

    async def get(self, path: str) -> bytes:
        status, payload = await self.request("GET", path)
        if status != 200:
            raise HTTPError(f"GET {path}: {status} {payload[:200]!r}")
        return payload

    async def gql(self, query: str, variables: dict[str, Any] | None = None,
                  token: str | None = None) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        status, payload = await self.request("POST", "/graphql", body, headers)
        if status != 200:
            raise HTTPError(f"graphql: {status} {payload[:300]!r}")
        document = json.loads(payload)
        if document.get("errors"):
            raise HTTPError(f"graphql: {document['errors'][0].get('message')}")
        data: dict[str, Any] = document["data"]
        return data


def result_of(data: dict[str, Any], field_name: str, success: str) -> dict[str, Any]:
    result: dict[str, Any] = data[field_name]
    if result.get("__typename") != success:
        raise HTTPError(f"{field_name}: {result.get('__typename')}: {result.get('message')}")
    return result


# ---------------------------------------------------------------------------------------------
# GraphQL documents

FAILURES = ("... on ValidationError { message } ... on PermissionDenied { message } "
            "... on NotFound { message } ... on Conflict { message }")
REGISTER = ("mutation($role: String!, $label: String) { registerAccount(role: $role, "
            "label: $label) { __typename ... on AccountRegistered { token account { address } } "
            f"{FAILURES} }} }}")
CONSENT = ("mutation($partner: String!) { grantConsent(partner: $partner, days: 365) { "
           f"__typename ... on ConsentGranted {{ entry {{ index leafHash }} }} {FAILURES} }} }}")
CREATE_LOT = ("mutation($input: CreateLotInput!) { createLot(input: $input) { __typename "
              f"... on LotChanged {{ lot {{ id }} entry {{ index leafHash }} }} {FAILURES} }} }}")
CREATE_CAMPAIGN = ('mutation { createCampaign(input: {slug: "load-test", titleZh: "压测", '
                   'titleEn: "Load test", purpose: "load test gifts", category: "food", '
                   'goal: 1000000000000, unit: "fen", starts: "2020-01-01T00:00:00.000Z", '
                   'beneficiary: "none: a load test"}) { __typename '
                   f"... on CampaignSaved {{ entry {{ index leafHash }} }} {FAILURES} }} }}")
DONATE = ("mutation($donor: String!, $kind: String!, $q: Int64!) { recordDonation(donor: $donor,"
          " kind: $kind, quantity: $q, campaign: \"load-test\") { __typename "
          "... on DonationRecorded { donation { index hearts } entry { index leafHash } } "
          f"{FAILURES} }} }}")
OFFER = ("mutation($lot: String!, $to: String!, $evidence: String!) { offerLot(lotId: $lot, "
         "to: $to, place: \"Depot 3 仓库\", evidence: $evidence) { __typename "
         f"... on HandoverOffered {{ offer {{ id }} }} {FAILURES} }} }}")
ACCEPT = ("mutation($offer: String!) { acceptLot(offerId: $offer) { __typename "
          "... on LotChanged { lot { custodian } entry { index leafHash } } "
          f"{FAILURES} }} }}")
CHECK = ("mutation($member: String!, $t: Int64!) { checkHearts(member: $member, threshold: $t) {"
         " __typename ... on HeartsChecked { atLeast entry { index leafHash } } "
         f"{FAILURES} }} }}")
ATTESTED_CHECK = CHECK.replace("atLeast entry", "atLeast attestation entry")
PROOF = ("query($i: Int64!) { entry(index: $i) { index leafHash inclusionProof { treeSize "
         "hashes checkpoint { rootHash } } } }")


# ---------------------------------------------------------------------------------------------
# The world the clients act in


@dataclass
class Party:
    address: str
    token: str


@dataclass
class Lane:
    """One client's lot and the two custodians who hand it to each other."""

    lot: str
    holders: tuple[Party, Party]
    current: int = 0


@dataclass
class World:
    port: int
    charity: Party
    partner: Party
    members: list[Party]
    lanes: list[Lane]
    size: int  # log size when the run started: proofs and tiles are read below it


@dataclass
class Ack:
    op: str
    index: int
    leaf_hash: bytes


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # cores used, by whom, during the run
    integration: dict[str, float] = field(default_factory=dict)  # from the workers' /metrics

    def record(self, op: str, seconds: float) -> None:
        self.latencies.setdefault(op, []).append(seconds)

    def fail(self, op: str, exc: BaseException) -> None:
        self.errors[op] = self.errors.get(op, 0) + 1
        if len(self.messages) < 10:
            self.messages.append(f"{op}: {type(exc).__name__}: {exc}"[:300])

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.latencies.values())


def _ack(op: str, entry: dict[str, Any]) -> Ack:
    return Ack(op, int(entry["index"]), base64.b64decode(entry["leafHash"]))


Op = Callable[[Connection, World, Lane, random.Random], Awaitable[Ack | None]]


async def op_donation(conn: Connection, world: World, lane: Lane, rng: random.Random) -> Ack:
    kind = rng.choice(["cash", "cash", "food", "tree"])
    quantity = {"cash": rng.randint(500, 50_000), "food": rng.randint(1000, 20_000),
                "tree": rng.randint(1, 20)}[kind]
    data = await conn.gql(DONATE, {"donor": rng.choice(world.members).address, "kind": kind,
                                   "q": quantity}, world.charity.token)
    return _ack("donation", result_of(data, "recordDonation", "DonationRecorded")["entry"])


async def op_handover(conn: Connection, world: World, lane: Lane, rng: random.Random) -> Ack:
    giver, taker = lane.holders[lane.current], lane.holders[1 - lane.current]
    offered = result_of(await conn.gql(OFFER, {"lot": lane.lot, "to": taker.address,
                                               "evidence": secrets.token_hex(32)}, giver.token),
                        "offerLot", "HandoverOffered")
    accepted = result_of(await conn.gql(ACCEPT, {"offer": offered["offer"]["id"]}, taker.token),
                         "acceptLot", "LotChanged")
    lane.current = 1 - lane.current
    return _ack("handover", accepted["entry"])


async def op_check(conn: Connection, world: World, lane: Lane, rng: random.Random) -> Ack:
    data = await conn.gql(CHECK, {"member": rng.choice(world.members).address,
                                  "t": rng.choice([1000, 100_000])}, world.partner.token)
    return _ack("check", result_of(data, "checkHearts", "HeartsChecked")["entry"])


async def op_attested_check(conn: Connection, world: World, lane: Lane, rng: random.Random
                            ) -> Ack:
    data = await conn.gql(ATTESTED_CHECK, {"member": rng.choice(world.members).address,
                                           "t": rng.choice([1000, 100_000])}, world.partner.token)
    answer = result_of(data, "checkHearts", "HeartsChecked")
    if answer["attestation"].get("proof", {}).get("cryptosuite") != "eddsa-jcs-2022":
        raise HTTPError(f"check: no signed credential in {str(answer)[:200]}")
    return _ack("attested_check", answer["entry"])


async def op_lot_page(conn: Connection, world: World, lane: Lane, rng: random.Random) -> None:
    await conn.get(f"/lots/{rng.choice(world.lanes).lot}")


async def op_donor_page(conn: Connection, world: World, lane: Lane, rng: random.Random) -> None:
    await conn.get(f"/members/{rng.choice(world.members).address}")


async def op_proof(conn: Connection, world: World, lane: Lane, rng: random.Random) -> None:
    data = await conn.gql(PROOF, {"i": rng.randrange(world.size)})
    if not data["entry"] or not data["entry"]["inclusionProof"]["hashes"]:
        raise HTTPError(f"entry: no proof in {str(data)[:200]}")


async def op_floor(conn: Connection, world: World, lane: Lane, rng: random.Random) -> None:
    data = await conn.gql("{ __typename }", {}, world.charity.token)
    if data.get("__typename") != "Query":
        raise HTTPError(f"floor: {str(data)[:200]}")


async def op_tile(conn: Connection, world: World, lane: Lane, rng: random.Random) -> None:
    full = world.size // TILE_WIDTH
    if full == 0:  # a small (light-seeded) log: its one partial bundle
        data = await conn.get(f"/log/tile/entries/000.p/{world.size}")
        if len(decode_entry_bundle(data)) != world.size:
            raise HTTPError("entry bundle: wrong width")
    elif rng.random() < 0.5:
        data = await conn.get(f"/log/tile/0/{_tile_index(rng.randrange(full))}")
        if len(data) != TILE_WIDTH * 32:
            raise HTTPError(f"hash tile: {len(data)} bytes")
    else:
        data = await conn.get(f"/log/tile/entries/{_tile_index(rng.randrange(full))}")
        if len(decode_entry_bundle(data)) != TILE_WIDTH:
            raise HTTPError("entry bundle: not full")


def _tile_index(n: int) -> str:
    return index_path(n)


OPS: dict[str, Op] = {"donation": op_donation, "handover": op_handover, "check": op_check,
                      "lot_page": op_lot_page, "donor_page": op_donor_page, "proof": op_proof,
                      "tile": op_tile, "floor": op_floor, "attested_check": op_attested_check}


async def run_clients(world: World, mix: dict[str, int], clients: int, seconds: float,
                      requests: int, seed: int) -> Tally:
    """Closed loop: each client runs one operation after another until time or count is up."""
    tally = Tally()
    names = [n for n in mix if mix[n] > 0]
    weights = [mix[n] for n in names]
    deadline = time.perf_counter() + seconds
    budget = [requests]

    async def client(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        lane = world.lanes[number % len(world.lanes)]
        conn = Connection(world.port)
        try:
            while time.perf_counter() < deadline and budget[0] > 0:
                budget[0] -= 1
                op = rng.choices(names, weights)[0]
                started = time.perf_counter()
                try:
                    ack = await OPS[op](conn, world, lane, rng)
                except (HTTPError, OSError, TimeoutError, asyncio.IncompleteReadError, KeyError,
                        ValueError) as exc:
                    tally.fail(op, exc)
                    await conn.close()
                    continue
                tally.record(op, time.perf_counter() - started)
                if ack is not None:
                    tally.acks.append(ack)
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*[client(i) for i in range(clients)])
    tally.seconds = time.perf_counter() - started
    return tally


async def unloaded(world: World, mix: dict[str, int], samples: int) -> Tally:
    """Each operation alone, one request at a time: the latency baseline."""
    tally = Tally()
    rng = random.Random(7)
    conn = Connection(world.port)
    try:
        for op in (n for n in mix if mix[n] > 0):
            for _ in range(samples):
                started = time.perf_counter()
                try:
                    ack = await OPS[op](conn, world, world.lanes[0], rng)
                except (HTTPError, OSError, KeyError, ValueError) as exc:
                    tally.fail(op, exc)
                    await conn.close()
                    continue
                tally.record(op, time.perf_counter() - started)
                if ack is not None:
                    tally.acks.append(ack)
    finally:
        await conn.close()
    return tally


# ---------------------------------------------------------------------------------------------
# Setup and the read-back over HTTP


async def setup_world(port: int, token: str, clients: int, members: int) -> tuple[World,
                                                                                   list[Ack]]:
    conns = [Connection(port) for _ in range(8)]
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for c in conns:
        pool.put_nowait(c)

    async def call(query: str, variables: dict[str, Any], who: str) -> dict[str, Any]:
        conn = await pool.get()
        try:
            return await conn.gql(query, variables, who)
        finally:
            pool.put_nowait(conn)

    async def register(role: str, label: str | None = None) -> Party:
        result = result_of(await call(REGISTER, {"role": role, "label": label}, token),
                           "registerAccount", "AccountRegistered")
        return Party(result["account"]["address"], result["token"])

    acks: list[Ack] = []
    charity = await register("charity", "Load Test Food Bank 压测食物银行")
    declared = result_of(await call(CREATE_CAMPAIGN, {}, charity.token), "createCampaign",
                         "CampaignSaved")  # every gift names a declared campaign
    acks.append(_ack("setup", declared["entry"]))
    partner = await register("partner", "Load Test Partner 压测伙伴")
    people = await asyncio.gather(*[register("member")
                                    for i in range(members + 2 * clients)])
    the_members, custodians = list(people[:members]), list(people[members:])
    for granted in await asyncio.gather(*[call(CONSENT, {"partner": partner.address}, m.token)
                                          for m in the_members]):
        acks.append(_ack("setup", result_of(granted, "grantConsent", "ConsentGranted")["entry"]))

    async def lane(i: int) -> Lane:
        first, second = custodians[2 * i], custodians[2 * i + 1]
        created = result_of(await call(CREATE_LOT, {"input": {
            "goods": "rice 大米", "quantity": 500_000, "unit": "grams",
            "custodian": first.address, "receipt": secrets.token_hex(32)}}, charity.token),
            "createLot", "LotChanged")
        acks.append(_ack("setup", created["entry"]))
        return Lane(created["lot"]["id"], (first, second))

    lanes = list(await asyncio.gather(*[lane(i) for i in range(clients)]))
    size = json.loads(await conns[0].get("/healthz"))["size"]
    for c in conns:
        await c.close()
    return World(port, charity, partner, the_members, lanes, size), acks


async def check_acknowledged(port: int, acks: list[Ack]) -> tuple[int, int]:
    """Read every acknowledged entry back through /log/tile/entries; return (size, checked)."""
    conn = Connection(port)
    try:
        size = json.loads(await conn.get("/healthz"))["size"]
        wanted: dict[int, list[Ack]] = {}
        for ack in acks:
            wanted.setdefault(ack.index // TILE_WIDTH, []).append(ack)
        if len({a.index for a in acks}) != len(acks):
            raise RuntimeError("two acknowledged writes were given the same index")
        for bundle, in_bundle in sorted(wanted.items()):
            width = min(TILE_WIDTH, size - bundle * TILE_WIDTH)
            path = f"/log/tile/entries/{_tile_index(bundle)}"
            if width < TILE_WIDTH:
                path += f".p/{width}"
            leaves = decode_entry_bundle(await conn.get(path))
            for ack in in_bundle:
                offset = ack.index % TILE_WIDTH
                if offset >= len(leaves) or merkle.leaf_hash(leaves[offset]) != ack.leaf_hash:
                    raise RuntimeError(f"acknowledged {ack.op} at index {ack.index} is missing "
                                       f"or different in the stored log")
        return size, len(acks)
    finally:
        await conn.close()
