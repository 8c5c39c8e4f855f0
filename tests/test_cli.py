from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

from heartchain.keys import verify_key_of
from heartchain.settings import sqlite_url
from tests.servers import cli_env, run_cli


def test_init_prints_keys_once_and_is_idempotent(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "data", sqlite_url(tmp_path / "data" / "hc.sqlite3"))
    first = run_cli(env, "init")
    assert first.returncode == 0, first.stderr
    assert "operator token:   hct_" in first.stdout
    assert "log verifier key: heartchain.localhost/log+" in first.stdout
    for name in ("log.key", "master.key"):
        assert stat.S_IMODE((tmp_path / "data" / name).stat().st_mode) == 0o600
    second = run_cli(env, "init")
    assert second.returncode == 0
    assert "hct_" not in second.stdout and "already existed" in second.stdout
    verify = run_cli(env, "verify")
    assert verify.returncode == 0, verify.stderr
    assert "verified 1 entries" in verify.stdout


def test_verify_names_an_edited_row_and_exits_non_zero(tmp_path: Path) -> None:
    database = tmp_path / "data" / "hc.sqlite3"
    env = cli_env(tmp_path / "data", sqlite_url(database))
    assert run_cli(env, "init").returncode == 0
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE account SET label = 'someone else' WHERE registered_idx = 0")
    for workers in ("0", "2"):  # checked in this process, and in two worker processes
        result = run_cli(env, "verify", "--workers", workers)
        assert result.returncode == 1
        assert "verify FAILED: account.label" in result.stderr
        assert "expected 'heartchain operator', found 'someone else'" in result.stderr


def test_keygen_writes_a_private_key_file(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "data", "")
    result = run_cli(env, "keygen", "--out", str(tmp_path / "me.key"))
    assert result.returncode == 0
    address = result.stdout.split("address: ")[1].split()[0]
    verify_key_of(address)
    assert stat.S_IMODE((tmp_path / "me.key").stat().st_mode) == 0o600
    again = run_cli(env, "keygen", "--out", str(tmp_path / "me.key"))
    assert again.returncode == 2 and "exists" in again.stderr  # never overwrites a secret
    note = run_cli(env, "keygen", "--note", "witness.example/w1", "--out", str(tmp_path / "w.key"))
    assert "verifier key: witness.example/w1+" in note.stdout


def test_serve_without_init_explains(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "nothing", "")
    result = run_cli(env, "serve")
    assert result.returncode == 2
    assert "run `heartchain init` first" in result.stderr


def test_audit_checks_a_published_checkpoint(tmp_path: Path) -> None:
    database = tmp_path / "data" / "hc.sqlite3"
    env = cli_env(tmp_path / "data", sqlite_url(database))
    assert run_cli(env, "init").returncode == 0
    with sqlite3.connect(database) as conn:
        note = conn.execute("SELECT note FROM log_checkpoint ORDER BY size DESC").fetchone()[0]
    published = tmp_path / "checkpoint.txt"
    published.write_text(note)
    ok = run_cli(env, "audit", "--checkpoint", str(published))
    assert ok.returncode == 0, ok.stderr
    published.write_text(note.replace("\n1\n", "\n2\n", 1))
    forged = run_cli(env, "audit", "--checkpoint", str(published))
    assert forged.returncode == 1
    assert "audit FAILED" in forged.stderr
