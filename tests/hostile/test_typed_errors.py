"""The hostile tester's unhandled errors, one by one: each is now a typed refusal (or a 404
page) that names the input at fault, and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import gql
from tests.hostile.test_arguments import HUGE, World, cursor
from tests.hostile.test_arguments import world as world  # the fixture

MAX = 2**53 - 1


async def ask(world: World, query: str, role: str = "operator",
              variables: dict[str, Any] | None = None) -> dict[str, Any]:
    size = await world.ledger.platform.log.size()
    document = await gql(world.http, query, variables, token=world.tokens[role])
    assert "Unexpected error." not in str(document), document
    assert await world.ledger.platform.log.size() == size, "a refusal wrote"
    return document


def union(document: dict[str, Any], name: str) -> dict[str, Any]:
    value: dict[str, Any] = document["data"][name]
    return value


async def test_submit_entry_with_a_5000_digit_integer(world: World) -> None:
    document = await ask(world, "mutation ($e: String!) { submitEntry(entry: $e) { __typename "
                         "... on ValidationError { message } } }",
                         variables={"e": '{"v": ' + HUGE + "}"})
    result = union(document, "submitEntry")
    assert result["__typename"] == "ValidationError" and "malformed JSON" in result["message"]


@pytest.mark.parametrize("days", [1_000_000_000, 36_501, 0, -5])
async def test_grant_consent_days_out_of_range(world: World, days: int) -> None:
    partner = await gql(world.http, "{ me { address } }", token=world.tokens["partner"])
    document = await ask(world, f'mutation {{ grantConsent(partner: '
                         f'"{partner["data"]["me"]["address"]}", days: {days}) {{ __typename '
                         "... on ValidationError { field message } } }", role="member")
    result = union(document, "grantConsent")
    assert result["__typename"] == "ValidationError", result
    assert result["field"] in ("days", "expires")


@pytest.mark.parametrize("literal", ["1" + "0" * 29, str(MAX + 1), "-" + str(MAX + 1), HUGE])
async def test_int64_beyond_range_is_a_named_error(world: World, literal: str) -> None:
    document = await ask(world, f"{{ entry(index: {literal}) {{ index }} }}")
    assert document["data"] is None
    assert "Int64 must be" in document["errors"][0]["message"]
    # The same value as a variable.
    if len(literal) < 4000:
        variables = {"i": int(literal)}
        document = await ask(world, "query ($i: Int64!) { entry(index: $i) { index } }",
                             variables=variables)
        assert "Int64 must be" in document["errors"][0]["message"], document


async def test_int_literal_past_the_parsing_limit_is_named(world: World) -> None:
    document = await ask(world, f"{{ entries(first: {HUGE}) {{ __typename }} }}")
    assert "Expected value of type 'Int'" in document["errors"][0]["message"]


@pytest.mark.parametrize("after", [
    "!!!garbage", cursor(["entry", 10**30]), cursor(["entry", "x"]), cursor(["entry", [1]]),
    cursor(["entry", -1]), cursor(["entry", True]), cursor("x"), cursor(["entry", 1, 2]),
    "WyJlbnRyeSIsIDk5" + "OTk5" * 2000])
async def test_malformed_cursors(world: World, after: str) -> None:
    document = await ask(world, "query ($a: String) { entries(after: $a) { __typename } }",
                         variables={"a": after})
    assert document["errors"][0]["message"].startswith("after: ")


async def test_text_cursors_are_bounded(world: World) -> None:
    member = world.member
    document = await ask(world, f'{{ lotsHeld(custodian: "{member}", after: '
                         f'"{cursor(["lot", "L" * 25])}") {{ __typename }} }}')
    assert document["errors"][0]["message"].startswith("after: ")
    document = await ask(world, f'{{ lotsHeld(custodian: "{member}", after: '
                         f'"{cursor(["lot", "L" * 24])}") {{ edges {{ cursor }} }} }}')
    assert document["data"]["lotsHeld"]["edges"] == []
    document = await ask(world, f'{{ lotsHeld(custodian: "{member}", after: '
                         f'"{cursor(["lot", 5])}") {{ edges {{ cursor }} }} }}')
    assert document["errors"][0]["message"].startswith("after: ")


@pytest.mark.parametrize(("query", "answer"), [
    ('{ lot(id: "LONG") { id } }', {"lot": None}),
    ('{ plan(id: "LONG") { id } }', {"plan": None}),
    ('{ case(id: "LONG") { id } }', {"case": None}),
    ('{ account(address: "LONG") { address } }', {"account": None}),
    ('{ campaign(slug: "LONG") { slug } }', {"campaign": None}),
    ('{ period(plan: "LONG", number: 1) { number } }', {"period": None}),
    ('{ membership(address: "LONG") { __typename } }', {"membership": None}),
])
async def test_over_long_ids_name_nothing(world: World, query: str, answer: object) -> None:
    document = await ask(world, query.replace("LONG", "L" * 1000))
    assert document == {"data": answer}


@pytest.mark.parametrize(("mutation", "role", "expected"), [
    ('offerLot(lotId: "LONG", to: "x", place: "p", evidence: "e")', "charity", "NotFound"),
    ('acceptLot(offerId: "LONG")', "member", "NotFound"),
    ('splitLot(lotId: "LONG", outputs: [1, 1])', "charity", None),
    ('mergeLots(lotIds: ["LONG", "L1"])', "charity", None),
    ('openCase(plan: "LONG", condition: "cancer", askedFen: 1, hospital: "h", '
     'patientName: "张三", diagnosedOn: "2026-01-01")', "operator", None),
    ('apportionPeriod(plan: "LONG")', "operator", None),
    ('apportionPeriod(plan: "basic", cases: ["LONG"])', "operator", None),
    ('openPeriodNotice(plan: "LONG")', "operator", None),
    # No consent can name an address that long: refused as without consent.
    ('checkHearts(member: "LONG", threshold: 1)', "partner", "PermissionDenied"),
])
async def test_over_long_ids_in_mutations(world: World, mutation: str, role: str,
                                          expected: str | None) -> None:
    name = mutation.split("(")[0]
    document = await ask(world, f"mutation {{ {mutation.replace('LONG', 'L' * 1000)} "
                         "{ __typename } }", role=role)
    kind = union(document, name)["__typename"]
    assert kind in ((expected,) if expected else ("NotFound", "ValidationError")), kind


@pytest.mark.parametrize("path", ["/entries/99999999999999999999999", f"/entries/{MAX + 1}",
                                  "/plans/basic/periods/99999999999999999999",
                                  "/lots/" + "L" * 100, "/members/" + "m" * 100])
async def test_pages_beyond_range_are_404(world: World, path: str) -> None:
    assert (await world.http.get(path)).status_code == 404


async def test_request_body_with_a_5000_digit_integer_is_400(world: World) -> None:
    body = ('{"query": "query ($i: Int64!) { entry(index: $i) { index } }", '
            '"variables": {"i": ' + HUGE + "}}")
    response = await world.http.post("/graphql", content=body, headers={
        "content-type": "application/json"})
    assert response.status_code == 400 and "JSON" in response.text


async def test_subscription_from_a_negative_index(world: World) -> None:
    from heartchain.gql import Context
    from heartchain.schema import schema

    context = Context(request=None, platform=world.ledger.platform,  # type: ignore[arg-type]
                      account=None)
    stream = await schema.subscribe("subscription { entries(fromIndex: -5) { index } }",
                                    context_value=context)
    first = await anext(aiter(stream))  # type: ignore[arg-type]
    assert [e.message for e in first.errors or []] == ["fromIndex: must be 0 or more"]
