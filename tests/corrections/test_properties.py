"""Corrections keep the money invariants: for random sequences of gifts, refunds, spending and
corrections, every campaign's balance = donated − reversed − disbursed = what its donations have
left, each donor's hearts = what the live gifts minted, and verify replays it all."""

from __future__ import annotations

import random

import pytest

from heartchain.corrections import errors
from heartchain.corrections.models import Correction
from heartchain.corrections.services import correct
from heartchain.errors import HeartchainError
from heartchain.ledger.verify import verify_log
from tests.conftest import Ledger
from tests.tracing import factories as f
from tests.tracing.conftest import Cast
from tokens.models import HeartDonation, HeartScore
from tracing import services
from tracing.models import Campaign, TracedDonation

CAMPAIGNS = ("winter", "spring")


async def _check(cast: Cast) -> None:
    for campaign in await Campaign.filter(charity=cast.charity):
        assert campaign.balance == campaign.donated - campaign.reversed - campaign.disbursed
        left = [d.quantity - d.reversed - d.used for d in
                await TracedDonation.filter(campaign_key=campaign.key, kind="cash")]
        assert campaign.balance == sum(left) and min(left, default=0) >= 0
        donated = await TracedDonation.filter(campaign_key=campaign.key, kind="cash")
        assert campaign.donated == sum(d.quantity for d in donated)
    live = await HeartDonation.filter(donor=cast.donor, reversed_idx=None)
    score = await HeartScore.get_or_none(address=cast.donor)
    assert (score.total if score else 0) == sum(d.hearts for d in live)
    assert all(d.hearts == d.quantity for d in await HeartDonation.filter(donor=cast.donor))


@pytest.mark.parametrize("seed", [3, 11])
async def test_random_histories_keep_the_invariants(ledger: Ledger, cast: Cast,
                                                    seed: int) -> None:
    rng = random.Random(seed)
    platform = ledger.platform
    gifts: list[int] = []
    for _ in range(30):
        action = rng.choice(["give", "give", "amount", "campaign", "spend", "refund"])
        try:
            if action == "give" or not gifts:
                gifts.append(await f.donate(ledger, cast.charity, cast.donor, "cash",
                                            rng.randint(1, 5_000), rng.choice(CAMPAIGNS)))
            elif action == "amount":
                await correct(platform, entry=rng.choice(gifts), reason="wrong_amount",
                              values={"quantity": rng.randint(1, 5_000)})
            elif action == "campaign":
                await correct(platform, entry=rng.choice(gifts), reason="wrong_campaign",
                              values={"campaign": rng.choice(CAMPAIGNS)})
            elif action == "spend":
                await services.disburse(platform, charity=cast.charity,
                                        campaign=rng.choice(CAMPAIGNS),
                                        amount=rng.randint(1, 3_000), payee="Shop",
                                        purpose="rice", receipt=f.digest())
            else:
                await f.reverse(ledger, cast.charity, rng.choice(gifts))
        except (errors.CorrectionRefused, errors.NothingToCorrect, HeartchainError):
            pass  # refused: nothing written, and the invariants still hold
        await _check(cast)
    assert await Correction.all().count() >= 3  # the history did correct gifts
    await verify_log(platform.log)
