"""Witness benchmark: checkpoints cosigned per second by one witness, beside the cost of
verifying the same notes and proofs in-process, as ratios.

    python bench/witness.py [--n 1000000] [--checkpoints 1000] [--json]

A log of --n leaves is built in memory (merkle.CompactRange, every level's hashes kept, so any
consistency proof can be read); --checkpoints signed checkpoints spread over its second half
are submitted in order, each with the consistency proof from the one before (tlog-witness
`old`), to:

- witness_http: a real `heartchain witness serve` process over loopback HTTP (keep-alive,
  one request at a time, as a log submits): parse, verify the log signature and the proof,
  durable SQLite commit, cosign;
- witness_core: the same decision in-process (`Witness.add_checkpoint`), no HTTP;

against the baselines: `open_note` + `verify_consistency` of the same notes and proofs
in-process (the checking a witness must do), and a raw sqlite3 durable commit per checkpoint
(the persisting it must do before answering).
"""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from figures import figure, report

from heartchain.ledger import merkle
from heartchain.ledger.notes import (
    Checkpoint,
    NoteSigner,
    open_note,
    sign_note,
)
from heartchain.witness.config import init_witness
from heartchain.witness.protocol import format_request
from heartchain.witness.server import Witness
from heartchain.witness.store import WitnessStore

ORIGIN = "bench.heartchain.example/log"
ROOT = Path(__file__).resolve().parents[1]



class MemoryTree:
    """All perfect-subtree hashes of a tree, one packed bytearray per level."""

    def __init__(self, n: int) -> None:
        self.levels: list[bytearray] = [bytearray() for _ in range(max(n, 1).bit_length() + 1)]
        compact = merkle.CompactRange()
        for i in range(n):
            for (level, _), digest in compact.append(merkle.leaf_hash(i.to_bytes(8, "big"))):
                self.levels[level] += digest

    def node(self, level: int, index: int) -> bytes:
        return bytes(self.levels[level][index * 32:(index + 1) * 32])

    def root(self, size: int) -> bytes:
        return merkle.fold_range([self.node(*n) for n in merkle.range_nodes(size)])

    def consistency(self, old: int, new: int) -> list[bytes]:
        if old == 0 or old == new:
            return []
        nodes = merkle.consistency_nodes(old, new)
        return [bytes(h) for h in nodes.rehash([self.node(*n) for n in nodes.ids])]


@dataclass
class Prepared:
    tree_seconds: float
    signer: NoteSigner
    sizes: list[int]
    roots: list[bytes]
    notes: list[str]
    proofs: list[list[bytes]]
    bodies: list[bytes]

    @property
    def mean_proof_hashes(self) -> float:
        return sum(len(p) for p in self.proofs[1:]) / max(1, len(self.proofs) - 1)


def prepare(n: int, count: int) -> Prepared:
    started = time.perf_counter()
    tree = MemoryTree(n)
    built = time.perf_counter() - started
    step = max(1, n // (2 * count))
    sizes = [n - (count - 1 - j) * step for j in range(count)]
    if sizes[0] <= 0:
        raise SystemExit("--checkpoints too large for --n")
    signer = NoteSigner.generate(ORIGIN)
    roots = [tree.root(s) for s in sizes]
    notes = [sign_note(Checkpoint(ORIGIN, s, r).to_text(), signer)
             for s, r in zip(sizes, roots, strict=True)]
    proofs: list[list[bytes]] = [[]]
    proofs.extend(tree.consistency(sizes[j - 1], sizes[j]) for j in range(1, count))
    olds = [0, *sizes[:-1]]
    bodies = [format_request(o, p, note).encode()
              for o, p, note in zip(olds, proofs, notes, strict=True)]
    return Prepared(built, signer, sizes, roots, notes, proofs, bodies)


def bench_verify(data: Prepared) -> float:
    """The baseline: check each log signature and each consistency proof, nothing else."""
    verifier = data.signer.verifier
    started = time.perf_counter()
    for j, note in enumerate(data.notes):
        checkpoint = Checkpoint.from_text(open_note(note, [verifier]).text)
        if j:
            merkle.verify_consistency(data.sizes[j - 1], checkpoint.size, data.proofs[j],
                                      data.roots[j - 1], checkpoint.root_hash)
    return len(data.notes) / (time.perf_counter() - started)


def bench_commits(workdir: Path, count: int) -> float:
    """Another baseline: one durable single-row upsert per checkpoint, raw sqlite3, WAL and
    synchronous=FULL as the witness store runs; what "persist before answering" costs."""
    db = sqlite3.connect(workdir / "commits.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE latest (origin TEXT PRIMARY KEY, size INTEGER, root BLOB)")
    started = time.perf_counter()
    for i in range(count):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO latest VALUES ('o', ?, ?) ON CONFLICT (origin) DO UPDATE SET "
                   "size = excluded.size, root = excluded.root", (i, bytes(32)))
        db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    return count / elapsed


def bench_core(data: Prepared, workdir: Path) -> float:
    config = init_witness(workdir / "core", "bench.heartchain.example/w-core",
                          [data.signer.verifier_key])
    store = WitnessStore(config.database)
    witness = Witness(store, config.signer(), dict(config.logs))
    started = time.perf_counter()
    for body in data.bodies:
        reply = witness.add_checkpoint(body)
        if reply.status != 200:
            raise RuntimeError(f"witness refused: {reply.status} {reply.body}")
    elapsed = time.perf_counter() - started
    store.close()
    return len(data.bodies) / elapsed


def bench_http(data: Prepared, workdir: Path) -> float:
    directory = workdir / "http"
    init_witness(directory, "bench.heartchain.example/w-http", [data.signer.verifier_key])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "heartchain.witness.cli", "serve", "--dir", str(directory),
         "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=dict(os.environ),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=30) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if http.get(f"{url}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                time.sleep(0.05)
            started = time.perf_counter()
            for body in data.bodies:
                response = http.post(f"{url}/add-checkpoint", content=body)
                if response.status_code != 200:
                    raise RuntimeError(f"witness refused: {response.status_code} "
                                       f"{response.text}")
            elapsed = time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(10)
    return len(data.bodies) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="leaves in the log")
    parser.add_argument("--checkpoints", type=int, default=1000,
                        help="checkpoints submitted in order")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    data = prepare(args.n, args.checkpoints)
    verify_rate = bench_verify(data)
    with tempfile.TemporaryDirectory() as tmp:
        commit_rate = bench_commits(Path(tmp), args.checkpoints)
        core_rate = bench_core(data, Path(tmp))
        http_rate = bench_http(data, Path(tmp))
    verify = "in-process open_note + verify_consistency"
    commit = "raw sqlite3 durable commit (WAL, synchronous=FULL)"
    results = [
        figure("witness_http", http_rate, "cosigned/s", verify_rate, verify),
        figure("witness_core", core_rate, "cosigned/s", verify_rate, verify),
        figure("witness_core", core_rate, "cosigned/s", commit_rate, commit),
    ]
    context = {"n": args.n, "checkpoints": args.checkpoints,
               "tree_build_seconds": round(data.tree_seconds, 2),
               "mean_proof_hashes": round(data.mean_proof_hashes, 1)}
    report("witness", f"witness benchmark ({args.n:,}-leaf log built in "
           f"{context['tree_build_seconds']} s; {args.checkpoints:,} checkpoints, "
           f"{context['mean_proof_hashes']} proof hashes each)", results, as_json=args.json,
           **context)

if __name__ == "__main__":
    main()
