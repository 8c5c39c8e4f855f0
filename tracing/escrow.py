"""Pay for success (the escrow model): a campaign that names a `validator` and an
`outcome_deadline` holds its cash until the validator attests the outcome.

- ``outcome.attest`` (signed by the campaign's validator, before the deadline): the evidence's
  hash and the fen it releases, or all of the campaign's cash (`amount` left out). Releases add
  up; ``fund.disburse`` beyond what was released is refused (`NotReleased`).
- ``campaign.refund`` (signed by the charity, the validator or the operator, once, after the
  deadline, when not all was released): the campaign's remaining cash goes back to its donors,
  pro rata to each cash gift (net of reversals), exact to the fen.

Remainder rule (largest remainder): gift j of net amount q_j out of C in all gets
floor(R * q_j / C) of the remaining R; the fen left over go one each to the gifts with the largest
remainders (R * q_j mod C), ties to the lower entry index. The shares sum to R exactly and none
exceeds its gift. A refund takes the balance to zero; a gift it refunded can no longer be
reversed (`AlreadySpent`).

Hearts: a donor refunded their cash did not, in the end, give it. A share of `s` fen of a gift
of net `q` fen that minted `h` hearts burns floor(h * s / q) of them (tokens.entries
`burn_refunded`: rounded down, so never more than the gift minted, deterministic on replay; the
fraction of a heart left over stays with the donor). The burn goes through the score projection
(heart_score total, burned, per kind), so `score()`, the donor page, checks and credentials
and `verify` agree; it does not count as a reversal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from heartchain.accounts.entries import role_of
from heartchain.errors import PermissionDenied
from heartchain.ledger.body import Address, Body, Fen, Hex32, Slug
from heartchain.ledger.kinds import ApplyContext, observes, projects, rules
from heartchain.ledger.store import execute, fetch
from tokens.entries import ReverseBody, burn_refunded
from tracing.campaign_models import CampaignRefund
from tracing.campaigns import campaign_key, declared
from tracing.errors import AlreadySpent, NotReleased, OutcomeClosed, UnknownCampaign
from tracing.models import Campaign


class OutcomeAttestBody(Body):
    """The validator attests the outcome and releases cash (all of it without `amount`)."""

    KIND = "outcome.attest"
    SIGNERS = ("validator",)

    validator: Address
    charity: Address
    campaign: Slug
    evidence: Hex32
    amount: Fen | None = None


class RefundBody(Body):
    """After the deadline without the outcome: the remaining cash back to the donors."""

    KIND = "campaign.refund"
    SIGNERS = ("by",)

    by: Address
    charity: Address
    campaign: Slug


def apportion(remaining: int, gifts: Sequence[tuple[int, int]]) -> dict[int, int]:
    """`remaining` fen shared over `gifts` ((entry index, net fen), total ≥ remaining) pro rata,
    by the largest-remainder rule of the module doc."""
    total = sum(q for _, q in gifts)
    if remaining <= 0 or total <= 0:
        return {}
    if remaining > total:
        raise ValueError(f"cannot refund {remaining} fen of gifts worth {total}")
    shares = {idx: remaining * q // total for idx, q in gifts}
    left = remaining - sum(shares.values())
    order = sorted(gifts, key=lambda g: (-(remaining * g[1] % total), g[0]))
    for idx, _ in order[:left]:
        shares[idx] += 1
    return {idx: share for idx, share in shares.items() if share > 0}


async def escrow_of(ctx: ApplyContext, key: str) -> dict[str, Any]:
    rows = await fetch(ctx.conn, "SELECT released, released_all, refund_idx, refunded FROM "
                       "tracing_campaign_escrow WHERE key = ?", [key])
    if rows:
        return dict(rows[0])
    return {"released": 0, "released_all": False, "refund_idx": None, "refunded": 0}


async def check_release(ctx: ApplyContext, row: dict[str, Any] | None, amount: int) -> None:
    """fund.disburse on a pay-for-success campaign: only what the validator released."""
    if row is None or row["validator"] is None:
        return
    escrow = await escrow_of(ctx, str(row["key"]))
    if escrow["released_all"]:
        return
    cash = await Campaign.get_or_none(key=row["key"]).using_db(ctx.conn)
    spent = cash.disbursed if cash is not None else 0
    free = int(escrow["released"]) - spent
    if amount > free:
        raise NotReleased(f"fund.disburse: campaign {row['slug']} pays for success: "
                          f"{escrow['released']} fen released by its validator, {spent} spent; "
                          f"{max(free, 0)} left to spend, less than {amount}")


async def _campaign(ctx: ApplyContext, slug: str, charity: str, kind: str) -> dict[str, Any]:
    row = await declared(ctx, slug, charity)
    if row is None or row["validator"] is None:
        raise UnknownCampaign(f"{kind}: {charity} declared no pay-for-success campaign {slug}")
    return row


@rules(OutcomeAttestBody)
async def _check_attest(ctx: ApplyContext, body: OutcomeAttestBody) -> None:
    row = await _campaign(ctx, body.campaign, body.charity, body.KIND)
    if body.validator != row["validator"]:
        raise PermissionDenied(f"outcome.attest: campaign {body.campaign}'s validator is "
                               f"{row['validator']}")
    if ctx.entry.at >= str(row["outcome_deadline"]):
        raise OutcomeClosed(f"outcome.attest: the outcome deadline {row['outcome_deadline']} "
                            "has passed")
    escrow = await escrow_of(ctx, str(row["key"]))
    if escrow["released_all"] or escrow["refund_idx"] is not None:
        raise OutcomeClosed(f"outcome.attest: campaign {body.campaign}'s cash was already "
                            "all released or refunded")


@projects(OutcomeAttestBody)
async def _project_attest(ctx: ApplyContext, body: OutcomeAttestBody) -> None:
    key = campaign_key(body.campaign, body.charity)
    await execute(ctx.conn, "INSERT INTO tracing_campaign_escrow (key, released, released_all, "
                  "attestations, last_attest_idx, refunded) VALUES (?, ?, ?, 1, ?, 0) "
                  "ON CONFLICT (key) DO UPDATE SET released = tracing_campaign_escrow.released "
                  "+ excluded.released, released_all = excluded.released_all OR "
                  "tracing_campaign_escrow.released_all, attestations = "
                  "tracing_campaign_escrow.attestations + 1, last_attest_idx = "
                  "excluded.last_attest_idx",
                  [key, body.amount or 0, body.amount is None, ctx.index])


@rules(RefundBody)
async def _check_refund(ctx: ApplyContext, body: RefundBody) -> None:
    row = await _campaign(ctx, body.campaign, body.charity, body.KIND)
    if body.by not in (body.charity, row["validator"]) and await role_of(
            ctx, body.by) != "operator":
        raise PermissionDenied("campaign.refund: only the charity, the validator or the "
                               "operator may sign it")
    if ctx.entry.at < str(row["outcome_deadline"]):
        raise OutcomeClosed(f"campaign.refund: not before the outcome deadline "
                            f"{row['outcome_deadline']}")
    escrow = await escrow_of(ctx, str(row["key"]))
    if escrow["released_all"] or escrow["refund_idx"] is not None:
        raise OutcomeClosed(f"campaign.refund: campaign {body.campaign}'s cash was already all "
                            "released or refunded")


@projects(RefundBody)
async def _project_refund(ctx: ApplyContext, body: RefundBody) -> None:
    key = campaign_key(body.campaign, body.charity)
    cash = await Campaign.get_or_none(key=key).using_db(ctx.conn)
    remaining = cash.balance if cash is not None else 0
    gifts = await fetch(ctx.conn, "SELECT idx, donor, quantity, reversed FROM tracing_donation "
                        "WHERE campaign_key = ? AND kind = 'cash' ORDER BY idx", [key])
    donors = {int(g["idx"]): str(g["donor"]) for g in gifts}
    nets = {int(g["idx"]): int(g["quantity"]) - int(g["reversed"]) for g in gifts}
    shares = apportion(remaining, list(nets.items()))
    await burn_refunded(ctx, {idx: (amount, nets[idx]) for idx, amount in shares.items()})
    await CampaignRefund.bulk_create([
        CampaignRefund(id=f"{ctx.index}|{idx}", refund_idx=ctx.index, donation_idx=idx,
                       campaign_key=key, donor=donors[idx], amount=amount, at=ctx.entry.at)
        for idx, amount in sorted(shares.items())], using_db=ctx.conn)
    await execute(ctx.conn, "INSERT INTO tracing_campaign_escrow (key, released, released_all, "
                  "attestations, refund_idx, refunded) VALUES (?, 0, ?, 0, ?, ?) "
                  "ON CONFLICT (key) DO UPDATE SET refund_idx = excluded.refund_idx, "
                  "refunded = excluded.refunded", [key, False, ctx.index, remaining])
    if cash is not None:
        await Campaign.filter(key=key).using_db(ctx.conn).update(balance=0)


@observes(ReverseBody, rules=True)
async def _check_reverse_refunded(ctx: ApplyContext, body: ReverseBody) -> None:
    rows = await fetch(ctx.conn, "SELECT e.refund_idx FROM tracing_donation d JOIN "
                       "tracing_campaign_escrow e ON e.key = d.campaign_key WHERE d.idx = ? "
                       "AND e.refund_idx IS NOT NULL", [body.donation])
    if rows:
        raise AlreadySpent(f"donation {body.donation}'s campaign refunded its remaining cash "
                           f"to its donors (entry {rows[0]['refund_idx']})")
