"""Signing the import's own entries, a chunk at a time.

The import builds every body itself from checked rows (heartchain.finance.rows) and its own
keys, so it takes the signed-body shortcut of Platform.write / Log.append_all: the body is not
encoded and decoded again to be checked (each field is already what decoding would give: a
slug that matched the Slug pattern, fen in 1..MAX_FEN, a hex HMAC reference, a `format_time`
time, addresses encoded from keys), and the signatures are not verified again. `verify` still
re-reads and re-checks every entry from its bytes.

A chunk's entries share one `at`, the time the chunk is signed: it is appended at once, in one
transaction, so one clock reading serves every entry (and saves formatting it per entry).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence

from heartchain.keys import SigningKey
from heartchain.ledger.body import Body, wire
from heartchain.ledger.entries import NONCE_BYTES, Entry


def sign_set(items: Sequence[tuple[Body, SigningKey]], at: str) -> list[tuple[Entry, Body]]:
    """Each body as an entry at `at`, signed by its key (one signer per body), with a fresh
    nonce; in the order given, each beside its body for Log.append_all."""
    nonces = os.urandom(NONCE_BYTES * len(items))
    signed: list[tuple[Entry, Body]] = []
    for position, (body, key) in enumerate(items):
        nonce = base64.b64encode(nonces[position * NONCE_BYTES:(position + 1) * NONCE_BYTES])
        entry = Entry(body.KIND, at, nonce.decode(), wire(body)).signed_by(key)
        signed.append((entry, body))
    return signed
