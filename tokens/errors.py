"""Typed errors of heart points; each is one of the core's kinds, so GraphQL maps it for free."""

from __future__ import annotations

from heartchain.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationError,
    VerificationError,
)


class HeartsOverflow(ValidationError):
    """The hearts minted, or a score, would leave the safe integer range (2^53 - 1)."""


class UnknownDonation(NotFound):
    pass


class NotYourDonation(PermissionDenied):
    """Only the charity that recorded a donation may reverse it."""


class AlreadyReversed(Conflict):
    pass


class DuplicateReference(Conflict):
    """The charity already recorded a donation for this payment provider transaction."""


class RateVersionConflict(Conflict):
    """A rate table must carry the next version number: someone else set rates first."""


class UnknownConsent(NotFound):
    pass


class NotYourConsent(PermissionDenied):
    pass


class ConsentAlreadyRevoked(Conflict):
    pass


class NoActiveConsent(PermissionDenied):
    """A partner asked about a member who has not consented (or revoked, or let it expire)."""


class StaleCheck(Conflict):
    """A check's recorded answer differs from the score at its checkpoint."""


class ChecksArePrivate(PermissionDenied):
    """Partner checks are visible to the member they were made on, and to no one else."""


class AttestationInvalid(VerificationError):
    """An attestation failed offline verification: altered, wrong key, or outside its validity."""
