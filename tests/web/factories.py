"""Test data for the pages: a charity, a donor, a gift and its lot's journey."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from heartchain.accounts.services import register_account
from tests.conftest import Ledger
from tests.factories import campaign


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Story:
    charity: str
    courier: str
    donor: str
    donation: int
    cash: int
    lot: str
    code: str
    children: list[str]


async def food_story(ledger: Ledger) -> Story:
    """A donor gives 12.5 kg of rice and 50 yuan; the rice goes into a lot, is handed to a courier,
    split, and part of it delivered; the cash pays for a delivery van (tokens and tracing)."""
    from tokens import services as hearts
    from tracing import services as tracing

    platform = ledger.platform
    charity = (await register_account(platform, role="charity", registrar=ledger.operator,
                                      label="Sunrise <Food> Bank")).address
    courier = (await register_account(platform, role="partner", registrar=ledger.operator,
                                      label="Courier")).address
    donor = (await register_account(platform, role="member", registrar=ledger.operator)).address
    await campaign(ledger, charity, "winter-2026")
    gift = await hearts.record_donation(platform, charity=charity, donor=donor, kind="food",
                                        quantity=12_500, campaign="winter-2026")
    cash = await hearts.record_donation(platform, charity=charity, donor=donor, kind="cash",
                                        quantity=5_000, campaign="winter-2026")
    lot = await tracing.create_lot(platform, charity=charity, goods="大米 rice", quantity=12_500,
                                   unit="grams", custodian=charity, donation=gift.index,
                                   place="Sunrise depot")
    await tracing.hand_over(platform, lot=lot.id, giver=charity, taker=courier,
                            place="Depot gate", evidence=digest("photo"))
    children = await tracing.split_lot(platform, by=courier, lot=lot.id, outputs=[10_000, 2_000],
                                       loss=500, reason="spoiled")
    await tracing.deliver_lot(platform, by=courier, lot=children[0].id, quantity=10_000,
                              place="Elm St community centre", beneficiary="王小明 13800000000")
    await tracing.disburse(platform, charity=charity, campaign="winter-2026", amount=3_000,
                           payee="Van Rentals Ltd", purpose="delivery van", receipt=digest("r"))
    return Story(charity, courier, donor, gift.index, cash.index, lot.id, lot.code,
                 [c.id for c in children])
