"""Patterns anchored with `$` accept a trailing newline ("x\\n" matched `^x$`): every pattern is
used with fullmatch now. One test per family, and the look-alike campaign `x\\n` end to end."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from heartchain.accounts.entries import RegisterBody
from heartchain.accounts.services import issue_token, register_account
from heartchain.errors import ValidationError
from heartchain.keys import address_of, new_signing_key
from heartchain.ledger.body import Body, Hex32, Slug, Time, decode
from heartchain.ledger.entries import canonical_json, new_entry, parse_entry, parse_time
from heartchain.mutualaid.entries import CaseOpen, PeriodApportion, Rules
from tests.conftest import Ledger, gql
from tests.mutualaid.factories import RULES
from tokens.services import normalise_contact
from tracing.entries import LOT_ID
from web import lots as lot_pages
from web import routes as web_routes

ADDRESS = address_of(new_signing_key())


@pytest.mark.parametrize("kind", ["donation.record\n", "a.b\n"])
def test_entry_kind(kind: str) -> None:
    with pytest.raises(ValidationError, match="kind"):
        new_entry(kind, {}, at=datetime.now(UTC))
    envelope = json.loads(new_entry("a.b", {}, at=datetime.now(UTC))
                          .signed_by(new_signing_key()).leaf_data)
    parse_entry(canonical_json(envelope))
    with pytest.raises(ValidationError, match="kind"):
        parse_entry(canonical_json({**envelope, "kind": kind}))


@pytest.mark.parametrize("at", ["2026-11-21T08:00:00.000Z\n", "٢٠٢٦-11-21T08:00:00.000Z"])
def test_entry_time(at: str) -> None:
    assert parse_time("2026-11-21T08:00:00.000Z")
    with pytest.raises(ValidationError, match="at"):
        parse_time(at)


class _SlugBody(Body):
    v: Slug


class _HashBody(Body):
    v: Hex32


class _TimeBody(Body):
    v: Time


@pytest.mark.parametrize(("body", "value"), [
    (_SlugBody, "books\n"),
    (_HashBody, "ab" * 31 + "a\n"),
    (_TimeBody, "2026-11-21T08:00:00.000Z\n"),
    (_TimeBody, "٢٠٢٦-11-21T08:00:00.000Z"),
])
def test_body_patterns(body: type[Body], value: str) -> None:
    with pytest.raises(ValidationError, match="is not of the form"):
        decode(body, {"v": value})
    decode(body, {"v": value.rstrip("\n").replace("٢٠٢٦", "2026")
                  + ("b" if len(value) == 64 else "")})


def test_lot_id_pattern() -> None:
    assert LOT_ID.fullmatch("L12")
    assert not LOT_ID.fullmatch("L12\n")


def test_mutual_aid_patterns() -> None:
    case = {"case": "c1", "plan": "basic", "member": ADDRESS, "opener": ADDRESS,
            "condition": "cancer", "asked_fen": 100, "hospital": "h", "masked_name": "张*",
            "age_band": "30-39", "diagnosed_on": "2026-01-01", "details_commitment": "0" * 64}
    decode(CaseOpen, case)
    for name, value in (("masked_name", "张*\n"), ("age_band", "30-3\n"), ("case", "c1\n"),
                        ("diagnosed_on", "2026-1-01\n"), ("age_band", "٣٠-٣٩")):
        with pytest.raises(ValidationError):
            decode(CaseOpen, {**case, name: value})
    rules: dict[str, Any] = json.loads(RULES.to_json())
    decode(Rules, rules)
    with pytest.raises(ValidationError, match="conditions"):
        decode(Rules, {**rules, "conditions": ["cancer\n"]})
    with pytest.raises(ValidationError, match="cases"):
        decode(PeriodApportion, {"plan": "basic", "operator": ADDRESS, "period": 1,
                                 "cases": ["c1\n"]})


def test_account_label() -> None:
    body = {"address": ADDRESS, "role": "charity", "registrar": ADDRESS}
    assert decode(RegisterBody, {**body, "label": "Hope Fund"}).label == "Hope Fund"
    for label in ("Hope Fund\n", "Hope\nFund", " Hope"):
        with pytest.raises(ValidationError, match="label"):
            decode(RegisterBody, {**body, "label": label})


def test_contacts() -> None:
    # Surrounding whitespace is trimmed on purpose (a pasted phone), but not inside.
    assert normalise_contact("13700000000\n") == "+8613700000000"
    for contact in ("a@b.cn\nx", "1370000\n0000x"):
        with pytest.raises(ValidationError, match="contact"):
            normalise_contact(contact)


def test_web_patterns_are_ascii() -> None:
    assert web_routes._INDEX_RE.fullmatch("#12")
    assert not web_routes._INDEX_RE.fullmatch("#١٢")
    assert lot_pages._LOT_ID.fullmatch("L12-3")
    assert not lot_pages._LOT_ID.fullmatch("L١٢")


async def test_log_page_numbers_are_ascii(ledger: Ledger, client: httpx.AsyncClient) -> None:
    assert (await client.get("/log?before=1")).status_code == 200
    for raw in ("١", "²", "-1"):
        assert (await client.get(f"/log?before={raw}")).status_code == 400, raw


async def test_campaign_with_a_trailing_newline_is_refused(ledger: Ledger,
                                                           client: httpx.AsyncClient) -> None:
    platform = ledger.platform
    charity = await register_account(platform, role="charity", registrar=ledger.operator,
                                     label="Hope Fund")
    token = await issue_token(platform, charity.address, "test")
    size = await platform.log.size()
    document = await gql(client, """mutation ($c: String!) {
        recordDonation(kind: "cash", quantity: 100, campaign: $c, contact: "+8613700000000") {
            __typename ... on ValidationError { field message } } }""", {"c": "x\n"}, token)
    assert document["data"]["recordDonation"]["__typename"] == "ValidationError", document
    assert document["data"]["recordDonation"]["field"] == "campaign"
    assert await platform.log.size() == size
    response = await client.get("/campaigns/x%0A/ledger.csv")
    assert response.status_code == 404
