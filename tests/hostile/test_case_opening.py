"""Issue 11, finding 5: who may open a mutual-aid case, and what a case may say in public.

Before the fix a fresh self-registered key could open a case naming any covered member through
`submitEntry`, with a free-text hospital ("… member has HIV") on the permanent public log; and
`openCase` retried with one Idempotency-Key answered Conflict (a new random case id each time).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from heartchain.keys import SigningKey, address_of, new_signing_key
from heartchain.mutualaid import services
from heartchain.mutualaid.models import Case
from tests.conftest import Ledger, gql
from tests.factories import entry, self_registration
from tests.mutualaid.factories import (
    HOSPITAL,
    advance,
    investigator,
    make_plan,
    members,
    noticed_case,
    today,
)

SUBMIT = ('mutation($e: String!) { submitEntry(entry: $e) { __typename '
          '... on ValidationError { message field } ... on PermissionDenied { message } '
          '... on NotFound { message } ... on Conflict { message } } }')


async def submit(client: httpx.AsyncClient, ledger: Ledger, kind: str, body: dict[str, Any],
                 key: SigningKey) -> dict[str, Any]:
    signed = entry(ledger, kind, body, key).leaf_data.decode()
    result: dict[str, Any] = (await gql(client, SUBMIT, {"e": signed}))["data"]["submitEntry"]
    return result


def case_body(ledger: Ledger, case: str, member: SigningKey, opener: SigningKey,
              **changes: Any) -> dict[str, Any]:
    return {"case": case, "plan": "basic", "member": address_of(member),
            "opener": address_of(opener), "condition": "cancer", "asked_fen": 100_000,
            "hospital": HOSPITAL, "masked_name": "张*", "age_band": "30-39",
            "diagnosed_on": today(ledger).isoformat(), "details_commitment": "cd" * 32,
            **changes}


async def refused(client: httpx.AsyncClient, ledger: Ledger, kind: str, body: dict[str, Any],
                  key: SigningKey, typename: str, field: str | None = None) -> None:
    size = await ledger.platform.log.size()
    result = await submit(client, ledger, kind, body, key)
    assert result["__typename"] == typename, result
    if field is not None:
        assert result["field"] == field, result
    assert await ledger.platform.log.size() == size


async def self_custody_world(ledger: Ledger, client: httpx.AsyncClient
                             ) -> tuple[SigningKey, SigningKey, SigningKey]:
    """A covered patient, their family member and a stranger, all self-custody keys."""
    await make_plan(ledger)
    (patient,) = await members(ledger, "basic", [5_000])
    advance(ledger, 91)
    family, stranger = new_signing_key(), new_signing_key()
    for key in (family, stranger):
        registered = await gql(client, SUBMIT, {
            "e": self_registration(ledger, key).leaf_data.decode()})
        assert registered["data"]["submitEntry"]["__typename"] == "EntryAccepted"
    return patient, family, stranger


async def test_only_the_member_their_proxy_or_the_operator_opens_a_case(
        ledger: Ledger, client: httpx.AsyncClient) -> None:
    patient, family, stranger = await self_custody_world(ledger, client)
    await refused(client, ledger, "case.open", case_body(ledger, "case-evil", patient, stranger),
                  stranger, "PermissionDenied")
    await refused(client, ledger, "case.open", case_body(ledger, "case-fam", patient, family),
                  family, "PermissionDenied")
    # The grant must be the member's own signed entry: the family member cannot grant it.
    grant = {"plan": "basic", "member": address_of(patient), "proxy": address_of(family),
             "action": "grant"}
    await refused(client, ledger, "plan.proxy", grant, family, "PermissionDenied")
    await refused(client, ledger, "plan.proxy", {**grant, "proxy": ledger.operator}, patient,
                  "PermissionDenied")  # organisations are not family
    assert (await submit(client, ledger, "plan.proxy", grant, patient))[
        "__typename"] == "EntryAccepted"
    await refused(client, ledger, "plan.proxy", grant, patient, "Conflict")
    assert (await submit(client, ledger, "case.open",
                         case_body(ledger, "case-fam", patient, family), family))[
        "__typename"] == "EntryAccepted"
    await refused(client, ledger, "case.open", case_body(ledger, "case-evil", patient, stranger),
                  stranger, "PermissionDenied")  # a grant to one is no grant to another
    assert (await submit(client, ledger, "plan.proxy", {**grant, "action": "revoke"},
                         patient))["__typename"] == "EntryAccepted"
    await refused(client, ledger, "case.open", case_body(ledger, "case-fam2", patient, family),
                  family, "PermissionDenied")
    assert (await submit(client, ledger, "case.open",
                         case_body(ledger, "case-own", patient, patient), patient))[
        "__typename"] == "EntryAccepted"
    assert await Case.filter().count() == 2


async def test_a_custodial_member_cannot_open_a_case_for_another(
        ledger: Ledger, client: httpx.AsyncClient) -> None:
    await make_plan(ledger)
    (patient,) = await members(ledger, "basic", [5_000])
    advance(ledger, 91)
    made = (await gql(client, """mutation { registerAccount(role: "member") {
      ... on AccountRegistered { token account { address } } } }""",
                      token=ledger.operator_token))["data"]["registerAccount"]
    document = """mutation($m: String!, $d: String!) { openCase(plan: "basic",
      condition: "cancer", askedFen: 1000, hospital: "renji", patientName: "张三",
      diagnosedOn: $d, member: $m) { __typename } }"""
    variables = {"m": address_of(patient), "d": today(ledger).isoformat()}
    size = await ledger.platform.log.size()
    opened = await gql(client, document, variables, token=made["token"])
    assert opened["data"]["openCase"]["__typename"] == "PermissionDenied"
    assert await ledger.platform.log.size() == size
    opened = await gql(client, document, variables, token=ledger.operator_token)
    assert opened["data"]["openCase"]["__typename"] == "MutualAidCaseSaved"


@pytest.mark.parametrize(("change", "typename", "field"), [
    ({"hospital": "Renji - member has HIV"}, "ValidationError", "hospital"),
    ({"hospital": "hiv-clinic"}, "NotFound", None),  # a slug, but not a registered hospital
    ({"condition": "hiv"}, "ValidationError", "condition"),
    ({"masked_name": "艾滋"}, "ValidationError", "masked_name"),
    ({"masked_name": "H*"}, None, None),
    ({"description": "HIV positive"}, "ValidationError", "description"),
    ({"details_commitment": "HIV positive"}, "ValidationError", "details_commitment"),
], ids=["typed-hospital", "unregistered-hospital", "uncoded-condition", "two-letter-name",
        "one-letter-name", "extra-field", "commitment-not-a-hash"])
async def test_a_case_cannot_say_what_the_codes_do_not(
        ledger: Ledger, client: httpx.AsyncClient, change: dict[str, Any],
        typename: str | None, field: str | None) -> None:
    patient, _, _ = await self_custody_world(ledger, client)
    body = case_body(ledger, "case-x", patient, patient, **change)
    if typename is None:
        assert (await submit(client, ledger, "case.open", body, patient))[
            "__typename"] == "EntryAccepted"
    else:
        await refused(client, ledger, "case.open", body, patient, typename, field)


async def test_objections_plans_and_hospitals_carry_no_free_text(
        ledger: Ledger, client: httpx.AsyncClient) -> None:
    patient, _, _ = await self_custody_world(ledger, client)
    operator = await ledger.operator_key()
    await refused(client, ledger, "case.object", {
        "case": "case-x", "member": address_of(patient),
        "reason": "I know he has HIV"}, patient, "ValidationError", "reason")
    rules = {"min_age_days": 28, "max_age_years": 59, "waiting_days": 90, "cap_fen": 1_000,
             "senior_age": 40, "senior_cap_fen": 1_000, "fee_bp": 800,
             "member_case_cap_fen": 100, "min_prepay_fen": 100, "conditions": ["hiv-positive"]}
    await refused(client, ledger, "plan.create", {
        "plan": "other", "version": 1, "name": "Other", "operator": ledger.operator,
        "rules": rules}, operator, "ValidationError", "conditions")
    await refused(client, ledger, "plan.create", {
        "plan": "other", "version": 1, "name": "Plan\n<b>Zhang San has HIV</b>",
        "operator": ledger.operator, "rules": {**rules, "conditions": ["cancer"]}}, operator,
        "ValidationError", "name")
    hospital = {"hospital": "huashan", "name_zh": "华山医院", "name_en": "Huashan Hospital",
                "listed": True, "operator": address_of(patient)}
    await refused(client, ledger, "hospital.register", hospital, patient, "PermissionDenied")
    await refused(client, ledger, "hospital.register", {
        **hospital, "operator": ledger.operator, "name_en": "Huashan\nZhang San: HIV"},
        operator, "ValidationError", "name_en")


async def test_a_rejection_says_why_by_code_only(ledger: Ledger,
                                                 client: httpx.AsyncClient) -> None:
    await make_plan(ledger)
    inv = await investigator(ledger)
    (patient,) = await members(ledger, "basic", [5_000])
    advance(ledger, 91)
    case = await noticed_case(ledger, "basic", patient, inv)
    advance(ledger, 8)
    operator = await ledger.operator_key()
    decide = {"case": case, "operator": ledger.operator, "decision": "reject"}
    for change in ({}, {"reason": "the patient has HIV"}, {"reason": "not-evidenced",
                                                           "decision": "approve",
                                                           "amount_fen": 1_000}):
        await refused(client, ledger, "case.decide", {**decide, **change}, operator,
                      "ValidationError", "reason")
    await services.decide_case(ledger.platform, case=case, operator=ledger.operator,
                               decision="reject", reason="not-evidenced")
    page = (await client.get(f"/cases/{case}?lang=zh")).text
    assert 'data-testid="decision-reason">诊断证据不足<' in page
    shown = await gql(client, 'query($id: String!) { case(id: $id) { decision { reason '
                      'reasonLabel { en } } } }', {"id": case})
    assert shown["data"]["case"]["decision"] == {
        "reason": "not-evidenced",
        "reasonLabel": {"en": "The diagnosis is not sufficiently evidenced"}}


async def test_open_case_retried_with_one_idempotency_key_writes_once(
        ledger: Ledger, client: httpx.AsyncClient) -> None:
    await make_plan(ledger)
    (patient,) = await members(ledger, "basic", [5_000])
    advance(ledger, 91)
    document = """mutation($m: String!, $d: String!, $a: Int64!) { openCase(plan: "basic",
      condition: "cancer", askedFen: $a, hospital: "renji", patientName: "张三",
      diagnosedOn: $d, member: $m, description: "病理报告") { __typename
      ... on MutualAidCaseSaved { case { id } entry { index } } ... on Conflict { message } } }"""
    variables = {"m": address_of(patient), "d": today(ledger).isoformat(), "a": 1_000}

    async def open_case(key: str, **changes: Any) -> dict[str, Any]:
        response = await client.post("/graphql", json={
            "query": document, "variables": {**variables, **changes}},
            headers={"Authorization": f"Bearer {ledger.operator_token}",
                     "Idempotency-Key": key})
        result: dict[str, Any] = response.json()["data"]["openCase"]
        return result

    first = await open_case("case-retry-1")
    size = await ledger.platform.log.size()
    again = await open_case("case-retry-1")
    assert again == first and again["__typename"] == "MutualAidCaseSaved", again
    assert await ledger.platform.log.size() == size
    assert await Case.filter().count() == 1
    # The same key for a different request is refused, not a second case.
    other = await open_case("case-retry-1", a=2_000)
    assert other["__typename"] == "Conflict", other
    assert await ledger.platform.log.size() == size
    fresh = await open_case("case-retry-2")
    assert fresh["case"]["id"] != first["case"]["id"]
