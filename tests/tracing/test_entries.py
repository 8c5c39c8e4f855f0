"""Rules of the tracing entry kinds: each bad input is a typed error and writes nothing."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

import pytest

from heartchain.errors import HeartchainError, PermissionDenied, ValidationError
from heartchain.ledger.body import wire
from heartchain.ledger.kinds import ApplyContext
from tests.conftest import Ledger
from tests.tracing import factories as f
from tests.tracing.conftest import Cast, needs_donations
from tokens.entries import ReverseBody
from tracing import errors, services
from tracing.entries import CreateBody, HandoverBody, MergeBody, SplitBody, reversal_target
from tracing.models import Campaign, TracedDonation


async def refused(ledger: Ledger, error: type[HeartchainError], action: Awaitable[Any],
                  match: str | None = None) -> None:
    before = await f.size(ledger)
    with pytest.raises(error, match=match):
        await action
    assert await f.size(ledger) == before


async def test_lot_create_from_purchase_gets_id_code_and_first_step(ledger: Ledger,
                                                                    cast: Cast) -> None:
    lot = await f.purchased_lot(ledger, cast.charity, 2500, custodian=cast.driver)
    assert lot.id == f"L{lot.created_idx}"
    assert len(lot.code) == 8 and lot.code.isalnum()
    assert (lot.quantity, lot.unit, lot.custodian, lot.status) == (2500, "grams", cast.driver,
                                                                   "held")
    steps = await services.timeline(lot.id)
    assert [(s.action, s.moved) for s in steps] == [("create", 2500)]


async def test_handover_moves_custody_and_needs_both_signatures(ledger: Ledger,
                                                                cast: Cast) -> None:
    platform = ledger.platform
    lot = await f.purchased_lot(ledger, cast.charity)
    body = services.handover_body(lot.id, cast.charity, cast.driver, "warehouse", f.digest())
    await refused(ledger, PermissionDenied,
                  f.append_raw(ledger, HandoverBody.KIND, wire(body), cast.charity),
                  "missing signature")
    await services.hand_over(platform, lot=lot.id, giver=cast.charity, taker=cast.driver,
                             place="warehouse 仓库", evidence=f.digest())
    moved = await services.get_lot(lot.id)
    assert (moved.custodian, moved.place) == (cast.driver, "warehouse 仓库")
    # The old custodian may no longer hand it over, even with the new one's co-signature.
    await refused(ledger, errors.NotCustodian, services.hand_over(
        platform, lot=lot.id, giver=cast.charity, taker=cast.school, place="x",
        evidence=f.digest()))
    await refused(ledger, errors.NotCustodian, services.hand_over(
        platform, lot=lot.id, giver=cast.school, taker=cast.charity, place="x",
        evidence=f.digest()))


@pytest.mark.parametrize("ending", ["deliver", "loss", "split", "merge"])
async def test_closed_lots_cannot_be_handed_over(ledger: Ledger, cast: Cast, ending: str) -> None:
    platform = ledger.platform
    lot = await f.purchased_lot(ledger, cast.charity, 100)
    if ending == "deliver":
        await services.deliver_lot(platform, by=cast.charity, lot=lot.id, quantity=100,
                                   place="school", commitment=f.digest())
    elif ending == "loss":
        await services.record_loss(platform, by=cast.charity, lot=lot.id, quantity=100,
                                   reason="spoiled")
    elif ending == "split":
        await services.split_lot(platform, by=cast.charity, lot=lot.id, outputs=[60, 40])
    else:
        other = await f.purchased_lot(ledger, cast.charity, 50)
        await services.merge_lots(platform, by=cast.charity, lots=[lot.id, other.id])
    await refused(ledger, errors.LotClosed, services.hand_over(
        platform, lot=lot.id, giver=cast.charity, taker=cast.driver, place="x",
        evidence=f.digest()))


async def test_split_must_conserve(ledger: Ledger, cast: Cast) -> None:
    platform = ledger.platform
    lot = await f.purchased_lot(ledger, cast.charity, 1000)
    await refused(ledger, errors.NotConserved, services.split_lot(
        platform, by=cast.charity, lot=lot.id, outputs=[500, 400]))
    await refused(ledger, errors.NotConserved, services.split_lot(
        platform, by=cast.charity, lot=lot.id, outputs=[500, 400], loss=50, reason="wet"))
    await refused(ledger, ValidationError, services.split_lot(
        platform, by=cast.charity, lot=lot.id, outputs=[900], loss=100), "reason")
    await refused(ledger, ValidationError, services.split_lot(
        platform, by=cast.charity, lot=lot.id, outputs=[1000, 0]), "≥ 1")
    await refused(ledger, ValidationError, services.split_lot(
        platform, by=cast.charity, lot=lot.id, outputs=[1200, -200]), "≥ 1")
    await refused(ledger, errors.NotCustodian, services.split_lot(
        platform, by=cast.driver, lot=lot.id, outputs=[500, 500]))
    # A split declaring a stale quantity is refused by the rule, not only by the service.
    await refused(ledger, errors.StaleQuantity, platform.write(SplitBody(
        lot=lot.id, by=cast.charity, quantity=900, outputs=(900,), loss=0)))
    children = await services.split_lot(platform, by=cast.charity, lot=lot.id,
                                        outputs=[500, 450], loss=50, reason="torn sack")
    assert [(c.id, c.quantity, c.custodian) for c in children] == [
        (f"L{children[0].created_idx}-1", 500, cast.charity),
        (f"L{children[0].created_idx}-2", 450, cast.charity)]
    assert len({c.code for c in children}) == 2
    parent = await services.get_lot(lot.id)
    assert (parent.status, parent.quantity) == ("split", 0)


async def test_merge_conserves_one_unit_one_custodian(ledger: Ledger, cast: Cast) -> None:
    platform = ledger.platform
    a = await f.purchased_lot(ledger, cast.charity, 300)
    b = await f.purchased_lot(ledger, cast.charity, 200)
    seedlings = await f.purchased_lot(ledger, cast.charity, 20, unit="trees", goods="pines")
    elsewhere = await f.purchased_lot(ledger, cast.charity, 100, custodian=cast.driver)
    await refused(ledger, errors.UnitMismatch, services.merge_lots(
        platform, by=cast.charity, lots=[a.id, seedlings.id]))
    await refused(ledger, errors.NotCustodian, services.merge_lots(
        platform, by=cast.charity, lots=[a.id, elsewhere.id]))
    await refused(ledger, errors.NotConserved, f.append_raw(ledger, MergeBody.KIND, {
        "by": cast.charity, "inputs": [{"lot": a.id, "quantity": 300},
                                       {"lot": b.id, "quantity": 200}],
        "quantity": 510, "loss": 0, "goods": "rice"}, cast.charity))
    await refused(ledger, ValidationError, f.append_raw(ledger, MergeBody.KIND, {
        "by": cast.charity, "inputs": [{"lot": a.id, "quantity": 300},
                                       {"lot": a.id, "quantity": 300}],
        "quantity": 600, "loss": 0, "goods": "rice"}, cast.charity), "twice")
    merged = await services.merge_lots(platform, by=cast.charity, lots=[a.id, b.id], loss=10,
                                       reason="spilled")
    assert (merged.quantity, merged.unit, merged.origin) == (490, "grams", "merge")
    parents, _ = await services.lineage(merged.id)
    assert {(p.lot, p.quantity) for p in parents} == {(a.id, 290), (b.id, 200)}


@pytest.mark.parametrize("quantity", [0, -5])
async def test_zero_or_negative_quantities_are_refused(ledger: Ledger, cast: Cast,
                                                       quantity: int) -> None:
    platform = ledger.platform
    await refused(ledger, ValidationError, services.create_lot(
        platform, charity=cast.charity, goods="rice", quantity=quantity, unit="grams",
        custodian=cast.charity, receipt=f.digest()), "quantity")
    lot = await f.purchased_lot(ledger, cast.charity, 100)
    await refused(ledger, ValidationError, services.record_loss(
        platform, by=cast.charity, lot=lot.id, quantity=quantity, reason="spoiled"), "quantity")
    await refused(ledger, ValidationError, services.deliver_lot(
        platform, by=cast.charity, lot=lot.id, quantity=quantity, place="x",
        commitment=f.digest()), "quantity")


async def test_loss_and_delivery_cannot_exceed_the_lot(ledger: Ledger, cast: Cast) -> None:
    platform = ledger.platform
    lot = await f.purchased_lot(ledger, cast.charity, 100)
    await refused(ledger, errors.StaleQuantity, services.record_loss(
        platform, by=cast.charity, lot=lot.id, quantity=101, reason="stolen"))
    await refused(ledger, errors.StaleQuantity, services.deliver_lot(
        platform, by=cast.charity, lot=lot.id, quantity=101, place="x", commitment=f.digest()))
    await refused(ledger, ValidationError, services.record_loss(
        platform, by=cast.charity, lot=lot.id, quantity=1, reason="eaten by goats"), "reason")
    await services.deliver_lot(platform, by=cast.charity, lot=lot.id, quantity=30,
                               place="school", commitment=f.digest())
    await services.record_loss(platform, by=cast.charity, lot=lot.id, quantity=20,
                               reason="damaged", note="rain")
    row = await services.get_lot(lot.id)
    assert (row.quantity, row.status) == (50, "held")
    await services.deliver_lot(platform, by=cast.charity, lot=lot.id, quantity=50,
                               place="school", commitment=f.digest())
    assert (await services.get_lot(lot.id)).status == "delivered"


async def test_only_charities_create_lots_and_units_are_known(ledger: Ledger, cast: Cast) -> None:
    platform = ledger.platform
    await refused(ledger, PermissionDenied, services.create_lot(
        platform, charity=cast.driver, goods="rice", quantity=5, unit="grams",
        custodian=cast.driver, receipt=f.digest()))
    await refused(ledger, ValidationError, services.create_lot(
        platform, charity=cast.charity, goods="rice", quantity=5, unit="kilograms",
        custodian=cast.charity, receipt=f.digest()), "unit")
    await refused(ledger, ValidationError, f.append_raw(ledger, CreateBody.KIND, {
        "charity": cast.charity, "source": "purchase", "goods": "rice", "quantity": 5,
        "unit": "grams", "custodian": cast.charity}, cast.charity), "receipt")


async def test_a_label_code_that_does_not_match_its_lot(ledger: Ledger, cast: Cast) -> None:
    a = await f.purchased_lot(ledger, cast.charity)
    b = await f.purchased_lot(ledger, cast.charity)
    assert (await services.check_label(a.id, a.code.lower())).id == a.id
    await refused(ledger, errors.LabelMismatch, services.check_label(a.id, b.code), "copied")
    await refused(ledger, errors.LotNotFound, services.check_label("L999999", a.code))


@needs_donations
async def test_lots_from_donations(ledger: Ledger, cast: Cast) -> None:
    platform = ledger.platform
    rice = await f.donate(ledger, cast.charity, cast.donor, "food", 20_000)
    cash = await f.donate(ledger, cast.charity, cast.donor, "cash", 5_000)
    other = await f.account(ledger, "charity")

    def create(**kw: Any) -> Awaitable[Any]:
        args: dict[str, Any] = {"charity": cast.charity, "goods": "rice", "quantity": 5000,
                                "unit": "grams", "custodian": cast.charity, "donation": rice}
        return services.create_lot(platform, **{**args, **kw})

    await refused(ledger, errors.NotGoods, create(donation=cash))
    await refused(ledger, errors.UnitMismatch, create(unit="items"))
    await refused(ledger, PermissionDenied, create(charity=other, custodian=other))
    await refused(ledger, errors.DonationNotFound, create(donation=rice + 1000))
    await create(quantity=15_000)
    await refused(ledger, errors.DonationExhausted, create(quantity=5_001))
    await create(quantity=5_000)
    await refused(ledger, errors.DonationExhausted, create(quantity=1))
    # Dispatched goods cannot be reversed: the lots already exist.
    await refused(ledger, errors.AlreadySpent, f.reverse(ledger, cast.charity, rice))


@needs_donations
async def test_a_reversal_takes_back_what_is_left_of_the_donation(ledger: Ledger,
                                                                 cast: Cast) -> None:
    """donation.reverse names a donation, not an amount (its body forbids `quantity`): tracing
    takes the amount from the donation it recorded, and reads the typed body only."""
    gift = await f.donate(ledger, cast.charity, cast.donor, "cash", 5_000, "reversals")
    other = await f.donate(ledger, cast.charity, cast.donor, "cash", 700, "reversals")
    await refused(ledger, ValidationError, f.append_raw(ledger, "donation.reverse", {
        "charity": cast.charity, "donation": gift, "reason": "refund", "quantity": 1},
        cast.charity), "unknown field")
    # The entry's raw body is not consulted: only the typed body says which donation.
    ctx = ApplyContext(conn=Campaign._meta.db, index=0, now=datetime.now(UTC),
                       entry=ledger.platform.build("donation.reverse", {"donation": other,
                                                                         "quantity": 1}))
    donation, amount = await reversal_target(
        ctx, ReverseBody(charity=cast.charity, donation=gift, reason="refund"))
    assert (donation.idx, amount) == (gift, 5_000)
    await f.reverse(ledger, cast.charity, gift)
    reversed_gift = await TracedDonation.get(idx=gift)
    assert (reversed_gift.reversed, reversed_gift.used) == (5_000, 0)
    campaign = await services.find_campaign("reversals")
    assert (campaign.donated, campaign.reversed, campaign.balance) == (5_700, 5_000, 700)
    assert (await TracedDonation.get(idx=other)).reversed == 0
