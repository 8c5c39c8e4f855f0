"""Goods and money tracing, read side: lots, their lineage, where a gift went, campaigns.

Reads only the projections, never the log's rules; `tracing.services` re-exports these names,
which is where callers find them.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from tortoise import connections

from heartchain import csvsafe
from heartchain.errors import ValidationError
from heartchain.ledger.store import fetch, in_chunks
from heartchain.lookups import can_match
from heartchain.platform import Platform
from tracing.entries import HELD
from tracing.errors import CampaignNotFound, DonationNotFound, LotNotFound
from tracing.labels import check_code, trace_url
from tracing.lotstate import LOT_COLUMNS, lot_of
from tracing.models import (
    Allocation,
    Campaign,
    Disbursement,
    Lot,
    LotEvent,
    OriginFlow,
    TracedDonation,
)

# ---------------------------------------------------------------------------------------------
# Lots


async def get_lot(lot_id: str) -> Lot:
    # Raw: every handover offer and lot page reads one (the ORM's query building cost more
    # than the round trip).
    rows = (await fetch(connections.get("default"), f"SELECT {', '.join(LOT_COLUMNS)} FROM "
                        "tracing_lot WHERE id = ?", [lot_id])
            if can_match(Lot, id=lot_id) else [])
    if not rows:
        raise LotNotFound(f"lot {lot_id} does not exist")
    return lot_of(rows[0])


async def get_lot_and_account(lot_id: str, address: str) -> tuple[Lot, bool]:
    """`get_lot`, and whether `address` is a registered account: one round trip (a handover
    offer asks both)."""
    rows = (await fetch(connections.get("default"), f"SELECT {', '.join(LOT_COLUMNS)}, "
                        "(SELECT COUNT(*) FROM account WHERE address = ?) AS accounts FROM "
                        "tracing_lot WHERE id = ?", [address, lot_id])
            if can_match(Lot, id=lot_id) else [])
    if not rows:
        raise LotNotFound(f"lot {lot_id} does not exist")
    accounts = int(rows[0].pop("accounts"))
    return lot_of(rows[0]), accounts > 0


async def check_label(lot_id: str, code: str) -> Lot:
    """What a scan does: the lot, if the label's code is its own; LabelMismatch otherwise."""
    lot = await get_lot(lot_id)
    check_code(lot.id, lot.code, code)
    return lot


def lot_trace_url(platform: Platform, lot: Lot) -> str:
    return trace_url(platform.settings.public_url, lot.id, lot.code)


async def timeline(lot_id: str) -> list[LotEvent]:
    return await LotEvent.filter(lot_id=lot_id).order_by("idx")


@dataclass(frozen=True)
class Link:
    lot: str
    quantity: int
    index: int


async def lineage(lot_id: str) -> tuple[list[Link], list[Link]]:
    """(parents, children): the lots this one came from and went into, with units moved."""
    parents: dict[str, Link] = {}
    children: dict[str, Link] = {}
    for flow in await OriginFlow.filter(to_lot=lot_id, from_lot__not_isnull=True):
        _add_link(parents, flow.from_lot or "", flow.quantity, flow.idx)
    for flow in await OriginFlow.filter(from_lot=lot_id, to_lot__not_isnull=True):
        _add_link(children, flow.to_lot or "", flow.quantity, flow.idx)
    return list(parents.values()), sorted(children.values(), key=_link_order)


def _link_order(link: Link) -> tuple[int, int, str]:
    return (link.index, len(link.lot), link.lot)


def _add_link(links: dict[str, Link], lot: str, quantity: int, index: int) -> None:
    old = links.get(lot)
    links[lot] = Link(lot, quantity + (old.quantity if old else 0), index)


async def lots_held_by(custodian: str, *, after: str | None = None, limit: int = 20
                       ) -> list[Lot]:
    if not can_match(Lot, custodian=custodian):
        return []
    query = Lot.filter(custodian=custodian, status=HELD)
    if after is not None:
        query = query.filter(id__gt=after)
    return await query.order_by("id").limit(limit)


# ---------------------------------------------------------------------------------------------
# Where did my gift go


@dataclass
class JourneyLot:
    lot: Lot
    received: int = 0  # units of this donation that entered the lot
    delivered: int = 0
    lost: int = 0
    held: int = 0  # units of this donation still in the lot
    parents: list[Link] = field(default_factory=list)
    children: list[Link] = field(default_factory=list)
    steps: list[LotEvent] = field(default_factory=list)


@dataclass
class Journey:
    donation: TracedDonation
    lots: list[JourneyLot]
    dispatched: int
    delivered: int
    lost: int
    held: int
    allocations: list[tuple[Allocation, Disbursement]]
    purchased: list[Lot]

    @property
    def undispatched(self) -> int:
        return self.donation.quantity - self.donation.reversed - self.dispatched


async def donation_journey(index: int) -> Journey:
    """Every lot descended from a donation, down to each delivery and loss, with each step.

    Quantities are this donation's units only (goods are attributed oldest origin first when lots
    are split or merged); for cash, the disbursements its fen paid for and any lots bought."""
    from tracing.journeys import donation_journeys  # it builds on this module's types

    journey = (await donation_journeys([index])).get(index)
    if journey is None:
        raise DonationNotFound(f"entry {index} is not a recorded donation")
    return journey


def _add_link_list(links: list[Link], lot: str, quantity: int, index: int) -> None:
    for position, link in enumerate(links):
        if link.lot == lot:
            links[position] = Link(lot, link.quantity + quantity, link.index)
            return
    links.append(Link(lot, quantity, index))


async def _in_chunks(model: type, column: str, values: Sequence[object]) -> list:  # type: ignore[type-arg]
    found = []
    unique = list(dict.fromkeys(values))
    for chunk in in_chunks(unique):
        found.extend(await model.filter(**{f"{column}__in": chunk}))
    return found


async def donations_of(donor: str) -> list[TracedDonation]:
    return await TracedDonation.filter(donor=donor).order_by("idx")


# ---------------------------------------------------------------------------------------------
# Campaigns


@dataclass
class CampaignView:
    campaign: Campaign
    donations: list[TracedDonation]
    disbursements: list[Disbursement]
    allocations: list[Allocation]


async def find_campaign(slug: str, charity: str | None = None) -> Campaign:
    query = Campaign.filter(slug=slug)
    if charity is not None:
        query = query.filter(charity=charity)
    fits = can_match(Campaign, slug=slug, charity=charity or "")
    found = await query.order_by("first_idx") if fits else []
    if not found:
        raise CampaignNotFound(f"no cash donations recorded for campaign {slug}")
    if len(found) > 1:
        raise ValidationError(f"campaign {slug} is run by {len(found)} charities: name the "
                              "charity", field="charity")
    return found[0]


async def campaign_view(slug: str, charity: str | None = None) -> CampaignView:
    campaign = await find_campaign(slug, charity)
    donations = await TracedDonation.filter(campaign_key=campaign.key, kind="cash").order_by("idx")
    disbursements = await Disbursement.filter(campaign_key=campaign.key).order_by("idx")
    allocations = await _in_chunks(Allocation, "disbursement_idx",
                                   [d.idx for d in disbursements])
    allocations.sort(key=lambda a: (a.disbursement_idx, a.donation_idx))
    return CampaignView(campaign, donations, disbursements, allocations)


async def campaign_ledger_csv(slug: str, charity: str | None = None) -> str:
    """The campaign's cash ledger, one row per entry, with a running balance.

    Columns: index, time, type (donation | reversal | disbursement | allocation), donation index,
    donor, payee, purpose, receipt, amount in fen (+ in, − out; allocations are 0-sum detail
    rows), running balance in fen."""
    view = await campaign_view(slug, charity)
    rows: list[tuple[int, int, list[object]]] = []
    for d in view.donations:
        rows.append((d.idx, 0, [d.idx, d.at, "donation", d.idx, d.donor, "", "", "", d.quantity]))
        if d.reversed_idx is not None:
            rows.append((d.reversed_idx, 0, [d.reversed_idx, d.reversed_at, "reversal", d.idx,
                                             d.donor, "", "", "", -d.reversed]))
    by_disbursement: dict[int, list[Allocation]] = {}
    for a in view.allocations:
        by_disbursement.setdefault(a.disbursement_idx, []).append(a)
    for p in view.disbursements:
        rows.append((p.idx, 0, [p.idx, p.at, "disbursement", "", "", p.payee, p.purpose,
                                p.receipt, -p.amount]))
        for n, a in enumerate(by_disbursement.get(p.idx, []), 1):
            rows.append((p.idx, n, [p.idx, p.at, "allocation", a.donation_idx, "", p.payee, "",
                                    "", a.amount]))
    rows.sort(key=lambda r: (r[0], r[1]))
    out = io.StringIO()
    writer = csvsafe.writer(out, lineterminator="\n")
    writer.writerow(["index", "time", "type", "donation", "donor", "payee", "purpose", "receipt",
                     "amount_fen", "balance_fen"])
    balance = 0
    for _, _, row in rows:
        if row[2] != "allocation":
            balance += int(row[8])  # type: ignore[call-overload]
        writer.writerow([*row, balance if row[2] != "allocation" else ""])
    return out.getvalue()
