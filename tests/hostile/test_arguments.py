"""Every argument of every GraphQL field pushed past its limits — over-long ids, trailing
newlines, integers past their column or Python's 4,300-digit parsing limit, malformed cursors —
and the pages' path parameters likewise: each answer is typed (a union error, a GraphQL error
naming the problem, a 400/404 page), never "Unexpected error." or a 500, and a refusal writes
nothing. Runs on SQLite and PostgreSQL (PostgreSQL refuses out-of-range integers itself)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
    get_named_type,
)
from heartchain.accounts.services import issue_token, register_account
from heartchain.app import create_app
from heartchain.schema import schema
from tests.conftest import Ledger
from tests.hostile.test_access import CALLERS, POLICY
from tests.tracing import factories as f

SCHEMA = schema._schema
LONG = "x" * 5_000
HUGE = "9" * 5_000  # past Python's int parsing limit (4,300 digits)


def cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


# Hostile literals by scalar: each must be refused (or answered) with a typed result.
HOSTILE: dict[str, list[str]] = {
    "String": [json.dumps(LONG), json.dumps("x\n"), json.dumps(cursor(["entry", 10**30])),
               json.dumps(cursor(["lot", "L" * 500])), json.dumps(cursor(["entry", "x"]))],
    "Int": ["2147483647", "-2147483648", HUGE],
    "Int64": ["9007199254740991", "-9007199254740991", "1" + "0" * 29, HUGE],
    "Boolean": [],
    "JSON": [json.dumps(LONG), f"{{a: {HUGE}}}", "{a: 100000000000000000000000000000}"],
}
PLAIN = {"String": '"x"', "Int": "1", "Int64": "1", "Boolean": "false", "JSON": '"x"'}


def plain(type_: Any) -> str:
    """A well-formed literal for a required argument the sweep is not attacking."""
    if isinstance(type_, GraphQLNonNull):
        return plain(type_.of_type)
    if isinstance(type_, GraphQLList):
        return f"[{plain(type_.of_type)}]"
    if isinstance(type_, GraphQLInputObjectType):
        return "{" + ", ".join(f"{n}: {plain(fd.type)}" for n, fd in type_.fields.items()
                               if isinstance(fd.type, GraphQLNonNull)) + "}"
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    return PLAIN[type_.name]


def wrap(type_: Any, literal: str) -> str:
    """`literal` where an argument of `type_` expects its scalar (inside lists too)."""
    if isinstance(type_, GraphQLNonNull):
        return wrap(type_.of_type, literal)
    if isinstance(type_, GraphQLList):
        return f"[{wrap(type_.of_type, literal)}]"
    return literal


def selection(field: GraphQLField) -> str:
    named = get_named_type(field.type)
    if isinstance(named, GraphQLUnionType):
        return "{ __typename ... on ValidationError { message field } }"
    if isinstance(named, GraphQLObjectType):
        return "{ __typename }"
    return ""


def attacks(field: GraphQLField) -> Iterator[dict[str, str]]:
    """Argument sets: all required ones plain, then one argument (or input field) hostile."""
    base = {n: plain(a.type) for n, a in field.args.items() if isinstance(a.type, GraphQLNonNull)}
    for name, arg in field.args.items():
        named = get_named_type(arg.type)
        if isinstance(named, GraphQLScalarType):
            for literal in HOSTILE[named.name]:
                yield {**base, name: wrap(arg.type, literal)}
        elif isinstance(named, GraphQLInputObjectType):
            for sub, sub_field in named.fields.items():
                sub_named = get_named_type(sub_field.type)
                if not isinstance(sub_named, GraphQLScalarType):
                    continue
                for literal in HOSTILE[sub_named.name]:
                    others = {n: plain(fd.type) for n, fd in named.fields.items()
                              if isinstance(fd.type, GraphQLNonNull) and n != sub}
                    body = ", ".join(f"{n}: {v}" for n, v in
                                     {**others, sub: wrap(sub_field.type, literal)}.items())
                    yield {**base, name: wrap(arg.type, "{" + body + "}")}


def call(name: str, field: GraphQLField, args: dict[str, str]) -> str:
    rendered = ", ".join(f"{k}: {v}" for k, v in args.items())
    return f"{name}({rendered}) {selection(field)}" if rendered else f"{name} {selection(field)}"


@dataclass
class World:
    ledger: Ledger
    http: httpx.AsyncClient
    tokens: dict[str, str]
    member: str


@pytest.fixture
async def world(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    monkeypatch.setenv("HEARTCHAIN_RATE_LIMIT", "0")  # thousands of requests in a few seconds
    app = create_app(ledger.settings)
    app.state.platform = ledger.platform
    platform = ledger.platform
    tokens = {"operator": ledger.operator_token}
    addresses = {}
    for role in ("charity", "partner", "investigator", "member"):
        made = await register_account(platform, role=role, registrar=ledger.operator,
                                      label=None if role == "member" else f"the {role}")
        addresses[role] = made.address
        tokens[role] = await issue_token(platform, made.address, "sweep")
    await f.donate(ledger, addresses["charity"], addresses["member"], "cash", 5_000, "x")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as http:
        yield World(ledger, http, tokens, addresses["member"])


def typed(document: dict[str, Any]) -> bool:
    return not any(e.get("message") == "Unexpected error." for e in document.get("errors", []))


def first_allowed(mutation: str) -> list[str]:
    """The first role past the mutation's permission rules, so input checks are reached."""
    return [next(r for r in CALLERS if POLICY[mutation][r] in "Yr" and r != "anonymous")]


async def sweep(world: World, operation: str, root: GraphQLObjectType,
                roles: Callable[[str], list[str]]) -> int:
    sent = 0
    failures: list[str] = []
    for name, field in root.fields.items():
        for args in attacks(field):
            query = f"{operation} {{ {call(name, field, args)} }}"
            for role in roles(name):
                size = await world.ledger.platform.log.size()
                response = await world.http.post("/graphql", json={"query": query}, headers={
                    "Authorization": f"Bearer {world.tokens[role]}"})
                sent += 1
                if response.status_code >= 500 or not typed(response.json()):
                    failures.append(f"{role}: {query[:160]}\n  {response.text[:160]}")
                    continue
                document = response.json()
                value = (document.get("data") or {}).get(name)
                wrote = await world.ledger.platform.log.size() - size
                if not (isinstance(value, dict) and value.get("__typename", "").endswith(
                        ("Recorded", "Granted", "Created", "Saved", "Set", "Changed",
                         "Registered", "Submitted", "Disbursed", "Revoked", "Checked",
                         "Reversed", "Offered", "Split", "Apportioned", "Result"))):
                    assert wrote == 0, f"{role}: refused but wrote {wrote}: {query[:300]}"
    assert not failures, f"{len(failures)} untyped answers:\n" + "\n".join(failures[:40])
    return sent


async def test_every_query_argument(world: World) -> None:
    assert await sweep(world, "query", SCHEMA.query_type, lambda _: ["operator"]) > 100


async def test_every_mutation_argument(world: World) -> None:
    assert await sweep(world, "mutation", SCHEMA.mutation_type, first_allowed) > 200


async def test_nested_arguments(world: World) -> None:
    """Fields with arguments below the root, reached through a real object."""
    roots = {"LogEntry": "entry(index: 0)", "MemberHearts": f'member(address: "{world.member}")',
             "Campaign": 'campaign(slug: "x")'}
    tested = set()
    for type_name, root in roots.items():
        type_ = SCHEMA.type_map[type_name]
        assert isinstance(type_, GraphQLObjectType)
        for name, field in type_.fields.items():
            for args in attacks(field):
                query = f"{{ {root} {{ {call(name, field, args)} }} }}"
                response = await world.http.post("/graphql", json={"query": query}, headers={
                    "Authorization": f"Bearer {world.tokens['member']}"})
                # A page too large to afford is refused before it runs (400, a named code).
                assert response.status_code < 500 and typed(response.json()), \
                    f"{query[:200]}: {response.text[:300]}"
                tested.add(f"{type_name}.{name}")
    assert {"LogEntry.inclusionProof", "MemberHearts.history", "MemberHearts.donations",
            "MemberHearts.checks", "Campaign.donations", "Campaign.disbursements"} <= tested


PATHS = [
    "/entries/99999999999999999999999", "/entries/9007199254740993", "/lots/" + "L" * 5000,
    "/lots/L1" + "1" * 30, "/lots/" + "L" * 500 + "/epcis", "/lots/" + "L" * 500 + "/label.svg",
    "/lots/" + "L" * 500 + "/label.png", "/lots/" + "L" * 500 + "/label",
    "/cases/" + "c" * 5000, "/plans/" + "p" * 5000 + "/periods/1",
    "/plans/basic/periods/99999999999999999999", "/plans/basic/periods/2147483648",
    "/members/" + "p" * 5000, "/campaigns/" + "c" * 5000 + "/ledger.csv",
    "/campaigns/x/ledger.csv?charity=" + "c" * 500, "/campaigns/x%0A/ledger.csv",
    "/log?before=" + HUGE, "/log?consistency_from=1&consistency_to=9999999999999999",
    "/search?q=%23" + "9" * 16, "/search?q=" + "x" * 5000, "/lots/L1?c=" + "A" * 5000]


# Pages whose parameters only filter or choose: any answer but a 5xx.
ANSWERED = ["/log?kind=" + "k" * 5000, "/log?kind=a.b%0A", "/?lang=" + "x" * 5000,
            "/members/hc1" + "q" * 5000, "/entries/0?lang=%0A", "/log?before=-1"]


async def test_pages_answer_400_or_404(world: World) -> None:
    answers = {path[:60]: (await world.http.get(path)).status_code for path in PATHS}
    assert all(status in (400, 404) for status in answers.values()), answers
    answers = {path[:60]: (await world.http.get(path)).status_code for path in ANSWERED}
    assert all(status < 500 for status in answers.values()), answers
