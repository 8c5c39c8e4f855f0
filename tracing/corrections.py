"""What tracing does when one of its entries, or a donation, is corrected (heartchain.corrections).

- ``fund.disburse``: payee, purpose and receipt are corrected in the disbursement row (its amount
  is not correctable: its fen are allocated to donations first in, first out).
- ``lot.handover``: place and evidence are corrected in the lot's timeline, and in the lot's
  place when the handover is still the lot's latest step.
- ``donation.record`` (owned by tokens): a corrected amount moves the campaign's cash by the
  difference and may not go below what was already disbursed or dispatched; a corrected campaign
  moves the whole gift to the other campaign of the same charity, only while none of it was used.
"""

from __future__ import annotations

from heartchain.corrections.entries import (
    Change,
    Current,
    correctable,
    correction_apply,
    correction_check,
)
from heartchain.corrections.errors import CorrectionRefused
from heartchain.ledger.kinds import ApplyContext
from heartchain.ledger.store import execute, fetch
from tokens.entries import RecordBody
from tracing.custody import HandoverBody
from tracing.funds import DisburseBody, campaign_key
from tracing.models import Disbursement, Lot, LotEvent, TracedDonation

# ---------------------------------------------------------------------------------------------
# fund.disburse


@correctable(DisburseBody, ("payee", "purpose", "receipt"))
async def _disbursement(ctx: ApplyContext, index: int) -> Current | None:
    row = await Disbursement.get_or_none(idx=index).using_db(ctx.conn)
    if row is None:
        return None
    return Current((row.charity,), {"payee": row.payee, "purpose": row.purpose,
                                    "receipt": row.receipt}, row)


@correction_apply(DisburseBody)
async def _correct_disbursement(ctx: ApplyContext, change: Change) -> None:
    await Disbursement.filter(idx=change.target).using_db(ctx.conn).update(**change.after)


# ---------------------------------------------------------------------------------------------
# lot.handover


@correctable(HandoverBody, ("place", "evidence"))
async def _handover(ctx: ApplyContext, index: int) -> Current | None:
    event = await LotEvent.get_or_none(idx=index, action="handover").using_db(ctx.conn)
    if event is None or event.giver is None:
        return None
    return Current((event.giver, event.custodian), {"place": event.place,
                                                    "evidence": event.evidence}, event)


@correction_apply(HandoverBody)
async def _correct_handover(ctx: ApplyContext, change: Change) -> None:
    event: LotEvent = change.current.row
    await LotEvent.filter(id=event.id).using_db(ctx.conn).update(**change.after)
    if "place" in change.after:
        # The lot's place is where its latest step left it: this handover, if nothing came after.
        await Lot.filter(id=event.lot_id, updated_idx=change.target).using_db(ctx.conn).update(
            place=change.after["place"])


# ---------------------------------------------------------------------------------------------
# donation.record (tokens declares it correctable; tracing keeps the campaign cash right)


@correction_check(RecordBody)
async def _check_donation(ctx: ApplyContext, change: Change) -> None:
    donation = await TracedDonation.get(idx=change.target).using_db(ctx.conn)
    what = "disbursed" if donation.kind == "cash" else "dispatched into lots"
    quantity = int(change.after.get("quantity", donation.quantity))
    if quantity < donation.used:
        raise CorrectionRefused(f"correction: {donation.used} of donation {donation.idx} were "
                                f"already {what}; its amount cannot go below that")
    if "campaign" in change.after and donation.used:
        raise CorrectionRefused(f"correction: {donation.used} of donation {donation.idx} were "
                                f"already {what} for campaign {donation.campaign}; it cannot "
                                "move to another campaign")


@correction_apply(RecordBody)
async def _correct_donation(ctx: ApplyContext, change: Change) -> None:
    donation = await TracedDonation.get(idx=change.target).using_db(ctx.conn)
    quantity = int(change.after.get("quantity", donation.quantity))
    slug = str(change.after.get("campaign", donation.campaign))
    key = campaign_key(slug, donation.charity)
    await TracedDonation.filter(idx=donation.idx).using_db(ctx.conn).update(
        quantity=quantity, campaign=slug, campaign_key=key)
    if donation.kind != "cash":
        return
    # Out of the campaign it was in, into the one it belongs to (the same one, for an amount).
    await execute(ctx.conn, "UPDATE tracing_campaign SET donated = donated - ?, "
                  "balance = balance - ? WHERE key = ?",
                  [donation.quantity, donation.quantity, donation.campaign_key])
    exists = await fetch(ctx.conn, "SELECT key FROM tracing_campaign WHERE key = ?", [key])
    if exists:
        await execute(ctx.conn, "UPDATE tracing_campaign SET donated = donated + ?, "
                      "balance = balance + ? WHERE key = ?", [quantity, quantity, key])
    else:
        await execute(ctx.conn, "INSERT INTO tracing_campaign (key, slug, charity, donated, "
                      "reversed, disbursed, balance, first_idx) VALUES (?, ?, ?, ?, 0, 0, ?, ?)",
                      [key, slug, donation.charity, quantity, quantity, donation.idx])
