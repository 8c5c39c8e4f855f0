"""Heart-points benchmarks: each figure printed beside its baseline, as a ratio, in one run.

    python bench/hearts.py [--n 2000] [--clients 32] [--donations 10000] [--json]

- recordDonation over HTTP GraphQL (a real `heartchain serve` process, --clients concurrent
  clients) vs the same appends through the library API (`tokens.services.record_donation` with
  the same concurrency, in-process): mutations/s and their ratio.
- The score query for a member with --donations donations: median latency over HTTP GraphQL, and
  through the library (`tokens.services.score`) as its baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from figures import figure, report
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
SCORE = "query($a: String!) { member(address: $a) { score { total } } }"



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


async def setup(workdir: Path) -> tuple[Platform, str, str, list[str]]:
    settings = Settings(data_dir=workdir / "data", batch_period_ms=BATCH_PERIOD_MS,
                        db_url=sqlite_url(workdir / "data" / "hc.sqlite3"))
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


async def run(args: argparse.Namespace, workdir: Path) -> list[dict[str, object]]:
    platform, charity, token, donors = await setup(workdir)
    library = await library_rate(platform, charity, donors, args.n, args.clients)
    await seed_heavy_donor(platform, charity, donors[0], args.donations)
    library_latencies = []
    for _ in range(200):
        start = time.perf_counter()
        await services.score(donors[0])
        library_latencies.append(time.perf_counter() - start)
    await Tortoise.close_connections()

    server = Server(cli_env(workdir / "data", sqlite_url(workdir / "data" / "hc.sqlite3"),
                            HEARTCHAIN_BATCH_PERIOD_MS=str(BATCH_PERIOD_MS)))
    await server.start()
    try:
        limits = httpx.Limits(max_connections=args.clients)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60,
                                     headers={"Authorization": f"Bearer {token}"}) as http:
            async def one(i: int) -> None:
                response = await http.post("/graphql", json={"query": RECORD, "variables": {
                    "donor": donors[i % len(donors)], "q": 100 + i}})
                kind = response.json()["data"]["recordDonation"]["__typename"]
                if kind != "DonationRecorded":
                    raise SystemExit(f"recordDonation failed: {response.text}")

            over_http = await pool(args.n, args.clients, one)
            http_latencies = []
            for _ in range(200):
                start = time.perf_counter()
                response = await http.post("/graphql", json={"query": SCORE,
                                                              "variables": {"a": donors[0]}})
                http_latencies.append(time.perf_counter() - start)
                response.raise_for_status()
    finally:
        server.stop()
    return [
        figure("record_donation_http", over_http, "mutations/s", library,
               f"library API, same {args.clients} concurrent callers"),
        figure("score_query_http_median", statistics.median(http_latencies) * 1000, "ms",
               statistics.median(library_latencies) * 1000,
               f"library score() for a member with {args.donations:,} donations",
               higher_is_better=False),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="donations to record each way")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--donations", type=int, default=10_000,
                        help="donations of the member whose score is queried")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = asyncio.run(run(args, Path(tmp)))
    report("hearts", f"heart-points benchmarks (n={args.n:,}, {args.clients} clients)", results,
           as_json=args.json, n=args.n, clients=args.clients)

if __name__ == "__main__":
    main()
