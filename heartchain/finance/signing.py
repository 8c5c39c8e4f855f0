"""Signing the import's own entries, a chunk at a time, one chunk ahead of the appends.

The import builds every body itself from checked rows (heartchain.finance.rows) and its own
keys, so it takes the signed-body shortcut of Platform.write / Log.append_all: the body is not
encoded and decoded again to be checked (each field is already what decoding would give: a
slug that matched the Slug pattern, fen in 1..MAX_FEN, a hex HMAC reference, a `format_time`
time, addresses encoded from keys), and the signatures are not verified again. `verify` still
re-reads and re-checks every entry from its bytes.

A chunk's entries share one `at`, the time the chunk is signed: it is appended moments later,
in one transaction, so one clock reading serves every entry (well inside the log's clock skew).

Signing (Ed25519 and the canonical bytes) is a fifth of an import's CPU and depends on nothing
but the bodies and keys, so for a large file the import's worker process
(heartchain.finance.worker) signs the next chunk while this process appends the current one: it
gets each chunk's distinct keys as seeds and sends back the signed entries.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Sequence
from typing import Any

from heartchain.finance.worker import ImportWorker
from heartchain.keys import SigningKey
from heartchain.ledger.body import Body, wire
from heartchain.ledger.entries import NONCE_BYTES, Entry

Unsigned = tuple[str, dict[str, Any], int]  # kind, wire body, position of its key in the seeds


def sign_set(items: Sequence[tuple[Body, SigningKey]], at: str) -> list[tuple[Entry, Body]]:
    """Each body as an entry at `at`, signed by its key (one signer per body), with a fresh
    nonce; in the order given, each beside its body for Log.append_all."""
    unsigned, keys = _unsigned(items)
    return list(zip(_sign(unsigned, keys, at), (body for body, _ in items), strict=True))


def _unsigned(items: Sequence[tuple[Body, SigningKey]]
              ) -> tuple[list[Unsigned], list[SigningKey]]:
    """The bodies as wire dicts, each naming its key by position in the chunk's distinct keys."""
    position: dict[bytes, int] = {}
    keys: list[SigningKey] = []
    unsigned: list[Unsigned] = []
    for body, key in items:
        seed = bytes(key)
        if seed not in position:
            position[seed] = len(keys)
            keys.append(key)
        unsigned.append((body.KIND, wire(body), position[seed]))
    return unsigned, keys


def _sign_from_seeds(unsigned: list[Unsigned], seeds: list[bytes], at: str) -> list[Entry]:
    """The worker's side: each key expanded once per chunk, from its seed."""
    return _sign(unsigned, [SigningKey(seed) for seed in seeds], at)


def _sign(unsigned: list[Unsigned], keys: list[SigningKey], at: str) -> list[Entry]:
    nonces = os.urandom(NONCE_BYTES * len(unsigned))
    signed: list[Entry] = []
    for position, (kind, body, key) in enumerate(unsigned):
        nonce = base64.b64encode(nonces[position * NONCE_BYTES:(position + 1) * NONCE_BYTES])
        entry = Entry(kind, at, nonce.decode(), body).signed_by(keys[key])
        # Not needed after signing (the shortcut verifies nothing), so not sent back; the leaf
        # hash is, computed here rather than in the appending process.
        entry.__dict__.pop("signing_bytes", None)
        entry.leaf_hash  # noqa: B018
        signed.append(entry)
    return signed


def begin(worker: ImportWorker, items: Sequence[tuple[Body, SigningKey]], at: str, *,
          now: bool = False) -> Pending:
    """Start signing `items` at `at`: in the worker when there is one, else here and now;
    await the result's `signed()`. `now`: the set is needed at once (the first chunk, with
    nothing to append meanwhile), so this process signs its first half while the worker signs
    the rest."""
    if not worker.forked:
        return Pending(sign_set(items, at))
    here = len(items) // 2 if now else 0
    unsigned, keys = _unsigned(items[here:])
    return Pending(sign_set(items[:here], at), [body for body, _ in items[here:]],
                   worker.run(_sign_from_seeds, unsigned, [bytes(key) for key in keys], at))


class Pending:
    """A chunk being signed: the part signed here, and the bodies of the part the worker signs
    with the future of its entries."""

    def __init__(self, done: list[tuple[Entry, Body]], bodies: Sequence[Body] = (),
                 future: asyncio.Future[list[Entry]] | None = None) -> None:
        self._done = done
        self._bodies = bodies
        self._future = future

    async def signed(self) -> list[tuple[Entry, Body]]:
        if self._future is not None:
            self._done += zip(await self._future, self._bodies, strict=True)
            self._future = None
        return self._done

    def discard(self) -> None:
        """Not needed after all (the chunk before it was refused, so it must be built again)."""
        if self._future is not None:
            self._future.cancel()
