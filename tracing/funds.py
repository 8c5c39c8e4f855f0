"""Money: ``fund.disburse``, and what tracing keeps of tokens' donations.

- ``fund.disburse`` a charity spends campaign cash (amount in fen, payee, purpose, receipt hash);
  allocated first in, first out to the campaign's cash donations.
- ``donation.record`` (owned by tokens) feeds the campaign ledger and the goods stock;
  ``donation.reverse`` is refused when the fen were already disbursed or the goods already
  dispatched, so balance = donations − reversals − disbursements holds at every index. A reversal
  takes back all that is left of the donation: its body names the donation, not an amount.
"""

from __future__ import annotations

from heartchain.accounts.entries import require_role
from heartchain.ledger.body import Address, Body, Fen, Hex32, Label, Slug, Text
from heartchain.ledger.kinds import ApplyContext, observes, projects, rules
from heartchain.ledger.store import fetch
from tokens.entries import RecordBody, ReverseBody
from tracing import escrow, fifo
from tracing.campaign_models import DisbursementKind
from tracing.campaigns import GoodsKind, PayeeKind, campaign_key, check_spend, open_campaign
from tracing.errors import AlreadySpent, CampaignNotFound, DonationNotFound, InsufficientFunds
from tracing.models import Allocation, Campaign, Disbursement, TracedDonation

__all__ = ["DisburseBody", "campaign_key", "reversal_target"]


class DisburseBody(Body):
    """A charity spends campaign cash on a purpose, with its receipt hash."""

    KIND = "fund.disburse"
    SIGNERS = ("charity",)

    charity: Address
    campaign: Slug
    amount: Fen
    payee: Label
    purpose: Text
    receipt: Hex32
    goods: GoodsKind | None = None  # what it bought, from the campaign's declared goods kinds
    payee_kind: PayeeKind | None = None


@rules(DisburseBody)
async def _check_disburse(ctx: ApplyContext, body: DisburseBody) -> None:
    await require_role(ctx, body.charity, "charity")
    declared = await open_campaign(ctx, body.campaign, body.charity, body.KIND, donation=False)
    check_spend(declared, body.goods, body.payee_kind)
    await escrow.check_release(ctx, declared, body.amount)
    campaign = await Campaign.get_or_none(
        key=campaign_key(body.campaign, body.charity)).using_db(ctx.conn)
    if campaign is None:
        raise CampaignNotFound(f"{body.charity} has recorded no donations for campaign "
                               f"{body.campaign}")
    if body.amount > campaign.balance:
        raise InsufficientFunds(f"campaign {body.campaign} holds {campaign.balance} fen, "
                                f"less than {body.amount}")


@projects(DisburseBody)
async def _project_disburse(ctx: ApplyContext, body: DisburseBody) -> None:
    key = campaign_key(body.campaign, body.charity)
    rows = await fetch(ctx.conn, "SELECT idx, quantity, reversed, used FROM tracing_donation "
                       "WHERE campaign_key = ? AND kind = 'cash' AND used + reversed < quantity "
                       "ORDER BY idx", [key])
    pool = [[int(r["idx"]), int(r["quantity"]) - int(r["reversed"]) - int(r["used"])]
            for r in rows]
    used = {int(r["idx"]): int(r["used"]) for r in rows}
    allocations = []
    for donation, amount in fifo.take(pool, body.amount):
        allocations.append(Allocation(id=f"{ctx.index}|{donation}", disbursement_idx=ctx.index,
                                      donation_idx=donation, amount=amount))
        await TracedDonation.filter(idx=donation).using_db(ctx.conn).update(
            used=used[donation] + amount)
    await Allocation.bulk_create(allocations, using_db=ctx.conn)
    await Disbursement.create(using_db=ctx.conn, idx=ctx.index, campaign_key=key,
                              charity=body.charity, amount=body.amount, payee=body.payee,
                              purpose=body.purpose, receipt=body.receipt, at=ctx.entry.at)
    if body.goods is not None or body.payee_kind is not None:
        await DisbursementKind.create(using_db=ctx.conn, idx=ctx.index, campaign_key=key,
                                      goods=body.goods, payee_kind=body.payee_kind)
    campaign = await Campaign.get(key=key).using_db(ctx.conn)
    await Campaign.filter(key=key).using_db(ctx.conn).update(
        disbursed=campaign.disbursed + body.amount, balance=campaign.balance - body.amount)


# ---------------------------------------------------------------------------------------------
# Observing tokens' donation.record and donation.reverse


@observes(RecordBody, batched=True)
async def _observe_record(ctx: ApplyContext, body: RecordBody) -> None:
    # Raw SQL and one upsert, buffered for the batch (set-based): this runs for every donation,
    # the log's hottest kind, and reads nothing.
    key = campaign_key(body.campaign, body.charity)
    await ctx.write("INSERT INTO tracing_donation (idx, campaign_key, campaign, "
                    "charity, donor, kind, quantity, reversed, used, at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?)",
                    [ctx.index, key, body.campaign, body.charity, body.donor, body.kind,
                     body.quantity, ctx.entry.at])
    if body.kind != "cash":
        return
    await ctx.add_up("INSERT INTO tracing_campaign (key, slug, charity, donated, reversed, "
                     "disbursed, balance, first_idx) VALUES (?, ?, ?, ?, 0, 0, ?, ?) "
                     "ON CONFLICT (key) DO UPDATE SET donated = tracing_campaign.donated + "
                     "excluded.donated, balance = tracing_campaign.balance + excluded.balance",
                     [key, body.campaign, body.charity, body.quantity, body.quantity, ctx.index],
                     summed=(3, 4))


async def reversal_target(ctx: ApplyContext, body: ReverseBody) -> tuple[TracedDonation, int]:
    """The donation a reversal names and the amount it takes back: what is left of it (the
    recorded quantity less any earlier reversal)."""
    donation = await TracedDonation.get_or_none(idx=body.donation).using_db(ctx.conn)
    if donation is None:
        raise DonationNotFound(f"entry {body.donation} is not a recorded donation")
    return donation, donation.quantity - donation.reversed


@observes(ReverseBody, rules=True)
async def _check_reverse(ctx: ApplyContext, body: ReverseBody) -> None:
    donation, amount = await reversal_target(ctx, body)
    left = donation.quantity - donation.reversed - donation.used
    if amount > left:
        what = "disbursed" if donation.kind == "cash" else "dispatched into lots"
        raise AlreadySpent(f"donation {donation.idx}: {donation.used} of {donation.quantity} "
                           f"were already {what}; only {left} can be reversed")


@observes(ReverseBody)
async def _observe_reverse(ctx: ApplyContext, body: ReverseBody) -> None:
    donation, amount = await reversal_target(ctx, body)
    await TracedDonation.filter(idx=donation.idx).using_db(ctx.conn).update(
        reversed=donation.reversed + amount, reversed_idx=ctx.index, reversed_at=ctx.entry.at)
    if donation.kind == "cash":
        campaign = await Campaign.get(key=donation.campaign_key).using_db(ctx.conn)
        await Campaign.filter(key=campaign.key).using_db(ctx.conn).update(
            reversed=campaign.reversed + amount, balance=campaign.balance - amount)
