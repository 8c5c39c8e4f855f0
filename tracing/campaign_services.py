"""Declaring and reading campaigns: each write is one charity-signed entry through
`platform.write`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from tortoise.expressions import Q

from heartchain.errors import ValidationError
from heartchain.keys import Signer, signer_address, signing_keys
from heartchain.ledger.body import decode
from heartchain.ledger.log import Appended
from heartchain.lookups import can_match
from heartchain.platform import Platform
from tracing.campaign_models import DeclaredCampaign
from tracing.campaigns import UPDATABLE, CampaignCreateBody, CampaignUpdateBody, campaign_key
from tracing.errors import UnknownCampaign

T = TypeVar("T")





async def create_campaign(platform: Platform, *, charity: Signer, slug: str, title_zh: str,
                          title_en: str, purpose: str, category: str, goal: int, unit: str,
                          starts: str, beneficiary: str, ends: str | None = None,
                          goods: Sequence[str] = (), payees: Sequence[str] = (),
                          validator: str | None = None,
                          outcome_deadline: str | None = None) -> DeclaredCampaign:
    raw: dict[str, Any] = {
        "charity": signer_address(charity), "slug": slug, "title_zh": title_zh,
        "title_en": title_en, "purpose": purpose, "category": category, "goal": goal,
        "unit": unit, "starts": starts, "beneficiary": beneficiary, "ends": ends,
        "goods": list(goods), "payees": list(payees),
        "validator": validator, "outcome_deadline": outcome_deadline}
    body = decode(CampaignCreateBody, {k: v for k, v in raw.items() if v is not None})
    await platform.write(body, *signing_keys(charity))
    return await DeclaredCampaign.get(key=campaign_key(slug, body.charity))


async def update_campaign(platform: Platform, *, charity: Signer, slug: str,
                          **changes: Any) -> DeclaredCampaign:
    """Change what `UPDATABLE` lists; a change given as None is left as it was."""
    unknown = sorted(set(changes) - set(UPDATABLE))
    if unknown:
        raise ValidationError(f"campaign.update: cannot change {', '.join(unknown)}",
                              field=unknown[0])
    raw: dict[str, Any] = {"charity": signer_address(charity), "slug": slug}
    for name, value in changes.items():
        if value is not None:
            raw[name] = list(value) if isinstance(value, (list, tuple)) else value
    body = decode(CampaignUpdateBody, raw)
    await platform.write(body, *signing_keys(charity))
    return await DeclaredCampaign.get(key=campaign_key(slug, body.charity))


async def get_campaign(slug: str, charity: str | None = None) -> DeclaredCampaign:
    """The declared campaign; name the charity when two charities use one slug."""
    fits = can_match(DeclaredCampaign, slug=slug, charity=charity or "")
    query = DeclaredCampaign.filter(slug=slug)
    if charity is not None:
        query = query.filter(charity=charity)
    return only_one(slug, charity, await query.order_by("created_idx").limit(2) if fits else [])


def only_one(slug: str, charity: str | None, found: Sequence[T]) -> T:
    """The one campaign `slug` names (of `charity` when given): none is UnknownCampaign, two or
    more a ValidationError asking for the charity."""
    if not found:
        raise UnknownCampaign(f"no campaign {slug} was declared"
                              + (f" by {charity}" if charity else ""))
    if len(found) > 1:
        raise ValidationError(f"campaign {slug} is run by more than one charity: name the "
                              "charity", field="charity")
    return found[0]


async def campaigns_of(charity: str) -> list[DeclaredCampaign]:
    if not can_match(DeclaredCampaign, charity=charity):
        return []
    return await DeclaredCampaign.filter(charity=charity).order_by("-created_idx")


async def pay_for_success_of(account: str) -> list[DeclaredCampaign]:
    """The pay-for-success campaigns `account` validates or runs, newest first (the console's
    list of outcomes to attest and campaigns to refund)."""
    if not can_match(DeclaredCampaign, charity=account):
        return []
    return await DeclaredCampaign.filter(
        Q(validator=account) | Q(charity=account), validator__isnull=False
    ).order_by("-created_idx")


async def attest_outcome(platform: Platform, *, validator: Signer, charity: str, slug: str,
                         evidence: str, amount: int | None = None) -> Appended:
    """Pay for success: the validator releases `amount` fen (all, when None) on evidence."""
    from tracing.escrow import OutcomeAttestBody

    raw: dict[str, Any] = {"validator": signer_address(validator), "charity": charity,
                           "campaign": slug, "evidence": evidence}
    if amount is not None:
        raw["amount"] = amount
    return await platform.write(decode(OutcomeAttestBody, raw), *signing_keys(validator))


async def refund_campaign(platform: Platform, *, by: Signer, charity: str,
                          slug: str) -> Appended:
    """Pay for success, after the deadline without the outcome: refund the rest pro rata."""
    from tracing.escrow import RefundBody

    body = decode(RefundBody, {"by": signer_address(by), "charity": charity, "campaign": slug})
    return await platform.write(body, *signing_keys(by))
