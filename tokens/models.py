"""Projection tables of heart points, rebuilt from the log by `verify`, and the off-log donor index.

Primary keys are log indexes (a donation is the index of its `donation.record` entry), so a replay
produces identical rows. A score's history needs no table of its own: it is the donations' mints
(at their index) and burns (at their reversal's index), grouped by the first checkpoint that
included each.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from heartchain.ledger.kinds import register_projection

KINDS = ("cash", "food", "tree")
UNITS = {"cash": "fen", "food": "gram", "tree": "tree"}


class HeartRateVersion(Model):
    """One `heart.rates` entry: hearts = quantity * hearts_per / per_quantity, rounded down.

    Version 0 (1 heart per fen, per gram, per tree) is built in and has no row."""

    version = fields.IntField(primary_key=True)
    idx = fields.BigIntField()
    set_by = fields.CharField(max_length=80)
    cash_hearts = fields.BigIntField()
    cash_per = fields.BigIntField()
    food_hearts = fields.BigIntField()
    food_per = fields.BigIntField()
    tree_hearts = fields.BigIntField()
    tree_per = fields.BigIntField()

    class Meta:
        table = "heart_rate_version"


class HeartDonation(Model):
    idx = fields.BigIntField(primary_key=True)
    charity = fields.CharField(max_length=80)
    donor = fields.CharField(max_length=80)
    kind = fields.CharField(max_length=8)
    quantity = fields.BigIntField()
    campaign = fields.CharField(max_length=64, db_index=True)
    receipt = fields.CharField(max_length=64, null=True)
    hearts = fields.BigIntField()
    rate_version = fields.IntField()
    recorded_at = fields.CharField(max_length=24)
    reversed_idx = fields.BigIntField(null=True)
    reversal_reason = fields.CharField(max_length=16, null=True)
    # A pay-for-success refund (tracing.escrow) of part of the gift: its campaign.refund entry
    # and the hearts it burned, floor(hearts * refunded / net).
    refund_idx = fields.BigIntField(null=True)
    refund_hearts = fields.BigIntField(null=True)

    class Meta:
        table = "heart_donation"
        indexes = (("donor", "idx"), ("charity", "idx"), ("donor", "reversed_idx"))


class HeartScore(Model):
    """A donor's hearts: minted minus burned, in total and per donation kind."""

    address = fields.CharField(max_length=80, primary_key=True)
    total = fields.BigIntField()
    cash = fields.BigIntField()
    food = fields.BigIntField()
    tree = fields.BigIntField()
    minted = fields.BigIntField()
    burned = fields.BigIntField()
    gifts = fields.IntField()
    reversals = fields.IntField()
    last_idx = fields.BigIntField()

    class Meta:
        table = "heart_score"


class HeartConsent(Model):
    """A `consent.grant` by a pseudonymous handle; which member a handle is, is off the log."""

    idx = fields.BigIntField(primary_key=True)
    handle = fields.CharField(max_length=80)
    partner = fields.CharField(max_length=80, db_index=True)
    scope = fields.CharField(max_length=32)
    expires_at = fields.CharField(max_length=24)
    granted_at = fields.CharField(max_length=24)
    revoked_idx = fields.BigIntField(null=True)

    class Meta:
        table = "heart_consent"
        indexes = (("handle", "partner"),)


class HeartCheck(Model):
    """A `consent.check`: only the handle and a commitment; the member opens it off the log."""

    idx = fields.BigIntField(primary_key=True)
    handle = fields.CharField(max_length=80)
    partner = fields.CharField(max_length=80)
    consent_idx = fields.BigIntField(null=True)  # None: presented by the member
    commitment = fields.CharField(max_length=64)
    checked_at = fields.CharField(max_length=24)

    class Meta:
        table = "heart_check"
        indexes = (("handle", "idx"),)


class ConsentHandle(Model):
    """Off-log: which member a consent handle belongs to (one handle per member and partner).

    Deleted with the member's sealed data on erasure; the handle key derives from the member's
    sealed salt, so it cannot be recomputed afterwards either."""

    handle = fields.CharField(max_length=80, primary_key=True)
    member = fields.CharField(max_length=80)
    partner = fields.CharField(max_length=80)

    class Meta:
        table = "heart_consent_handle"
        unique_together = (("member", "partner"),)


class DonorContact(Model):
    """Off-log: (recording charity, normalised phone or e-mail) -> that charity's custodial donor.

    `contact_index` is a keyed hash of both, so one charity's lookups say nothing about another
    charity's donors; `binding` is an HMAC of (index, address) under a key derived from the master
    key, so a row re-pointed or inserted in the database is refused. The contact itself is sealed
    with `heartchain.privacy` under the donor's subject key."""

    contact_index = fields.CharField(max_length=64, primary_key=True)
    address = fields.CharField(max_length=80, db_index=True)
    binding = fields.CharField(max_length=64)
    created_at = fields.CharField(max_length=32)

    class Meta:
        table = "heart_charity_donor"


class LegacyDonorContact(Model):
    """Off-log, read only: the one mapping shared by all charities, before per-charity donors.

    A charity that already recorded gifts for such a donor adopts it (tokens.services); nothing
    writes here any more."""

    contact_hash = fields.CharField(max_length=64, primary_key=True)
    address = fields.CharField(max_length=80, db_index=True)
    created_at = fields.CharField(max_length=32)

    class Meta:
        table = "heart_donor_contact"


class SignInCode(Model):
    """Off-log: the current one-time code of a contact (keyed hashes only)."""

    contact_hash = fields.CharField(max_length=64, primary_key=True)
    code_hash = fields.CharField(max_length=64)
    sent_at = fields.CharField(max_length=24)
    expires_at = fields.CharField(max_length=24)
    attempts = fields.IntField(default=0)

    class Meta:
        table = "heart_signin_code"


class MemberSession(Model):
    """Off-log: a signed-in donor. `addresses` are the donor addresses of the contact."""

    token_hash = fields.CharField(max_length=64, primary_key=True)
    csrf = fields.CharField(max_length=64)
    addresses: fields.Field[list[str]] = fields.JSONField()
    expires_at = fields.CharField(max_length=24)

    class Meta:
        table = "heart_member_session"


class HeartDonationReference(Model):
    """Where an imported `donation.record` came from: a keyed hash of the payment provider's
    transaction id (once per charity) and when the payer paid (tokens.references)."""

    idx = fields.BigIntField(primary_key=True, generated=False)
    charity = fields.CharField(max_length=80)
    reference = fields.CharField(max_length=64, null=True)
    paid_at = fields.CharField(max_length=24, null=True)

    class Meta:
        table = "heart_donation_reference"
        unique_together = (("charity", "reference"),)


register_projection(HeartRateVersion, HeartDonation, HeartScore, HeartConsent, HeartCheck,
                    HeartDonationReference)
