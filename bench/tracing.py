"""Tracing benchmarks: each figure printed beside its baseline, as a ratio, in one run.

    python bench/tracing.py [--fanout 10] [--runs 20] [--json]

- journey: one food donation goes through 5 hops — handover, split into 10, handover each,
  split each into 10, handover each, split each into 10 (10^3 lots), handover each, deliver
  each — all through the log. Then `services.donation_journey` (every lot, its parents and
  children, every step) is timed: median of --runs. Baseline: one raw sqlite3 query reading the
  same rows (the donation's flows joined to their lots and every step of those lots).
- labels: QR labels rendered per second (SVG and PNG, cache bypassed) vs STACK.md's figures
  for qrcode on this machine (~170 SVG/s, ~190 PNG/s).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from figures import figure, report
from tortoise import Tortoise

from heartchain.accounts.services import initialise, register_account
from heartchain.clock import Clock
from heartchain.db import init_db
from heartchain.keys import SigningKey
from heartchain.ledger.body import Body
from heartchain.platform import Platform, build_platform
from heartchain.settings import Settings, sqlite_url
from tokens.entries import RecordBody
from tracing import labels, services
from tracing.campaign_services import create_campaign
from tracing.entries import DeliverBody, HandoverBody, SplitBody


def _hash(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


async def _append(platform: Platform, items: list[tuple[Body, list[SigningKey]]]) -> list[int]:
    indexes = []
    for start in range(0, len(items), platform.log.batch_size):
        entries = [platform.signed(body, *keys)
                   for body, keys in items[start:start + platform.log.batch_size]]
        for outcome in await platform.log.append_now(entries):
            if isinstance(outcome, Exception):
                raise SystemExit(f"append failed: {outcome}")
            indexes.append(outcome.index)
    return indexes


async def bench_journey(workdir: Path, fanout: int, runs: int) -> list[dict[str, object]]:
    path = workdir / "tracing.sqlite3"
    settings = Settings(data_dir=workdir / "data", db_url=sqlite_url(path))
    platform = build_platform(settings, clock=Clock(), create_keys=True)
    await init_db(settings.database_url)
    genesis = await initialise(platform)
    reg = await register_account(platform, role="charity", registrar=genesis.operator,
                                 label="Bench Food Bank")
    charity = reg.address
    people = [(await register_account(platform, role="partner", registrar=genesis.operator,
                                      label=f"hop {n}")).address for n in range(5)]
    donor = (await register_account(platform, role="member", registrar=genesis.operator)).address
    keys = {a: await platform.custodial_key(a) for a in [charity, *people]}
    per_leaf = 1_000
    total = per_leaf * fanout**3
    await create_campaign(platform, charity=charity, slug="bench", title_zh="基准",
                          title_en="Bench", purpose="benchmark gifts", category="food",
                          goal=10**12, unit="grams", starts="2020-01-01T00:00:00.000Z",
                          beneficiary="none: a benchmark")
    donation = (await platform.write(RecordBody(
        charity=charity, donor=donor, kind="food", quantity=total, campaign="bench"))).index
    root = await services.create_lot(platform, charity=charity, goods="rice", quantity=total,
                                     unit="grams", custodian=charity, donation=donation)
    start = time.perf_counter()
    lots = [(root.id, total)]
    holder = charity
    for hop in range(3):
        taker = people[hop]
        handed = await _append(platform, [(HandoverBody(
            lot=lot, giver=holder, taker=taker, place=f"hop {hop}", evidence=_hash(hop)),
            [keys[holder], keys[taker]]) for lot, _ in lots])
        del handed
        split = await _append(platform, [(SplitBody(
            lot=lot, by=taker, quantity=q, outputs=(q // fanout,) * fanout, loss=0),
            [keys[taker]]) for lot, q in lots])
        lots = [(f"L{index}-{n}", q // fanout) for index, (_, q) in zip(split, lots, strict=True)
                for n in range(1, fanout + 1)]
        holder = taker
    last = people[3]
    await _append(platform, [(HandoverBody(
        lot=lot, giver=holder, taker=last, place="last mile", evidence=_hash(9)),
        [keys[holder], keys[last]]) for lot, _ in lots])
    await _append(platform, [(DeliverBody(
        lot=lot, by=last, quantity=q, beneficiary=_hash(n), place="school"),
        [keys[last]]) for n, (lot, q) in enumerate(lots)])
    setup_seconds = time.perf_counter() - start

    timings = []
    journey = None
    for _ in range(runs):
        t0 = time.perf_counter()
        journey = await services.donation_journey(donation)
        timings.append(time.perf_counter() - t0)
    if journey is None or journey.delivered != total:
        raise SystemExit("the journey does not account for every gram")
    lots_seen = len(journey.lots)
    steps_seen = sum(len(n.steps) for n in journey.lots)
    await Tortoise.close_connections()

    conn = sqlite3.connect(path)
    raw = []
    rows = 0
    query = ("SELECT f.*, l.*, e.* FROM tracing_origin_flow f "
             "JOIN tracing_lot l ON l.id = COALESCE(f.to_lot, f.from_lot) "
             "JOIN tracing_lot_event e ON e.lot_id = l.id WHERE f.origin_idx = ?")
    for _ in range(runs):
        t0 = time.perf_counter()
        rows = len(conn.execute(query, [donation]).fetchall())
        raw.append(time.perf_counter() - t0)
    conn.close()
    median = statistics.median(timings) * 1000
    raw_median = statistics.median(raw) * 1000
    return [
        figure(f"journey_{lots_seen}_lots_{steps_seen}_steps", median, "ms", raw_median,
               f"one raw SQL query, {rows} rows", higher_is_better=False),
        {"figure": "journey_setup", "value": round(setup_seconds, 2), "unit": "s",
         "baseline": None, "baseline_name": "(5 hops through the log, not a ratio)",
         "ratio": None},
    ]


def bench_labels(n: int = 300) -> list[dict[str, object]]:
    urls = [labels.trace_url("https://heartchain.example", f"L{i}", "ABCDEFGH") for i in range(n)]
    results = []
    for name, render, baseline in (("labels_svg", labels.label_svg, 170.0),
                                   ("labels_png", labels.label_png, 190.0)):
        render.cache_clear()
        t0 = time.perf_counter()
        for url in urls:
            render(url)
        rate = n / (time.perf_counter() - t0)
        results.append(figure(name, rate, "labels/s", baseline, "STACK.md qrcode figure"))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fanout", type=int, default=10)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = asyncio.run(bench_journey(Path(tmp), args.fanout, args.runs))
    results += bench_labels()
    report("tracing", f"tracing benchmarks (fan-out {args.fanout}: {args.fanout**3:,} lots over "
           "5 hops)", results, as_json=args.json, fanout=args.fanout)

if __name__ == "__main__":
    main()
