"""The witness's own SQLite store: the latest cosigned checkpoint per log, and evidence.

A witness is a separate process run by a partner institution, so it keeps its own small
database (plain `sqlite3`), not the log's. C2SP tlog-witness asks two things of it:

- persist the new checkpoint before answering: commits are durable (WAL, `synchronous=FULL`);
- check the old size and store the new checkpoint atomically: `transaction()` holds a process
  lock and SQLite's write lock (`BEGIN IMMEDIATE`) from the read to the commit, so two racing
  requests can never roll the recorded size back.

Evidence rows keep both signed notes whenever the log showed two views that cannot both be
true (a failed consistency proof, or two roots for one size), so anyone can check them later.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from heartchain.files import private_sqlite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS latest (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    note TEXT NOT NULL,
    cosigned_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS evidence (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    kind TEXT NOT NULL,
    observed_at INTEGER NOT NULL,
    old_size INTEGER NOT NULL,
    cosigned_note TEXT NOT NULL,
    submitted_note TEXT NOT NULL,
    proof TEXT NOT NULL,
    detail TEXT NOT NULL,
    digest BLOB NOT NULL UNIQUE
);
"""


@dataclass(frozen=True)
class Latest:
    origin: str
    size: int
    root: bytes
    note: str
    cosigned_at: int


@dataclass(frozen=True)
class Evidence:
    id: int
    origin: str
    kind: str  # "inconsistent" (the proof failed) or "fork" (two roots for one size)
    observed_at: int
    old_size: int
    cosigned_note: str  # what the witness had cosigned
    submitted_note: str  # what the log then signed
    proof: str  # the consistency proof it sent, base64 lines
    detail: str


class Transaction:
    """Reads and writes inside one `BEGIN IMMEDIATE` transaction."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def latest(self, origin: str) -> Latest | None:
        row = self._db.execute("SELECT origin, size, root, note, cosigned_at FROM latest "
                               "WHERE origin = ?", (origin,)).fetchone()
        return None if row is None else Latest(row[0], row[1], bytes(row[2]), row[3], row[4])

    def set_latest(self, latest: Latest) -> None:
        self._db.execute(
            "INSERT INTO latest (origin, size, root, note, cosigned_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, "
            "note = excluded.note, cosigned_at = excluded.cosigned_at",
            (latest.origin, latest.size, latest.root, latest.note, latest.cosigned_at))

    def add_evidence(self, *, origin: str, kind: str, observed_at: int, old_size: int,
                     cosigned_note: str, submitted_note: str, proof: str, detail: str) -> None:
        # A log retrying the same bad checkpoint adds nothing new: keep one row per view pair.
        digest = hashlib.sha256("\0".join(
            (origin, kind, cosigned_note, submitted_note, proof)).encode()).digest()
        self._db.execute(
            "INSERT OR IGNORE INTO evidence (origin, kind, observed_at, old_size, cosigned_note, "
            "submitted_note, proof, detail, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (origin, kind, observed_at, old_size, cosigned_note, submitted_note, proof, detail,
             digest))


class WitnessStore:
    def __init__(self, path: Path | str) -> None:
        # One connection shared by the server's threads; `_lock` serialises its use.
        if str(path) != ":memory:":
            private_sqlite(Path(path))
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.executescript(_SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Atomic check-and-update: commit on normal exit (even a refusal keeps its evidence),
        roll back if the block raises."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def latest(self) -> list[Latest]:
        with self._lock:
            rows = self._db.execute("SELECT origin, size, root, note, cosigned_at FROM latest "
                                    "ORDER BY origin").fetchall()
        return [Latest(r[0], r[1], bytes(r[2]), r[3], r[4]) for r in rows]

    def evidence(self, origin: str | None = None, limit: int = 100) -> list[Evidence]:
        query = ("SELECT id, origin, kind, observed_at, old_size, cosigned_note, submitted_note,"
                 " proof, detail FROM evidence")
        values: tuple[object, ...] = ()
        if origin is not None:
            query += " WHERE origin = ?"
            values = (origin,)
        query += " ORDER BY id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*values, limit)).fetchall()
        return [Evidence(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
