"""heartchain: init | migrate | serve | demo | verify | tiles | audit | token | keygen | attest |
receipt | witness | import | export."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tortoise import Tortoise

from heartchain.clock import Clock
from heartchain.demo_cli import cmd_demo, port_pair
from heartchain.errors import HeartchainError
from heartchain.finance.cli import cmd_export, cmd_import
from heartchain.keys import address_of, new_signing_key, write_secret_file
from heartchain.ledger.notes import NoteSigner
from heartchain.settings import Settings
from heartchain.token_cli import cmd_token

if TYPE_CHECKING:
    import uvicorn

    from heartchain.accounts.services import Genesis
    from heartchain.platform import Platform


def _run(main: Callable[[], Awaitable[int]]) -> int:
    async def wrapped() -> int:
        try:
            return await main()
        finally:
            await Tortoise.close_connections()

    return asyncio.run(wrapped())


async def _init(settings: Settings, clock: Clock | None = None, *, upgrade: bool = True
                ) -> tuple[Platform, Genesis]:
    from heartchain.accounts.services import initialise
    from heartchain.db import init_db
    from heartchain.platform import build_platform

    platform = build_platform(settings, create_keys=True, clock=clock)
    # The demo brings any store up to date; `init` creates a new one and leaves upgrading an
    # existing one to `heartchain migrate`.
    await init_db(settings.database_url, upgrade=upgrade)
    genesis = await initialise(platform)
    return platform, genesis


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    async def main() -> int:
        platform, genesis = await _init(settings, upgrade=False)
        print(f"data directory:   {settings.data_dir.resolve()}")
        print(f"database:         {settings.database_url.split('?')[0]}")
        print(f"log verifier key: {platform.verifier_key}")
        print(f"operator address: {genesis.operator}")
        if genesis.legacy_tokens:
            print(f"revoked {genesis.legacy_tokens} API token(s) issued before tokens were bound "
                  "to the master key: issue new ones")
        if genesis.token:
            print(f"operator token:   {genesis.token}  (shown once; keep it secret)")
        else:
            print("the log already existed; no new operator token was issued")
        return 0

    return _run(main)


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from heartchain import migrate
    from heartchain.db import connect_db

    async def main() -> int:
        conn = await connect_db(settings.database_url)
        state = await migrate.status(conn)
        print(f"database: {settings.database_url.split('?')[0]}")
        for done in state.applied:
            print(f"  {done.version:04d}_{done.name:<24} {done.how} {done.applied_at}")
        problems: list[str] = []
        if state.unversioned:
            found = await migrate.compare_baseline(conn)
            problems = found.problems
            print("  made before migrations: " + (
                "its tables match 0001, which will be recorded as its baseline" if not problems
                else "its tables do not match 0001:\n    " + "\n    ".join(problems)))
            if found.missing:
                print(f"  tables of 0001 it lacks, to be created: {', '.join(found.missing)}")
            if found.extra:
                print(f"  tables beyond 0001, left alone: {', '.join(found.extra)}")
        pending = state.pending[1:] if state.unversioned else state.pending
        for step in pending:
            print(f"  {step.label:<29} pending")
        if state.current:
            print("up to date")
            return 0
        if args.plan:
            return 1 if problems else 0
        for line in await migrate.migrate(conn):
            print(line)
        print("up to date")
        return 0

    return _run(main)


def _check_store_is_current(settings: Settings) -> str | None:
    """Why the store cannot be served as it is (a pending migration), or None."""
    from heartchain.db import init_db
    from heartchain.migrate import PendingMigrations

    async def main() -> int:
        await init_db(settings.database_url, create_schema=False)
        return 0

    try:
        _run(main)
    except PendingMigrations as exc:
        return str(exc)
    return None


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    if not (settings.data_dir / "log.key").exists():
        print(f"{settings.data_dir / 'log.key'} is missing: run `heartchain init` first",
              file=sys.stderr)
        return 2
    # Never migrated silently: upgrading is the operator's step, after a backup.
    behind = _check_store_is_current(settings)
    if behind:
        print(f"heartchain serve: {behind}", file=sys.stderr)
        return 2
    import os

    from heartchain.logs import log_format_from_env, logging_config
    from heartchain.metrics import prepare_multiprocess
    from heartchain.serving import port_in_use, settle_public_url
    from heartchain.timeouts import keep_alive_from_env

    busy = port_in_use(args.host, args.port)
    if busy:
        print(f"heartchain serve: {busy}", file=sys.stderr)
        return 1
    # The workers build their settings from the environment, so the default public URL (pages,
    # QR labels) is the origin being served.
    warning = settle_public_url(os.environ, args.host, args.port)
    if warning:
        print(warning, file=sys.stderr)
    # Each worker process applies log_config itself. In both formats the app's AccessLog
    # middleware (path, status, duration, never the query string) replaces uvicorn's access
    # log, which prints the query string (a token, personal data).
    json_logs = log_format_from_env()
    # Several workers: /metrics adds up every worker's values, kept in files (metrics.py).
    prepare_multiprocess(settings.data_dir, args.workers, os.environ)
    config = uvicorn.Config(
        "heartchain.app:create_app", factory=True, host=args.host, port=args.port,
        workers=args.workers, log_level=args.log_level, access_log=False,
        log_config=logging_config(args.log_level, json=json_logs),
        timeout_keep_alive=keep_alive_from_env(),
        # A response's header and body writes go out in one send (http_protocol.py).
        http="heartchain.http_protocol:CoalescingHttpToolsProtocol",
        # The log head's holder runs ahead of the requests (priority_loop.py).
        loop="heartchain.priority_loop:PriorityEventLoop")
    try:
        if args.workers > 1:
            return _serve_workers(config, args.host, args.port)
        server = uvicorn.Server(config)
        server.run()
        # As uvicorn.run: a failed startup (the app's lifespan) exits with uvicorn's code.
        return 0 if server.started else STARTUP_FAILURE
    except SystemExit as exc:
        # uvicorn exits 1 when the bind fails after the check above (a race); it has logged why.
        return exc.code if isinstance(exc.code, int) else 1
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown, as uvicorn.run takes it
        return 0


def _serve_workers(config: uvicorn.Config, host: str, port: int) -> int:
    """uvicorn's worker supervisor, each worker on a listening socket of its own (serving.py)."""
    import logging

    from uvicorn.supervisors import Multiprocess

    from heartchain.serving import address_family, worker_socket

    try:
        sock = worker_socket(address_family(host), (host, port))
    except OSError as exc:
        print(f"heartchain serve: cannot listen on {host}:{port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    shown = f"[{host}]" if ":" in host else host
    logging.getLogger("uvicorn.error").info("Uvicorn running on http://%s:%d with %d workers "
                                            "(Press CTRL+C to quit)", shown, port,
                                            config.workers)
    Multiprocess(config, sockets=[sock]).run()
    return 0


def cmd_keygen(args: argparse.Namespace, settings: Settings) -> int:
    out = Path(args.out)
    if args.note:
        signer = NoteSigner.generate(args.note)
        write_secret_file(out, signer.signer_key.encode() + b"\n")
        print(f"verifier key: {signer.verifier_key}")
    else:
        key = new_signing_key()
        write_secret_file(out, bytes(key).hex().encode() + b"\n")
        print(f"address: {address_of(key)}")
    print(f"secret key written to {out} (mode 0600)")
    return 0


def cmd_tiles(args: argparse.Namespace, settings: Settings) -> int:
    from heartchain.db import init_db
    from heartchain.ledger.static_tiles import StaticTiles
    from heartchain.platform import build_platform

    directory = args.dir or settings.static_tiles_dir
    if not directory:
        print("heartchain tiles publish: set HEARTCHAIN_STATIC_TILES_DIR or pass --dir",
              file=sys.stderr)
        return 2

    async def main() -> int:
        platform = build_platform(settings)
        await init_db(settings.database_url, create_schema=False)
        published = StaticTiles(Path(directory), platform.log.reader)
        written = await published.publish_missing()
        size = await platform.log.size()
        print(f"wrote {written:,} missing full tiles and entry bundles for {size:,} entries "
              f"under {Path(directory).resolve()}")
        return 0

    return _run(main)


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    from heartchain.db import init_db
    from heartchain.ledger.verify import VerifyFailed, verify_log
    from heartchain.ledger.witness_policy import WitnessPolicy
    from heartchain.platform import build_platform
    from heartchain.progress import ProgressBar
    from heartchain.witness.records import RecordSeal, verify_witness_records

    async def main() -> int:
        platform = build_platform(settings)
        await init_db(settings.database_url, create_schema=False)
        bar = ProgressBar("verify")
        try:
            report = await verify_log(platform.log, progress=lambda what, done, total:
                                      bar.update(done, total or None, what),
                                      workers=args.workers)
            records = await verify_witness_records(platform.log, WitnessPolicy.from_env(),
                                                   RecordSeal(platform.vault))
        except VerifyFailed as failed:
            bar.close()
            print(f"verify FAILED: {failed.difference}", file=sys.stderr)
            return 1
        bar.close()
        rows = sum(report.projection_rows.values())
        print(f"verified {report.entries:,} entries, {report.checkpoints:,} checkpoints, "
              f"{report.tiles:,} tiles and {rows:,} projection rows in "
              f"{len(report.projection_rows)} tables")
        for table, count in sorted(report.projection_rows.items()):
            print(f"  {table:<32} {count:>10,} rows")
        print(f"witness records: {records.cosignatures} cosignatures, {records.refusals} "
              f"refusals; newest cosigned sizes {records.cosigned_sizes or 'none'}")
        for name, count in records.unchecked.items():
            print(f"warning: {count} cosignatures by {name} not checked: no key for it in "
                  f"HEARTCHAIN_WITNESSES", file=sys.stderr)
        print(f"root {report.root_hash.hex()}")
        return 0

    return _run(main)


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from heartchain.db import init_db
    from heartchain.errors import VerificationError
    from heartchain.ledger.audit import check_against
    from heartchain.platform import build_platform

    if args.ask_witnesses:
        return _audit_witnesses(args, settings)
    if not args.checkpoint:
        print("heartchain audit: give --checkpoint FILE or --ask-witnesses", file=sys.stderr)
        return 2

    async def main() -> int:
        platform = build_platform(settings)
        await init_db(settings.database_url, create_schema=False)
        key = args.key or platform.verifier_key
        try:
            audited = await check_against(platform.log, Path(args.checkpoint).read_text(), key,
                                          witness_keys=args.witness,
                                          recompute=not args.tiles_only)
        except VerificationError as exc:
            print(f"audit FAILED: {exc}", file=sys.stderr)
            return 1
        print(audited.summary())
        return 0

    return _run(main)


def _audit_witnesses(args: argparse.Namespace, settings: Settings) -> int:
    from heartchain.db import init_db
    from heartchain.ledger.witness_policy import WitnessPolicy
    from heartchain.platform import build_platform
    from heartchain.witness.rollback import ask_witnesses, judge

    async def main() -> int:
        policy = WitnessPolicy.from_env()
        if not policy.witnesses:
            print("heartchain audit: --ask-witnesses needs HEARTCHAIN_WITNESSES",
                  file=sys.stderr)
            return 2
        platform = build_platform(settings)
        await init_db(settings.database_url, create_schema=False)
        views = await ask_witnesses(platform.log, policy, recompute=not args.tiles_only)
        for view in views:
            print(view.summary())
        problem = judge(policy, views)
        if problem is not None:
            print(f"audit FAILED: {problem}", file=sys.stderr)
            return 1
        return 0

    return _run(main)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="heartchain", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="create the data dir, keys, database, operator and its token")
    migrate = sub.add_parser(
        "migrate", help="bring the database up to date: apply pending migrations in order, "
                        "each in one transaction (back the store up first)",
        description="Apply the pending schema migrations (heartchain/migrations), each in one "
                    "transaction, recorded in heartchain_migration. A store made before "
                    "migrations is checked against 0001 (any of its tables it lacks are "
                    "created) and recorded as it. `serve` refuses a store with pending "
                    "migrations.")
    migrate.add_argument("--plan", action="store_true",
                         help="only list applied and pending migrations; change nothing")

    def serve_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)
        p.add_argument("--workers", type=int, default=1)
        p.add_argument("--log-level", default="info")

    serve = sub.add_parser("serve", help="serve the API, the tlog endpoints and the pages")
    serve_options(serve)
    keygen = sub.add_parser("keygen", help="generate a self-custody key (or a note signer key)")
    keygen.add_argument("--out", required=True, help="file for the secret key (created 0600)")
    keygen.add_argument("--note", metavar="NAME", help="make a C2SP note signer key named NAME")
    verify = sub.add_parser("verify", help="replay the whole log and compare every stored row")
    verify.add_argument("--workers", type=int, default=None,
                        help="processes that parse and verify the entries ahead of the replay "
                             "(0: all in this one; default: one per core from 5,000 entries)")
    tiles = sub.add_parser("tiles", help="static tiles: tiles publish [--dir DIR]")
    tiles_sub = tiles.add_subparsers(dest="tiles_command", required=True)
    tiles_publish = tiles_sub.add_parser(
        "publish", help="write every full tile and entry bundle missing from the static tiles "
                        "directory (HEARTCHAIN_STATIC_TILES_DIR)")
    tiles_publish.add_argument("--dir", help="the directory (default: "
                                             "HEARTCHAIN_STATIC_TILES_DIR)")
    demo = sub.add_parser("demo", help="init, seed demo data, print what to open")
    demo.add_argument("--serve", action="store_true", help="then serve, with two witnesses")
    serve_options(demo)
    demo.add_argument("--witness-ports", type=port_pair, metavar="A,B",
                      help="ports of the two demo witnesses (default: --port + 101, + 102)")
    audit = sub.add_parser("audit", help="check a published checkpoint note against this store "
                                         "(after a restore): signature, root, consistency")
    audit.add_argument("--checkpoint", metavar="FILE",
                       help="a signed checkpoint note, as served at /log/checkpoint")
    audit.add_argument("--ask-witnesses", action="store_true",
                       help="instead, ask each witness in HEARTCHAIN_WITNESSES for the newest "
                            "checkpoint it cosigned and check the store is not behind it")
    audit.add_argument("--key", help="the log's published verifier key (default: this data "
                                     "directory's log.key)")
    audit.add_argument("--witness", action="append", default=[], metavar="KEY",
                       help="also require a valid cosignature by this witness verifier key")
    audit.add_argument("--tiles-only", action="store_true",
                       help="compare the stored tiles only; skip recomputing from the entries")
    # Listed for --help only: main() hands `attest ...` to tokens/attest.py and `receipt ...` to
    # heartchain/receipt_cli.py, whose parsers have the subcommands and their --help.
    sub.add_parser("attest", help="verify a heart-score attestation offline: "
                                  "attest verify FILE --key KEY | attest key")
    sub.add_parser("receipt", help="check a receipt (.tlog-proof) offline: receipt verify FILE "
                                   "--log-key K [--witness-key W]... | receipt update")
    from heartchain.token_cli import add_parser as add_token_parser

    add_token_parser(sub)
    from heartchain.finance.cli import add_parsers as add_finance_parsers

    add_finance_parsers(sub)
    # Listed for --help only: main() hands `witness ...` to heartchain/witness/cli.py.
    sub.add_parser("witness", help="run a cosigning witness (C2SP tlog-witness): init | serve")
    return parser


COMMANDS = {"init": cmd_init, "migrate": cmd_migrate, "serve": cmd_serve, "keygen": cmd_keygen,
            "verify": cmd_verify, "tiles": cmd_tiles, "demo": cmd_demo, "audit": cmd_audit,
            "token": cmd_token, "import": cmd_import, "export": cmd_export}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["witness"]:
        from heartchain.witness.cli import main as witness_main

        return witness_main(argv[1:])
    if argv[:1] == ["attest"]:
        from tokens.attest import main as attest_main

        return attest_main(argv[1:])
    if argv[:1] == ["receipt"]:
        from heartchain.receipt_cli import main as receipt_main

        return receipt_main(argv[1:])
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    try:
        return COMMANDS[args.command](args, settings)
    except (HeartchainError, FileNotFoundError, FileExistsError, PermissionError) as exc:
        print(f"heartchain {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
