"""Files only their owner may read: data directories 0700; SQLite stores, keys and configs 0600.

SQLite creates a database's -wal and -shm files with the database file's own mode, so creating
the database file 0600 before the first connection keeps all three private.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def private_dir(path: Path, *, ours: tuple[str, ...] = ()) -> None:
    """Create `path` 0700 (and its missing parents). An existing directory is tightened only
    when it already holds one of `ours` (a data directory made by an older version): never
    chmod a directory the operator merely pointed us at."""
    if not path.exists():
        path.mkdir(parents=True, mode=PRIVATE_DIR)
        path.chmod(PRIVATE_DIR)  # mkdir's mode is masked by the umask
    elif any((path / name).exists() for name in ours):
        path.chmod(PRIVATE_DIR)


def private_sqlite(path: Path) -> None:
    """Create the SQLite database file 0600 if missing; make it and its -wal/-shm 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    for suffix in SQLITE_SUFFIXES:
        sibling = path.with_name(path.name + suffix)
        if sibling.exists():
            sibling.chmod(PRIVATE_FILE)


def private_sqlite_url(url: str) -> None:
    """private_sqlite for a tortoise `sqlite://` URL (not `:memory:`); other URLs: nothing."""
    if not url.startswith("sqlite://"):
        return
    path = urlsplit(url).path if url.startswith("sqlite:///") else url[len("sqlite://"):]
    path = path.split("?", 1)[0]
    if path and path != ":memory:":
        private_sqlite(Path(path))


def write_private_text(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (a temporary file, then rename), mode 0600."""
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    temporary.chmod(PRIVATE_FILE)
    temporary.replace(path)
