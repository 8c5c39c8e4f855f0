"""CPU per write through the whole app in one process: a low-noise figure for A/B runs.

    python bench/inprocess.py [--op donation|check] [--n 3000] [--clients 16] [--rounds 3]
                              [--postgres URL] [--json]

The requests are ASGI calls straight into `heartchain.app.create_app` (every middleware, the
GraphQL view, the resolver, the integration on the same PriorityEventLoop), with no sockets to
clients, no HTTP parsing and no witnesses; the store is a fresh PostgreSQL database (dropped
afterwards). Its CPU is this process's own (time.process_time), so the load generator, the
witnesses and PostgreSQL's share of the machine are not in it: bench/load.py's per-op figures
swing ±15 % between runs on a shared machine, this one about ±5 %, which is what a change of
a few per cent needs. Beside it, the same writes through the library API
(`tokens.services.record_donation`, or `check_hearts` for `--op check`: a partner's check of a
member who granted it consent; same process, same concurrency): what the request path adds.
Median of --rounds; every round's figure goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from figures import figure, report
from hearts import setup
from load import pg_admin, pg_url
from tortoise import Tortoise

from heartchain.accounts.services import initialise, issue_token, register_account
from heartchain.app import create_app
from heartchain.platform import Platform
from heartchain.priority_loop import PriorityEventLoop
from heartchain.settings import Settings
from tokens import services
from tokens.consents import grant_consent

# bench/load_driver.py's DONATE, with the literal campaign of hearts.setup.
DONATE = ("mutation($donor: String!, $kind: String!, $q: Int64!) { recordDonation(donor: $donor,"
          " kind: $kind, quantity: $q, campaign: \"bench\") { __typename "
          "... on DonationRecorded { donation { index hearts } entry { index leafHash } } "
          "... on ValidationError { message } ... on PermissionDenied { message } "
          "... on NotFound { message } ... on Conflict { message } } }")
CHECK = ("mutation($member: String!, $t: Int64!) { checkHearts(member: $member, threshold: $t) {"
         " __typename ... on HeartsChecked { atLeast entry { index leafHash } } "
         "... on ValidationError { message } ... on PermissionDenied { message } "
         "... on NotFound { message } ... on Conflict { message } } }")


async def asgi_post(app: Any, body: bytes, token: str) -> dict[str, Any]:
    """One POST /graphql as uvicorn would hand it over, answered in full."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/graphql", "raw_path": b"/graphql",
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 40000),
             "server": ("127.0.0.1", 8000),
             "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
                         (b"authorization", f"Bearer {token}".encode()),
                         (b"content-length", str(len(body)).encode())]}
    delivered = False
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no disconnect: the answer is read in full
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    answer: dict[str, Any] = json.loads(b"".join(
        m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
    return answer


async def cpu_per_call(n: int, clients: int, call: Callable[[int], Awaitable[None]]) -> float:
    """ms of this process's CPU per call, `clients` calls in flight."""
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            await call(i)

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return (time.process_time() - started) / n * 1000


Write = Callable[[int], Awaitable[None]]


async def donations(platform: Platform, charity: str, token: str, donors: list[str]
                    ) -> tuple[Write, Callable[[Any], Write]]:
    async def through_library(i: int) -> None:
        await services.record_donation(platform, charity=charity, donor=donors[i % len(donors)],
                                       kind="cash", quantity=100 + i, campaign="bench")

    def through(app: Any) -> Write:
        async def one(i: int) -> None:
            body = json.dumps({"query": DONATE, "variables": {
                "donor": donors[i % len(donors)], "kind": "cash", "q": 100 + i}}).encode()
            answered(await asgi_post(app, body, token), "recordDonation", "DonationRecorded")
        return one

    return through_library, through


async def checks(platform: Platform) -> tuple[Write, Callable[[Any], Write]]:
    """A partner, and 50 custodial members who each granted it consent (as bench/load.py)."""
    operator = (await initialise(platform)).operator
    partner = (await register_account(platform, role="partner", registrar=operator,
                                      label="Bench Partner")).address
    token = await issue_token(platform, partner, "bench")
    members = [(await register_account(platform, role="member", registrar=operator)).address
               for _ in range(50)]
    expires = platform.clock.now() + timedelta(days=365)
    for member in members:
        await grant_consent(platform, member=member, partner=partner, expires=expires)

    async def through_library(i: int) -> None:
        await services.check_hearts(platform, partner=partner, member=members[i % 50],
                                    threshold=1000)

    def through(app: Any) -> Write:
        async def one(i: int) -> None:
            body = json.dumps({"query": CHECK, "variables": {
                "member": members[i % 50], "t": 1000}}).encode()
            answered(await asgi_post(app, body, token), "checkHearts", "HeartsChecked")
        return one

    return through_library, through


def answered(answer: dict[str, Any], field: str, typename: str) -> None:
    if (answer.get("data") or {}).get(field, {}).get("__typename") != typename:
        raise SystemExit(f"{field} failed: {answer}")


async def run(args: argparse.Namespace, workdir: Path, db_url: str) -> list[dict[str, object]]:
    platform, charity, token, donors = await setup(workdir, db_url)
    through_library, through = (await checks(platform) if args.op == "check"
                                else await donations(platform, charity, token, donors))
    library = [await cpu_per_call(args.n, args.clients, through_library)
               for _ in range(args.rounds)]
    await Tortoise.close_connections()
    app = create_app(Settings(data_dir=workdir / "data", db_url=db_url, batch_period_ms=5))
    through_app = through(app)

    async with app.router.lifespan_context(app):
        await cpu_per_call(min(500, args.n), args.clients, through_app)  # warm the caches
        over_app = [await cpu_per_call(args.n, args.clients, through_app)
                    for _ in range(args.rounds)]
    print(f"rounds: app {[round(x, 3) for x in over_app]} ms, library "
          f"{[round(x, 3) for x in library]} ms", file=sys.stderr)
    app_ms, library_ms = statistics.median(over_app), statistics.median(library)
    return [
        figure(f"app_{args.op}_cpu", app_ms, "ms", 1.0,
               "target 1 ms per write (without HTTP parsing, sockets or witnesses)",
               higher_is_better=False),
        figure("app_vs_library_cpu", app_ms, "ms", library_ms,
               f"library API CPU per {args.op}, same process and concurrency",
               higher_is_better=False),
    ]


async def main_async(args: argparse.Namespace, workdir: Path) -> list[dict[str, object]]:
    database = f"hc_inprocess_{secrets.token_hex(5)}"
    await pg_admin(args.postgres, f'CREATE DATABASE "{database}"')
    try:
        return await run(args, workdir, pg_url(args.postgres, database))
    finally:
        await Tortoise.close_connections()
        await pg_admin(args.postgres, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--op", choices=("donation", "check"), default="donation")
    parser.add_argument("--n", type=int, default=3000, help="writes per round, each way")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get(
        "HEARTCHAIN_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    # The rate limiter priced and let through, as bench/load.py runs the server.
    os.environ["HEARTCHAIN_RATE_LIMIT"] = "0"
    os.environ.pop("HEARTCHAIN_WITNESSES", None)
    loop = PriorityEventLoop()  # as `heartchain serve` runs the app
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as tmp:
        results = loop.run_until_complete(main_async(args, Path(tmp)))
    report("inprocess", f"{args.op} through the app in one process (n={args.n:,}, "
           f"{args.clients} clients, PostgreSQL, median of {args.rounds})", results,
           as_json=args.json, op=args.op, n=args.n, clients=args.clients, rounds=args.rounds)


if __name__ == "__main__":
    main()
