"""heartchain/ratelimit.py: costs read from the document, 429 + Retry-After, nothing written;
and the request body size limit of heartchain/limits.py. The limiter's tests run against both
bucket stores: this process's memory, and Redis (HEARTCHAIN_TEST_REDIS; skipped when unset)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from heartchain import request_json
from heartchain.accounts.services import TOKEN_PREFIX, issue_token, register_account
from heartchain.app import create_app
from heartchain.limits import MAX_BODY_BYTES
from heartchain.ratelimit import (
    EXPENSIVE_FIELDS,
    MUTATION_COST,
    RateLimit,
    TokenBuckets,
    graphql_cost,
    rate_from_env,
    request_cost,
)
from tests.conftest import Ledger
from tests.redis_keys import private_prefix, redis_url

ME = "{ me { address } }"
REGISTER = 'mutation { registerAccount(role: "member") { __typename } }'


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


Store = dict[str, Any]  # RateLimit's store arguments: {} (this process) or redis_url/_prefix


@pytest.fixture(params=["local", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "local":
        yield {}
        return
    url = redis_url()
    async with private_prefix(url) as prefix:
        yield {"redis_url": url, "redis_prefix": prefix}


@asynccontextmanager
async def limited(ledger: Ledger, *, rate: float, burst: float, clock: Callable[[], float],
                  host: str = "10.0.0.1", store: Store | None = None
                  ) -> AsyncIterator[httpx.AsyncClient]:
    """The app wrapped in the limiter, as app.py wraps it; requests come from `host`."""
    app = create_app(ledger.settings)
    app.state.platform = ledger.platform
    wrapped = RateLimit(app, rate=rate, burst=burst, clock=clock, **(store or {}))

    async def in_starlette(scope: Scope, receive: Receive, send: Send) -> None:
        # Inside Starlette's middleware stack (as app.py places it) the scope names the app,
        # whose platform holds the keys that check tokens.
        await wrapped({**scope, "app": app}, receive, send)

    transport = httpx.ASGITransport(app=in_starlette, client=(host, 4321))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http
    finally:
        await wrapped.aclose()


async def post(http: httpx.AsyncClient, query: str, token: str | None = None,
               variables: dict[str, object] | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await http.post("/graphql", json={"query": query, "variables": variables or {}},
                           headers=headers)


def test_costs() -> None:
    assert graphql_cost(ME) == 1
    assert graphql_cost(REGISTER) == 1 + MUTATION_COST
    assert graphql_cost("mutation { a: registerAccount(role: \"member\") { __typename } "
                        "b: registerAccount(role: \"member\") { __typename } }") \
        == 1 + 2 * MUTATION_COST
    # donationJourney's page is 1000 lots unless asked: 10 + 1000 items x 1/50.
    journey = "{ donationJourney(index: 5) { dispatched } }"
    assert graphql_cost(journey) == 1 + EXPENSIVE_FIELDS["donationJourney"] + 20
    aliased = "{ " + " ".join(f"j{i}: donationJourney(index: {i}, first: 10) {{ dispatched }}"
                              for i in range(30)) + " }"
    assert graphql_cost(aliased) == 1 + 30 * EXPENSIVE_FIELDS["donationJourney"] + 6
    page = "query($n: Int!) { member(address: \"x\") { donations(first: $n) { pageInfo { " \
           "hasNextPage } } } }"
    assert graphql_cost(page, {"n": 100}) == 1 + EXPENSIVE_FIELDS["member"] + 2
    # A variable that is not a number: the schema's default page (donations: 20) is priced.
    assert graphql_cost(page, {"n": "junk"}) == 1 + EXPENSIVE_FIELDS["member"] + 1
    # Fragments are followed (once each, even when they spread themselves: not validated yet).
    fragment = ("{ ...F } fragment F on Query { period(plan: \"p\", number: 1) { shareFen } "
                "...F }")
    assert graphql_cost(fragment) == 1 + EXPENSIVE_FIELDS["period"]
    assert graphql_cost("{ nope") == 1
    assert graphql_cost("{ " + "a " * 5000 + "}") == 1  # over the token limit: not parsed
    two = "query A { me { address } } query B { period(plan: \"p\", number: 1) { shareFen } }"
    assert graphql_cost(two, operation_name="A") == 1
    assert request_cost("POST", b"not json", b"") == 1
    assert request_cost("POST", b'[{"query": "{ me { address } }"}, 7]', b"") == 2
    assert request_cost("GET", b"", b"query=%7B+donationJourney%28index%3A+1%2C+first%3A+5%29"
                                    b"+%7B+lost+%7D+%7D") \
        == 1 + EXPENSIVE_FIELDS["donationJourney"] + 1


# The hostile tester's query: 30 aliases of a 100-entry page, each entry with its proof.
PROOFS = "{ " + " ".join(f"e{i}: entries(first: 100) {{ edges {{ node {{ index "
                         f"inclusionProof {{ hashes }} }} }} }}" for i in range(30)) + " }"


def test_a_cached_price_follows_the_page_sizes_and_nothing_else() -> None:
    """Costs are cached per document and page-size values: a second request with other page
    sizes is priced anew, one with other values elsewhere shares the first one's price."""
    from heartchain import cost

    nested = ("query($n: Int!, $who: String) { entries(first: $n) { edges { node { index "
              "inclusionProof { hashes } } } } }")
    small, large = graphql_cost(nested, {"n": 5}), graphql_cost(nested, {"n": 50})
    assert small < large
    assert graphql_cost(nested, {"n": 5, "who": "a"}) == small
    assert graphql_cost(nested, {"n": 50, "who": "b"}) == large
    assert graphql_cost(nested, {"n": "junk"}) == graphql_cost(nested, {})
    priced = len(cost._PRICES)
    for i in range(20):  # values no page reads add no entries
        graphql_cost(nested, {"n": 5, "who": str(i)})
    assert len(cost._PRICES) == priced
    # Two operations in one document: each is priced with its own page variable.
    two = ("query A($n: Int = 3) { entries(first: $n) { edges { node { index } } } } "
           "query B($m: Int = 4) { entries(first: $m) { edges { node { index } } } }")
    assert graphql_cost(two, {"n": 90}, operation_name="A") \
        > graphql_cost(two, {"m": 90}, operation_name="A")
    assert graphql_cost(two, {"m": 90}, operation_name="B") \
        == graphql_cost(two, {"n": 90}, operation_name="A")


def test_a_document_without_page_variables_is_priced_from_its_text() -> None:
    """A mutation's variables never change its price: after the first request it is answered
    from the document's text (no walk, no key of its values), the same price as walked; a
    document with a page variable never takes that path."""
    from heartchain import cost

    donation = ("mutation($donor: String!, $q: Int64!) { recordDonation(donor: $donor, "
                "kind: \"cash\", quantity: $q) { __typename } }")
    walked = graphql_cost(donation, {"donor": "a", "q": 1})
    assert (donation, None, cost._schema()) in cost._FIXED_PRICES
    priced = len(cost._PRICES)
    assert [graphql_cost(donation, {"donor": str(i), "q": i}) for i in range(5)] == [walked] * 5
    assert len(cost._PRICES) == priced
    cost._FIXED_PRICES.clear()
    assert graphql_cost(donation, {"donor": "b", "q": 2}) == walked
    paged = "query($n: Int!) { entries(first: $n) { edges { node { index } } } }"
    assert graphql_cost(paged, {"n": 5}) < graphql_cost(paged, {"n": 500})
    assert not any(key[0] == paged for key in cost._FIXED_PRICES)


def test_costs_grow_with_the_items_a_list_may_return() -> None:
    def priced(items: int, aliases: int = 1) -> int:
        # 1 + entries' 2 + each item's 1/50 and its proof's 2, rounded up once
        return 1 + math.ceil(aliases * (200 + items * (2 + 200)) / 100)

    one = "{ entries(first: 100) { edges { node { index inclusionProof { hashes } } } } }"
    assert graphql_cost(one) == priced(100) == 205
    assert graphql_cost(PROOFS) == priced(100, 30) == 6121
    nested = ("query($n: Int!) { entries(first: $n) { edges { node { index "
              "inclusionProof { hashes } } } } }")
    assert graphql_cost(nested, {"n": 5}) == priced(5)
    # Without first: the schema's default page (20 entries) is priced, not nothing.
    assert graphql_cost("{ entries { edges { node { inclusionProof { hashes } } } } }") \
        == priced(20)
    # An operation's own default for a variable counts when the variable is left out.
    defaulted = ("query($n: Int = 3) { entries(first: $n) { edges { node { inclusionProof "
                 "{ hashes } } } } }")
    assert graphql_cost(defaulted) == priced(3)
    # Fragments are resolved where they are spread, inside the page.
    spread = ("{ entries(first: 100) { edges { node { ...P } } } } "
              "fragment P on LogEntry { inclusionProof { hashes } }")
    assert graphql_cost(spread) == graphql_cost(one)
    # A fragment nested ten deep, each level spreading the one below twice, is priced
    # without walking 2^10 copies (each fragment is priced once).
    levels = " ".join(f"fragment F{i} on Query {{ a{i}: me {{ address }} ...F{i + 1} "
                      f"b{i}: me {{ address }} ...F{i + 1} }}" for i in range(10))
    assert graphql_cost("{ ...F0 } " + levels + " fragment F10 on Query { me { address } }") >= 1


async def test_the_thirty_alias_proof_query_is_refused_before_it_runs(
        ledger: Ledger, store: Store) -> None:
    clock = FakeClock()
    async with limited(ledger, rate=200, burst=400, clock=clock, store=store) as http:
        refused = await post(http, PROOFS)
        assert refused.status_code == 400
        error = refused.json()["errors"][0]
        assert error["extensions"]["code"] == "QUERY_TOO_EXPENSIVE"
        assert error["extensions"]["cost"] > error["extensions"]["limit"] == 400
        assert "too expensive" in error["message"]
        assert "data" not in refused.json()  # refused before execution
        # One alias of it fits in a burst; trivial queries still cost 1.
        one = "{ entries(first: 100) { edges { node { inclusionProof { hashes } } } } }"
        assert (await post(http, one)).status_code == 200
        assert [(await post(http, ME)).status_code for _ in range(5)] == [200] * 5


async def test_the_limiter_and_the_view_decode_a_body_once(
        client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The limiter prices the decoded body and the view runs that decoding: one parse a
    request (two were 3 % of a donation's server CPU), the same answers."""
    parsed: list[object] = []
    parse = request_json.parse

    def counting(data: str | bytes) -> object:
        parsed.append(data)
        return parse(data)

    monkeypatch.setattr(request_json, "parse", counting)
    answer = await client.post("/graphql", json={"query": "query($n: Int64!) { entry(index: $n)"
                                                 " { index } }", "variables": {"n": 2**70}})
    assert answer.json()["errors"][0]["message"].startswith("Variable '$n' has invalid value")
    assert len(parsed) == 1  # past 64 bits: msgspec refuses it, json reads it, once
    assert (await client.post("/graphql", content=b"{nope")).status_code == 400
    assert (await client.post("/graphql", json={"query": "{ __typename }"})).json() == {
        "data": {"__typename": "Query"}}
    assert len(parsed) == 4  # the malformed body: the limiter's try and the view's own


async def test_the_cap_holds_with_the_limiter_off(ledger: Ledger) -> None:
    app = create_app(ledger.settings)
    app.state.platform = ledger.platform
    transport = httpx.ASGITransport(app=RateLimit(app, rate=0, max_cost=1000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await post(http, PROOFS)).status_code == 400
        assert (await post(http, ME)).status_code == 200


async def test_a_get_that_repeats_a_parameter_is_refused(ledger: Ledger, store: Store) -> None:
    clock = FakeClock()
    cheap = "{ me { address } }"
    costly = "{ donationJourney(index: 1) { lost } }"
    async with limited(ledger, rate=1, burst=40, clock=clock, store=store) as http:
        for name, values in (("query", [cheap, costly]), ("variables", ["{}", "{}"]),
                             ("operationName", ["A", "B"])):
            params = [("query", cheap)] if name != "query" else []
            params += [(name, value) for value in values]
            response = await http.get("/graphql", params=params,
                                      headers={"accept": "application/json"})
            assert response.status_code == 400, name
            assert response.json()["errors"][0]["extensions"]["code"] == "AMBIGUOUS_REQUEST"
        # The GET's operationName is priced like a POST's: only the named operation counts.
        two = "query A { me { address } } query B { period(plan: \"p\", number: 1) { shareFen } }"
        response = await http.get("/graphql", params={"query": two, "operationName": "A"},
                                  headers={"accept": "application/json"})
        assert response.status_code == 200


def test_buckets_refill_and_cap_costs_at_the_burst() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate=10, burst=20, clock=clock, max_keys=2)
    assert buckets.wait("a", 20) == 0
    buckets.spend("a", 20)
    assert buckets.wait("a", 5) == pytest.approx(0.5)
    clock.now += 0.5
    assert buckets.wait("a", 5) == 0
    assert buckets.wait("a", 1000) == pytest.approx(1.5)  # costs above the burst count as it
    buckets.wait("b", 1)
    buckets.wait("c", 1)  # the least recently used key is forgotten (its bucket was full)
    assert "a" not in buckets._buckets and len(buckets._buckets) == 2


def test_configuration_from_the_environment() -> None:
    assert rate_from_env({}) == (200.0, 400.0)
    assert rate_from_env({"HEARTCHAIN_RATE_LIMIT": "5"}) == (5.0, 10.0)
    assert rate_from_env({"HEARTCHAIN_RATE_LIMIT": "5", "HEARTCHAIN_RATE_BURST": "7"}) \
        == (5.0, 7.0)
    with pytest.raises(ValueError):
        rate_from_env({"HEARTCHAIN_RATE_LIMIT": "-1"})


async def test_a_token_over_its_budget_gets_429_and_writes_nothing(
        ledger: Ledger, store: Store) -> None:
    clock = FakeClock()
    log = ledger.platform.log
    async with limited(ledger, rate=2, burst=6, clock=clock, store=store) as http:
        # Each registration costs 3: two fit in the burst, the third is refused.
        for _ in range(2):
            response = await post(http, REGISTER, ledger.operator_token)
            assert response.status_code == 200
            assert response.json()["data"]["registerAccount"]["__typename"] == "AccountRegistered"
        size = await log.size()
        refused = await post(http, REGISTER, ledger.operator_token)
        assert refused.status_code == 429
        # Refused before its body is read (the bucket is empty): one unit is 0.5 s away.
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert await log.size() == size
        # Another token and an anonymous caller have their own buckets.
        member = await register_account(ledger.platform, role="member",
                                         registrar=ledger.operator)
        other = await issue_token(ledger.platform, member.address, "other")
        assert (await post(http, ME, other)).status_code == 200
        assert (await post(http, ME)).status_code == 200
        clock.now += 1.5
        response = await post(http, REGISTER, ledger.operator_token)
        assert response.status_code == 200
        assert await log.size() == size + 2  # the member registered above, and this one


async def test_expensive_queries_run_out_first(ledger: Ledger, store: Store) -> None:
    clock = FakeClock()
    journey = "{ donationJourney(index: 1, first: 10) { dispatched } }"
    async with limited(ledger, rate=1, burst=30, clock=clock, store=store) as http:
        statuses = [(await post(http, journey)).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]  # 11 units each (10 + 10 lots x 1/50, rounded up)
        assert (await post(http, ME)).status_code == 200  # 8 units left: a cheap query fits


async def test_anonymous_callers_are_keyed_by_address(ledger: Ledger, store: Store) -> None:
    clock = FakeClock()
    async with limited(ledger, rate=1, burst=2, clock=clock, host="10.0.0.1",
                       store=store) as first, \
            limited(ledger, rate=1, burst=2, clock=clock, host="10.0.0.2",
                    store=store) as second:
        assert [(await post(first, ME)).status_code for _ in range(3)] == [200, 200, 429]
        assert (await post(second, ME)).status_code == 200  # another app, another address


async def test_made_up_tokens_do_not_buy_a_fresh_budget(ledger: Ledger, store: Store) -> None:
    clock = FakeClock()
    async with limited(ledger, rate=1, burst=2, clock=clock, store=store) as http:
        # A token that does not authenticate gets no bucket of its own: every made-up one
        # (with or without the token prefix) spends the address's bucket of 2.
        statuses = [(await post(http, ME, f"{prefix}made-up-{n}")).status_code
                    for n in range(10) for prefix in ("", TOKEN_PREFIX)]
        assert statuses[:2] == [200, 200] and statuses[2:] == [429] * 18
        assert (await post(http, ME)).status_code == 429  # the same bucket as no token
        # A real token still has its own.
        assert (await post(http, ME, ledger.operator_token)).status_code == 200


async def test_a_flood_is_refused_before_its_body_is_read(ledger: Ledger, store: Store) -> None:
    clock = FakeClock()
    async with limited(ledger, rate=1, burst=1, clock=clock, store=store) as http:
        assert (await post(http, ME)).status_code == 200
        refused = await http.post("/graphql", content=b"x" * 1000,
                                  headers={"content-type": "application/json"})
        assert refused.status_code == 429


async def test_rate_zero_disables_and_other_routes_pass(ledger: Ledger) -> None:
    app = create_app(ledger.settings)
    app.state.platform = ledger.platform
    transport = httpx.ASGITransport(app=RateLimit(app, rate=0))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert all([(await post(http, ME)).status_code == 200 for _ in range(20)])
    transport = httpx.ASGITransport(app=RateLimit(app, rate=1, burst=1, clock=FakeClock()))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert all([(await http.get("/log/checkpoint")).status_code == 200 for _ in range(5)])


@pytest.mark.parametrize("declared", [True, False])
async def test_bodies_over_the_size_limit_get_413_and_write_nothing(
        ledger: Ledger, client: httpx.AsyncClient, declared: bool) -> None:
    size = await ledger.platform.log.size()
    padding = "x" * (MAX_BODY_BYTES + 1)
    body = ('{"query": "mutation { registerAccount(role: \\"member\\") { __typename } }", '
            f'"extensions": {{"pad": "{padding}"}}}}').encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 65536):
            yield body[start:start + 65536]

    response = await client.post(
        "/graphql", content=body if declared else chunks(),
        headers={"content-type": "application/json",
                 "authorization": f"Bearer {ledger.operator_token}"})
    assert response.status_code == 413
    assert await ledger.platform.log.size() == size
