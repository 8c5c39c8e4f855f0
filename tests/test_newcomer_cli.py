"""A newcomer's first hour with the CLI: serve on any port, a busy port, a lost token, --help,
verify's summary and progress (issue 16)."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from heartchain.cli import build_parser
from heartchain.demo_cli import demo_witness_ports
from heartchain.progress import ProgressBar
from heartchain.serving import ENV_PUBLIC_URL, port_in_use, served_origin, settle_public_url
from heartchain.settings import sqlite_url
from tests.servers import cli_env, free_port, run_cli


def test_public_url_defaults_to_the_served_origin() -> None:
    env: dict[str, str] = {}
    assert settle_public_url(env, "127.0.0.1", 8400) is None
    assert env[ENV_PUBLIC_URL] == "http://127.0.0.1:8400"
    everywhere: dict[str, str] = {}
    warning = settle_public_url(everywhere, "0.0.0.0", 8400)
    assert everywhere[ENV_PUBLIC_URL] == "http://127.0.0.1:8400"
    assert warning and ENV_PUBLIC_URL in warning
    assert served_origin("::1", 9000) == "http://[::1]:9000"


def test_an_explicit_public_url_that_differs_is_kept_with_a_warning() -> None:
    env = {ENV_PUBLIC_URL: "http://127.0.0.1:8000"}
    warning = settle_public_url(env, "127.0.0.1", 8400)
    assert env[ENV_PUBLIC_URL] == "http://127.0.0.1:8000"
    assert warning and "http://127.0.0.1:8000" in warning and ":8400" in warning
    same = {ENV_PUBLIC_URL: "http://localhost:8400/"}
    assert settle_public_url(same, "127.0.0.1", 8400) is None


def test_witness_ports_follow_the_port_or_the_option() -> None:
    parser = build_parser()
    assert demo_witness_ports(parser.parse_args(["demo", "--port", "8040"])) == (8141, 8142)
    assert demo_witness_ports(parser.parse_args(["demo"])) == (8101, 8102)
    chosen = parser.parse_args(["demo", "--witness-ports", "9001,9002"])
    assert demo_witness_ports(chosen) == (9001, 9002)
    for bad in ("9001", "9001,9001", "a,b", "0,70000"):
        with pytest.raises(SystemExit):
            parser.parse_args(["demo", "--witness-ports", bad])


def test_help_lists_every_command_and_attest_has_its_own() -> None:
    help_text = subprocess.run([sys.executable, "-m", "heartchain.cli", "--help"],
                               capture_output=True, text=True, check=True).stdout
    for command in ("init", "serve", "demo", "verify", "audit", "attest", "token", "keygen",
                    "witness"):
        assert command in help_text
    attest = subprocess.run([sys.executable, "-m", "heartchain.cli", "attest", "--help"],
                            capture_output=True, text=True, check=True).stdout
    assert "verify" in attest and "rest" not in attest


def test_a_second_serve_on_a_busy_port_is_one_line_and_non_zero(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "data", sqlite_url(tmp_path / "data" / "hc.sqlite3"))
    assert run_cli(env, "init").returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert port_in_use("127.0.0.1", port)
        result = run_cli(env, "serve", "--port", str(port), timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"heartchain serve: 127.0.0.1:{port} is already in use "
                                     "(is another heartchain serving there?)")
    assert "Traceback" not in result.stderr
    assert port_in_use("127.0.0.1", free_port()) is None


def test_token_issue_gives_a_working_token_once(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "data", sqlite_url(tmp_path / "data" / "hc.sqlite3"))
    init = run_cli(env, "init")
    operator = init.stdout.split("operator address: ")[1].split()[0]
    by_label = run_cli(env, "token", "issue", "--account", "heartchain operator")
    assert by_label.returncode == 0, by_label.stderr
    token = by_label.stdout.split("token:   ")[1].split()[0]
    assert token.startswith("hct_") and operator in by_label.stdout
    by_address = run_cli(env, "token", "issue", "--account", operator)
    assert by_address.returncode == 0 and token not in by_address.stdout  # a new one each time
    check = subprocess.run([sys.executable, "-c", (
        "import asyncio, sys\n"
        "from tortoise import Tortoise\n"
        "from heartchain.settings import Settings\n"
        "from heartchain.db import init_db\n"
        "from heartchain.accounts.services import authenticate\n"
        "from heartchain.platform import build_platform\n"
        "async def main():\n"
        "    settings = Settings.from_env()\n"
        "    await init_db(settings.database_url, create_schema=False)\n"
        "    account = await authenticate(build_platform(settings), sys.argv[1])\n"
        "    print(account.role if account else 'none')\n"
        "    await Tortoise.close_connections()\n"
        "asyncio.run(main())\n"), token], env=env, capture_output=True, text=True, check=False)
    assert check.stdout.strip() == "operator", check.stderr
    missing = run_cli(env, "token", "issue", "--account", "nobody")
    assert missing.returncode == 2 and "no account" in missing.stderr
    elsewhere = run_cli(cli_env(tmp_path / "empty", ""), "token", "issue", "--account", "x")
    assert elsewhere.returncode == 2 and "log.key" in elsewhere.stderr


def test_verify_prints_a_summary_not_a_dict(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "data", sqlite_url(tmp_path / "data" / "hc.sqlite3"))
    assert run_cli(env, "init").returncode == 0
    result = run_cli(env, "verify")
    assert result.returncode == 0, result.stderr
    assert "{" not in result.stdout
    assert "projection rows in" in result.stdout and " rows" in result.stdout


def test_progress_ends_each_phase_at_its_last_count() -> None:
    out = io.StringIO()
    bar = ProgressBar("replay", stream=out)
    bar.update(10, 25, "replay")
    bar.update(25, 25, "replay")
    for n in (1000, 2000, 2345):  # a phase without a total; 2345 comes too soon to draw
        bar.update(n, None, "account")
    bar.close()
    lines = [line.rsplit("\r", 1)[-1] for line in out.getvalue().split("\n") if line]
    assert lines[0].startswith("replay") and "25/25" in lines[0]
    assert lines[1].startswith("account") and " 2345 " in lines[1] and "/25" not in lines[1]
