"""Entry kinds of heart points: rate tables, donations and reversals, consents and partner checks.

- `heart.rates` (operator): the next version of the rate table, one integer ratio per donation
  kind; it applies to donations after its log position, never before. Version 0 — 1 heart per
  fen, per gram of food, per tree — is built in.
- `donation.record` (the receiving charity): mints `quantity * hearts // per` hearts (rounded
  down, integers only) to the donor at the rate in force.
- `donation.reverse` (the same charity): burns exactly the hearts the original minted, once.
- `consent.grant` / `consent.revoke` (the member, under a per-partner *handle*: a key of its own
  that signs nothing else, so the log never links the member to the partner): lets the partner
  check "hearts >= N" until expiry.
- `consent.check`: a check for a partner, signed by the partner under the handle's active consent
  (the rule checks it), or signed by the handle itself when the member presents a credential.
  Who was checked, the threshold, the checkpoint and the answer are only in a salted commitment
  (`check_commitment`) that the member can open; no entry names the member.

The hot path (`donation.record`) reads roles and the rate table through `ctx.memo`, so a batch of
donations costs two writes each and a score read per new donor.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import rfc8785
from tortoise.backends.base.client import BaseDBAsyncClient

from heartchain.accounts.entries import require_role, role_of
from heartchain.errors import ValidationError
from heartchain.keys import Address
from heartchain.ledger.entries import format_time, parse_time
from heartchain.ledger.fields import MAX_QUANTITY, BodyReader
from heartchain.ledger.kinds import ApplyContext
from heartchain.ledger.legacy_kinds import EntryKind, register
from heartchain.ledger.store import execute, fetch
from tokens.errors import (
    AlreadyReversed,
    ConsentAlreadyRevoked,
    HeartsOverflow,
    NoActiveConsent,
    NotYourConsent,
    NotYourDonation,
    RateVersionConflict,
    UnknownConsent,
    UnknownDonation,
)
from tokens.models import KINDS, HeartCheck, HeartConsent, HeartRateVersion

MAX_RATE_TERM = 10**9
REVERSAL_REASONS = ("refund", "chargeback", "error")
SCOPES = ("hearts.threshold",)

# -- rate tables ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    hearts: int
    per: int

    def apply(self, quantity: int) -> int:
        return quantity * self.hearts // self.per


@dataclass(frozen=True)
class RateTable:
    version: int
    index: int | None  # the heart.rates entry; None for the built-in version 0
    rates: Mapping[str, Rate]

    def hearts(self, kind: str, quantity: int) -> int:
        return self.rates[kind].apply(quantity)


DEFAULT_RATES = RateTable(0, None, {kind: Rate(1, 1) for kind in KINDS})


def rate_table_of(row: HeartRateVersion) -> RateTable:
    return RateTable(row.version, row.idx, {
        "cash": Rate(row.cash_hearts, row.cash_per),
        "food": Rate(row.food_hearts, row.food_per),
        "tree": Rate(row.tree_hearts, row.tree_per)})


async def latest_rates(conn: BaseDBAsyncClient | None = None) -> RateTable:
    query = HeartRateVersion.all().order_by("-version")
    row = await (query.using_db(conn) if conn is not None else query).first()
    return rate_table_of(row) if row is not None else DEFAULT_RATES


async def rates_in_force(ctx: ApplyContext) -> RateTable:
    key = ("heart.rates",)
    if key not in ctx.memo:
        ctx.memo[key] = await latest_rates(ctx.conn)
    table: RateTable = ctx.memo[key]
    return table


@dataclass(frozen=True)
class RatesBody:
    operator: Address
    version: int
    rates: Mapping[str, Rate]

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> RatesBody:
        reader = BodyReader(body, "heart.rates")
        operator = reader.address("operator")
        version = reader.integer("version", minimum=1, maximum=2**31 - 1)
        table = reader.raw("rates")
        reader.finish()
        if not isinstance(table, Mapping):
            raise ValidationError("heart.rates: rates: must be an object", field="rates")
        missing = [k for k in KINDS if k not in table]
        if missing:
            raise ValidationError(f"heart.rates: rates: every kind needs a rate; missing "
                                  f"{', '.join(missing)}", field="rates")
        rates: dict[str, Rate] = {}
        for kind in table:
            if kind not in KINDS:
                raise ValidationError(f"heart.rates: rates: unknown kind {kind!r}", field="rates")
            term = BodyReader(table[kind], f"heart.rates: rates.{kind}")
            rates[kind] = Rate(term.integer("hearts", minimum=0, maximum=MAX_RATE_TERM),
                               term.integer("per", minimum=1, maximum=MAX_RATE_TERM))
            term.finish()
        return cls(operator, version, rates)


async def _check_rates(ctx: ApplyContext, body: RatesBody) -> None:
    await require_role(ctx, body.operator, "operator")
    current = await rates_in_force(ctx)
    if body.version != current.version + 1:
        raise RateVersionConflict(f"heart.rates: version must be {current.version + 1} "
                                  f"(the table in force is version {current.version})")


async def _project_rates(ctx: ApplyContext, body: RatesBody) -> None:
    r = body.rates
    await HeartRateVersion.create(
        using_db=ctx.conn, version=body.version, idx=ctx.index, set_by=body.operator,
        cash_hearts=r["cash"].hearts, cash_per=r["cash"].per,
        food_hearts=r["food"].hearts, food_per=r["food"].per,
        tree_hearts=r["tree"].hearts, tree_per=r["tree"].per)
    ctx.memo[("heart.rates",)] = RateTable(body.version, ctx.index, dict(r))


HEART_RATES = register(EntryKind(
    name="heart.rates", parse=RatesBody.parse, signers=lambda b: [b.operator],
    check=_check_rates, project=_project_rates,
    summary="set the next version of the hearts-per-unit rate table"))

# -- scores ----------------------------------------------------------------------------------

_UPSERT_SCORE = (
    "INSERT INTO heart_score (address, total, cash, food, tree, minted, burned, gifts, "
    "reversals, last_idx) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (address) DO UPDATE "
    "SET total = heart_score.total + excluded.total, cash = heart_score.cash + excluded.cash, "
    "food = heart_score.food + excluded.food, tree = heart_score.tree + excluded.tree, "
    "minted = heart_score.minted + excluded.minted, burned = heart_score.burned + "
    "excluded.burned, gifts = heart_score.gifts + excluded.gifts, reversals = "
    "heart_score.reversals + excluded.reversals, last_idx = excluded.last_idx")


async def _score_total(ctx: ApplyContext, address: str) -> int:
    key = ("heart.score", address)
    if key not in ctx.memo:
        rows = await fetch(ctx.conn, "SELECT total FROM heart_score WHERE address = ?", [address])
        ctx.memo[key] = int(rows[0]["total"]) if rows else 0
    total: int = ctx.memo[key]
    return total


async def _move_score(ctx: ApplyContext, address: str, kind: str, hearts: int, *,
                      burn: bool) -> None:
    delta = -hearts if burn else hearts
    per_kind = [delta if k == kind else 0 for k in KINDS]
    await execute(ctx.conn, _UPSERT_SCORE, [
        address, delta, *per_kind, 0 if burn else hearts, hearts if burn else 0,
        0 if burn else 1, 1 if burn else 0, ctx.index])
    key = ("heart.score", address)
    if key in ctx.memo:
        ctx.memo[key] += delta


async def score_at(conn: BaseDBAsyncClient, address: str, size: int) -> int:
    """The donor's hearts over the log prefix of `size` entries (mints minus burns before it)."""
    rows = await fetch(conn, "SELECT COALESCE(SUM(hearts), 0) AS minted, COALESCE(SUM(CASE WHEN "
                       "reversed_idx < ? THEN hearts ELSE 0 END), 0) AS burned FROM "
                       "heart_donation WHERE donor = ? AND idx < ?", [size, address, size])
    return int(rows[0]["minted"]) - int(rows[0]["burned"])


# -- donations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordBody:
    charity: Address
    donor: Address
    kind: str
    quantity: int
    campaign: str
    receipt: str | None

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> RecordBody:
        reader = BodyReader(body, "donation.record")
        parsed = cls(reader.address("charity"), reader.address("donor"),
                     reader.choice("kind", KINDS), reader.integer("quantity", minimum=1),
                     reader.slug("campaign"), reader.optional_hash_hex("receipt"))
        reader.finish()
        return parsed


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


async def _project_record(ctx: ApplyContext, body: RecordBody) -> None:
    rates = await rates_in_force(ctx)
    hearts = rates.hearts(body.kind, body.quantity)
    await execute(ctx.conn, "INSERT INTO heart_donation (idx, charity, donor, kind, quantity, "
                  "campaign, receipt, hearts, rate_version, recorded_at) VALUES "
                  "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  [ctx.index, body.charity, body.donor, body.kind, body.quantity, body.campaign,
                   body.receipt, hearts, rates.version, format_time(ctx.now)])
    await _move_score(ctx, body.donor, body.kind, hearts, burn=False)


DONATION_RECORD = register(EntryKind(
    name="donation.record", parse=RecordBody.parse, signers=lambda b: [b.charity],
    check=_check_record, project=_project_record,
    summary="a charity records a gift; mints hearts to the donor at the rate in force"))


@dataclass(frozen=True)
class ReverseBody:
    charity: Address
    donation: int
    reason: str

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> ReverseBody:
        reader = BodyReader(body, "donation.reverse")
        parsed = cls(reader.address("charity"), reader.integer("donation", minimum=0),
                     reader.choice("reason", REVERSAL_REASONS))
        reader.finish()
        return parsed


async def _original(ctx: ApplyContext, body: ReverseBody) -> dict[str, Any]:
    rows = await fetch(ctx.conn, "SELECT charity, donor, kind, hearts, reversed_idx FROM "
                       "heart_donation WHERE idx = ?", [body.donation])
    if not rows:
        raise UnknownDonation(f"donation.reverse: entry {body.donation} is not a donation")
    return rows[0]


async def _check_reverse(ctx: ApplyContext, body: ReverseBody) -> None:
    await require_role(ctx, body.charity, "charity")
    original = await _original(ctx, body)
    if original["charity"] != body.charity:
        raise NotYourDonation(f"donation.reverse: donation {body.donation} was recorded by "
                              f"another charity")
    if original["reversed_idx"] is not None:
        raise AlreadyReversed(f"donation.reverse: donation {body.donation} was already "
                              f"reversed by entry {original['reversed_idx']}")


async def _project_reverse(ctx: ApplyContext, body: ReverseBody) -> None:
    original = await _original(ctx, body)
    await execute(ctx.conn, "UPDATE heart_donation SET reversed_idx = ?, reversal_reason = ? "
                  "WHERE idx = ?", [ctx.index, body.reason, body.donation])
    await _move_score(ctx, str(original["donor"]), str(original["kind"]),
                      int(original["hearts"]), burn=True)


DONATION_REVERSE = register(EntryKind(
    name="donation.reverse", parse=ReverseBody.parse, signers=lambda b: [b.charity],
    check=_check_reverse, project=_project_reverse,
    summary="a refund or chargeback: burns exactly the original donation's hearts, once"))

# -- consent ---------------------------------------------------------------------------------


def _time_field(reader: BodyReader, name: str, kind: str) -> str:
    text = reader.text(name, min_length=24, max_length=24)
    try:
        parse_time(text)
    except ValidationError:
        raise ValidationError(f"{kind}: {name}: expected YYYY-MM-DDTHH:MM:SS.mmmZ, got {text!r}",
                              field=name) from None
    return text


@dataclass(frozen=True)
class GrantBody:
    handle: Address
    partner: Address
    scope: str
    expires: str

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> GrantBody:
        reader = BodyReader(body, "consent.grant")
        parsed = cls(reader.address("handle"), reader.address("partner"),
                     reader.choice("scope", SCOPES),
                     _time_field(reader, "expires", "consent.grant"))
        reader.finish()
        return parsed


async def _require_handle(ctx: ApplyContext, handle: str, kind: str) -> None:
    # A member's own address here would name them: a handle is a key used for nothing else.
    if await role_of(ctx, handle) is not None:
        raise ValidationError(f"{kind}: handle: {handle} is a registered account, not a "
                              "pseudonymous consent handle", field="handle")


async def _check_grant(ctx: ApplyContext, body: GrantBody) -> None:
    await _require_handle(ctx, body.handle, "consent.grant")
    await require_role(ctx, body.partner, "partner")
    if parse_time(body.expires) <= ctx.now:
        raise ValidationError(f"consent.grant: expires: {body.expires} is already past",
                              field="expires")


async def _project_grant(ctx: ApplyContext, body: GrantBody) -> None:
    await HeartConsent.create(using_db=ctx.conn, idx=ctx.index, handle=body.handle,
                              partner=body.partner, scope=body.scope, expires_at=body.expires,
                              granted_at=format_time(ctx.now))


CONSENT_GRANT = register(EntryKind(
    name="consent.grant", parse=GrantBody.parse, signers=lambda b: [b.handle],
    check=_check_grant, project=_project_grant,
    summary="a member, under a pseudonymous per-partner handle, lets a partner check their "
            "hearts against a threshold, until expiry"))


@dataclass(frozen=True)
class RevokeBody:
    handle: Address
    consent: int

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> RevokeBody:
        reader = BodyReader(body, "consent.revoke")
        parsed = cls(reader.address("handle"), reader.integer("consent", minimum=0))
        reader.finish()
        return parsed


async def _consent(ctx: ApplyContext, index: int) -> HeartConsent:
    row = await HeartConsent.filter(idx=index).using_db(ctx.conn).first()
    if row is None:
        raise UnknownConsent(f"entry {index} is not a consent")
    return row


async def _check_revoke(ctx: ApplyContext, body: RevokeBody) -> None:
    consent = await _consent(ctx, body.consent)
    if consent.handle != body.handle:
        raise NotYourConsent(f"consent.revoke: consent {body.consent} was granted under "
                             "another handle")
    if consent.revoked_idx is not None:
        raise ConsentAlreadyRevoked(f"consent.revoke: consent {body.consent} was already "
                                    f"revoked by entry {consent.revoked_idx}")


async def _project_revoke(ctx: ApplyContext, body: RevokeBody) -> None:
    await HeartConsent.filter(idx=body.consent).using_db(ctx.conn).update(revoked_idx=ctx.index)


CONSENT_REVOKE = register(EntryKind(
    name="consent.revoke", parse=RevokeBody.parse, signers=lambda b: [b.handle],
    check=_check_revoke, project=_project_revoke,
    summary="a member withdraws a consent (signed by its handle); later checks under it are "
            "refused"))


def consent_is_active(consent: HeartConsent, now: datetime) -> bool:
    return consent.revoked_idx is None and parse_time(consent.expires_at) > now


CHECK_COMMITMENT_DOMAIN = b"heartchain/consent-check/v1\n"


def check_commitment(*, member: str, partner: str, handle: str, threshold: int,
                     checkpoint: int, result: bool, salt: bytes) -> str:
    """What a `consent.check` entry holds instead of who was checked and the answer: hex
    SHA-256 of a domain tag and the JCS of the opening. The member (who holds the salt) can open
    it; without the salt it reveals nothing."""
    opening: dict[str, Any] = {"checkpoint": checkpoint, "handle": handle, "member": member,
               "partner": partner, "result": result, "salt": salt.hex(),
               "threshold": threshold}
    return hashlib.sha256(CHECK_COMMITMENT_DOMAIN + rfc8785.dumps(opening)).hexdigest()


@dataclass(frozen=True)
class CheckBody:
    partner: Address
    handle: Address
    consent: int | None  # None: presented by the member, who signs with the handle
    commitment: str

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> CheckBody:
        reader = BodyReader(body, "consent.check")
        parsed = cls(reader.address("partner"), reader.address("handle"),
                     reader.optional_integer("consent", minimum=0),
                     reader.hash_hex("commitment"))
        reader.finish()
        return parsed

    def signers(self) -> list[Address]:
        return [self.partner] if self.consent is not None else [self.handle]


async def _check_check(ctx: ApplyContext, body: CheckBody) -> None:
    await require_role(ctx, body.partner, "partner")
    if body.consent is None:  # member-presented: the handle's own signature is the consent
        await _require_handle(ctx, body.handle, "consent.check")
        return
    consent = await _consent(ctx, body.consent)
    if (consent.handle, consent.partner) != (body.handle, body.partner):
        raise NoActiveConsent(f"consent.check: consent {body.consent} is not {body.handle}'s "
                              f"consent to {body.partner}")
    if not consent_is_active(consent, ctx.now):
        state = "revoked" if consent.revoked_idx is not None else "expired"
        raise NoActiveConsent(f"consent.check: consent {body.consent} was {state}")


async def _project_check(ctx: ApplyContext, body: CheckBody) -> None:
    await HeartCheck.create(using_db=ctx.conn, idx=ctx.index, handle=body.handle,
                            partner=body.partner, consent_idx=body.consent,
                            commitment=body.commitment, checked_at=format_time(ctx.now))


CONSENT_CHECK = register(EntryKind(
    name="consent.check", parse=CheckBody.parse, signers=CheckBody.signers,
    check=_check_check, project=_project_check,
    summary="a recorded check of 'hearts >= N' for a partner, under the consent of a "
            "pseudonymous handle (signed by the partner) or presented by the member (signed by "
            "the handle); who and what are in a salted commitment only the member can open"))
