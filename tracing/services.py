"""Goods and money tracing: build entries for the write path (one signed entry each, through
`platform.write`); the reads are in `tracing.queries` and re-exported here.

Two-step handover (custodial accounts): `offer_handover` builds the lot.handover entry and signs it
with the giver's key *now*, storing it off-log; `accept_handover` (the taker, with its own token)
adds the taker's signature to those same bytes and appends the co-signed entry. The entry's `at` is
the offer time and the log accepts entries only within its clock skew (5 minutes), so an offer
must be accepted within `OFFER_TTL` — which fits a handover, where both people stand at the truck.
Self-custody parties co-sign the same entry on their devices and send it to `submitEntry`.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import timedelta

from heartchain.errors import Conflict, HeartchainError, ValidationError
from heartchain.idempotency import idempotent_nonce
from heartchain.keys import (
    Address,
    Signer,
    is_address,
    signer_address,
    signing_keys,
)
from heartchain.ledger.body import decode, wire
from heartchain.ledger.entries import (
    Entry,
    ReplayError,
    format_time,
    parse_entry,
    verify_signatures,
)
from heartchain.ledger.kinds import ENTRY_INDEX, applied_class
from heartchain.ledger.log import Appended
from heartchain.ledger.store import execute, fetch
from heartchain.lookups import can_match
from heartchain.platform import Platform
from tracing.entries import (
    HELD,
    CreateBody,
    DeliverBody,
    DisburseBody,
    HandoverBody,
    LossBody,
    MergeBody,
    MergeInput,
    SplitBody,
)
from tracing.errors import LotClosed, NotCustodian, OfferExpired, OfferNotFound
from tracing.models import Disbursement, HandoverOffer, Lot
from tracing.queries import (
    CampaignView,
    Journey,
    JourneyLot,
    Link,
    campaign_ledger_csv,
    campaign_view,
    check_label,
    donation_journey,
    donations_of,
    find_campaign,
    get_lot,
    get_lot_and_account,
    lineage,
    lot_trace_url,
    lots_held_by,
    timeline,
)

__all__ = [
    "OFFER_TTL", "CampaignView", "Journey", "JourneyLot", "Link", "accept_handover",
    "beneficiary_commitment", "campaign_ledger_csv", "campaign_view", "check_label",
    "create_lot", "deliver_lot", "disburse", "donation_journey", "donations_of",
    "find_campaign", "get_lot", "hand_over", "handover_body", "lineage", "lot_trace_url",
    "lots_held_by", "merge_lots", "offer_handover", "pending_offers", "record_loss",
    "split_lot", "timeline", "written_lot",
]

OFFER_TTL = timedelta(minutes=4)

# ---------------------------------------------------------------------------------------------
# Writes


async def create_lot(platform: Platform, *, charity: Signer, goods: str, quantity: int, unit: str,
                     custodian: str, donation: int | None = None, receipt: str | None = None,
                     disbursement: int | None = None, place: str | None = None) -> Lot:
    body = CreateBody(charity=signer_address(charity),
                      source="donation" if donation is not None else "purchase",
                      donation=donation, receipt=receipt, disbursement=disbursement, goods=goods,
                      quantity=quantity, unit=unit, custodian=custodian,  # type: ignore[arg-type]
                      place=place)
    appended = await platform.write(body, *signing_keys(charity))
    return await get_lot(f"L{appended.index}")


def handover_body(lot: str, giver: str, taker: str, place: str, evidence: str) -> HandoverBody:
    return HandoverBody(lot=lot, giver=Address(giver), taker=Address(taker), place=place,
                        evidence=evidence)


async def hand_over(platform: Platform, *, lot: str, giver: Signer, taker: Signer, place: str,
                    evidence: str) -> Appended:
    """One co-signed handover when both keys are at hand (self-custody keys or the demo)."""
    body = handover_body(lot, signer_address(giver), signer_address(taker), place, evidence)
    return await platform.write(body, *signing_keys(giver, taker))


async def offer_handover(platform: Platform, *, lot: str, giver: str, taker: str, place: str,
                         evidence: str) -> HandoverOffer:
    """Step one: the giver signs the handover now; it waits off-log for the taker.

    Under an Idempotency-Key the offer's id and entry nonce derive from the key, so a retried
    offer answers the pending offer instead of making a second one."""
    nonce = idempotent_nonce(HandoverBody.KIND, giver, f"offer:{lot}")
    if nonce is None:  # a fresh random id: no earlier offer can have it
        offer_id = secrets.token_hex(8)
    else:
        offer_id = nonce.hex()[:16]
        earlier = await HandoverOffer.get_or_none(id=offer_id)
        if earlier is not None:
            if (earlier.lot_id, earlier.giver, earlier.taker) != (lot, giver, taker):
                raise Conflict("Idempotency-Key was already used for a different request")
            return earlier
    row, taker_registered = await get_lot_and_account(lot, taker)
    _require_held_by(row, giver)
    if giver == taker:
        raise ValidationError("to: giver and taker are the same", field="to")
    if not is_address(taker):
        raise ValidationError(f"to: {taker[:100]!r} is not a valid address (hc1p…)", field="to")
    if not taker_registered:
        raise ValidationError(f"to: {taker} is not a registered account", field="to")
    entry = platform.build(HandoverBody.KIND,
                           wire(handover_body(lot, giver, taker, place, evidence)), nonce)
    giver_key = await platform.custodial_key(giver)
    await platform.custodial_key(taker)  # the taker's signature will be the platform's to make
    signed = entry.signed_by(giver_key)
    # The shape check, with no signature to verify or make: the size limit on the entry as the
    # taker will complete it, and the body as the log will decode it.
    signed.require_room_for(Address(taker))
    decode(applied_class(entry.kind), entry.body)
    row = {"id": offer_id, "lot_id": lot, "giver": giver, "taker": taker,
           "data": signed.leaf_data, "created_at": format_time(platform.clock.now())}
    await execute(platform.log.reader.connection(),  # raw: one insert, no ORM query building
                  f"INSERT INTO tracing_handover_offer ({', '.join(row)}) VALUES "
                  f"({', '.join('?' * len(row))})", list(row.values()))
    # The row as stored (accepted_idx still null), without the ORM's init.
    return HandoverOffer._init_from_db(**row, accepted_idx=None)


async def accept_handover(platform: Platform, *, offer_id: str, taker: str) -> Appended:
    """Step two: the taker adds its signature to the giver's entry; the log appends it.

    Accepting an offer the taker already accepted answers that entry (one entry per offer), so a
    retried accept writes nothing twice, even when the first stopped before marking the offer."""
    offer = await _offer(platform, offer_id)
    if offer is None or offer.taker != taker:
        raise OfferNotFound(f"no pending handover offer {offer_id} for {taker}")
    if offer.accepted_idx is not None:
        return await platform.log.appended(offer.accepted_idx)
    entry = parse_entry(bytes(offer.data))
    if platform.clock.now() - entry.at_datetime > OFFER_TTL:
        appended = await _appended_before(platform, offer, entry)
        if appended is None:
            raise OfferExpired(f"offer {offer_id} was signed at {entry.at}; offers must be "
                               f"accepted within {int(OFFER_TTL.total_seconds() // 60)} "
                               "minutes: offer again")
    else:
        full = entry.signed_by(await platform.custodial_key(taker))
        body = _offered_body(entry, offer)
        try:
            if body is not None:  # the offer marked accepted in the entry's own transaction
                return await platform.log.append_signed(full, body, off_log=(
                    (_MARK_ACCEPTED, (ENTRY_INDEX, offer_id)),))
            appended = await platform.log.append(full)
        except ReplayError:
            # The offer's entry is in the log already: another accept of it ran at the same
            # time, or one that stopped before marking the offer (a previous release marked it
            # after the write). Asked only now, not before every append (a round trip each).
            earlier = await _appended_before(platform, offer, entry)
            if earlier is None:
                raise
            appended = earlier
    await execute(platform.log.reader.connection(), _MARK_ACCEPTED, [appended.index, offer_id])
    return appended


_MARK_ACCEPTED = "UPDATE tracing_handover_offer SET accepted_idx = ? WHERE id = ?"


async def _offer(platform: Platform, offer_id: str) -> HandoverOffer | None:
    if not can_match(HandoverOffer, id=offer_id):
        return None
    rows = await fetch(platform.log.reader.connection(),
                       f"SELECT {', '.join(_OFFER_COLUMNS)} FROM tracing_handover_offer "
                       "WHERE id = ?", [offer_id])
    return HandoverOffer._init_from_db(**rows[0]) if rows else None


_OFFER_COLUMNS = tuple(sorted(HandoverOffer._meta.db_fields))


async def _appended_before(platform: Platform, offer: HandoverOffer, entry: Entry
                           ) -> Appended | None:
    """What the log answered for the offer's entry if it is there already (None if not)."""
    earlier = await platform.log.find_signed(offer.giver, entry.nonce)
    if earlier is None:
        return None
    if parse_entry(earlier.data).body != entry.body:
        raise OfferNotFound(f"offer {offer.id}'s nonce was used by another entry")
    return await platform.log.appended(earlier.index)


def _offered_body(entry: Entry, offer: HandoverOffer) -> HandoverBody | None:
    """The body of an offer's stored entry when it is what `offer_handover` stores (a handover
    from the giver to the taker, the giver's signature valid), so the log need not verify again
    the taker's signature this process makes just now; None: `Log.append` checks it all."""
    try:
        body = decode(HandoverBody, entry.body)
        if entry.kind != HandoverBody.KIND or (body.giver, body.taker) != (offer.giver,
                                                                           offer.taker):
            return None
        verify_signatures(entry, [body.giver])
    except HeartchainError:
        return None
    return body


def written_lot(appended: Appended) -> Lot | None:
    """The lot as the handover this process just integrated left it (None: look it up)."""
    written = appended.written
    return written.answer if written is not None and isinstance(written.answer, Lot) else None


async def pending_offers(account: str) -> list[HandoverOffer]:
    return await HandoverOffer.filter(taker=account, accepted_idx=None).order_by("created_at")


async def split_lot(platform: Platform, *, by: Signer, lot: str, outputs: Sequence[int],
                    loss: int = 0, reason: str | None = None, place: str | None = None
                    ) -> list[Lot]:
    earlier = await platform.written_before(SplitBody, by)
    if earlier is not None:  # a retry: the lot is split already, so answer that split
        split = decode(SplitBody, earlier.entry.body)
        _same_request((split.lot, split.outputs, split.loss), (lot, tuple(outputs), loss))
        return await Lot.filter(created_idx=earlier.index).order_by("id")
    row = await get_lot(lot)
    _require_held_by(row, signer_address(by))
    body = SplitBody(lot=lot, by=signer_address(by), quantity=row.quantity, outputs=tuple(outputs),
                     loss=loss, reason=reason, place=place)
    appended = await platform.write(body, *signing_keys(by))
    return await Lot.filter(created_idx=appended.index).order_by("id")


async def merge_lots(platform: Platform, *, by: Signer, lots: Sequence[str],
                     goods: str | None = None, loss: int = 0, reason: str | None = None,
                     place: str | None = None) -> Lot:
    earlier = await platform.written_before(MergeBody, by)
    if earlier is not None:  # a retry: the lots are merged already, so answer that merge
        merge = decode(MergeBody, earlier.entry.body)
        _same_request(([i.lot for i in merge.inputs], merge.loss), (list(lots), loss))
        return await get_lot(f"L{earlier.index}")
    rows = [await get_lot(lot_id) for lot_id in lots]
    for row in rows:
        _require_held_by(row, signer_address(by))
    total = sum(r.quantity for r in rows)
    body = MergeBody(by=signer_address(by),
                     inputs=tuple(MergeInput(lot=r.id, quantity=r.quantity) for r in rows),
                     quantity=total - loss, loss=loss,
                     goods=goods or (rows[0].goods if rows else ""), reason=reason, place=place)
    appended = await platform.write(body, *signing_keys(by))
    return await get_lot(f"L{appended.index}")


async def record_loss(platform: Platform, *, by: Signer, lot: str, quantity: int, reason: str,
                      note: str | None = None, evidence: str | None = None,
                      place: str | None = None) -> Appended:
    body = LossBody(lot=lot, by=signer_address(by), quantity=quantity,
                    reason=reason, note=note, evidence=evidence,  # type: ignore[arg-type]
                    place=place)
    return await platform.write(body, *signing_keys(by))


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
    body = DeliverBody(lot=lot, by=signer_address(by), quantity=quantity,
                       beneficiary=commitment, place=place, evidence=evidence)  # type: ignore[arg-type]
    return await platform.write(body, *signing_keys(by))


async def disburse(platform: Platform, *, charity: Signer, campaign: str, amount: int,
                   payee: str, purpose: str, receipt: str, goods: str | None = None,
                   payee_kind: str | None = None) -> Disbursement:
    """Spend campaign cash; `goods` and `payee_kind` name what it bought and whom it paid, from
    the kinds the campaign declared (required when it declared any)."""
    body = DisburseBody(charity=signer_address(charity), campaign=campaign, amount=amount,
                        payee=payee, purpose=purpose, receipt=receipt,
                        goods=goods, payee_kind=payee_kind)  # type: ignore[arg-type]
    appended = await platform.write(body, *signing_keys(charity))
    return await Disbursement.get(idx=appended.index)


def _same_request(earlier: object, asked: object) -> None:
    if earlier != asked:
        raise Conflict("Idempotency-Key was already used for a different request")




def _require_held_by(lot: Lot, custodian: str) -> None:
    if lot.status != HELD:
        raise LotClosed(f"lot {lot.id} was {lot.status}; nothing more can happen to it")
    if lot.custodian != custodian:
        raise NotCustodian(f"{custodian} is not the custodian of lot {lot.id}")
