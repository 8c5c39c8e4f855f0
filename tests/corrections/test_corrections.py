"""Corrections: projections follow them, verify replays them, and only the signers may."""

from __future__ import annotations

import pytest

from heartchain.corrections import errors
from heartchain.corrections.entries import CorrectionBody, correctable_fields
from heartchain.corrections.queries import entry_corrections
from heartchain.corrections.services import correct
from heartchain.errors import ValidationError
from heartchain.keys import Address
from heartchain.ledger.verify import verify_log
from tests.conftest import Ledger
from tests.tracing import factories as f
from tests.tracing.conftest import Cast
from tests.tracing.test_entries import refused
from tokens.models import HeartDonation, HeartScore
from tracing import services
from tracing.models import Campaign, Disbursement, Lot, LotEvent, TracedDonation


async def _campaign(cast: Cast, slug: str = "winter-2026") -> Campaign:
    return await Campaign.get(key=f"{slug}@{cast.charity}")


async def test_a_corrected_amount_moves_hearts_and_campaign_cash(ledger: Ledger,
                                                                 cast: Cast) -> None:
    gift = await f.donate(ledger, cast.charity, cast.donor, "cash", 50_000)
    await f.donate(ledger, cast.charity, cast.donor, "cash", 1_000)
    appended = await correct(ledger.platform, entry=gift, values={"quantity": 5_000},
                             reason="wrong_amount", note="typed 500.00 for 50.00")
    donation = await HeartDonation.get(idx=gift)
    assert (donation.quantity, donation.hearts) == (5_000, 5_000)
    score = await HeartScore.get(address=cast.donor)
    assert (score.total, score.cash, score.minted, score.gifts) == (6_000, 6_000, 6_000, 2)
    campaign = await _campaign(cast)
    assert (campaign.donated, campaign.balance) == (6_000, 6_000)
    assert (await TracedDonation.get(idx=gift)).quantity == 5_000
    found = await entry_corrections(gift)
    assert found is not None and found.latest.idx == appended.index
    assert found.original("quantity") == 50_000 and found.fields["quantity"].current == 5_000
    await verify_log(ledger.platform.log)


async def test_a_corrected_campaign_moves_the_gift(ledger: Ledger, cast: Cast) -> None:
    gift = await f.donate(ledger, cast.charity, cast.donor, "cash", 3_000)
    await correct(ledger.platform, entry=gift, values={"campaign": "spring-2027"},
                  reason="wrong_campaign")
    old, new = await _campaign(cast), await _campaign(cast, "spring-2027")
    assert (old.donated, old.balance, new.donated, new.balance) == (0, 0, 3_000, 3_000)
    assert (await HeartDonation.get(idx=gift)).campaign == "spring-2027"
    await services.disburse(ledger.platform, charity=cast.charity, campaign="spring-2027",
                            amount=1_000, payee="Rice Co", purpose="rice", receipt=f.digest())
    # Once some of it was spent there, it stays there; and its amount cannot go below that.
    await refused(ledger, errors.CorrectionRefused, correct(
        ledger.platform, entry=gift, values={"campaign": "winter-2026"},
        reason="wrong_campaign"), "cannot move")
    await refused(ledger, errors.CorrectionRefused, correct(
        ledger.platform, entry=gift, values={"quantity": 999}, reason="wrong_amount"),
        "cannot go below")
    await correct(ledger.platform, entry=gift, values={"quantity": 1_000}, reason="wrong_amount")
    assert (await _campaign(cast, "spring-2027")).balance == 0
    await verify_log(ledger.platform.log)


async def test_disbursement_and_handover_corrections(ledger: Ledger, cast: Cast) -> None:
    platform = ledger.platform
    await f.donate(ledger, cast.charity, cast.donor, "cash", 3_000)
    paid = await services.disburse(platform, charity=cast.charity, campaign="winter-2026",
                                   amount=2_000, payee="Van Rentel", purpose="van",
                                   receipt=f.digest())
    receipt = f.digest("the real receipt")
    await correct(platform, entry=paid.idx, values={"payee": "Van Rentals Ltd",
                                                      "receipt": receipt}, reason="typo")
    row = await Disbursement.get(idx=paid.idx)
    assert (row.payee, row.purpose, row.receipt, row.amount) == ("Van Rentals Ltd", "van",
                                                                 receipt, 2_000)
    lot = await f.purchased_lot(ledger, cast.charity)
    handover = await services.hand_over(platform, lot=lot.id, giver=cast.charity,
                                        taker=cast.driver, place="dock 3", evidence=f.digest())
    appended = await correct(platform, entry=handover.index, values={"place": "dock 8"},
                             reason="wrong_place")
    stored = await platform.log.get_entry(appended.index)
    assert stored.entry.signers == (cast.charity, cast.driver)  # both signers of the handover
    event = await LotEvent.get(idx=handover.index)
    assert event.place == "dock 8"
    assert (await Lot.get(id=lot.id)).place == "dock 8"
    await verify_log(platform.log)


async def test_only_the_signers_may_correct(ledger: Ledger, cast: Cast) -> None:
    gift = await f.donate(ledger, cast.charity, cast.donor, "cash", 3_000)
    other = await f.account(ledger, "charity")
    body = CorrectionBody(by=(Address(other),), entry=gift, target="donation.record",
                          reason="typo", values={"quantity": 300})
    await refused(ledger, errors.NotTheSigner, ledger.platform.write(body), "only by its signers")
    lot = await f.purchased_lot(ledger, cast.charity)
    handover = await services.hand_over(ledger.platform, lot=lot.id, giver=cast.charity,
                                        taker=cast.driver, place="dock 3", evidence=f.digest())
    alone = CorrectionBody(by=(Address(cast.charity),), entry=handover.index,
                           target="lot.handover", reason="wrong_place", values={"place": "x"})
    await refused(ledger, errors.NotTheSigner, ledger.platform.write(alone))
    assert (await HeartDonation.get(idx=gift)).quantity == 3_000


async def test_what_cannot_be_corrected_is_refused(ledger: Ledger, cast: Cast) -> None:
    platform = ledger.platform
    gift = await f.donate(ledger, cast.charity, cast.donor, "cash", 3_000)
    charity = Address(cast.charity)

    def body(**kwargs: object) -> CorrectionBody:
        fields: dict[str, object] = {"by": (charity,), "entry": gift,
                                     "target": "donation.record", "reason": "typo",
                                     "values": {"quantity": 300}}
        return CorrectionBody(**{**fields, **kwargs})  # type: ignore[arg-type]

    await refused(ledger, errors.CorrectionTargetNotFound,
                  platform.write(body(entry=gift + 100)), "is not a donation.record")
    await refused(ledger, errors.CorrectionTargetNotFound, correct(
        platform, entry=10**6, values={"quantity": 1}, reason="typo"), "does not exist")
    await refused(ledger, errors.NotCorrectable, platform.write(body(values={"donor": "x"})),
                  "donor cannot be corrected")
    await refused(ledger, errors.NotCorrectable, platform.write(body(target="lot.create")),
                  "lot.create entries cannot be corrected")
    await refused(ledger, errors.NothingToCorrect,
                  platform.write(body(values={"quantity": 3_000})), "already has")
    await refused(ledger, ValidationError, platform.write(body(values={"quantity": 0})),
                  "values.quantity")
    await refused(ledger, ValidationError, platform.write(body(values={"campaign": "Bad Slug"})),
                  "values.campaign")
    with pytest.raises(ValidationError, match="needs a note"):
        await platform.write(body(reason="other"))
    reversal = await f.reverse(ledger, cast.charity, gift)
    await refused(ledger, errors.CorrectionRefused, platform.write(body()), "reversed")
    assert reversal > gift
    assert set(correctable_fields()) == {"donation.record", "fund.disburse", "lot.handover"}


async def test_two_corrections_in_a_row_and_a_correction_of_a_correction(
        ledger: Ledger, cast: Cast) -> None:
    platform = ledger.platform
    gift = await f.donate(ledger, cast.charity, cast.donor, "cash", 3_000)
    first = await correct(platform, entry=gift, values={"quantity": 300}, reason="typo")
    await refused(ledger, errors.NotCorrectable, correct(
        platform, entry=first.index, values={"quantity": 30}, reason="typo"),
        "a correction cannot be corrected")
    second = await correct(platform, entry=gift, values={"quantity": 330}, reason="typo")
    found = await entry_corrections(gift)
    assert found is not None
    assert [c.idx for c in found.corrections] == [first.index, second.index]
    corrected = found.fields["quantity"]
    assert (corrected.original, corrected.current, corrected.by) == (3_000, 330, (first.index,
                                                                                second.index))
    assert (await HeartScore.get(address=cast.donor)).total == 330
    assert (await _campaign(cast)).balance == 330
    await verify_log(platform.log)
