"""Entry kinds of heart points: rate tables, donations and reversals (consents and partner
checks are in tokens.consent_entries).

- `heart.rates` (operator): the next version of the rate table, one integer ratio per donation
  kind; it applies to donations after its log position, never before. Version 0 — 1 heart per
  fen, per gram of food, per tree — is built in.
- `donation.record` (the receiving charity): mints `quantity * hearts // per` hearts (rounded
  down, integers only) to the donor at the rate in force.
- `donation.reverse` (the same charity): burns exactly the hearts the original minted, once.
- A pay-for-success refund (tracing.escrow's `campaign.refund`) gives a cash gift's donor back
  `refunded` of the gift's `net` fen: `burn_refunded` burns floor(hearts * refunded / net) of its
  hearts (rounded down, so never more than it minted, and the same on every replay).

The hot path (`donation.record`) is set-based (heartchain.ledger.kinds): one prefetch per batch
loads the roles, the rate table and the donors' scores into `ctx.memo`, which the rules read and
the projectors keep current; its rows go out with one executemany per statement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from heartchain.accounts.entries import load_roles, require_role
from heartchain.errors import ValidationError
from heartchain.ledger.body import (
    MAX_QUANTITY,
    Address,
    Body,
    Hex32,
    Index,
    Quantity,
    Slug,
    Time,
    literal_values,
)
from heartchain.ledger.entries import format_time
from heartchain.ledger.kinds import ApplyContext, prefetches, projects, rules
from heartchain.ledger.store import execute, fetch, in_chunks
from tokens import consent_entries  # noqa: F401  (heartchain.db loads this module: the consent kinds)
from tokens.errors import (
    AlreadyReversed,
    HeartsOverflow,
    NotYourDonation,
    RateVersionConflict,
    UnknownDonation,
)
from tokens.models import KINDS, HeartRateVersion

MAX_RATE_TERM = 10**9
DonationKind = Literal["cash", "food", "tree"]
ReversalReason = Literal["refund", "chargeback", "error"]
REVERSAL_REASONS: tuple[str, ...] = literal_values(ReversalReason)
if literal_values(DonationKind) != KINDS:  # the projection's columns follow the kinds
    raise RuntimeError(f"DonationKind {literal_values(DonationKind)} differs from {KINDS}")

# -- rate tables ----------------------------------------------------------------------------


class Rate(Body):
    """Hearts minted per unit of one kind: `quantity * hearts // per`."""

    hearts: Annotated[int, msgspec.Meta(ge=0, le=MAX_RATE_TERM)]
    per: Annotated[int, msgspec.Meta(ge=1, le=MAX_RATE_TERM)]

    def apply(self, quantity: int) -> int:
        return quantity * self.hearts // self.per


@dataclass(frozen=True)
class RateTable:
    version: int
    index: int | None  # the heart.rates entry; None for the built-in version 0
    rates: Mapping[str, Rate]

    def hearts(self, kind: str, quantity: int) -> int:
        return self.rates[kind].apply(quantity)


DEFAULT_RATES = RateTable(0, None, {kind: Rate(hearts=1, per=1) for kind in KINDS})


def rate_table_of(row: HeartRateVersion) -> RateTable:
    return RateTable(row.version, row.idx, {
        "cash": Rate(hearts=row.cash_hearts, per=row.cash_per),
        "food": Rate(hearts=row.food_hearts, per=row.food_per),
        "tree": Rate(hearts=row.tree_hearts, per=row.tree_per)})


async def latest_rates(conn: BaseDBAsyncClient | None = None) -> RateTable:
    # Raw: every batch of gifts reads it, and the ORM's query building cost more than the read.
    rows = await fetch(conn or connections.get("default"),
                       f"SELECT {', '.join(_RATE_COLUMNS)} FROM heart_rate_version "
                       "ORDER BY version DESC LIMIT 1")
    return rate_table_of(HeartRateVersion._init_from_db(**rows[0])) if rows else DEFAULT_RATES


_RATE_COLUMNS = tuple(sorted(HeartRateVersion._meta.db_fields))


class RateTerms(Body):
    """One rate per donation kind; every kind needs one (checked here, to name the missing)."""

    cash: Rate | None = None
    food: Rate | None = None
    tree: Rate | None = None

    def __post_init__(self) -> None:
        missing = [k for k in KINDS if getattr(self, k) is None]
        if missing:
            raise ValidationError(f"heart.rates: rates: every kind needs a rate; missing "
                                  f"{', '.join(missing)}", field="rates")

    def by_kind(self) -> dict[str, Rate]:
        return {kind: getattr(self, kind) for kind in KINDS}


class RatesBody(Body):
    """Set the next version of the hearts-per-unit rate table."""

    KIND = "heart.rates"
    SIGNERS = ("operator",)

    operator: Address
    version: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
    rates: RateTerms


_RATES_MEMO = (RatesBody.KIND,)


async def rates_in_force(ctx: ApplyContext) -> RateTable:
    if _RATES_MEMO not in ctx.memo:
        ctx.memo[_RATES_MEMO] = await latest_rates(ctx.conn)
    table: RateTable = ctx.memo[_RATES_MEMO]
    return table


@rules(RatesBody)
async def _check_rates(ctx: ApplyContext, body: RatesBody) -> None:
    await require_role(ctx, body.operator, "operator")
    current = await rates_in_force(ctx)
    if body.version != current.version + 1:
        raise RateVersionConflict(f"heart.rates: version must be {current.version + 1} "
                                  f"(the table in force is version {current.version})")


@projects(RatesBody)
async def _project_rates(ctx: ApplyContext, body: RatesBody) -> None:
    r = body.rates.by_kind()
    await HeartRateVersion.create(
        using_db=ctx.conn, version=body.version, idx=ctx.index, set_by=body.operator,
        cash_hearts=r["cash"].hearts, cash_per=r["cash"].per,
        food_hearts=r["food"].hearts, food_per=r["food"].per,
        tree_hearts=r["tree"].hearts, tree_per=r["tree"].per)
    ctx.memo[_RATES_MEMO] = RateTable(body.version, ctx.index, r)


# -- scores ----------------------------------------------------------------------------------

_UPSERT_SCORE = (
    "INSERT INTO heart_score (address, total, cash, food, tree, minted, burned, gifts, "
    "reversals, last_idx) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (address) DO UPDATE "
    "SET total = heart_score.total + excluded.total, cash = heart_score.cash + excluded.cash, "
    "food = heart_score.food + excluded.food, tree = heart_score.tree + excluded.tree, "
    "minted = heart_score.minted + excluded.minted, burned = heart_score.burned + "
    "excluded.burned, gifts = heart_score.gifts + excluded.gifts, reversals = "
    "heart_score.reversals + excluded.reversals, last_idx = excluded.last_idx")


async def _load_scores(ctx: ApplyContext, addresses: list[str]) -> None:
    """Memoize the score totals of `addresses` (0 for none yet), one query a chunk."""
    wanted = sorted({a for a in addresses if ("heart.score", a) not in ctx.memo})
    for chunk in in_chunks(wanted):
        rows = await fetch(ctx.conn, f"SELECT address, total FROM heart_score WHERE address IN "
                           f"({', '.join('?' * len(chunk))})", chunk)
        found = {str(row["address"]): int(row["total"]) for row in rows}
        for address in chunk:
            ctx.memo[("heart.score", address)] = found.get(address, 0)


async def _score_total(ctx: ApplyContext, address: str) -> int:
    key = ("heart.score", address)
    if key not in ctx.memo:
        rows = await fetch(ctx.conn, "SELECT total FROM heart_score WHERE address = ?", [address])
        ctx.memo[key] = int(rows[0]["total"]) if rows else 0
    total: int = ctx.memo[key]
    return total


async def _move_score(ctx: ApplyContext, address: str, kind: str, hearts: int, *,
                      burn: bool, counted: bool = True) -> None:
    """Mint or burn `hearts`; `counted` adds one to gifts (a mint) or reversals (a burn)."""
    delta = -hearts if burn else hearts
    per_kind = [delta if k == kind else 0 for k in KINDS]
    await ctx.add_up(_UPSERT_SCORE, [
        address, delta, *per_kind, 0 if burn else hearts, hearts if burn else 0,
        int(counted and not burn), int(counted and burn), ctx.index],
        summed=range(1, 9), latest=(9,))
    key = ("heart.score", address)
    if key in ctx.memo:
        ctx.memo[key] += delta


def score_query(address: str, size: int) -> tuple[str, list[object]]:
    """The SQL (one row: minted, burned) of the donor's hearts over the first `size` entries,
    for `score_at` or a query that reads the score with something else (`score_of` its row)."""
    return ("SELECT COALESCE(SUM(hearts), 0) AS minted, COALESCE(SUM(CASE WHEN reversed_idx < ? "
            "THEN hearts WHEN refund_idx < ? THEN refund_hearts ELSE 0 END), 0) AS burned "
            "FROM heart_donation WHERE donor = ? AND idx < ?", [size, size, address, size])


def score_of(row: Mapping[str, Any]) -> int:
    return int(row["minted"]) - int(row["burned"])


async def score_at(conn: BaseDBAsyncClient, address: str, size: int) -> int:
    """The donor's hearts over the log prefix of `size` entries (mints minus burns before it)."""
    query, values = score_query(address, size)
    return score_of((await fetch(conn, query, values))[0])


# -- donations -------------------------------------------------------------------------------


class RecordBody(Body):
    """A charity records a gift; mints hearts to the donor at the rate in force."""

    KIND = "donation.record"
    SIGNERS = ("charity",)

    charity: Address
    donor: Address
    kind: DonationKind
    quantity: Quantity
    campaign: Slug
    receipt: Hex32 | None = None
    # Bulk import (heartchain.finance): a keyed hash of the payment provider's transaction id,
    # recorded once per charity (tokens.references), and when the provider says the payer paid.
    reference: Hex32 | None = None
    paid_at: Time | None = None


_DONATION_COLUMNS = ("idx", "charity", "donor", "kind", "quantity", "campaign", "receipt",
                     "hearts", "rate_version", "recorded_at")


@prefetches(RecordBody)
async def _prefetch_record(ctx: ApplyContext, bodies: list[RecordBody]) -> None:
    await load_roles(ctx, [a for body in bodies for a in (body.charity, body.donor)])
    await rates_in_force(ctx)
    await _load_scores(ctx, [body.donor for body in bodies])


@rules(RecordBody, batched=True)
async def _check_record(ctx: ApplyContext, body: RecordBody) -> None:
    await require_role(ctx, body.charity, "charity")
    await require_role(ctx, body.donor, "member")
    hearts = (await rates_in_force(ctx)).hearts(body.kind, body.quantity)
    if hearts > MAX_QUANTITY:
        raise HeartsOverflow(f"donation.record: {body.quantity} {body.kind} would mint {hearts} "
                             f"hearts, beyond {MAX_QUANTITY}", field="quantity")
    if await _score_total(ctx, body.donor) + hearts > MAX_QUANTITY:
        raise HeartsOverflow(f"donation.record: {body.donor}'s score would exceed "
                             f"{MAX_QUANTITY} hearts", field="quantity")


@projects(RecordBody, batched=True)
async def _project_record(ctx: ApplyContext, body: RecordBody) -> None:
    rates = await rates_in_force(ctx)
    hearts = rates.hearts(body.kind, body.quantity)
    values = [ctx.index, body.charity, body.donor, body.kind, body.quantity, body.campaign,
              body.receipt, hearts, rates.version, format_time(ctx.now)]
    await ctx.write(f"INSERT INTO heart_donation ({', '.join(_DONATION_COLUMNS)}) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
    ctx.answer = dict(zip(_DONATION_COLUMNS, values, strict=True))  # tokens.services reads it
    await _move_score(ctx, body.donor, body.kind, hearts, burn=False)


class ReverseBody(Body):
    """A refund or chargeback: burns exactly the original donation's hearts, once."""

    KIND = "donation.reverse"
    SIGNERS = ("charity",)

    charity: Address
    donation: Index
    reason: ReversalReason


async def _original(ctx: ApplyContext, body: ReverseBody) -> dict[str, Any]:
    rows = await fetch(ctx.conn, "SELECT charity, donor, kind, hearts, reversed_idx FROM "
                       "heart_donation WHERE idx = ?", [body.donation])
    if not rows:
        raise UnknownDonation(f"donation.reverse: entry {body.donation} is not a donation")
    return rows[0]


@rules(ReverseBody)
async def _check_reverse(ctx: ApplyContext, body: ReverseBody) -> None:
    await require_role(ctx, body.charity, "charity")
    original = await _original(ctx, body)
    if original["charity"] != body.charity:
        raise NotYourDonation(f"donation.reverse: donation {body.donation} was recorded by "
                              f"another charity")
    if original["reversed_idx"] is not None:
        raise AlreadyReversed(f"donation.reverse: donation {body.donation} was already "
                              f"reversed by entry {original['reversed_idx']}")


@projects(ReverseBody)
async def _project_reverse(ctx: ApplyContext, body: ReverseBody) -> None:
    original = await _original(ctx, body)
    await execute(ctx.conn, "UPDATE heart_donation SET reversed_idx = ?, reversal_reason = ? "
                  "WHERE idx = ?", [ctx.index, body.reason, body.donation])
    await _move_score(ctx, str(original["donor"]), str(original["kind"]),
                      int(original["hearts"]), burn=True)


async def burn_refunded(ctx: ApplyContext, refunds: Mapping[int, tuple[int, int]]) -> int:
    """Burn, for each donation index -> (fen refunded, the gift's net fen), floor(hearts *
    refunded / net) of its hearts; answers the hearts burned in all. A gift is refunded once
    (its campaign's single refund), and a reversed one has no net left to refund."""
    burned = 0
    wanted = sorted(refunds)
    for chunk in in_chunks(wanted):
        rows = await fetch(ctx.conn, f"SELECT idx, donor, kind, hearts FROM heart_donation "
                           f"WHERE idx IN ({', '.join('?' * len(chunk))}) AND reversed_idx IS "
                           "NULL AND refund_idx IS NULL ORDER BY idx", chunk)
        for row in rows:
            refunded, net = refunds[int(row["idx"])]
            if not 0 < refunded <= net:
                raise RuntimeError(f"refund of {refunded} fen of a {net}-fen gift")
            hearts = int(row["hearts"]) * refunded // net
            await execute(ctx.conn, "UPDATE heart_donation SET refund_idx = ?, refund_hearts = ? "
                          "WHERE idx = ?", [ctx.index, hearts, int(row["idx"])])
            if hearts:
                await _move_score(ctx, str(row["donor"]), str(row["kind"]), hearts, burn=True,
                                  counted=False)
            burned += hearts
    return burned


# What bulk import adds to donation.record (its rules and table) is kept apart.
from tokens import references  # noqa: E402,F401
