"""Hostile input against a live `heartchain serve`: the whole GraphQL schema fuzzed with
schemathesis (valid and invalid documents, every query and mutation, with and without a token),
and the tlog tile paths fuzzed with hypothesis. No 500s, and no request that was refused wrote.

Bounded: a few examples per operation (FUZZ_EXAMPLES), so the directory stays within minutes.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import IO, Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.graphql import nodes

from graphql import FieldNode, NameNode, OperationDefinitionNode, parse, print_ast
from heartchain.ledger.tiles import TileRef
from heartchain.settings import sqlite_url
from tests.servers import Server, cli_env, run_cli

FUZZ_EXAMPLES = int(os.environ.get("HEARTCHAIN_FUZZ_EXAMPLES", "6"))
Check = Callable[[str, str, httpx.Response, int, int], None]
TRACE = os.environ.get("HEARTCHAIN_FUZZ_TRACE")
ERRORS = ("ValidationError", "PermissionDenied", "NotFound", "Conflict")
MAX_SAFE = 2**53 - 1

# Strategies for the two custom scalars: mostly small indexes (which exist), sometimes anything
# JSON-representable, sometimes beyond ±(2^53 - 1) (must be refused, not crash).
schemathesis.graphql.scalar("Int64", st.one_of(
    st.integers(0, 40), st.integers(-MAX_SAFE, MAX_SAFE),
    st.integers(-(2**63), 2**63)).map(nodes.Int))
schemathesis.graphql.scalar("JSON", st.one_of(
    st.text(max_size=40).map(nodes.String), st.integers(-1000, 1000).map(nodes.Int),
    st.dictionaries(st.sampled_from(["issuer", "validFrom", "proof", "credentialSubject"]),
                    st.text(max_size=20).map(nodes.String), max_size=4).map(
        lambda d: nodes.Object([_object_field(k, v) for k, v in d.items()]))))


def _object_field(name: str, value: Any) -> Any:
    from graphql import ObjectFieldNode

    return ObjectFieldNode(name=NameNode(value=name), value=value)


@dataclass
class Live:
    server: Server
    operator_token: str
    charity_token: str

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    data = tmp_path_factory.mktemp("hostile")
    env = cli_env(data, sqlite_url(data / "heartchain.sqlite3"))
    init = run_cli(env, "init")
    found = re.search(r"operator token:\s+(\S+)", init.stdout)
    if init.returncode != 0 or found is None:
        raise RuntimeError(f"heartchain init failed: {init.stdout}{init.stderr}")
    server = Server(env)
    await server.start()
    # Server pipes stderr, and every refused query logs a traceback there: without a reader the
    # pipe fills after a few hundred refusals and the server blocks on its next log line.
    if server.process is not None and server.process.stderr is not None:
        drain = threading.Thread(target=_drain, args=(server.process.stderr,), daemon=True)
        drain.start()
    try:
        live = Live(server, found.group(1), "")
        live.charity_token = await _seed(live)
        yield live
    finally:
        server.stop()
        if server.process is not None and server.process.stderr is not None:
            drain.join(10)
            server.process.stderr.close()


def _drain(stream: IO[bytes]) -> None:
    while stream.read(65536):
        pass


async def _seed(live: Live) -> str:
    """A little of everything at small indexes, so generated indexes hit real objects."""
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        async def call(query: str, token: str) -> dict[str, Any]:
            response = await http.post("/graphql", json={"query": query},
                                       headers={"Authorization": f"Bearer {token}"})
            data: dict[str, Any] = response.json()["data"]
            return data

        made = await call('mutation { registerAccount(role: "charity", label: "Fuzz Charity") '
                          '{ ... on AccountRegistered { token account { address } } } }',
                          live.operator_token)
        charity = made["registerAccount"]["token"]
        member = await call('mutation { registerAccount(role: "member") '
                            '{ ... on AccountRegistered { account { address } } } }',
                            live.operator_token)
        donor = member["registerAccount"]["account"]["address"]
        await call('mutation { createCampaign(input: {slug: "fuzz", titleZh: "模糊", '
                   'titleEn: "Fuzz", purpose: "fuzzing", category: "other", goal: 100, '
                   'unit: "fen", starts: "2020-01-01T00:00:00.000Z", beneficiary: "nobody"}) '
                   '{ __typename } }', charity)
        for kind, quantity in (("cash", 10_000), ("food", 5_000), ("tree", 3)):
            await call(f'mutation {{ recordDonation(kind: "{kind}", quantity: {quantity}, '
                       f'campaign: "fuzz", donor: "{donor}") {{ __typename }} }}', charity)
        await call('mutation { createLot(input: {goods: "rice", quantity: 1000, unit: "grams", '
                   f'receipt: "{"ab" * 32}"}}) {{ __typename }} }}', charity)
        return str(charity)


def log_size(http: httpx.Client) -> int:
    size: int = http.get("/healthz").json()["size"]
    return size


def with_typename(query: str) -> str:
    """The document with `__typename` on each top-level field, so a refusal can be told apart."""
    typename = FieldNode(name=NameNode(value="__typename"))

    def marked(field: Any) -> Any:
        if not isinstance(field, FieldNode) or field.selection_set is None:
            return field
        return replace(field, selection_set=replace(
            field.selection_set, selections=(typename, *field.selection_set.selections)))

    document = parse(query)
    definitions = [
        replace(d, selection_set=replace(d.selection_set, selections=tuple(
            marked(f) for f in d.selection_set.selections)))
        if isinstance(d, OperationDefinitionNode) else d for d in document.definitions]
    return print_ast(replace(document, definitions=tuple(definitions)))


def refused(response: httpx.Response) -> bool:
    """A GraphQL error, or every top-level field answered with an error result."""
    if response.status_code != 200:
        return True
    document = response.json()
    if document.get("errors") or not document.get("data"):
        return True
    return all(isinstance(value, dict) and value.get("__typename") in ERRORS
               for value in document["data"].values())


def fuzz(live: Live, token: str | None, mode: GenerationMode, check: Check) -> int:
    """Run every operation of the live schema; return how many requests were sent."""
    schema = schemathesis.graphql.from_url(f"{live.url}/graphql")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=live.url, timeout=10, headers=headers) as http:
        return sum(_fuzz_operation(http, result.ok(), mode, check)
                   for result in schema.get_all_operations())


def _fuzz_operation(http: httpx.Client, operation: Any, mode: GenerationMode,
                    check: Check) -> int:
    label: str = operation.label
    sent = 0

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
              phases=[Phase.generate], derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        nonlocal sent
        body = case.body
        if mode is GenerationMode.POSITIVE:
            body = with_typename(body)
        if TRACE:
            with open(TRACE, "a") as trace:
                trace.write(f"--- {label}\n{body}\n")
        try:
            before = log_size(http)
            response = http.post("/graphql", json={"query": body})
            after = log_size(http)
        except httpx.TimeoutException as exc:
            raise AssertionError(f"{label}: no answer in time\n{body}") from exc
        sent += 1
        check(label, body, response, before, after)

    run()
    return sent


def no_server_error(label: str, body: str, response: httpx.Response, before: int,
                    after: int) -> None:
    assert response.status_code < 500, f"{label}: {response.status_code}\n{body}\n{response.text}"
    # A masked error is an exception nobody expected: hostile input must get a typed answer.
    assert "Unexpected error." not in response.text, f"{label}\n{body}\n{response.text[:2000]}"
    if refused(response):
        assert after == before, f"{label} was refused but wrote {after - before} entries\n{body}"


def no_write_at_all(label: str, body: str, response: httpx.Response, before: int,
                    after: int) -> None:
    no_server_error(label, body, response, before, after)
    assert after == before, f"{label} wrote without a token\n{body}\n{response.text}"


def test_fuzz_without_a_token_writes_nothing(live: Live) -> None:
    # Without a token nothing may be written: every mutation but submitEntry needs an account,
    # and submitEntry needs an entry signed by a registered key, which fuzzing cannot forge.
    sent = fuzz(live, None, GenerationMode.POSITIVE, no_write_at_all)
    sent += fuzz(live, None, GenerationMode.NEGATIVE, no_write_at_all)
    assert sent > 50


# Not marked slow: this runs in CI with the rest (bounded: a few examples per operation, each
# run well under its timeout).
@pytest.mark.timeout(90)
@pytest.mark.parametrize("who", ["operator", "charity"])
def test_fuzz_with_a_token_never_500s_and_refusals_write_nothing(live: Live, who: str) -> None:
    token = live.operator_token if who == "operator" else live.charity_token
    counts = {"refused": 0, "wrote": 0, "beyond_int64": 0}
    mutations: set[str] = set()

    def counted(label: str, body: str, response: httpx.Response, before: int,
                after: int) -> None:
        no_server_error(label, body, response, before, after)
        if label.startswith("Mutation."):
            mutations.add(label)
            counts["refused" if refused(response) else "wrote"] += 1
            # The Int64 strategy reaches past ±(2^53 - 1): those must come back typed.
            if any(abs(int(n)) > MAX_SAFE for n in re.findall(r"-?\b\d{16,}\b", body)):
                counts["beyond_int64"] += 1

    sent = fuzz(live, token, GenerationMode.POSITIVE, counted)
    sent += fuzz(live, token, GenerationMode.NEGATIVE, counted)
    assert sent > 50
    assert counts["refused"] > 20, counts  # random input is nearly always refused
    assert counts["beyond_int64"] > 0, counts
    from heartchain.schema import schema as code_schema

    assert mutations == {f"Mutation.{name}" for name in code_schema._schema.mutation_type.fields}
    # ... and the size check would see a write: a valid mutation with the same token.
    valid = {"operator": 'mutation { registerAccount(role: "member") { __typename } }',
             "charity": 'mutation { recordDonation(kind: "cash", quantity: 100, campaign: '
                        '"fuzz", contact: "+8613700000000") { __typename } }'}[who]
    with httpx.Client(base_url=live.url, timeout=10) as http:
        before = log_size(http)
        response = http.post("/graphql", json={"query": valid},
                             headers={"Authorization": f"Bearer {token}"})
        assert not refused(response), response.text
        # A new contact's donor is registered first: two entries for the charity's gift.
        assert log_size(http) == before + (1 if who == "operator" else 2)


# -- tile paths ----------------------------------------------------------------------------

def _group(n: int) -> str:
    return f"{n:03d}"


def canonical(level: str, index: int, width: int | None) -> str:
    groups = []
    while True:
        groups.append(_group(index % 1000))
        index //= 1000
        if index == 0:
            break
    groups.reverse()
    path = "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])
    return f"tile/{level}/{path}" + (f".p/{width}" if width is not None else "")


levels = st.one_of(st.integers(0, 70).map(str), st.just("entries"),
                   st.sampled_from(["-1", "00", "+1", "1e2", "entries2", "", "x"]))
indexes = st.one_of(st.integers(0, 3), st.integers(0, 10**18), st.integers(10**18, 10**40))
widths = st.one_of(st.none(), st.integers(-1, 300))
structured = st.builds(canonical, levels, indexes, widths)
mangled = st.builds(lambda p, i, s: p[:i] + s + p[i:], structured, st.integers(0, 40),
                    st.sampled_from(["/", "x", ".p", "0", "..", "%00", "/x000", "é", " "]))
junk = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]),
               max_size=60).map(lambda t: "tile/" + quote(t, safe="/."))
tile_paths = st.one_of(structured, mangled, junk)


def test_tile_paths_never_500(live: Live) -> None:
    seen: dict[int, int] = {}
    with httpx.Client(base_url=live.url, timeout=30) as http:
        size = http.get("/healthz").json()["size"]

        @settings(max_examples=400, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(path=tile_paths)
        def run(path: str) -> None:
            response = http.get("/log/" + path)
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            assert response.status_code in (200, 400, 404), f"{path!r}: {response.status_code}"

        run()
        # The real tiles are served, and one past the end is 404, not 400.
        for ref in (TileRef(0, 0, size), TileRef(-1, 0, size)):
            assert http.get(f"/log/{ref.path}").status_code == 200
        assert http.get(f"/log/{TileRef(0, 0, size + 1).path}").status_code == 404
        assert http.get(f"/log/{TileRef(0, 5, 256).path}").status_code == 404
    assert seen.get(400, 0) > 0 and seen.get(404, 0) > 0, seen


def test_the_schema_is_fuzzed_whole(live: Live) -> None:
    """Every query and mutation field is an operation schemathesis generates cases for."""
    from heartchain.schema import schema as code_schema

    loaded = schemathesis.graphql.from_url(f"{live.url}/graphql")
    labels = {result.ok().label for result in loaded.get_all_operations()}
    expected = {f"Query.{name}" for name in code_schema._schema.query_type.fields} | \
        {f"Mutation.{name}" for name in code_schema._schema.mutation_type.fields}
    assert labels == expected
