from __future__ import annotations

from typing import Any

import pytest

from heartchain.errors import HeartchainError, PermissionDenied, ValidationError
from heartchain.keys import new_signing_key
from heartchain.ledger.body import decode
from heartchain.ledger.entries import EntryFormatError
from heartchain.ledger.verify import verify_log
from tests.conftest import Ledger
from tests.factories import campaign, ensure_campaign, entry
from tests.tokens import factories as f
from tokens import services
from tokens.entries import DEFAULT_RATES, RatesBody
from tokens.errors import (
    AlreadyReversed,
    HeartsOverflow,
    NotYourDonation,
    RateVersionConflict,
    UnknownDonation,
)
from tokens.models import HeartDonation


async def test_default_rates_need_no_entry(ledger: Ledger) -> None:
    table = await services.current_rates()
    assert table == DEFAULT_RATES
    assert table.version == 0 and table.index is None
    assert {k: (r.hearts, r.per) for k, r in table.rates.items()} == {
        "cash": (1, 1), "food": (1, 1), "tree": (1, 1)}


async def test_donation_mints_at_default_rates(ledger: Ledger) -> None:
    charity, donor = await f.charity(ledger), await f.member(ledger)
    p = ledger.platform
    await services.record_donation(p, charity=charity, donor=donor, kind="cash",
                                   quantity=12_345, campaign="winter-2026")
    await services.record_donation(p, charity=charity, donor=donor, kind="food",
                                   quantity=2_500, campaign="winter-2026", receipt="ab" * 32)
    await services.record_donation(p, charity=charity, donor=donor, kind="tree",
                                   quantity=3, campaign="c")
    score = await services.score(donor)
    assert score.total == 12_345 + 2_500 + 3
    assert score.by_kind == {"cash": 12_345, "food": 2_500, "tree": 3}
    assert score.gifts == 3 and score.minted == score.total and score.burned == 0


async def test_rate_change_applies_from_its_position_never_back(ledger: Ledger) -> None:
    charity, donor = await f.charity(ledger), await f.member(ledger)
    p = ledger.platform
    before = await services.record_donation(p, charity=charity, donor=donor, kind="cash",
                                            quantity=1_000, campaign="c")
    rates = await services.set_heart_rates(p, ledger.operator,
                                           {"cash": (1, 100), "food": (1, 1), "tree": (500, 1)})
    after = await services.record_donation(p, charity=charity, donor=donor, kind="cash",
                                           quantity=1_099, campaign="c")
    await services.record_donation(p, charity=charity, donor=donor, kind="tree", quantity=2,
                                   campaign="c")
    table = await services.current_rates()
    assert table.version == 1 and table.index == rates.index
    assert (await services.get_donation(before.index)).hearts == 1_000
    assert (await services.get_donation(after.index)).hearts == 10  # rounded down
    assert (await services.get_donation(after.index)).rate_version == 1
    assert (await services.score(donor)).total == 1_000 + 10 + 1_000


async def test_rate_versions_are_sequential(ledger: Ledger) -> None:
    key = await ledger.operator_key()
    size = await ledger.platform.log.size()
    with pytest.raises(RateVersionConflict):
        await ledger.platform.log.append(entry(ledger, "heart.rates", f.rates(ledger.operator, 2),
                                               key))
    assert await ledger.platform.log.size() == size
    await ledger.platform.log.append(entry(ledger, "heart.rates", f.rates(ledger.operator, 1),
                                           key))
    with pytest.raises(RateVersionConflict):
        await ledger.platform.log.append(entry(ledger, "heart.rates",
                                               f.rates(ledger.operator, 1), key))


async def test_only_the_operator_sets_rates(ledger: Ledger) -> None:
    charity = await f.charity(ledger)
    size = await ledger.platform.log.size()
    with pytest.raises(PermissionDenied):
        await ledger.platform.write(decode(RatesBody, f.rates(charity, 1)))
    assert await ledger.platform.log.size() == size


async def test_reversal_burns_exactly_the_original_once(ledger: Ledger) -> None:
    charity, donor = await f.charity(ledger), await f.member(ledger)
    p = ledger.platform
    gift = await services.record_donation(p, charity=charity, donor=donor, kind="cash",
                                          quantity=5_000, campaign="c")
    await services.set_heart_rates(p, ledger.operator,
                                   {"cash": (3, 1), "food": (1, 1), "tree": (1, 1)})
    await services.record_donation(p, charity=charity, donor=donor, kind="food", quantity=10,
                                   campaign="c")
    reversal = await services.reverse_donation(p, charity=charity, donation=gift.index,
                                               reason="chargeback")
    row = await HeartDonation.get(idx=gift.index)
    assert row.reversed_idx == reversal.index and row.reversal_reason == "chargeback"
    score = await services.score(donor)
    assert score.total == 10 and score.burned == 5_000 and score.by_kind["cash"] == 0
    size = await p.log.size()
    with pytest.raises(AlreadyReversed):
        await services.reverse_donation(p, charity=charity, donation=gift.index)
    assert await p.log.size() == size


async def test_score_history_by_checkpoint(ledger: Ledger) -> None:
    charity, donor = await f.charity(ledger), await f.member(ledger)
    p = ledger.platform
    a = await services.record_donation(p, charity=charity, donor=donor, kind="cash",
                                       quantity=100, campaign="c")
    b = await services.record_donation(p, charity=charity, donor=donor, kind="tree",
                                       quantity=2, campaign="c")
    await services.reverse_donation(p, charity=charity, donation=a.index)
    history = await services.score_history(donor)
    assert [(h.total, h.change) for h in history] == [(100, 100), (102, 2), (2, -100)]
    assert history[0].checkpoint_size == a.checkpoint_size
    assert history[1].checkpoint_size == b.checkpoint_size
    later = await services.score_history(donor, after=history[0].checkpoint_size)
    assert [(h.total, h.change) for h in later] == [(102, 2), (2, -100)]


# -- bad input: a typed error, and nothing written -------------------------------------------


async def expect_refused(ledger: Ledger, kind: str, body: dict[str, Any], signer: str,
                         error: type[HeartchainError]) -> HeartchainError:
    log = ledger.platform.log
    size = await log.size()
    key = await ledger.platform.custodial_key(signer)
    with pytest.raises(error) as refused:  # sent as a client would: the body as it is
        await log.append(ledger.platform.build(kind, body).signed_by(key))
    assert await log.size() == size
    return refused.value


@pytest.mark.parametrize("quantity", [0, -5, 1.5, "100", None, True])
async def test_bad_quantities(ledger: Ledger, quantity: object) -> None:
    charity, donor = await f.charity(ledger), await f.member(ledger)
    await expect_refused(ledger, "donation.record", f.donation(charity, donor, quantity=quantity),
                         charity, ValidationError)


async def test_quantities_beyond_64_bits(ledger: Ledger) -> None:
    charity, donor = await f.charity(ledger), await f.member(ledger)
    for quantity in (2**64, 2**63, 2**53):
        await expect_refused(ledger, "donation.record",
                             f.donation(charity, donor, quantity=quantity), charity,
                             ValidationError)
    # JSON that a client hand-writes: the parser refuses the number before any rule runs
    with pytest.raises(EntryFormatError):
        await ledger.platform.log.append(
            entry(ledger, "donation.record", f.donation(charity, donor),
                  await ledger.platform.custodial_key(charity)).leaf_data.replace(
                      b'"quantity":100', b'"quantity":18446744073709551616'))


async def test_hearts_beyond_the_safe_range(ledger: Ledger) -> None:
    charity, donor = await f.charity(ledger), await f.member(ledger)
    await services.set_heart_rates(ledger.platform, ledger.operator,
                                   {"cash": (1000, 1), "food": (1, 1), "tree": (1, 1)})
    await expect_refused(ledger, "donation.record",
                         f.donation(charity, donor, quantity=2**50), charity, HeartsOverflow)
    await services.record_donation(ledger.platform, charity=charity, donor=donor, kind="food",
                                   quantity=2**53 - 1, campaign="c")
    await expect_refused(ledger, "donation.record",
                         f.donation(charity, donor, kind="food", quantity=1), charity,
                         HeartsOverflow)


@pytest.mark.parametrize("kind", ["gold", "Cash", "", None, 3])
async def test_unknown_kinds(ledger: Ledger, kind: object) -> None:
    charity, donor = await f.charity(ledger), await f.member(ledger)
    await expect_refused(ledger, "donation.record", f.donation(charity, donor, kind=kind),
                         charity, ValidationError)


async def test_malformed_fields(ledger: Ledger) -> None:
    charity, donor = await f.charity(ledger), await f.member(ledger)
    for body in (f.donation(charity, donor, campaign="Has Spaces"),
                 f.donation(charity, donor, receipt="not-a-hash"),
                 f.donation(charity, "hc1nope"),
                 {**f.donation(charity, donor), "note": "extra"}):
        await expect_refused(ledger, "donation.record", body, charity, ValidationError)


async def test_non_charity_cannot_record(ledger: Ledger) -> None:
    donor = await f.member(ledger)
    for signer in (await f.partner(ledger), await f.member(ledger), ledger.operator):
        await expect_refused(ledger, "donation.record", f.donation(signer, donor), signer,
                             PermissionDenied)


async def test_donor_must_be_a_member(ledger: Ledger) -> None:
    charity = await f.charity(ledger)
    stranger = new_signing_key()
    log = ledger.platform.log
    size = await log.size()
    from heartchain.keys import address_of

    with pytest.raises(HeartchainError):
        await services.record_donation(ledger.platform, charity=charity,
                                       donor=address_of(stranger), kind="cash", quantity=1,
                                       campaign="c")
    assert await log.size() == size


async def test_reversing_twice_or_anothers(ledger: Ledger) -> None:
    charity, other, donor = (await f.charity(ledger), await f.charity(ledger, "Other"),
                             await f.member(ledger))
    gift = await services.record_donation(ledger.platform, charity=charity, donor=donor,
                                          kind="cash", quantity=10, campaign="c")
    body = {"charity": other, "donation": gift.index, "reason": "refund"}
    await expect_refused(ledger, "donation.reverse", body, other, NotYourDonation)
    await expect_refused(ledger, "donation.reverse", {**body, "charity": charity, "donation": 0},
                         charity, UnknownDonation)
    await expect_refused(ledger, "donation.reverse", {**body, "charity": charity,
                                                      "reason": "whim"}, charity, ValidationError)
    await services.reverse_donation(ledger.platform, charity=charity, donation=gift.index)
    await expect_refused(ledger, "donation.reverse", {**body, "charity": charity}, charity,
                         AlreadyReversed)
    assert (await services.score(donor)).total == 0


async def test_reversals_in_one_batch(ledger: Ledger) -> None:
    charity, donor = await f.charity(ledger), await f.member(ledger)
    gift = await services.record_donation(ledger.platform, charity=charity, donor=donor,
                                          kind="cash", quantity=10, campaign="c")
    key = await ledger.platform.custodial_key(charity)
    body = {"charity": charity, "donation": gift.index, "reason": "refund"}
    outcomes = await ledger.platform.log.append_now(
        [entry(ledger, "donation.reverse", body, key) for _ in range(2)])
    assert isinstance(outcomes[1], AlreadyReversed)
    assert (await services.score(donor)).total == 0


async def test_self_custody_donor_and_charity(ledger: Ledger) -> None:
    from heartchain.accounts.services import register_account, self_register_member

    donor_key, charity_key = new_signing_key(), new_signing_key()
    donor = (await self_register_member(ledger.platform, donor_key)).address
    await register_account(ledger.platform, role="charity", registrar=ledger.operator,
                           label="Self Custody Charity", key=charity_key)
    await campaign(ledger, charity_key, "c")  # signed by the charity's own key
    await services.record_donation(ledger.platform, charity=charity_key, donor=donor,
                                   kind="tree", quantity=7, campaign="c")
    assert (await services.score(donor)).total == 7


async def test_verify_after_realistic_scenario(ledger: Ledger) -> None:
    p = ledger.platform
    charities = [await f.charity(ledger, f"Charity {i}") for i in range(3)]
    for i in range(12):
        await ensure_campaign(ledger, charities[i % 3], f"campaign-{i % 4}")
    donors = [await f.member(ledger) for _ in range(10)]
    gifts = []
    for i in range(60):
        gifts.append(await services.record_donation(
            p, charity=charities[i % 3], donor=donors[i % 10], kind=("cash", "food", "tree")[i % 3],
            quantity=1 + i * 37, campaign=f"campaign-{i % 4}"))
        if i == 30:
            await services.set_heart_rates(p, ledger.operator,
                                           {"cash": (1, 100), "food": (1, 10), "tree": (100, 1)})
    for gift in gifts[::7]:
        index = gift.index
        charity = (await HeartDonation.get(idx=index)).charity
        await services.reverse_donation(p, charity=charity, donation=index)
    report = await verify_log(p.log)
    assert report.projection_rows["heart_donation"] == 60
    assert report.projection_rows["heart_score"] == 10
    assert report.projection_rows["heart_rate_version"] == 1
