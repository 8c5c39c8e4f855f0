"""Configuration from the environment (DESIGN §7).

| variable                      | default                                     |
|-------------------------------|---------------------------------------------|
| HEARTCHAIN_DATA_DIR           | ./data                                      |
| HEARTCHAIN_DB_URL             | sqlite://<data dir>/heartchain.sqlite3      |
| HEARTCHAIN_LOG_ORIGIN         | heartchain.localhost/log                    |
| HEARTCHAIN_BATCH_PERIOD_MS    | 20                                          |
| HEARTCHAIN_BATCH_SIZE         | 256                                         |
| HEARTCHAIN_MASTER_KEY         | (unset: <data dir>/master.key, 0600)        |
| HEARTCHAIN_PUBLIC_URL         | http://127.0.0.1:8000 (serve: the served origin) |
| HEARTCHAIN_DB_BUSY_TIMEOUT_MS | 5000 (SQLite: how long to wait for a lock)  |
| HEARTCHAIN_WRITE_TIMEOUT_MS   | 10000 (how long an entry may wait queued)   |
| HEARTCHAIN_WITNESSES          | (unset: no witnesses) name=url|key,...      |
| HEARTCHAIN_WITNESS_POLICY     | (unset: all of them) how many must cosign   |
| HEARTCHAIN_WITNESS_TIMEOUT    | 10 (seconds per request to a witness)       |
| HEARTCHAIN_WITNESS_INTERVAL   | 0.25 (seconds between requests to a witness, at least) |
| HEARTCHAIN_REDIS_URL          | (unset: rate limits per worker process)     |
| HEARTCHAIN_REDIS_PREFIX       | heartchain: (keys in that Redis start so)   |
| HEARTCHAIN_STATIC_TILES_DIR   | (unset: off) full tiles written there as files |

The two timeouts bound every wait on the database: past them the request gets 503 with
Retry-After (heartchain/unavailable.py) instead of hanging behind a held lock.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    db_url: str = ""
    log_origin: str = "heartchain.localhost/log"
    batch_period_ms: int = 20
    batch_size: int = 256
    master_key: str | None = field(default=None, repr=False)
    public_url: str = "http://127.0.0.1:8000"
    db_busy_timeout_ms: int = 5000
    write_timeout_ms: int = 10000
    # The log's witnesses (heartchain/ledger/witness_policy.py parses them).
    witnesses: str = ""
    witness_policy: int | None = None  # None: every configured witness must cosign
    witness_timeout_s: float = 10.0
    witness_interval_s: float = 0.25  # the call rate the log declares: 4 per witness per second
    redis_url: str = field(default="", repr=False)  # it may carry a password
    redis_prefix: str = "heartchain:"
    # Where full tiles and entry bundles are published as files (ledger/static_tiles.py).
    static_tiles_dir: str = ""

    @property
    def database_url(self) -> str:
        url = self.db_url or sqlite_url(self.data_dir / "heartchain.sqlite3",
                                        busy_timeout_ms=self.db_busy_timeout_ms)
        if url.startswith("sqlite://") and "busy_timeout=" not in url:
            url += ("&" if "?" in url else "?") + f"busy_timeout={self.db_busy_timeout_ms}"
        return url

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            data_dir=Path(env.get("HEARTCHAIN_DATA_DIR", "data")),
            db_url=env.get("HEARTCHAIN_DB_URL", ""),
            log_origin=env.get("HEARTCHAIN_LOG_ORIGIN", cls.log_origin),
            batch_period_ms=int(env.get("HEARTCHAIN_BATCH_PERIOD_MS", cls.batch_period_ms)),
            batch_size=int(env.get("HEARTCHAIN_BATCH_SIZE", cls.batch_size)),
            master_key=env.get("HEARTCHAIN_MASTER_KEY") or None,
            public_url=env.get("HEARTCHAIN_PUBLIC_URL", cls.public_url).rstrip("/"),
            db_busy_timeout_ms=int(env.get("HEARTCHAIN_DB_BUSY_TIMEOUT_MS",
                                           cls.db_busy_timeout_ms)),
            write_timeout_ms=int(env.get("HEARTCHAIN_WRITE_TIMEOUT_MS", cls.write_timeout_ms)),
            witnesses=env.get("HEARTCHAIN_WITNESSES", ""),
            witness_policy=int(env["HEARTCHAIN_WITNESS_POLICY"])
            if env.get("HEARTCHAIN_WITNESS_POLICY", "").strip() else None,
            witness_timeout_s=float(env.get("HEARTCHAIN_WITNESS_TIMEOUT")
                                    or cls.witness_timeout_s),
            witness_interval_s=float(env.get("HEARTCHAIN_WITNESS_INTERVAL", "").strip()
                                     or cls.witness_interval_s),
            redis_url=env.get("HEARTCHAIN_REDIS_URL", ""),
            redis_prefix=env.get("HEARTCHAIN_REDIS_PREFIX", cls.redis_prefix),
            static_tiles_dir=env.get("HEARTCHAIN_STATIC_TILES_DIR", "").strip(),
        )


def sqlite_url(path: Path, *, busy_timeout_ms: int | None = 5000) -> str:
    """WAL: readers never block the one writer; a busy timeout lets a second process wait its
    turn, a few seconds at most (None: leave it to HEARTCHAIN_DB_BUSY_TIMEOUT_MS)."""
    url = f"sqlite://{path}?journal_mode=wal&synchronous=NORMAL"
    return url if busy_timeout_ms is None else f"{url}&busy_timeout={busy_timeout_ms}"
