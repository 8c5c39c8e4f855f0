"""`heartchain witness init | serve`: run a cosigning witness for one or more logs.

    heartchain witness init --dir ./witness --name witness.example.org/w1 \\
        --log heartchain.localhost/log+1a2b3c4d+AQ...   (or --log-url http://127.0.0.1:8000)
    heartchain witness serve --dir ./witness --port 8101

`init` is idempotent: run it again to add a log; it prints the witness's verifier key, which
the log operator puts in HEARTCHAIN_WITNESSES.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from heartchain.errors import HeartchainError
from heartchain.witness.config import init_witness, load_config


def _fetch_log_key(url: str) -> str:
    import httpx

    response = httpx.get(url.rstrip("/") + "/log/verifier-key", timeout=10)
    response.raise_for_status()
    return response.text.strip()


def cmd_init(args: argparse.Namespace) -> int:
    keys = list(args.log) + [_fetch_log_key(url) for url in args.log_url]
    config = init_witness(Path(args.dir), args.name, keys)
    print(f"witness directory: {config.data_dir.resolve()}")
    print(f"witness name:      {config.name}")
    print(f"verifier key:      {config.signer().verifier_key}")
    for origin, verifiers in config.logs.items():
        print(f"accepts log:       {origin}  ({', '.join(v.verifier_key for v in verifiers)})")
    if not config.logs:
        print("accepts no log yet: add one with --log <verifier key> or --log-url <log URL>")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from heartchain.witness.server import create_app

    config = load_config(Path(args.dir))
    app = create_app(config)
    print(f"witness {config.name} ({config.signer().verifier_key}) on "
          f"http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="heartchain witness", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    default_dir = os.environ.get("HEARTCHAIN_WITNESS_DIR", "witness")
    init = sub.add_parser("init", help="create the witness key and config; add logs")
    init.add_argument("--dir", default=default_dir, help="data directory (default %(default)s)")
    init.add_argument("--name", help="the witness's key name, e.g. witness.example.org/w1")
    init.add_argument("--log", action="append", default=[], metavar="VERIFIER_KEY",
                      help="accept the log with this C2SP verifier key (origin = key name)")
    init.add_argument("--log-url", action="append", default=[], metavar="URL",
                      help="accept the heartchain log at URL (reads URL/log/verifier-key)")
    serve = sub.add_parser("serve", help="serve POST /add-checkpoint")
    serve.add_argument("--dir", default=default_dir, help="data directory (default %(default)s)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8101)
    serve.add_argument("--log-level", default="info")
    return parser


COMMANDS = {"init": cmd_init, "serve": cmd_serve}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (HeartchainError, FileNotFoundError, PermissionError, ValueError, OSError) as exc:
        print(f"heartchain witness {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
