"""Goods and money tracing: build entries for the write path, and read the projections.

Writes go through `platform.write` (one signed entry each); reads never touch the log's rules.

Two-step handover (custodial accounts): `offer_handover` builds the lot.handover entry and signs it
with the giver's key *now*, storing it off-log; `accept_handover` (the taker, with its own token)
adds the taker's signature to those same bytes and appends the co-signed entry. The entry's `at` is
the offer time and the log accepts entries only within its clock skew (5 minutes), so an offer
must be accepted within `OFFER_TTL` — which fits a handover, where both people stand at the truck.
Self-custody parties co-sign the same entry on their devices and send it to `submitEntry`.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from heartchain import csvsafe
from heartchain.accounts.models import Account
from heartchain.errors import Conflict, ValidationError
from heartchain.idempotency import idempotent_nonce
from heartchain.keys import SigningKey, is_address
from heartchain.ledger.entries import format_time, parse_entry
from heartchain.ledger.log import Appended
from heartchain.lookups import can_match
from heartchain.platform import Platform
from tracing.entries import HELD
from tracing.errors import (
    CampaignNotFound,
    DonationNotFound,
    LotClosed,
    LotNotFound,
    NotCustodian,
    OfferExpired,
    OfferNotFound,
)
from tracing.labels import check_code, trace_url
from tracing.models import (
    Allocation,
    Campaign,
    Disbursement,
    HandoverOffer,
    Lot,
    LotEvent,
    OriginFlow,
    TracedDonation,
)

OFFER_TTL = timedelta(minutes=4)
Signer = str | SigningKey

# ---------------------------------------------------------------------------------------------
# Writes


async def create_lot(platform: Platform, *, charity: Signer, goods: str, quantity: int, unit: str,
                     custodian: str, donation: int | None = None, receipt: str | None = None,
                     disbursement: int | None = None, place: str | None = None) -> Lot:
    body: dict[str, object] = {
        "charity": _address(charity), "source": "donation" if donation is not None else "purchase",
        "goods": goods, "quantity": quantity, "unit": unit, "custodian": custodian}
    _put(body, donation=donation, receipt=receipt, disbursement=disbursement, place=place)
    appended = await platform.write("lot.create", body, [charity])
    return await get_lot(f"L{appended.index}")


def handover_body(lot: str, giver: str, taker: str, place: str, evidence: str
                  ) -> dict[str, object]:
    return {"lot": lot, "from": giver, "to": taker, "place": place, "evidence": evidence}


async def hand_over(platform: Platform, *, lot: str, giver: Signer, taker: Signer, place: str,
                    evidence: str) -> Appended:
    """One co-signed handover when both keys are at hand (self-custody keys or the demo)."""
    body = handover_body(lot, _address(giver), _address(taker), place, evidence)
    return await platform.write("lot.handover", body, [giver, taker])


async def offer_handover(platform: Platform, *, lot: str, giver: str, taker: str, place: str,
                         evidence: str) -> HandoverOffer:
    """Step one: the giver signs the handover now; it waits off-log for the taker.

    Under an Idempotency-Key the offer's id and entry nonce derive from the key, so a retried
    offer answers the pending offer instead of making a second one."""
    nonce = idempotent_nonce("lot.handover", giver, f"offer:{lot}")
    offer_id = secrets.token_hex(8) if nonce is None else nonce.hex()[:16]
    earlier = await HandoverOffer.get_or_none(id=offer_id)
    if earlier is not None:
        if (earlier.lot_id, earlier.giver, earlier.taker) != (lot, giver, taker):
            raise Conflict("Idempotency-Key was already used for a different request")
        return earlier
    row = await get_lot(lot)
    _require_held_by(row, giver)
    if giver == taker:
        raise ValidationError("to: giver and taker are the same", field="to")
    if not is_address(taker):
        raise ValidationError(f"to: {taker[:100]!r} is not a valid address (hc1p…)", field="to")
    if not await Account.exists(address=taker):
        raise ValidationError(f"to: {taker} is not a registered account", field="to")
    entry = platform.build("lot.handover", handover_body(lot, giver, taker, place, evidence),
                           nonce)
    platform.log.prepare(entry.signed_by(await platform.custodial_key(giver),
                                         await platform.custodial_key(taker)))  # shape check
    signed = entry.signed_by(await platform.custodial_key(giver))
    return await HandoverOffer.create(id=offer_id, lot_id=lot, giver=giver,
                                      taker=taker, data=signed.leaf_data,
                                      created_at=format_time(platform.clock.now()))


async def accept_handover(platform: Platform, *, offer_id: str, taker: str) -> Appended:
    """Step two: the taker adds its signature to the giver's entry; the log appends it.

    Accepting an offer the taker already accepted answers that entry (one entry per offer), so a
    retried accept writes nothing twice, even when the first stopped before marking the offer."""
    offer = (await HandoverOffer.get_or_none(id=offer_id)
             if can_match(HandoverOffer, id=offer_id) else None)
    if offer is None or offer.taker != taker:
        raise OfferNotFound(f"no pending handover offer {offer_id} for {taker}")
    if offer.accepted_idx is not None:
        return await platform.log.appended(offer.accepted_idx)
    entry = parse_entry(bytes(offer.data))
    earlier = await platform.log.find_signed(offer.giver, entry.nonce)
    if earlier is None:
        if platform.clock.now() - entry.at_datetime > OFFER_TTL:
            raise OfferExpired(f"offer {offer_id} was signed at {entry.at}; offers must be "
                               f"accepted within {int(OFFER_TTL.total_seconds() // 60)} "
                               "minutes: offer again")
        appended = await platform.log.append(
            entry.signed_by(await platform.custodial_key(taker)))
    elif parse_entry(earlier.data).body == entry.body:
        appended = await platform.log.appended(earlier.index)
    else:
        raise OfferNotFound(f"offer {offer_id}'s nonce was used by another entry")
    await HandoverOffer.filter(id=offer_id).update(accepted_idx=appended.index)
    return appended


async def pending_offers(account: str) -> list[HandoverOffer]:
    return await HandoverOffer.filter(taker=account, accepted_idx=None).order_by("created_at")


async def split_lot(platform: Platform, *, by: Signer, lot: str, outputs: Sequence[int],
                    loss: int = 0, reason: str | None = None, place: str | None = None
                    ) -> list[Lot]:
    earlier = await platform.written_before("lot.split", by)
    if earlier is not None:  # a retry: the lot is split already, so answer that split
        _same_request(earlier.entry.body, lot=lot, outputs=list(outputs), loss=loss)
        return await Lot.filter(created_idx=earlier.index).order_by("id")
    row = await get_lot(lot)
    _require_held_by(row, _address(by))
    body: dict[str, object] = {"lot": lot, "by": _address(by), "quantity": row.quantity,
                               "outputs": list(outputs), "loss": loss}
    _put(body, reason=reason, place=place)
    appended = await platform.write("lot.split", body, [by])
    return await Lot.filter(created_idx=appended.index).order_by("id")


async def merge_lots(platform: Platform, *, by: Signer, lots: Sequence[str],
                     goods: str | None = None, loss: int = 0, reason: str | None = None,
                     place: str | None = None) -> Lot:
    earlier = await platform.written_before("lot.merge", by)
    if earlier is not None:  # a retry: the lots are merged already, so answer that merge
        inputs = earlier.entry.body.get("inputs")
        _same_request({"lots": [i["lot"] for i in inputs] if isinstance(inputs, list) else None,
                       "loss": earlier.entry.body.get("loss")}, lots=list(lots), loss=loss)
        return await get_lot(f"L{earlier.index}")
    rows = [await get_lot(lot_id) for lot_id in lots]
    for row in rows:
        _require_held_by(row, _address(by))
    total = sum(r.quantity for r in rows)
    body: dict[str, object] = {
        "by": _address(by), "inputs": [{"lot": r.id, "quantity": r.quantity} for r in rows],
        "quantity": total - loss, "loss": loss,
        "goods": goods or (rows[0].goods if rows else "")}
    _put(body, reason=reason, place=place)
    appended = await platform.write("lot.merge", body, [by])
    return await get_lot(f"L{appended.index}")


async def record_loss(platform: Platform, *, by: Signer, lot: str, quantity: int, reason: str,
                      note: str | None = None, evidence: str | None = None,
                      place: str | None = None) -> Appended:
    body: dict[str, object] = {"lot": lot, "by": _address(by), "quantity": quantity,
                               "reason": reason}
    _put(body, note=note, evidence=evidence, place=place)
    return await platform.write("lot.loss", body, [by])


async def beneficiary_commitment(platform: Platform, person: str) -> str:
    """The salted commitment that stands for a beneficiary on the log. The person's value is
    sealed off-log under their own subject key (heartchain.privacy); erasing the subject makes the
    commitment unopenable while the log still verifies."""
    from heartchain import privacy

    subject = f"beneficiary:{privacy.keyed_hash(platform, 'beneficiary', person)}"
    salt = await privacy.subject_salt(platform, subject)
    await privacy.seal_personal(platform, subject, "identity", person)
    return privacy.commitment(salt, person)


async def deliver_lot(platform: Platform, *, by: Signer, lot: str, quantity: int, place: str,
                      beneficiary: str | None = None, commitment: str | None = None,
                      evidence: str | None = None) -> Appended:
    """Deliver to a person (`beneficiary`, sealed off-log) or to a commitment made elsewhere."""
    if (beneficiary is None) == (commitment is None):
        raise ValidationError("beneficiary: give the person or their commitment, not both",
                              field="beneficiary")
    if beneficiary is not None:
        if not beneficiary.strip():
            raise ValidationError("beneficiary: is empty", field="beneficiary")
        commitment = await beneficiary_commitment(platform, beneficiary.strip())
    body: dict[str, object] = {"lot": lot, "by": _address(by), "quantity": quantity,
                               "beneficiary": commitment, "place": place}
    _put(body, evidence=evidence)
    return await platform.write("lot.deliver", body, [by])


async def disburse(platform: Platform, *, charity: Signer, campaign: str, amount: int,
                   payee: str, purpose: str, receipt: str) -> Disbursement:
    body = {"charity": _address(charity), "campaign": campaign, "amount": amount,
            "payee": payee, "purpose": purpose, "receipt": receipt}
    appended = await platform.write("fund.disburse", body, [charity])
    return await Disbursement.get(idx=appended.index)


def _same_request(earlier: dict[str, object], **asked: object) -> None:
    if any(earlier.get(name) != value for name, value in asked.items()):
        raise Conflict("Idempotency-Key was already used for a different request")


def _address(signer: Signer) -> str:
    if isinstance(signer, SigningKey):
        from heartchain.keys import address_of

        return address_of(signer)
    return signer


def _put(body: dict[str, object], **optional: object) -> None:
    body.update({k: v for k, v in optional.items() if v is not None})


def _require_held_by(lot: Lot, custodian: str) -> None:
    if lot.status != HELD:
        raise LotClosed(f"lot {lot.id} was {lot.status}; nothing more can happen to it")
    if lot.custodian != custodian:
        raise NotCustodian(f"{custodian} is not the custodian of lot {lot.id}")


# ---------------------------------------------------------------------------------------------
# Lots


async def get_lot(lot_id: str) -> Lot:
    lot = await Lot.get_or_none(id=lot_id) if can_match(Lot, id=lot_id) else None
    if lot is None:
        raise LotNotFound(f"lot {lot_id} does not exist")
    return lot


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
    for start in range(0, len(unique), 500):
        found.extend(await model.filter(**{f"{column}__in": unique[start:start + 500]}))
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
