"""GraphQL types of heart points: thin resolvers over `tokens.services` (the consent and check
types are in tokens.consent_types).

Who may call what: `recordDonation` / `reverseDonation` need a charity's token, `setHeartRates`
the operator's, `grantConsent` / `revokeConsent` / `presentHearts` a member's, `checkHearts` a
partner's. Scores and donations are public facts of the log; a member's consents and the checks
made on them are shown to that member's token only (the log holds them under pseudonymous
handles).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Annotated, Any

import strawberry

from heartchain.accounts.models import Account as AccountRow
from heartchain.errors import NotFound, ValidationError
from heartchain.gql import (
    JSON,
    Connection,
    ErrorResult,
    Info,
    Int64,
    connection,
    decode_cursor,
    encode_cursor,
    mutation,
    page_size,
)
from heartchain.keys import Address, is_address
from heartchain.ledger.types import FromEntry, LogEntry, load_entry, written_entry
from tokens import services
from tokens.attest import attestation_key, did_key, public_key_b64, verify_attestation
from tokens.consent_types import (
    AttestationKey,
    AttestationVerdict,
    CheckHeartsResult,
    Consent,
    ConsentGranted,
    ConsentRevoked,
    GrantConsentResult,
    PartnerCheck,
    RevokeConsentResult,
    expiry,
    hearts_checked,
    label_of,
)
from tokens.entries import DEFAULT_RATES, RateTable, rate_table_of
from tokens.errors import AttestationInvalid
from tokens.models import KINDS, UNITS, HeartConsent, HeartDonation

# -- rates -----------------------------------------------------------------------------------


@strawberry.type(description="Hearts minted per unit of one donation kind: "
                             "quantity × hearts ÷ per, rounded down.")
class HeartRate:
    kind: str
    unit: str = strawberry.field(description="fen, gram or tree")
    hearts: Int64
    per: Int64


@strawberry.type(description="A version of the rate table. Version 0 (1 heart per fen, gram, "
                             "tree) is built in; each later one is a heart.rates entry and "
                             "applies to donations after it.")
class HeartRateTable:
    version: int
    from_index: Int64 | None = strawberry.field(description="its heart.rates entry; null for 0")
    rates: list[HeartRate]

    @classmethod
    def of(cls, table: RateTable) -> HeartRateTable:
        return cls(version=table.version,
                   from_index=Int64(table.index) if table.index is not None else None,
                   rates=[HeartRate(kind=k, unit=UNITS[k], hearts=Int64(table.rates[k].hearts),
                                    per=Int64(table.rates[k].per)) for k in KINDS])

    @strawberry.field(description="The heart.rates entry, with its proof (null for version 0).")
    async def entry(self, info: Info) -> LogEntry | None:
        return await load_entry(info, self.from_index) if self.from_index is not None else None


@strawberry.input
class HeartRateInput:
    kind: str
    hearts: Int64
    per: Int64


# -- donations and scores --------------------------------------------------------------------


@strawberry.type(description="A gift recorded by a charity, and the hearts it minted.")
class Donation(FromEntry):
    index: Int64 = strawberry.field(description="the donation.record entry's index")
    charity: str
    donor: str
    kind: str
    unit: str
    quantity: Int64
    campaign: str
    receipt: str | None
    hearts: Int64
    rate_version: int
    recorded_at: str
    reversed_index: Int64 | None
    reversal_reason: str | None
    refund_index: Int64 | None = strawberry.field(
        default=None, description="pay for success: the campaign.refund that gave part of this "
                                  "gift back and burned `refundHearts` of its hearts")
    refund_hearts: Int64 = strawberry.field(
        default=Int64(0), description="hearts that refund burned, floor(hearts * refunded / net)")

    @classmethod
    def of(cls, row: HeartDonation | Mapping[str, Any]) -> Donation:
        """From a stored row, or from the columns a gift's projector just wrote (a mapping:
        the reversal and refund columns it leaves null are absent; no ORM model is built)."""
        column = row.get if isinstance(row, Mapping) else functools.partial(getattr, row)
        kind, reversed_idx = column("kind"), column("reversed_idx")
        refund_idx = column("refund_idx")
        return cls(index=Int64(column("idx")), charity=column("charity"), donor=column("donor"),
                   kind=kind, unit=UNITS[kind], quantity=Int64(column("quantity")),
                   campaign=column("campaign"), receipt=column("receipt"),
                   hearts=Int64(column("hearts")), rate_version=column("rate_version"),
                   recorded_at=column("recorded_at"),
                   reversed_index=Int64(reversed_idx) if reversed_idx is not None else None,
                   reversal_reason=column("reversal_reason"),
                   refund_index=Int64(refund_idx) if refund_idx is not None else None,
                   refund_hearts=Int64(column("refund_hearts") or 0))

    @strawberry.field
    async def charity_label(self) -> str | None:
        return await label_of(self.charity)


    @strawberry.field(description="The donation.reverse entry that burned these hearts, if any.")
    async def reversal(self, info: Info) -> LogEntry | None:
        if self.reversed_index is None:
            return None
        return await load_entry(info, self.reversed_index)


@strawberry.type(description="One donation kind's part of a score (reversed gifts excluded).")
class KindBreakdown:
    kind: str
    unit: str
    hearts: Int64
    quantity: Int64
    gifts: int


@strawberry.type(description="The score at a checkpoint where it changed.")
class ScorePoint:
    checkpoint_size: Int64 = strawberry.field(description="the first checkpoint that included "
                                                          "the change")
    total: Int64
    change: Int64


@strawberry.type(description="A member's hearts: minted by donations, burned by reversals.")
class MemberHearts:
    address: str
    score: Int64
    minted: Int64
    burned: Int64
    gifts: int
    reversals: int

    @strawberry.field(description="Hearts, quantity and gifts per donation kind.")
    async def breakdown(self) -> list[KindBreakdown]:
        return [KindBreakdown(kind=k.kind, unit=UNITS[k.kind], hearts=Int64(k.hearts),
                              quantity=Int64(k.quantity), gifts=k.gifts)
                for k in await services.breakdown(self.address)]

    @strawberry.field(description="The score at each checkpoint where it changed, oldest first, "
                                  "after checkpoint size `after`.")
    async def history(self, first: int = 50, after: Int64 | None = None) -> list[ScorePoint]:
        points = await services.score_history(self.address, first=page_size(first, 500),
                                              after=after or 0)
        return [ScorePoint(checkpoint_size=Int64(p.checkpoint_size), total=Int64(p.total),
                           change=Int64(p.change)) for p in points]

    @strawberry.field(description="Every gift under this address, newest first.")
    async def donations(self, first: int = 20, after: str | None = None,
                        kind: str | None = None) -> Connection[Donation]:
        limit = page_size(first)
        rows = await services.donations_of(self.address, first=limit + 1,
                                           before=decode_cursor("donation", after), kind=kind)
        return connection(rows, limit, cursor=lambda r: encode_cursor("donation", r.idx),
                          node=Donation.of)

    @strawberry.field(description="Consents this member granted, newest first: only this "
                                  "member's token may read them.")
    async def consents(self, info: Info) -> list[Consent] | None:
        return [Consent.of(c) for c in await services.consents_of(
            self.address, viewer=info.context.account)]

    @strawberry.field(description="Checks partners made on this member: only this member's "
                                  "token may read them.")
    async def checks(self, info: Info, first: int = 20, after: str | None = None
                     ) -> Connection[PartnerCheck] | None:
        limit = page_size(first)
        rows = await services.checks_on(info.context.platform, self.address,
                                        viewer=info.context.account, first=limit + 1,
                                        before=decode_cursor("check", after))
        return connection(rows, limit, cursor=lambda r: encode_cursor("check", r.index),
                          node=PartnerCheck.of)


# -- mutation results ------------------------------------------------------------------------


@strawberry.type
class DonationRecorded:
    donation: Donation
    new_donor: bool = strawberry.field(description="a custodial address was created for the "
                                                   "contact given")
    entry: LogEntry


@strawberry.type
class DonationReversed:
    donation: Donation
    entry: LogEntry


@strawberry.type
class HeartRatesSet:
    rates: HeartRateTable
    entry: LogEntry


RecordDonationResult = Annotated[DonationRecorded | ErrorResult,
                                 strawberry.union("RecordDonationResult")]
ReverseDonationResult = Annotated[DonationReversed | ErrorResult,
                                  strawberry.union("ReverseDonationResult")]
SetHeartRatesResult = Annotated[HeartRatesSet | ErrorResult,
                                strawberry.union("SetHeartRatesResult")]
async def member_hearts(address: str) -> MemberHearts:
    score = await services.score(address)
    return MemberHearts(address=address, score=Int64(score.total), minted=Int64(score.minted),
                        burned=Int64(score.burned), gifts=score.gifts, reversals=score.reversals)


@strawberry.type
class Query:
    @strawberry.field(description="A member's hearts, donations, consents (and, for the member's "
                                  "own token, the checks partners made). Null if the address "
                                  "is not registered.")
    async def member(self, address: str) -> MemberHearts | None:
        if not is_address(address) or not await AccountRow.exists(address=address):
            return None
        return await member_hearts(address)

    @strawberry.field(description="The rate table in force, or the given version.")
    async def heart_rates(self, version: int | None = None) -> HeartRateTable | None:
        current = await services.current_rates()
        if version is None or version == current.version:
            return HeartRateTable.of(current)
        for table in [DEFAULT_RATES, *[rate_table_of(r)
                                                for r in await services.rate_versions()]]:
            if table.version == version:
                return HeartRateTable.of(table)
        return None

    @strawberry.field(description="Every version of the rate table, oldest first.")
    async def heart_rate_history(self) -> list[HeartRateTable]:
        return [HeartRateTable.of(DEFAULT_RATES),
                *[HeartRateTable.of(rate_table_of(r))
                  for r in await services.rate_versions()]]

    @strawberry.field
    async def donation(self, index: Int64) -> Donation | None:
        try:
            return Donation.of(await services.get_donation(index))
        except NotFound:
            return None

    @strawberry.field(description="The public key that signs heart-score attestations.")
    def attestation_key(self, info: Info) -> AttestationKey:
        key = attestation_key(info.context.platform)
        issuer = did_key(bytes(key.verify_key))
        return AttestationKey(public_key=public_key_b64(key), issuer=issuer,
                              verification_method=f"{issuer}#{issuer[len('did:key:'):]}")

    @strawberry.field(description="Verify an attestation against this platform's key, now.")
    def verify_attestation(self, info: Info, credential: JSON) -> AttestationVerdict:
        platform = info.context.platform
        document: Any = credential
        try:
            verify_attestation(document, public_key_b64(attestation_key(platform)),
                               platform.clock.now())
        except AttestationInvalid as exc:
            return AttestationVerdict(valid=False, reason=str(exc))
        return AttestationVerdict(valid=True, reason=None)


@strawberry.type
class Mutation:
    @mutation(roles=["charity"], description="Charity only: record a gift for a donor address, "
                                             "or for a phone/e-mail (a custodial donor address "
                                             "is created on first use; the contact stays off "
                                             "the log).")
    async def record_donation(self, info: Info, kind: str, quantity: Int64, campaign: str,
                              donor: str | None = None, contact: str | None = None,
                              receipt: str | None = None) -> RecordDonationResult:
        platform, charity = info.context.platform, info.context.caller.address
        if (donor is None) == (contact is None):
            raise ValidationError("give exactly one of donor (an address) or contact",
                                  field="donor")
        new_donor = False
        if contact is not None:
            found, appended = await services.record_donation_for_contact(
                platform, charity=charity, contact=contact, kind=kind, quantity=quantity,
                campaign=campaign, receipt=receipt)
            new_donor = found.created
        else:
            appended = await services.record_donation(
                platform, charity=charity, donor=str(donor), kind=kind, quantity=quantity,
                campaign=campaign, receipt=receipt)
        row = services.written_donation(appended) or await services.get_donation(appended.index)
        return DonationRecorded(donation=Donation.of(row), new_donor=new_donor,
                                entry=await written_entry(info, appended))

    @mutation(roles=["charity"], description="Charity only: reverse one of its donations "
                                             "(refund, chargeback, error); burns exactly its "
                                             "hearts.")
    async def reverse_donation(self, info: Info, donation: Int64, reason: str = "refund"
                               ) -> ReverseDonationResult:
        appended = await services.reverse_donation(
            info.context.platform, charity=info.context.caller.address, donation=donation,
            reason=reason)
        return DonationReversed(donation=Donation.of(await services.get_donation(donation)),
                                entry=await load_entry(info, appended.index))

    @mutation(roles=["operator"], description="Operator only: the next rate table (every kind).")
    async def set_heart_rates(self, info: Info, rates: list[HeartRateInput]
                              ) -> SetHeartRatesResult:
        table = {r.kind: (int(r.hearts), int(r.per)) for r in rates}
        if len(table) != len(rates):
            raise ValidationError("rates: a kind appears twice", field="rates")
        appended = await services.set_heart_rates(info.context.platform,
                                                  info.context.caller.address, table)
        return HeartRatesSet(rates=HeartRateTable.of(await services.current_rates()),
                             entry=await load_entry(info, appended.index))

    @mutation(roles=["member"], description="Member only: let a partner check 'hearts ≥ N' "
                                            "until expiresAt (ISO 8601) or for `days` "
                                            "(default 365).")
    async def grant_consent(self, info: Info, partner: str, expires_at: str | None = None,
                            days: int | None = None, scope: str = "hearts.threshold"
                            ) -> GrantConsentResult:
        platform, member = info.context.platform, info.context.caller.address
        appended = await services.grant_consent(
            platform, member=member, partner=partner,
            expires=expiry(expires_at, days, platform.clock.now()), scope=scope)
        mine = services.MemberConsent(await HeartConsent.get(idx=appended.index), Address(member))
        return ConsentGranted(consent=Consent.of(mine),
                              entry=await load_entry(info, appended.index))

    @mutation(roles=["member"], description="Member only: withdraw a consent.")
    async def revoke_consent(self, info: Info, consent: Int64) -> RevokeConsentResult:
        member = info.context.caller.address
        appended = await services.revoke_consent(info.context.platform, member=member,
                                                 consent=consent)
        mine = services.MemberConsent(await HeartConsent.get(idx=consent), Address(member))
        return ConsentRevoked(consent=Consent.of(mine),
                              entry=await load_entry(info, appended.index))

    @mutation(roles=["member"], description="Member only: a credential 'hearts ≥ threshold' "
                                            "to show `partner` yourself (QR code or link); the "
                                            "partner needs neither your address nor a consent. "
                                            "Recorded as a check that names neither you nor "
                                            "the answer.")
    async def present_hearts(self, info: Info, partner: str, threshold: Int64
                             ) -> CheckHeartsResult:
        checked = await services.present_hearts(info.context.platform,
                                                member=info.context.caller.address,
                                                partner=partner, threshold=threshold)
        return await hearts_checked(info, checked, threshold)

    @mutation(roles=["partner"], description="Partner only: does `member` hold at least "
                                             "`threshold` hearts? Needs the member's active "
                                             "consent; the check is recorded (naming neither "
                                             "member nor answer) for the member to see.")
    async def check_hearts(self, info: Info, member: str, threshold: Int64
                           ) -> CheckHeartsResult:
        checked = await services.check_hearts(info.context.platform,
                                              partner=info.context.caller.address,
                                              member=member, threshold=threshold)
        return await hearts_checked(info, checked, threshold)
