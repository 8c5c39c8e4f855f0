"""Where gifts went, campaign cash, two-step handovers, and a full audit of a realistic scenario."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from heartchain import privacy
from heartchain.ledger.verify import verify_log
from tests.conftest import Ledger
from tests.tracing import factories as f
from tests.tracing.conftest import Cast, needs_donations
from tests.tracing.test_entries import refused
from tracing import errors, services
from tracing.models import Campaign, HandoverOffer


async def test_offer_then_accept_appends_one_cosigned_entry(ledger: Ledger, cast: Cast) -> None:
    platform = ledger.platform
    lot = await f.purchased_lot(ledger, cast.charity)
    before = await f.size(ledger)
    offer = await services.offer_handover(platform, lot=lot.id, giver=cast.charity,
                                          taker=cast.driver, place="dock 3", evidence=f.digest())
    assert await f.size(ledger) == before  # nothing on the log until the taker signs
    assert [o.id for o in await services.pending_offers(cast.driver)] == [offer.id]
    await refused(ledger, errors.OfferNotFound, services.accept_handover(
        platform, offer_id=offer.id, taker=cast.school))
    appended = await services.accept_handover(platform, offer_id=offer.id, taker=cast.driver)
    stored = await platform.log.get_entry(appended.index)
    assert stored.entry.signers == (cast.charity, cast.driver)
    assert (await services.get_lot(lot.id)).custodian == cast.driver
    assert await services.pending_offers(cast.driver) == []
    size = await f.size(ledger)  # accepting again (a retry) answers the same entry, once
    assert await services.accept_handover(platform, offer_id=offer.id,
                                          taker=cast.driver) == appended
    assert await f.size(ledger) == size
    await refused(ledger, errors.OfferNotFound, services.accept_handover(
        platform, offer_id=offer.id, taker=cast.school))


async def test_an_offer_is_marked_accepted_in_its_entrys_transaction(
        ledger: Ledger, cast: Cast, monkeypatch: pytest.MonkeyPatch) -> None:
    """An accept that fails right after its entry is written (the process dies, the database
    goes away) does not leave the offer pending: the mark rides in the entry's transaction. It
    was a statement after the write, and the taker saw an offer to accept that was accepted."""
    platform = ledger.platform
    lot = await f.purchased_lot(ledger, cast.charity)
    offer = await services.offer_handover(platform, lot=lot.id, giver=cast.charity,
                                          taker=cast.driver, place="dock 3", evidence=f.digest())

    async def unreachable(*args: object) -> int:
        raise ConnectionError("the database went away after the write")

    monkeypatch.setattr(services, "execute", unreachable)
    appended = await services.accept_handover(platform, offer_id=offer.id, taker=cast.driver)
    assert (await HandoverOffer.get(id=offer.id)).accepted_idx == appended.index
    assert await services.pending_offers(cast.driver) == []


async def test_two_accepts_at_once_write_one_entry(ledger: Ledger, cast: Cast) -> None:
    platform = ledger.platform
    lot = await f.purchased_lot(ledger, cast.charity)
    offer = await services.offer_handover(platform, lot=lot.id, giver=cast.charity,
                                          taker=cast.driver, place="dock 3", evidence=f.digest())
    before = await f.size(ledger)
    first, second = await asyncio.gather(*(
        services.accept_handover(platform, offer_id=offer.id, taker=cast.driver)
        for _ in range(2)))
    assert first.index == second.index and await f.size(ledger) == before + 1
    assert (await HandoverOffer.get(id=offer.id)).accepted_idx == first.index


async def test_offers_expire_and_are_checked_when_made(ledger: Ledger, cast: Cast) -> None:
    platform = ledger.platform
    lot = await f.purchased_lot(ledger, cast.charity)
    with pytest.raises(errors.NotCustodian):
        await services.offer_handover(platform, lot=lot.id, giver=cast.driver, taker=cast.school,
                                      place="x", evidence=f.digest())
    offer = await services.offer_handover(platform, lot=lot.id, giver=cast.charity,
                                          taker=cast.driver, place="x", evidence=f.digest())
    platform.clock.advance(services.OFFER_TTL + timedelta(seconds=1))
    await refused(ledger, errors.OfferExpired, services.accept_handover(
        platform, offer_id=offer.id, taker=cast.driver))
    assert (await HandoverOffer.get(id=offer.id)).accepted_idx is None


async def test_delivery_seals_the_person_off_log(ledger: Ledger, cast: Cast) -> None:
    platform = ledger.platform
    lot = await f.purchased_lot(ledger, cast.charity, 10, unit="items", goods="school bags")
    appended = await services.deliver_lot(platform, by=cast.charity, lot=lot.id, quantity=10,
                                          place="Hope School", beneficiary="李小明 ID 1101...")
    stored = await platform.log.get_entry(appended.index)
    assert "李小明" not in stored.data.decode()
    subject = "beneficiary:" + privacy.keyed_hash(platform, "beneficiary", "李小明 ID 1101...")
    salt = await privacy.subject_salt(platform, subject)
    assert stored.entry.body["beneficiary"] == privacy.commitment(salt, "李小明 ID 1101...")
    await privacy.erase_subject(platform, subject)
    assert await privacy.read_personal(platform, subject, "identity") is None
    await verify_log(platform.log)  # the log still verifies after erasure


@needs_donations
async def test_where_did_my_gift_go(ledger: Ledger, cast: Cast) -> None:
    platform = ledger.platform
    rice = await f.donate(ledger, cast.charity, cast.donor, "food", 20_000)
    lot = await services.create_lot(platform, charity=cast.charity, goods="rice 大米",
                                    quantity=18_000, unit="grams", custodian=cast.charity,
                                    donation=rice, place="Sunrise warehouse")
    await services.hand_over(platform, lot=lot.id, giver=cast.charity, taker=cast.driver,
                             place="Sunrise warehouse", evidence=f.digest())
    sacks = await services.split_lot(platform, by=cast.driver, lot=lot.id,
                                     outputs=[10_000, 7_500], loss=500, reason="torn sack")
    await services.hand_over(platform, lot=sacks[0].id, giver=cast.driver, taker=cast.school,
                             place="Village school gate", evidence=f.digest())
    await services.deliver_lot(platform, by=cast.school, lot=sacks[0].id, quantity=10_000,
                               place="Village school canteen", commitment=f.digest())
    bought = await f.purchased_lot(ledger, cast.charity, 2_500, custodian=cast.driver)
    merged = await services.merge_lots(platform, by=cast.driver, lots=[sacks[1].id, bought.id])
    await services.deliver_lot(platform, by=cast.driver, lot=merged.id, quantity=9_000,
                               place="Elder home", commitment=f.digest())

    journey = await services.donation_journey(rice)
    assert (journey.dispatched, journey.delivered, journey.lost, journey.held,
            journey.undispatched) == (18_000, 17_500, 500, 0, 2_000)
    by_id = {n.lot.id: n for n in journey.lots}
    assert list(by_id) == [lot.id, sacks[0].id, sacks[1].id, merged.id]
    root = by_id[lot.id]
    assert [(c.lot, c.quantity) for c in root.children] == [(sacks[0].id, 10_000),
                                                           (sacks[1].id, 7_500)]
    assert [s.action for s in root.steps] == ["create", "handover", "split"]
    assert root.lost == 500
    school = by_id[sacks[0].id]
    assert [(s.action, s.custodian, s.place) for s in school.steps] == [
        ("split_from", cast.driver, "Sunrise warehouse"),
        ("handover", cast.school, "Village school gate"),
        ("deliver", cast.school, "Village school canteen")]
    # The merged lot holds the donor's 7,500 g (oldest origin first) plus 2,500 g bought: the
    # 9,000 g delivery takes the donor's grams first.
    assert (by_id[merged.id].received, by_id[merged.id].delivered,
            by_id[merged.id].held) == (7_500, 7_500, 0)
    bought_journey_lot = (await services.get_lot(merged.id)).quantity
    assert bought_journey_lot == 1_000
    await verify_log(platform.log)


@needs_donations
async def test_campaign_cash_fifo_and_balance(ledger: Ledger, cast: Cast) -> None:
    platform = ledger.platform
    second = await f.account(ledger)
    first_gift = await f.donate(ledger, cast.charity, cast.donor, "cash", 3_000, "clinic")
    second_gift = await f.donate(ledger, cast.charity, second, "cash", 5_000, "clinic")

    async def disburse(amount: int) -> int:
        paid = await services.disburse(platform, charity=cast.charity, campaign="clinic",
                                       amount=amount, payee="Pharmacy 药房",
                                       purpose="medicine", receipt=f.digest())
        return paid.idx

    p1 = await disburse(2_000)
    p2 = await disburse(2_500)
    await refused(ledger, errors.InsufficientFunds, disburse(3_501))
    view = await services.campaign_view("clinic")
    assert [(a.disbursement_idx, a.donation_idx, a.amount) for a in view.allocations] == [
        (p1, first_gift, 2_000), (p2, first_gift, 1_000), (p2, second_gift, 1_500)]
    c = view.campaign
    assert (c.donated, c.reversed, c.disbursed, c.balance) == (8_000, 0, 4_500, 3_500)
    # The first gift is spent: reversing it is refused; the second can still be refunded only
    # if unspent, which it is not either.
    await refused(ledger, errors.AlreadySpent, f.reverse(ledger, cast.charity, first_gift))
    await refused(ledger, errors.AlreadySpent, f.reverse(ledger, cast.charity, second_gift))
    third = await f.donate(ledger, cast.charity, second, "cash", 1_000, "clinic")
    await f.reverse(ledger, cast.charity, third)
    c = await Campaign.get(key=c.key)
    assert (c.donated, c.reversed, c.disbursed, c.balance) == (9_000, 1_000, 4_500, 3_500)
    assert c.balance == c.donated - c.reversed - c.disbursed
    await refused(ledger, errors.CampaignNotFound, services.disburse(
        platform, charity=cast.charity, campaign="no-such", amount=1, payee="x", purpose="x",
        receipt=f.digest()))
    journey = await services.donation_journey(first_gift)
    assert [(a.amount, d.idx) for a, d in journey.allocations] == [(2_000, p1), (1_000, p2)]
    csv_text = await services.campaign_ledger_csv("clinic")
    lines = csv_text.strip().split("\n")
    assert lines[0].startswith('"index","time","type"')
    assert lines[-1].endswith(",-1000,3500")
    await verify_log(platform.log)


@needs_donations
async def test_same_slug_two_charities_are_two_campaigns(ledger: Ledger, cast: Cast) -> None:
    other = await f.account(ledger, "charity")
    await f.donate(ledger, cast.charity, cast.donor, "cash", 100, "general")
    await f.donate(ledger, other, cast.donor, "cash", 200, "general")
    with pytest.raises(Exception, match="name the charity"):
        await services.find_campaign("general")
    assert (await services.find_campaign("general", other)).balance == 200
    await refused(ledger, errors.InsufficientFunds, services.disburse(
        ledger.platform, charity=cast.charity, campaign="general", amount=150, payee="x",
        purpose="x", receipt=f.digest()))
