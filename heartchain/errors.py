"""One error tree for the whole service.

Expected failures that callers branch on are subclasses of `HeartchainError`; GraphQL maps them to
union results and never masks them. Anything else is a bug and is masked.
"""

from __future__ import annotations


class HeartchainError(Exception):
    """Root of every error heartchain raises on purpose."""


class VerificationError(HeartchainError):
    """A proof, signature or recomputed value did not match."""


class RootMismatchError(VerificationError):
    """A recomputed Merkle root differs from the expected one."""

    def __init__(self, expected: bytes, calculated: bytes, *, context: str = "") -> None:
        self.expected = expected
        self.calculated = calculated
        where = f" {context}" if context else ""
        super().__init__(
            f"root mismatch{where}: expected {expected.hex()}, calculated {calculated.hex()}"
        )


class ValidationError(HeartchainError):
    """Input is malformed or breaks a rule; nothing was written."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class PermissionDenied(HeartchainError):
    """The caller or signer may not do this."""


class NotFound(HeartchainError):
    """The thing asked for does not exist."""


class Conflict(HeartchainError):
    """The request clashes with the current state (a replay, a duplicate, a stale view)."""
