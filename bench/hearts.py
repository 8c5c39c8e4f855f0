"""Heart-points benchmarks: each figure printed beside its baseline, as a ratio, in one run.

    python bench/hearts.py [--n 2000] [--clients 64] [--donations 10000]
                           [--postgres URL] [--workers 2] [--witnesses] [--json]

- recordDonation over HTTP GraphQL (a real `heartchain serve --workers N` process, --clients
  concurrent keep-alive clients) vs the same appends through the library API
  (`tokens.services.record_donation` with the same concurrency, in-process, on the same store):
  mutations/s and their ratio. Both gather batches over the same window. With --postgres the
  store is a fresh database there (dropped afterwards); with --witnesses the server submits its
  checkpoints to two witnesses (policy 2 of 2), as in production (bench/load.py).
- The servers' CPU time per recordDonation (all workers, from /proc), against the 1 ms target;
  beside it (stderr) the HTTP phase's CPU split (servers, PostgreSQL, witnesses, this
  generator, the machine) and its integration batches (count, entries and ms each): on a
  shared machine CPU per request is only comparable between runs with the same split.
- The score query for a member with --donations donations: median latency over HTTP GraphQL, and
  through the library (`tokens.services.score`) as its baseline.

The issue's configuration: `--clients 64 --postgres postgres://postgres@127.0.0.1:5432/postgres
--workers 2 --witnesses`. The load generator is bench/load_driver.py's minimal HTTP client
(httpx costs more CPU than the server it measures); it still shares the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from figures import figure, report
from load import pg_admin, pg_url, start_witnesses, stop_all
from load_driver import Connection, result_of
from load_report import batches_during, cores_used, cpu_mark, cpu_seconds, integration_stats
from tortoise import Tortoise

from heartchain.accounts.services import initialise, issue_token, register_account
from heartchain.clock import Clock
from heartchain.db import init_db
from heartchain.keys import SigningKey, address_of
from heartchain.ledger.entries import new_entry
from heartchain.platform import Platform, build_platform
from heartchain.settings import Settings, sqlite_url
from tests.servers import Server, cli_env
from tokens import services
from tracing.campaign_services import create_campaign

RECORD = """mutation($donor: String!, $q: Int64!) {
  recordDonation(donor: $donor, kind: "cash", quantity: $q, campaign: "bench") {
    __typename ... on DonationRecorded { donation { index hearts } } } }"""
SCORE = "query($a: String!) { member(address: $a) { score } }"


async def pool(count: int, concurrency: int, work) -> float:  # type: ignore[no-untyped-def]
    """Run work(i) for i < count on `concurrency` workers; return operations per second."""
    counter = iter(range(count))

    async def worker() -> None:
        for i in counter:
            await work(i)

    start = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    return count / (time.perf_counter() - start)


# The library side and the HTTP server gather batches over the same window, so the ratio
# compares the request path only.
BATCH_PERIOD_MS = 5


@contextlib.asynccontextmanager
async def store(args: argparse.Namespace, workdir: Path) -> AsyncIterator[str]:
    """The database URL to use: a fresh PostgreSQL database (dropped afterwards) or SQLite."""
    if not args.postgres:
        yield sqlite_url(workdir / "data" / "hc.sqlite3")
        return
    database = f"hc_hearts_{secrets.token_hex(5)}"
    await pg_admin(args.postgres, f'CREATE DATABASE "{database}"')
    try:
        yield pg_url(args.postgres, database)
    finally:
        await pg_admin(args.postgres, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


async def setup(workdir: Path, db_url: str) -> tuple[Platform, str, str, list[str]]:
    settings = Settings(data_dir=workdir / "data", batch_period_ms=BATCH_PERIOD_MS,
                        db_url=db_url)
    platform = build_platform(settings, clock=Clock(), create_keys=True)
    await init_db(settings.database_url)
    genesis = await initialise(platform)
    charity = await register_account(platform, role="charity", registrar=genesis.operator,
                                     label="Bench Food Bank")
    token = await issue_token(platform, charity.address, "bench")
    await create_campaign(platform, charity=charity.address, slug="bench", title_zh="基准",
                          title_en="Bench", purpose="benchmark gifts", category="other",
                          goal=10**12, unit="fen", starts="2020-01-01T00:00:00.000Z",
                          beneficiary="none: a benchmark")
    keys = [SigningKey.generate() for _ in range(200)]
    await platform.log.append_now([
        new_entry("account.register", {"address": address_of(k), "role": "member",
                                       "registrar": address_of(k)},
                  at=platform.clock.now()).signed_by(k) for k in keys])
    return platform, charity.address, token, [address_of(k) for k in keys]


async def library_rate(platform: Platform, charity: str, donors: list[str], n: int,
                       clients: int) -> float:
    async def one(i: int) -> None:
        await services.record_donation(platform, charity=charity, donor=donors[i % len(donors)],
                                       kind="cash", quantity=100 + i, campaign="bench")

    return await pool(n, clients, one)


async def seed_heavy_donor(platform: Platform, charity: str, donor: str, count: int) -> None:
    key = await platform.custodial_key(charity)
    await platform.log.append_now([
        new_entry("donation.record", {"charity": charity, "donor": donor, "kind": "cash",
                                      "quantity": 100 + i, "campaign": "bench"},
                  at=platform.clock.now()).signed_by(key) for i in range(count)])


async def over_http(port: int, token: str, donors: list[str], n: int, clients: int
                    ) -> float:
    connections = [Connection(port) for _ in range(clients)]
    free = list(connections)

    async def one(i: int) -> None:
        conn = free.pop()
        try:
            data = await conn.gql(RECORD, {"donor": donors[i % len(donors)], "q": 100 + i},
                                  token)
            result_of(data, "recordDonation", "DonationRecorded")
        finally:
            free.append(conn)

    try:
        return await pool(n, clients, one)
    finally:
        for conn in connections:
            await conn.close()


async def run(args: argparse.Namespace, workdir: Path, db_url: str) -> list[dict[str, object]]:
    platform, charity, token, donors = await setup(workdir, db_url)
    library = await library_rate(platform, charity, donors, args.n, args.clients)
    await seed_heavy_donor(platform, charity, donors[0], args.donations)
    library_latencies = []
    for _ in range(200):
        start = time.perf_counter()
        await services.score(donors[0])
        library_latencies.append(time.perf_counter() - start)
    await Tortoise.close_connections()

    env = cli_env(workdir / "data", db_url, HEARTCHAIN_BATCH_PERIOD_MS=str(BATCH_PERIOD_MS))
    env.pop("HEARTCHAIN_WITNESSES", None)
    witnesses: list[subprocess.Popen[bytes]] = []
    if args.witnesses:
        witnesses, env["HEARTCHAIN_WITNESSES"] = start_witnesses(env, workdir / "data")
    server = Server(env, workers=args.workers)
    await server.start(timeout=60)
    try:
        if server.process is None:
            raise SystemExit("server did not start")
        warm = Connection(server.port)
        for i in range(4 * args.workers):  # each worker unseals the charity's key once
            await warm.gql(RECORD, {"donor": donors[i % len(donors)], "q": 1}, token)
        await warm.close()
        witness_pids = [w.pid for w in witnesses]
        batches_before = await integration_stats(server.port, args.workers)
        mark = cpu_mark(server.process.pid, witness_pids)
        cpu_before = cpu_seconds(server.process.pid)
        http_rate = await over_http(server.port, token, donors, args.n, args.clients)
        cpu_per_request = (cpu_seconds(server.process.pid) - cpu_before) / args.n
        split = cores_used(mark, server.process.pid, witness_pids, args.n / http_rate)
        batching = batches_during(batches_before,
                                  await integration_stats(server.port, args.workers))
        probe = Connection(server.port)
        http_latencies = []
        for _ in range(200):
            start = time.perf_counter()
            await probe.gql(SCORE, {"a": donors[0]})
            http_latencies.append(time.perf_counter() - start)
        await probe.close()
    finally:
        server.stop()
        stop_all(witnesses)
    # Why CPU per request is what it is: the cores each party used during the HTTP phase, and
    # how many entries each integration carried (its fixed cost is shared by that many).
    print("  HTTP phase: cores busy " + ", ".join(f"{k} {v:.2f}" for k, v in split.items())
          + f" (of {os.cpu_count()}); {batching['batches']:.0f} batches of "
          f"{batching['entries_per_batch']:.1f} entries, {batching['ms_per_batch']:.1f} ms each",
          file=sys.stderr, flush=True)
    return [
        figure("record_donation_http", http_rate, "mutations/s", library,
               f"library API, same {args.clients} concurrent callers"),
        figure("record_donation_http_absolute", http_rate, "mutations/s", 1000.0,
               "target 1,000/s"),
        figure("server_cpu_per_donation", cpu_per_request * 1000, "ms", 1.0,
               f"target 1 ms (all {args.workers} workers' CPU / requests)",
               higher_is_better=False),
        figure("score_query_http_median", statistics.median(http_latencies) * 1000, "ms",
               statistics.median(library_latencies) * 1000,
               f"library score() for a member with {args.donations:,} donations",
               higher_is_better=False),
    ]


async def main_async(args: argparse.Namespace, workdir: Path) -> list[dict[str, object]]:
    async with store(args, workdir) as db_url:
        return await run(args, workdir, db_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="donations to record each way")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--donations", type=int, default=10_000,
                        help="donations of the member whose score is queried")
    parser.add_argument("--postgres", default="", help="a PostgreSQL server URL (else SQLite)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--witnesses", action="store_true",
                        help="two witnesses cosign the server's checkpoints")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = asyncio.run(main_async(args, Path(tmp)))
    store_name = "PostgreSQL" if args.postgres else "SQLite"
    report("hearts", f"heart-points benchmarks (n={args.n:,}, {args.clients} clients, "
                     f"{store_name}, {args.workers} worker(s), witnesses "
                     f"{'on' if args.witnesses else 'off'}, {os.cpu_count()} cores)", results,
           as_json=args.json, n=args.n, clients=args.clients, store=store_name,
           workers=args.workers, witnesses=args.witnesses)


if __name__ == "__main__":
    main()
