"""Typed errors of corrections (each one of the core's kinds, so GraphQL maps it for free)."""

from __future__ import annotations

from heartchain.errors import Conflict, NotFound, PermissionDenied, ValidationError


class NotCorrectable(ValidationError):
    """The entry's kind, or one of the fields named, cannot be corrected."""


class CorrectionTargetNotFound(NotFound):
    """No entry of the kind named is at the index named."""


class NotTheSigner(PermissionDenied):
    """Only the corrected entry's own signers, all of them, may correct it."""


class NothingToCorrect(Conflict):
    """Every value named is already what the entry says (after any earlier correction)."""


class CorrectionRefused(Conflict):
    """The correction would break what the projections guarantee (money already spent, …)."""
