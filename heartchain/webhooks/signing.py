"""Webhook signatures: HMAC-SHA256 over `timestamp.body`, as Stripe signs its webhooks (pure).

The sender puts `Heartchain-Signature: t=<unix seconds>,v1=<hex HMAC>` on every delivery, the
HMAC keyed with the endpoint's secret (the whole `whsec_…` string, UTF-8) over the ASCII
timestamp, a full stop, and the exact body bytes. A receiver recomputes it, compares in constant
time, and refuses a timestamp too far from its own clock (a replayed delivery).

>>> signature_header("whsec_test", 1700000000, b'{"index":7}')
't=1700000000,v1=ce22aeb02e490c55b8af06dbfd50652a5651d2a7b0cb279ac505593b1e3e143a'
"""

from __future__ import annotations

import hmac

from heartchain.errors import VerificationError

HEADER = "Heartchain-Signature"
ID_HEADER = "Heartchain-Webhook-Id"
TIMESTAMP_HEADER = "Heartchain-Webhook-Timestamp"
TOLERANCE_S = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of `timestamp.body` under `secret`."""
    return hmac.digest(secret.encode(), f"{timestamp}.".encode() + body, "sha256").hex()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, *, now: float,
           tolerance: int = TOLERANCE_S) -> int:
    """Check a delivery's signature header; return its timestamp or raise VerificationError.

    >>> h = signature_header("whsec_x", 100, b"{}")
    >>> verify("whsec_x", h, b"{}", now=150)
    100
    >>> verify("whsec_x", h, b"{ }", now=150)
    Traceback (most recent call last):
    heartchain.errors.VerificationError: webhook signature: no v1 signature matches the body
    >>> verify("whsec_x", h, b"{}", now=1000)
    Traceback (most recent call last):
    heartchain.errors.VerificationError: webhook signature: timestamp 100 is 900 s from now
    """
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        raise VerificationError("webhook signature: no t=<timestamp>") from None
    if abs(now - timestamp) > tolerance:
        raise VerificationError(f"webhook signature: timestamp {timestamp} is "
                                f"{abs(int(now) - timestamp)} s from now")
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, given) for given in parts.get("v1", [])):
        raise VerificationError("webhook signature: no v1 signature matches the body")
    return timestamp
