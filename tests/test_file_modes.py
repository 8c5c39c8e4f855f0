"""Data directories are 0700 and every file in them 0600 (keys, the SQLite store and its
-wal/-shm, the witness's key, config and store), whatever the umask."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from heartchain.ledger.notes import NoteSigner
from heartchain.settings import sqlite_url
from tests.servers import cli_env, run_cli


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default, which made them 0644 / 0755
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("loose_umask")
def test_init_makes_the_data_dir_and_store_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    database = data / "heartchain.sqlite3"
    env = cli_env(data, "")
    del env["HEARTCHAIN_DB_URL"]  # the default store, in the data dir
    done = run_cli(env, "init")
    assert done.returncode == 0, done.stderr
    assert mode(data) == 0o700
    for name in ("log.key", "master.key", "heartchain.sqlite3"):
        assert mode(data / name) == 0o600, name
    # SQLite gives the -wal and -shm files the database file's mode.
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA journal_mode=wal")
        db.execute("CREATE TABLE probe (x)")
        for suffix in ("-wal", "-shm"):
            assert mode(database.with_name(database.name + suffix)) == 0o600, suffix


@pytest.mark.usefixtures("loose_umask")
def test_a_store_made_before_is_tightened_when_served(tmp_path: Path) -> None:
    from heartchain.files import private_sqlite_url

    database = tmp_path / "old.sqlite3"
    sqlite3.connect(database).close()
    database.chmod(0o644)
    private_sqlite_url(sqlite_url(database))
    assert mode(database) == 0o600


@pytest.mark.usefixtures("loose_umask")
def test_witness_init_makes_its_dir_and_files_private(tmp_path: Path) -> None:
    witness = tmp_path / "w1"
    log_key = NoteSigner.generate("heartchain.localhost/log").verifier_key
    env = cli_env(tmp_path / "data", sqlite_url(tmp_path / "hc.sqlite3"))
    done = run_cli(env, "witness", "init", "--dir", str(witness), "--name",
                   "witness.example.org/w1", "--log", log_key)
    assert done.returncode == 0, done.stderr
    assert mode(witness) == 0o700
    names = sorted(p.name for p in witness.iterdir())
    assert {"witness.key", "witness.json", "witness.sqlite3"} <= set(names), names
    for path in witness.iterdir():
        assert mode(path) == 0o600, path.name
