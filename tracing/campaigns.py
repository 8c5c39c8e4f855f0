"""Campaigns as entries: ``campaign.create`` and ``campaign.update``, signed by the charity.

A campaign is declared before anything is recorded into it: its titles (zh, en), purpose,
category, goal and unit, its window (`starts`, optional `ends`), who it serves (a description,
never personal data) and what it may spend on (goods kinds and payee kinds; an empty list means
any). A ``donation.record`` or ``fund.disburse`` must name a campaign that

- exists: declared by a campaign.create (`UnknownCampaign`; a typo no longer makes a campaign),
- belongs to the recording charity (`ForeignCampaign` when only another charity declared it),
- is open at the entry's time: `starts <= at < ends` (`CampaignClosed`). A pay-for-success
  campaign (a `validator` and an `outcome_deadline`) also takes no donation after its deadline.

Logs written before campaigns were entries hold donations into undeclared slugs; an undeclared
campaign is still accepted for entries integrated before `DECLARED_FROM`, so such a log replays
(`verify`) as it did. From then on, every campaign must be declared.

The slug and charity, the category, the unit and the pay-for-success terms are fixed at creation
(donors gave under them); an update may change the titles, purpose, goal, end, beneficiary
description and what the campaign may spend on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec

from heartchain.accounts.entries import require_role, role_of
from heartchain.errors import HeartchainError, ValidationError
from heartchain.ledger.body import Address, Body, Quantity, Slug, Text, Time, literal_values
from heartchain.ledger.entries import format_time
from heartchain.ledger.kinds import ApplyContext, observes, projects, rules
from heartchain.ledger.store import fetch
from tokens.entries import RecordBody
from tracing.campaign_models import DeclaredCampaign
from tracing.errors import (
    CampaignClosed,
    CampaignExists,
    ForeignCampaign,
    SpendNotAllowed,
    UnknownCampaign,
)

# Entries integrated before this time may name an undeclared campaign (see the module doc).
DECLARED_FROM = "2026-12-01T00:00:00.000Z"

Category = Literal["food", "trees", "medical", "education", "disaster", "water", "elderly",
                   "children", "environment", "other"]
GoalUnit = Literal["fen", "grams", "trees", "items"]
GoodsKind = Literal["food", "seedlings", "medicine", "medical_supplies", "books",
                    "school_supplies", "clothing", "shelter", "water", "tools", "transport",
                    "services"]
PayeeKind = Literal["supplier", "farm", "nursery", "pharmacy", "hospital", "clinic", "school",
                    "transport", "contractor", "staff", "other"]
CATEGORIES: tuple[str, ...] = literal_values(Category)
GOAL_UNITS: tuple[str, ...] = literal_values(GoalUnit)
GOODS_KINDS: tuple[str, ...] = literal_values(GoodsKind)
PAYEE_KINDS: tuple[str, ...] = literal_values(PayeeKind)
# The donation kind whose quantity counts toward a goal in each unit (items: none does).
RAISED_BY: dict[str, str] = {"fen": "cash", "grams": "food", "trees": "tree"}

GoodsList = Annotated[tuple[GoodsKind, ...], msgspec.Meta(max_length=len(GOODS_KINDS))]
PayeeList = Annotated[tuple[PayeeKind, ...], msgspec.Meta(max_length=len(PAYEE_KINDS))]


def _distinct(kind: str, name: str, values: tuple[str, ...] | None) -> None:
    if values is not None and len(set(values)) != len(values):
        raise ValidationError(f"{kind}: {name}: lists a kind twice", field=name)


class CampaignCreateBody(Body):
    """A charity declares a campaign; donations and disbursements may then name it."""

    KIND = "campaign.create"
    SIGNERS = ("charity",)

    charity: Address
    slug: Slug
    title_zh: Text
    title_en: Text
    purpose: Text
    category: Category
    goal: Quantity
    unit: GoalUnit
    starts: Time
    beneficiary: Text  # who it serves, described: never a name, phone or id number
    ends: Time | None = None
    goods: GoodsList = ()
    payees: PayeeList = ()
    validator: Address | None = None  # pay for success: who attests the outcome
    outcome_deadline: Time | None = None

    def __post_init__(self) -> None:
        _distinct(self.KIND, "goods", self.goods)
        _distinct(self.KIND, "payees", self.payees)
        if self.ends is not None and self.ends <= self.starts:
            raise ValidationError(f"{self.KIND}: ends: must be after starts", field="ends")
        if (self.validator is None) != (self.outcome_deadline is None):
            raise ValidationError(f"{self.KIND}: validator and outcome_deadline come together "
                                  "(pay for success)", field="validator")
        if self.outcome_deadline is not None:
            if self.validator == self.charity:
                raise ValidationError(f"{self.KIND}: validator: must not be the charity itself",
                                      field="validator")
            if self.outcome_deadline <= self.starts:
                raise ValidationError(f"{self.KIND}: outcome_deadline: must be after starts",
                                      field="outcome_deadline")


class CampaignUpdateBody(Body):
    """A charity changes what it declared; fields left out stay as they were."""

    KIND = "campaign.update"
    SIGNERS = ("charity",)

    charity: Address
    slug: Slug
    title_zh: Text | None = None
    title_en: Text | None = None
    purpose: Text | None = None
    goal: Quantity | None = None
    ends: Time | None = None
    beneficiary: Text | None = None
    goods: GoodsList | None = None  # given empty: any goods
    payees: PayeeList | None = None

    def __post_init__(self) -> None:
        _distinct(self.KIND, "goods", self.goods)
        _distinct(self.KIND, "payees", self.payees)
        if all(getattr(self, name) is None for name in UPDATABLE):
            raise ValidationError(f"{self.KIND}: changes nothing", field="body")


UPDATABLE = ("title_zh", "title_en", "purpose", "goal", "ends", "beneficiary", "goods", "payees")
_COLUMNS = ("key, slug, charity, title_zh, title_en, purpose, category, goal, unit, starts, ends, "
            "beneficiary, goods, payees, validator, outcome_deadline, created_idx, updated_idx")


def campaign_key(slug: str, charity: str) -> str:
    """Campaigns belong to the charity that declares them: one slug used by two charities is two
    campaigns."""
    return f"{slug}@{charity}"


def _memo_key(key: str) -> tuple[str, str]:
    return ("campaign", key)


async def declared(ctx: ApplyContext, slug: str, charity: str) -> dict[str, Any] | None:
    """The declared campaign's row (memoized per batch: donations are the hottest kind)."""
    key = campaign_key(slug, charity)
    memo = _memo_key(key)
    if memo not in ctx.memo:
        rows = await fetch(ctx.conn, f"SELECT {_COLUMNS} FROM tracing_campaign_declared "
                           "WHERE key = ?", [key])
        ctx.memo[memo] = dict(rows[0]) if rows else None
    row: dict[str, Any] | None = ctx.memo[memo]
    return row


async def other_owner(conn: Any, slug: str) -> str | None:
    """A charity that declared `slug`, for telling a foreign campaign from an unknown one."""
    rows = await fetch(conn, "SELECT charity FROM tracing_campaign_declared WHERE slug = ? "
                       "LIMIT 1", [slug])
    return str(rows[0]["charity"]) if rows else None


def is_open(row: Mapping[str, Any], at: str, *, donation: bool) -> bool:
    if at < str(row["starts"]) or (row["ends"] is not None and at >= str(row["ends"])):
        return False
    deadline = row["outcome_deadline"]
    return not (donation and deadline is not None and at >= str(deadline))


def _missing(kind: str, slug: str, charity: str, owner: str | None) -> HeartchainError:
    if owner is not None:
        return ForeignCampaign(f"{kind}: campaign {slug} belongs to {owner}, not to {charity}")
    return UnknownCampaign(f"{kind}: {charity} declared no campaign {slug} (campaign.create)")


def refusal(kind: str, slug: str, charity: str, at: str, row: Mapping[str, Any] | None, *,
            owner: str | None, donation: bool, legacy: bool) -> HeartchainError | None:
    """The campaign rule, stated once: why an entry of `kind` by `charity` at time `at` may not
    record into campaign `slug`, or None when it may. `row` is the charity's declaration of the
    slug (None: none), `owner` another charity that declared it, `legacy` whether the entry is
    integrated before `DECLARED_FROM` (an undeclared campaign is then accepted). The log applies
    it at append time (`open_campaign`); the import's dry run asks it of every row, so both
    refuse the same rows with the same reason."""
    if row is None:
        return None if legacy else _missing(kind, slug, charity, owner)
    if is_open(row, at, donation=donation):
        return None
    until = row["ends"] or "open-ended"
    if donation and row["outcome_deadline"] is not None:
        until = f"{until}; donations until the outcome deadline {row['outcome_deadline']}"
    return CampaignClosed(f"{kind}: campaign {slug} is not open at {at} "
                          f"(from {row['starts']}, until {until})")


async def _require(ctx: ApplyContext, slug: str, charity: str, kind: str) -> dict[str, Any]:
    row = await declared(ctx, slug, charity)
    if row is None:
        raise _missing(kind, slug, charity, await other_owner(ctx.conn, slug))
    return row


async def open_campaign(ctx: ApplyContext, slug: str, charity: str, kind: str, *,
                        donation: bool) -> dict[str, Any] | None:
    """The campaign an entry records into, if it exists, is the charity's and is open at the
    entry's time; None for a legacy entry into an undeclared campaign (see `DECLARED_FROM`)."""
    row = await declared(ctx, slug, charity)
    legacy = format_time(ctx.now) < DECLARED_FROM
    owner = None if row is not None or legacy else await other_owner(ctx.conn, slug)
    refused = refusal(kind, slug, charity, ctx.entry.at, row, owner=owner, donation=donation,
                      legacy=legacy)
    if refused is not None:
        raise refused
    return row


def check_spend(row: dict[str, Any] | None, goods: str | None, payee_kind: str | None) -> None:
    """A disbursement spends only on what the campaign declared it may spend on."""
    if row is None:
        return
    for name, value, allowed in (("goods", goods, row["goods"]),
                                 ("payee_kind", payee_kind, row["payees"])):
        listed = [v for v in str(allowed).split(",") if v]
        if listed and value not in listed:
            shown = "none named" if value is None else value
            raise SpendNotAllowed(f"fund.disburse: {name}: campaign {row['slug']} may spend only "
                                  f"on {', '.join(listed)} ({shown})", field=name)


# ---------------------------------------------------------------------------------------------
# campaign.create and campaign.update


@rules(CampaignCreateBody)
async def _check_create(ctx: ApplyContext, body: CampaignCreateBody) -> None:
    await require_role(ctx, body.charity, "charity")
    if await declared(ctx, body.slug, body.charity) is not None:
        raise CampaignExists(f"campaign.create: {body.charity} already declared campaign "
                             f"{body.slug}; change it with campaign.update")
    if body.validator is not None:
        role = await role_of(ctx, body.validator)
        if role not in ("charity", "partner", "operator"):
            raise ValidationError(f"campaign.create: validator: {body.validator} is not a "
                                  "registered organisation", field="validator")


@projects(CampaignCreateBody)
async def _project_create(ctx: ApplyContext, body: CampaignCreateBody) -> None:
    key = campaign_key(body.slug, body.charity)
    row = await DeclaredCampaign.create(
        using_db=ctx.conn, key=key, slug=body.slug, charity=body.charity, title_zh=body.title_zh,
        title_en=body.title_en, purpose=body.purpose, category=body.category, goal=body.goal,
        unit=body.unit, starts=body.starts, ends=body.ends, beneficiary=body.beneficiary,
        goods=",".join(body.goods), payees=",".join(body.payees), validator=body.validator,
        outcome_deadline=body.outcome_deadline, created_idx=ctx.index, updated_idx=ctx.index)
    ctx.memo[_memo_key(key)] = {name.strip(): getattr(row, name.strip())
                                for name in _COLUMNS.split(",")}


@rules(CampaignUpdateBody)
async def _check_update(ctx: ApplyContext, body: CampaignUpdateBody) -> None:
    await require_role(ctx, body.charity, "charity")
    row = await _require(ctx, body.slug, body.charity, body.KIND)
    if body.ends is not None and body.ends <= str(row["starts"]):
        raise ValidationError(f"campaign.update: ends: must be after starts ({row['starts']})",
                              field="ends")


@projects(CampaignUpdateBody)
async def _project_update(ctx: ApplyContext, body: CampaignUpdateBody) -> None:
    key = campaign_key(body.slug, body.charity)
    changes: dict[str, Any] = {}
    for name in UPDATABLE:
        value = getattr(body, name)
        if value is not None:
            changes[name] = ",".join(value) if isinstance(value, tuple) else value
    await DeclaredCampaign.filter(key=key).using_db(ctx.conn).update(updated_idx=ctx.index,
                                                                     **changes)
    ctx.memo.pop(_memo_key(key), None)


# ---------------------------------------------------------------------------------------------
# Donations name a declared, open campaign of their charity


# Set-based: it only reads declarations, which per-entry kinds write (the batch memo is dropped
# after each of those), one query per campaign per batch.
@observes(RecordBody, rules=True, batched=True)
async def _check_record(ctx: ApplyContext, body: RecordBody) -> None:
    await open_campaign(ctx, body.campaign, body.charity, body.KIND, donation=True)
