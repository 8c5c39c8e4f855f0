"""A lot's history as a GS1 EPCIS 2.0 JSON-LD EPCISDocument.

The document covers the lot and every lot it came from (a split child carries its parent's
creation and handovers). One log entry is one event; its eventID is the entry's leaf hash as an
RFC 6920 `ni:` URI, so any event can be checked against the log.

| entry         | EPCIS event                                                                 |
|---------------|-----------------------------------------------------------------------------|
| lot.create    | ObjectEvent ADD, bizStep commissioning, destination possessing_party        |
| lot.handover  | ObjectEvent OBSERVE, bizStep receiving, source/destination possessing_party |
| lot.split     | TransformationEvent (input lot → output lots), bizStep repackaging          |
| lot.merge     | TransformationEvent (input lots → output lot), bizStep repackaging          |
| lot.loss      | ObjectEvent OBSERVE, bizStep removing, disposition damaged/stolen/expired/… |
| lot.deliver   | ObjectEvent OBSERVE, bizStep dispensing, disposition dispensed              |

Lots are counted, not serialised, so they appear as quantities (class-level identifiers: the
lot's trace URL) with UN/ECE Recommendation 20 units: GRM (gram) and H87 (piece: items, trees).
Places, evidence hashes and beneficiary commitments are extension fields under the `hc:` prefix.
"""

from __future__ import annotations

from typing import Any

from heartchain.ledger.body import Body, body_class, decode
from heartchain.ledger.entries import format_time
from heartchain.platform import Platform
from tracing import services
from tracing.entries import (
    CreateBody,
    DeliverBody,
    HandoverBody,
    LossBody,
    MergeBody,
    SplitBody,
)
from tracing.models import Lot, LotEvent, OriginFlow

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
UOM = {"grams": "GRM", "items": "H87", "trees": "H87"}
LOSS_DISPOSITION = {"spoiled": "destroyed", "damaged": "damaged", "stolen": "stolen",
                    "expired": "expired", "other": "unknown"}


def party(address: str) -> str:
    return f"urn:heartchain:account:{address}"


async def ancestry(lot_id: str) -> list[str]:
    """The lot and every lot it was split or merged from, oldest first."""
    seen = {lot_id}
    frontier = [lot_id]
    while frontier:
        flows = await OriginFlow.filter(to_lot__in=frontier, from_lot__not_isnull=True)
        frontier = sorted({f.from_lot for f in flows if f.from_lot and f.from_lot not in seen})
        seen.update(frontier)
    return sorted(seen)


async def lot_document(platform: Platform, lot_id: str) -> dict[str, Any]:
    lot = await services.get_lot(lot_id)
    base = platform.settings.public_url
    lot_ids = await ancestry(lot.id)
    lots = {row.id: row for row in await Lot.filter(id__in=lot_ids)}
    events = await LotEvent.filter(lot_id__in=lot_ids).order_by("idx", "lot_id")
    stored = await platform.log.get_entries(sorted({e.idx for e in events}))
    by_index: dict[int, list[LotEvent]] = {}
    for event in events:
        by_index.setdefault(event.idx, []).append(event)
    document_events = []
    for index in sorted(by_index):
        entry = stored[index]
        parsed = entry.entry
        common: dict[str, Any] = {
            "eventID": f"ni:///sha-256;{entry.leaf_hash.hex()}?ver=CBV2.0",
            "eventTime": entry.at,
            "recordTime": entry.integrated_at,
            "eventTimeZoneOffset": "+00:00",
            "hc:entryIndex": index,
        }
        body = decode(body_class(parsed.kind), parsed.body)
        event = _event(body, by_index[index], lots, base)
        if event is not None:
            document_events.append({k: v for k, v in {**event, **common}.items()
                                    if v is not None})
    return {
        "@context": [EPCIS_CONTEXT, {"hc": f"{base}/ns/epcis#"}],
        "id": f"{base}/lots/{lot.id}/epcis",
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": format_time(platform.clock.now()),
        "epcisBody": {"eventList": document_events},
    }


def _quantity(base: str, lot: Lot, quantity: int) -> dict[str, Any]:
    return {"epcClass": f"{base}/lots/{lot.id}", "quantity": quantity, "uom": UOM[lot.unit]}


def _event(body: Body, steps: list[LotEvent], lots: dict[str, Lot], base: str
           ) -> dict[str, Any] | None:
    first = steps[0]
    lot = lots.get(first.lot_id)
    if lot is None:
        return None
    place = {"hc:place": first.place} if first.place else {}
    if isinstance(body, CreateBody):
        return {"type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
                "disposition": "active", "quantityList": [_quantity(base, lot, first.moved)],
                "destinationList": [{"type": "possessing_party",
                                     "destination": party(first.custodian)}], **place}
    if isinstance(body, HandoverBody):
        return {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "receiving",
                "disposition": "in_progress", "quantityList": [_quantity(base, lot, first.moved)],
                "sourceList": [{"type": "possessing_party", "source": party(body.giver)}],
                "destinationList": [{"type": "possessing_party",
                                     "destination": party(body.taker)}],
                "hc:evidence": first.evidence, **place}
    if isinstance(body, SplitBody | MergeBody):
        inputs = [s for s in steps if s.action in ("split", "merge")]
        outputs = [s for s in steps if s.action in ("split_from", "merge_from")]
        declared = ({body.lot: body.quantity} if isinstance(body, SplitBody)
                    else {i.lot: i.quantity for i in body.inputs})
        event: dict[str, Any] = {
            "type": "TransformationEvent", "bizStep": "repackaging",
            "disposition": "in_progress",
            "inputQuantityList": [_quantity(base, lots[s.lot_id], declared.get(s.lot_id, s.moved))
                                  for s in inputs if s.lot_id in lots],
            "outputQuantityList": [_quantity(base, lots[s.lot_id], s.moved)
                                   for s in outputs if s.lot_id in lots],
            "hc:loss": body.loss,
        }
        if not event["inputQuantityList"] or not event["outputQuantityList"]:
            # A document about one branch still names both sides: the lot ids come from the body.
            event["transformationID"] = f"{base}/transformations/{first.idx}"
        return {**event, **place}
    if isinstance(body, LossBody):
        return {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "removing",
                "disposition": LOSS_DISPOSITION.get(body.reason, "unknown"),
                "quantityList": [_quantity(base, lot, first.moved)],
                "hc:reason": first.reason, **place}
    if isinstance(body, DeliverBody):
        return {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "dispensing",
                "disposition": "dispensed" if first.quantity == 0 else "partially_dispensed",
                "quantityList": [_quantity(base, lot, first.moved)],
                "sourceList": [{"type": "possessing_party", "source": party(first.custodian)}],
                "hc:beneficiary": first.beneficiary, **place}
    return None
