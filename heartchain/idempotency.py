"""Idempotency-Key: entry nonces derived from the request and each write's own role.

A client that lost the answer to a mutation sends it again with the same `Idempotency-Key`. Every
entry the request writes gets a nonce derived from

    the key · the mutation field (its alias) · the signer · the entry kind · a purpose

and never from how many writes came before it in the request: the first attempt may have written
a donor's registration that the retry no longer needs, and the retry's gift must still get the
first attempt's nonce (the log takes a (signer, nonce) pair once, so the retry finds the entry
already written instead of writing a second). Two writes of one kind by one signer inside one
mutation field must pass distinct purposes (e.g. the lot or member they are about).

Platform.write takes its nonce from `idempotent_nonce`, so a retry's entry has the first
attempt's nonce:

    >>> def attempt() -> bytes | None:
    ...     with idempotent("till-7/receipt-42"):
    ...         return idempotent_nonce("donation.record", "hc1p...charity")
    >>> first, retry = attempt(), attempt()
    >>> first == retry and len(first)
    16
    >>> idempotent_nonce("donation.record", "hc1p...charity") is None  # no key: a random nonce
    True
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from contextvars import ContextVar, Token

__all__ = ["claim", "current_idempotency_key", "idempotent", "idempotent_nonce", "mutation_field",
           "set_idempotency_key"]

# The Idempotency-Key of the request being served with the nonces its writes used so far, and
# the mutation field being resolved.
_KEY: ContextVar[tuple[str, set[bytes]] | None] = ContextVar("idempotency_key", default=None)
_FIELD: ContextVar[str] = ContextVar("idempotency_field", default="")


def set_idempotency_key(key: str | None) -> Token[tuple[str, set[bytes]] | None]:
    """From here on in this task, writes derive their nonces from `key` (a request's
    `Idempotency-Key` header); each request runs in its own task, so it ends with the request."""
    return _KEY.set((key, set()) if key else None)


def current_idempotency_key() -> str | None:
    """The Idempotency-Key of the request being served, if it sent one."""
    current = _KEY.get()
    return None if current is None else current[0]


@contextlib.contextmanager
def idempotent(key: str | None) -> Iterator[None]:
    """Writes inside the block derive their nonces from `key`."""
    token = set_idempotency_key(key)
    try:
        yield
    finally:
        _KEY.reset(token)


@contextlib.contextmanager
def mutation_field(name: str) -> Iterator[None]:
    """Writes inside the block belong to the mutation field `name` (its response key), so a
    document with two aliased `recordDonation` fields under one key writes two gifts, and its
    retry neither (heartchain.schema wraps every mutation field in this)."""
    token = _FIELD.set(name)
    try:
        yield
    finally:
        _FIELD.reset(token)


def idempotent_nonce(kind: str, signer: str, purpose: str = "") -> bytes | None:
    """The nonce of the write (`kind` by `signer` for `purpose`) under the current key, the same
    on every retry; None when the request has no key (a random nonce then)."""
    current = _KEY.get()
    if current is None:
        return None
    key = current[0]
    # JSON keeps the parts apart whatever characters a client's key contains.
    material = json.dumps(["heartchain/idempotency/v2", key, _FIELD.get(), signer, kind,
                           purpose]).encode()
    return hashlib.sha256(material).digest()[:16]


def claim(nonce: bytes | None) -> None:
    """Note that a write of this request used `nonce`. A second write with the same nonce in
    one request is a bug (two writes of one kind by one signer need distinct purposes): it would
    silently answer the first write's entry instead of writing its own."""
    current = _KEY.get()
    if current is None or nonce is None:
        return
    if nonce in current[1]:
        raise RuntimeError("two writes of one request derived the same idempotent nonce: give "
                           "each a distinct purpose")
    current[1].add(nonce)
