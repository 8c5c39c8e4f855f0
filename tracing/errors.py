"""Typed failures of goods and money tracing; each is a HeartchainError callers branch on."""

from __future__ import annotations

from heartchain.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationError,
    VerificationError,
)


class LotNotFound(NotFound):
    """No lot has this id."""


class DonationNotFound(NotFound):
    """The referenced donation entry does not exist (or is not a donation.record)."""


class CampaignNotFound(NotFound):
    """No such campaign: never declared by this charity (or, for its cash, no donations yet)."""


class UnknownCampaign(CampaignNotFound):
    """A donation or disbursement names a campaign no campaign.create declared."""


class ForeignCampaign(PermissionDenied):
    """The campaign was declared by another charity; a charity records only into its own."""


class CampaignClosed(Conflict):
    """The entry's time is outside the campaign's window (before it starts or after it ends)."""


class CampaignExists(Conflict):
    """campaign.create for a slug this charity already declared (use campaign.update)."""


class SpendNotAllowed(ValidationError):
    """A disbursement on goods or a payee kind the campaign did not declare it may spend on."""


class OfferNotFound(NotFound):
    """No pending handover offer with this id for this account."""


class NotCustodian(PermissionDenied):
    """Only a lot's current custodian may hand it over, split, merge, lose or deliver it."""


class LotClosed(Conflict):
    """The lot was delivered, lost, split or merged: nothing can happen to it any more."""


class StaleQuantity(Conflict):
    """The entry declares a lot quantity that is no longer the lot's quantity."""


class NotConserved(ValidationError):
    """Outputs plus declared loss do not equal the inputs exactly."""


class UnitMismatch(ValidationError):
    """Quantities in different units (grams, items, trees) cannot be combined."""


class NotGoods(ValidationError):
    """A lot can only come from a food or goods (or tree) donation, not from cash."""


class DonationExhausted(Conflict):
    """The donation's undispatched quantity does not cover the new lot."""


class InsufficientFunds(Conflict):
    """A disbursement larger than the campaign's balance."""


class AlreadySpent(Conflict):
    """A reversal of a donation whose fen were already disbursed (or goods already dispatched)."""


class OfferExpired(Conflict):
    """A handover offer is signed at offer time and must be accepted within the log's clock skew."""


class LabelMismatch(VerificationError):
    """A scanned label's code does not belong to the lot it names: a copied or forged label."""


class NotReleased(Conflict):
    """Pay for success: a disbursement beyond what the validator has released."""


class OutcomeClosed(Conflict):
    """Pay for success: an attestation after the deadline or the refund, or a refund before the
    deadline, after everything was released, or twice."""


class QuarterOutOfRange(ValidationError):
    """A disclosure report asked for a quarter before the campaign started or not yet begun."""
