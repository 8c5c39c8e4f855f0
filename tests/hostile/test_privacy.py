"""No personal datum on the log: a (smaller) demo dataset plus personal data put in through the
public API is scanned entry by entry and bundle by bundle; then people are crypto-shredded and
the log still verifies.

What the seeders put in: donors known only by phone (tokens/demo.py, random numbers, read back
from the sealed table), patients' names (heartchain/mutualaid/demo.py, random, read back the
same way). Birth dates there are random commitments only, and tracing's beneficiaries are
commitments made elsewhere, so the test adds its own: an e-mail donor, a member's birth date, a
beneficiary with an ID number, a patient's name and a description of their illness — each
through the GraphQL mutation a user would call.
"""

from __future__ import annotations

import random
from datetime import timedelta

import httpx
import msgspec
import pytest

from heartchain import demo
from heartchain.accounts.services import issue_token, register_account
from heartchain.demo import DemoState
from heartchain.ledger.tiles import TILE_WIDTH, TileRef, decode_entry_bundle
from heartchain.ledger.verify import verify_log
from heartchain.mutualaid import demo as mutualaid_demo
from heartchain.mutualaid import services as mutualaid
from heartchain.mutualaid.models import Case
from heartchain.privacy import erase_subject, keyed_hash, read_personal
from tests.conftest import Ledger, gql
from tokens import demo as tokens_demo
from tokens import services as tokens
from tokens.models import DonorContact
from tracing import demo as tracing_demo

EMAIL = "li.lei.1987@example.com"
BIRTH_DATE = "1987-03-14"
ID_NUMBER = "110101198703145177"
BENEFICIARY = f"Wang Xiaoming 王小明 {ID_NUMBER}"
PATIENT = "欧阳娜娜"
DESCRIPTION = "HIV positive since 2019 艾滋病"


async def seed_small_demo(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> DemoState:
    """The demo's seeders, in their order, with fewer members and gifts (same code paths; the
    witness seeder is left out: it holds no personal data and runs witness servers)."""
    monkeypatch.setattr(tokens_demo, "GIFTS_PER_KIND", 60)
    # With a hundredth of the members, each must pay less per case or they lapse at once.
    monkeypatch.setattr(mutualaid_demo, "RULES",
                        msgspec.structs.replace(mutualaid_demo.RULES, member_case_cap_fen=100))
    state = DemoState(ledger.platform, ledger.operator, random.Random(2026))
    await demo.seed_accounts(state, members=60)
    await tokens_demo.seed_hearts(state)
    await tracing_demo.seed_tracing(state)
    await mutualaid_demo.seed_mutualaid(state, members=120)
    return state


async def add_through_the_api(ledger: Ledger, client: httpx.AsyncClient, state: DemoState
                              ) -> dict[str, str]:
    """Personal data a charity, a member and an operator hand to the GraphQL API."""
    platform = ledger.platform
    charity = await issue_token(platform, state.organisations[tokens_demo.FOOD_BANK], "privacy")
    member = await register_account(platform, role="member", registrar=ledger.operator)
    member_token = await issue_token(platform, member.address, "privacy")

    gift = await gql(client, 'mutation($c: String!) { recordDonation(kind: "cash", '
                     'quantity: 1000, campaign: "winter-meals-2026", contact: $c) { __typename '
                     '... on DonationRecorded { donation { donor } } } }', {"c": EMAIL}, charity)
    donor = gift["data"]["recordDonation"]["donation"]["donor"]
    joined = await gql(client, 'mutation($b: String!) { joinPlan(plan: "xianghu-basic", '
                       'birthDate: $b, prepayFen: 2000) { __typename } }', {"b": BIRTH_DATE},
                       member_token)
    assert joined["data"]["joinPlan"]["__typename"] == "MutualAidMembershipSaved", joined
    lot = await gql(client, 'mutation { createLot(input: {goods: "rice", quantity: 900, '
                    f'unit: "grams", receipt: "{"cd" * 32}"}}) {{ ... on LotChanged '
                    '{ lot { id } } } }', token=charity)
    lot_id = lot["data"]["createLot"]["lot"]["id"]
    delivered = await gql(client, 'mutation($l: String!, $b: String!) { deliverLot(lotId: $l, '
                          'quantity: 300, place: "school", beneficiary: $b) { __typename } }',
                          {"l": lot_id, "b": BENEFICIARY}, charity)
    assert delivered["data"]["deliverLot"]["__typename"] == "LotChanged", delivered
    platform.clock.advance(timedelta(days=mutualaid_demo.RULES.waiting_days + 1))
    opened = await gql(client, 'mutation($m: String!, $n: String!, $d: String!, $x: String) { '
                       'openCase(plan: "xianghu-basic", condition: "cancer", askedFen: 600000, '
                       'hospital: "renji", patientName: $n, diagnosedOn: $d, description: $x, '
                       'member: $m) { __typename ... on MutualAidCaseSaved { case { id } } } }',
                       {"m": member.address, "n": PATIENT, "x": DESCRIPTION,
                        "d": platform.clock.now().date().isoformat()}, ledger.operator_token)
    assert opened["data"]["openCase"]["__typename"] == "MutualAidCaseSaved", opened
    return {"donor": donor, "member": member.address,
            "beneficiary": f"beneficiary:{keyed_hash(platform, 'beneficiary', BENEFICIARY)}"}


def variants(value: str) -> set[bytes]:
    """The spellings a leak could take: as given, digits only, without +86, date without dashes."""
    found = {value, value.lower(), value.replace("-", "")}
    digits = "".join(c for c in value if c.isdigit())
    if len(digits) >= 8:
        found |= {digits, digits.removeprefix("86")}
    return {v.encode() for v in found if len(v) >= 2}


async def all_leaves(ledger: Ledger) -> tuple[list[bytes], list[bytes]]:
    """Every entry as stored, and every entry as the tlog-tiles bundles serve it."""
    log = ledger.platform.log
    size = await log.size()
    entries: list[bytes] = []
    for start in range(0, size, 500):
        chunk = await log.get_entries(list(range(start, min(size, start + 500))))
        entries.extend(bytes(chunk[i].data) for i in sorted(chunk))
    bundled: list[bytes] = []
    for n in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
        width = min(TILE_WIDTH, size - n * TILE_WIDTH)
        bundled.extend(decode_entry_bundle(await log.read_tile(TileRef(-1, n, width))))
    return entries, bundled


async def test_no_personal_datum_on_the_log_and_shredding_keeps_it_verifying(
        ledger: Ledger, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    platform = ledger.platform
    state = await seed_small_demo(ledger, monkeypatch)
    platform.clock.advance(timedelta(minutes=1))
    subjects = await add_through_the_api(ledger, client, state)

    # Everything personal that went in, read back from the sealed tables.
    phones = [await tokens.donor_contact(platform, row.address)
              for row in await DonorContact.all()]
    names = [await mutualaid.patient_name(platform, case.id) for case in await Case.all()]
    personal = {*(p for p in phones if p), *(n for n in names if n)}
    # tokens/demo.py: 20 donors known by phone, and the one who signs in at /me
    assert sum(1 for p in personal if p.startswith("+86139")) == 21
    assert len(names) >= 8 and PATIENT in personal  # the demo's cases and ours
    assert EMAIL in personal
    assert await read_personal(platform, f"mutualaid:{subjects['member']}", "birth_date") \
        == BIRTH_DATE
    assert await read_personal(platform, subjects["beneficiary"], "identity") == BENEFICIARY
    # (not "HIV" alone: three letters turn up by chance in base64 signatures)
    personal |= {BIRTH_DATE, ID_NUMBER, BENEFICIARY, "Wang Xiaoming", "王小明", DESCRIPTION,
                 "艾滋病"}
    details = [await mutualaid.case_details(platform, case.id) for case in await Case.all()]
    assert any(d and d.get("description") == DESCRIPTION for d in details)

    entries, bundled = await all_leaves(ledger)
    assert len(entries) == len(bundled) == await platform.log.size() > 700
    assert entries == bundled
    needles = {needle: value for value in personal for needle in variants(value)}
    leaks = [(index, needles[needle].strip()) for index, data in enumerate(entries)
             for needle in needles if needle in data]
    assert not leaks, f"personal data on the log (entry, value): {leaks[:10]}"
    # The scan reads what is there: the public masked name (欧***) is found.
    assert any(f'"{mutualaid.mask_name(PATIENT)}"'.encode() in data for data in entries)

    # Crypto-shred a phone donor, the e-mail donor, a patient, a member, a beneficiary.
    phone_donor = (await DonorContact.all().order_by("address").first())
    assert phone_donor is not None
    case = await Case.filter().order_by("id").first()
    assert case is not None
    for subject in (phone_donor.address, subjects["donor"], f"mutualaid:case:{case.id}",
                    f"mutualaid:{subjects['member']}", subjects["beneficiary"]):
        await erase_subject(platform, subject)
    assert await tokens.donor_contact(platform, phone_donor.address) is None
    assert await tokens.donor_contact(platform, subjects["donor"]) is None
    assert await mutualaid.patient_name(platform, case.id) is None
    assert await read_personal(platform, f"mutualaid:{subjects['member']}", "birth_date") is None
    assert await read_personal(platform, subjects["beneficiary"], "identity") is None
    await verify_log(platform.log)
