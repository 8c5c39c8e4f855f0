"""Ledger benchmarks: each figure printed beside its baseline, as a ratio, in one run.

    python bench/ledger.py [--n 20000] [--proof-size 1000000] [--json]

- appends: signed entries through the log (batched, rules checked, projections applied) vs the
  irreducible work for the same entries: PyNaCl-verify each signature, SHA-256 each leaf, raw
  sqlite3 executemany of the same rows into the same tables in one transaction.
- proofs: median inclusion and consistency proof read from stored tiles at --proof-size leaves
  (the tree's tiles are written directly; proofs read only tiles), against a 2 ms target.
- verify: `heartchain verify` over the appended log vs raw PyNaCl verification of its signatures
  in one process, timed just before and after it: as verify runs by default (the entries parsed
  and verified in one forked worker process per core, ahead of the replay), and all in one
  process (verify_one_process).
- memory: peak RSS of the whole run (appending and verifying --n entries), against 500 MB, and
  of the largest verify worker.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from figures import figure, report
from nacl.signing import SigningKey
from tortoise import Tortoise

from heartchain.accounts.services import initialise
from heartchain.clock import Clock
from heartchain.db import init_db
from heartchain.keys import address_of, verify_key_of
from heartchain.ledger import merkle
from heartchain.ledger.entries import Entry, new_entry, parse_entry
from heartchain.ledger.integrate import write_bare_tree
from heartchain.ledger.store import fetch
from heartchain.ledger.verify import verify_log
from heartchain.platform import Platform, build_platform
from heartchain.settings import Settings, sqlite_url

CHUNK = 10_000


def signed_entries(platform: Platform, n: int) -> list[Entry]:
    """Members registering their own keys: one signature, one projection row each."""
    entries = []
    now = platform.clock.now()
    for _ in range(n):
        key = SigningKey.generate()
        address = address_of(key)
        entries.append(new_entry("account.register", {"address": address, "role": "member",
                                                      "registrar": address}, at=now
                                 ).signed_by(key))
    return entries


class RawStore:
    """The irreducible work for the same entries: verify, hash, executemany into the same tables,
    all in one transaction."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=wal")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("CREATE TABLE log_entry (idx INTEGER PRIMARY KEY, leaf_hash BLOB, "
                          "data BLOB, kind TEXT, at TEXT, integrated_at TEXT)")
        self.conn.execute("CREATE TABLE log_entry_signer (id INTEGER PRIMARY KEY, address TEXT, "
                          "nonce TEXT, idx INTEGER, UNIQUE (address, nonce))")
        self.conn.execute("CREATE TABLE account (address TEXT PRIMARY KEY, role TEXT, "
                          "label TEXT, registrar TEXT, registered_idx INTEGER)")
        self.conn.execute("BEGIN")
        self.size = 0

    def add(self, entries: list[Entry]) -> float:
        start = time.perf_counter()
        rows, signers, accounts = [], [], []
        for entry in entries:
            index = self.size
            self.size += 1
            signature = entry.sigs[0]
            verify_key_of(signature.by).verify(entry.signing_bytes, signature.sig)
            leaf = hashlib.sha256(b"\x00" + entry.leaf_data).digest()
            rows.append((index, leaf, entry.leaf_data, entry.kind, entry.at, entry.at))
            signers.append((signature.by, entry.nonce, index))
            accounts.append((signature.by, "member", None, signature.by, index))
        self.conn.executemany("INSERT INTO log_entry VALUES (?, ?, ?, ?, ?, ?)", rows)
        self.conn.executemany("INSERT INTO log_entry_signer (address, nonce, idx) "
                              "VALUES (?, ?, ?)", signers)
        self.conn.executemany("INSERT INTO account VALUES (?, ?, ?, ?, ?)", accounts)
        return time.perf_counter() - start

    def commit(self) -> float:
        start = time.perf_counter()
        self.conn.execute("COMMIT")
        self.conn.close()
        return time.perf_counter() - start


def raw_verify(entries: list[Entry]) -> float:
    start = time.perf_counter()
    for entry in entries:
        verify_key_of(entry.sigs[0].by).verify(entry.signing_bytes, entry.sigs[0].sig)
    return time.perf_counter() - start


async def raw_verify_stored(platform: Platform) -> float:
    """Seconds to verify every stored entry's signatures with raw PyNaCl (addresses decoded
    cold), a chunk at a time; reading and parsing the entries is not timed."""
    conn = platform.log.reader.connection()
    size = await platform.log.size()
    seconds = 0.0
    for start in range(0, size, CHUNK):
        rows = await fetch(conn, "SELECT data FROM log_entry WHERE idx >= ? AND idx < ? "
                           "ORDER BY idx", [start, start + CHUNK])
        entries = [parse_entry(bytes(row["data"])) for row in rows]
        for entry in entries:
            entry.signing_bytes  # noqa: B018  (computed untimed, as for the appended copies)
        verify_key_of.cache_clear()
        seconds += raw_verify(entries)
    return seconds


async def bench_appends_and_verify(n: int, workdir: Path) -> list[dict[str, object]]:
    settings = Settings(data_dir=workdir / "data", db_url=sqlite_url(workdir / "bench.sqlite3"))
    platform = build_platform(settings, clock=Clock(), create_keys=True)
    await init_db(settings.database_url)
    await initialise(platform)
    raw = RawStore(workdir / "raw.sqlite3")
    append_seconds = raw_seconds = 0.0
    # Entries are made a chunk at a time, so peak memory is the log's, not the benchmark's input.
    for start in range(0, n, CHUNK):
        entries = signed_entries(platform, min(CHUNK, n - start))
        # Fresh copies for the baseline, so cached properties don't flatter either side.
        copies = [Entry(e.kind, e.at, e.nonce, e.body, e.sigs) for e in entries]
        # Each side decodes the addresses from cold: whichever ran second would otherwise find
        # them in verify_key_of's cache and look faster than it is.
        verify_key_of.cache_clear()
        raw_seconds += raw.add(copies)
        verify_key_of.cache_clear()
        began = time.perf_counter()
        outcomes = await platform.log.append_now(entries)
        append_seconds += time.perf_counter() - began
        failures = [o for o in outcomes if isinstance(o, Exception)]
        if failures:
            raise SystemExit(f"appends failed: {failures[0]}")
    raw_seconds += raw.commit()

    # `heartchain verify` as it runs by default (entries checked in one worker process per core
    # beside the replay), then all in one process; the baseline is one process either way, timed
    # just before and just after each run (their mean), so that a shared machine's load changing
    # between the appends and verify does not skew the ratio.
    verify_figures = []
    for name, workers in (("verify", None), ("verify_one_process", 0)):
        raw_before = await raw_verify_stored(platform)
        verify_key_of.cache_clear()
        began = time.perf_counter()
        checked = await verify_log(platform.log, scratch_dir=workdir, workers=workers)
        verify_seconds = time.perf_counter() - began
        raw_seconds_around = (raw_before + await raw_verify_stored(platform)) / 2
        processes = f"{checked.workers} worker processes + main" if checked.workers \
            else "one process"
        verify_figures.append(figure(name, checked.entries / verify_seconds, "entries/s",
                                     checked.entries / raw_seconds_around,
                                     f"raw PyNaCl verify, one process, timed around it; "
                                     f"verify: {processes}"))
    await Tortoise.close_connections()
    return [
        figure("appends", n / append_seconds, "entries/s", n / raw_seconds,
               "verify+sha256+sqlite3 executemany"),
        figure("appends_absolute", n / append_seconds, "entries/s", 3000.0, "target 3,000/s"),
        *verify_figures,
    ]


async def bench_proofs(size: int, workdir: Path, samples: int = 200) -> list[dict[str, object]]:
    """Write the tiles of a `size`-leaf tree directly, then time proofs read from them."""
    import random

    settings = Settings(data_dir=workdir / "proofdata",
                        db_url=sqlite_url(workdir / "proofs.sqlite3"))
    platform = build_platform(settings, clock=Clock(), create_keys=True)
    await init_db(settings.database_url)
    frontier = await write_bare_tree(
        platform.log.reader.connection(),
        (hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(size)))
    rng = random.Random(1)
    inclusion, consistency = [], []
    root = frontier.root()
    for _ in range(samples):
        index = rng.randrange(size)
        start = time.perf_counter()
        proof = await platform.log.inclusion_proof(index, size)
        inclusion.append(time.perf_counter() - start)
        leaf = hashlib.sha256(index.to_bytes(8, "big")).digest()
        merkle.verify_inclusion(leaf, index, size, proof, root)
        old = rng.randrange(1, size)
        start = time.perf_counter()
        await platform.log.consistency_proof(old, size)
        consistency.append(time.perf_counter() - start)
    await Tortoise.close_connections()
    target = 2.0
    return [
        figure("inclusion_proof_median", statistics.median(inclusion) * 1000, "ms", target,
               f"target {target} ms at {size:,} leaves", higher_is_better=False),
        figure("consistency_proof_median", statistics.median(consistency) * 1000, "ms", target,
               f"target {target} ms at {size:,} leaves", higher_is_better=False),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="entries to append and verify")
    parser.add_argument("--proof-size", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        results = asyncio.run(bench_appends_and_verify(args.n, workdir))
        results += asyncio.run(bench_proofs(args.proof_size, workdir))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results.append(figure("peak_memory", peak_mb, "MB", 500.0, "target 500 MB",
                          higher_is_better=False))
    # verify's workers are forked: their resident pages are mostly shared with this process.
    worker_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if worker_mb:  # none for a log too small for workers
        results.append(figure("peak_memory_verify_worker", worker_mb, "MB", 500.0,
                              "target 500 MB (the largest worker, shared pages included)",
                              higher_is_better=False))
    report("ledger", f"ledger benchmarks (n={args.n:,}, proofs at {args.proof_size:,} leaves)",
           results, as_json=args.json, n=args.n, proof_size=args.proof_size)

if __name__ == "__main__":
    main()
