"""GraphQL types of consents, partner checks and their attestations (tokens.types has the
queries and mutations that use them).

A member's consents and the checks made on them are shown to that member's token only (the log
holds them under pseudonymous handles).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import strawberry

from heartchain.accounts.models import Account as AccountRow
from heartchain.errors import ValidationError
from heartchain.gql import JSON, ErrorResult, Info, Int64
from heartchain.ledger.entries import parse_time
from heartchain.ledger.types import FromEntry, LogEntry, written_entry
from tokens import services


async def label_of(address: str) -> str | None:
    row = await AccountRow.get_or_none(address=address)
    return row.label if row else None


@strawberry.type(description="A member's consent for a partner to check their hearts. On the "
                             "log it is granted by `handle`, a pseudonymous key for this member "
                             "and partner only.")
class Consent(FromEntry):
    index: Int64
    member: str
    handle: str
    partner: str
    scope: str
    expires_at: str
    granted_at: str
    revoked_index: Int64 | None

    @classmethod
    def of(cls, consent: services.MemberConsent) -> Consent:
        row = consent.row
        return cls(index=Int64(row.idx), member=consent.member, handle=row.handle,
                   partner=row.partner, scope=row.scope, expires_at=row.expires_at,
                   granted_at=row.granted_at,
                   revoked_index=Int64(row.revoked_idx) if row.revoked_idx is not None
                   else None)

    @strawberry.field(description="Not revoked and not expired, by the log's clock now.")
    def active(self, info: Info) -> bool:
        return self.revoked_index is None and parse_time(self.expires_at) > \
            info.context.platform.clock.now()

    @strawberry.field
    async def partner_label(self) -> str | None:
        return await label_of(self.partner)


@strawberry.type(description="A recorded check of 'hearts ≥ threshold' for a partner, as its "
                             "member sees it: the log holds only the handle and a commitment "
                             "to these fields, opened here from the member's sealed salt.")
class PartnerCheck(FromEntry):
    index: Int64
    partner: str
    consent_index: Int64 | None = strawberry.field(
        description="The consent it was made under; null when the member presented it.")
    presented: bool
    threshold: Int64
    checkpoint_size: Int64
    result: bool
    checked_at: str

    @classmethod
    def of(cls, check: services.CheckOpening) -> PartnerCheck:
        return cls(index=Int64(check.index), partner=check.partner,
                   consent_index=Int64(check.consent) if check.consent is not None else None,
                   presented=check.consent is None, threshold=Int64(check.threshold),
                   checkpoint_size=Int64(check.checkpoint_size), result=check.result,
                   checked_at=check.checked_at)

    @strawberry.field
    async def partner_label(self) -> str | None:
        return await label_of(self.partner)


@strawberry.type(description="The key that signs heart-score attestations; verify offline with "
                             "it (`heartchain attest verify FILE --key PUBLIC_KEY`).")
class AttestationKey:
    public_key: str = strawberry.field(description="base64 Ed25519 public key")
    issuer: str = strawberry.field(description="did:key of the public key")
    verification_method: str


@strawberry.type
class AttestationVerdict:
    valid: bool
    reason: str | None


# -- mutation results ---------------------------------------------------------------------


@strawberry.type
class ConsentGranted:
    consent: Consent
    entry: LogEntry


@strawberry.type
class ConsentRevoked:
    consent: Consent
    entry: LogEntry


@strawberry.type(description="The answer, its signed attestation, and the recorded check.")
class HeartsChecked:
    at_least: bool
    threshold: Int64
    checkpoint_size: Int64
    checked: strawberry.Private[services.Checked]

    @strawberry.field(description="W3C VC 2.0 credential, eddsa-jcs-2022")
    def attestation(self) -> JSON:
        # Signed when asked for: a partner wanting only the answer does not pay for it.
        return JSON(self.checked.attestation)

    entry: LogEntry


GrantConsentResult = Annotated[ConsentGranted | ErrorResult,
                               strawberry.union("GrantConsentResult")]
RevokeConsentResult = Annotated[ConsentRevoked | ErrorResult,
                                strawberry.union("RevokeConsentResult")]
CheckHeartsResult = Annotated[HeartsChecked | ErrorResult, strawberry.union("CheckHeartsResult")]


MAX_CONSENT_DAYS = 36_500


def expiry(expires_at: str | None, days: int | None, now: datetime) -> datetime:
    if expires_at is not None and days is not None:
        raise ValidationError("give expiresAt or days, not both", field="expiresAt")
    if days is not None and not 1 <= days <= MAX_CONSENT_DAYS:
        # Checked before the arithmetic: a billion days overflows datetime.
        raise ValidationError(f"days: must be 1..{MAX_CONSENT_DAYS}", field="days")
    if expires_at is None:
        return now + timedelta(days=365 if days is None else days)
    try:
        moment = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"expiresAt: not an ISO 8601 time: {expires_at!r}",
                              field="expiresAt") from None
    if moment.tzinfo is None:
        raise ValidationError("expiresAt: needs a time zone (e.g. Z)", field="expiresAt")
    return moment


async def hearts_checked(info: Info, checked: services.Checked, threshold: int
                         ) -> HeartsChecked:
    return HeartsChecked(at_least=checked.result, threshold=Int64(threshold),
                         checkpoint_size=Int64(checked.checkpoint_size),
                         checked=checked, entry=await written_entry(info, checked.appended))
