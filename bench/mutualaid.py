"""Benchmark: apportion one mutual-aid period over N covered members (SQLite).

    .venv/bin/python bench/mutualaid.py --n 100000 [--json]

Setup goes through the log for the plan, the accounts and the case (open, attest, notice,
decide); the N memberships are then inserted straight into the projection table in chunks (N
signed joins would only measure signing). Measured:

- apportion: `services.apportion_period` end to end — the service computes the body (covered
  set, shares, share-tree root), the entry is signed and appended, its check recomputes all of it
  against the projections, the projector writes N share rows (INSERT ... SELECT), debits every
  balance (one UPDATE), stores the share-tree tiles, and the batch commits;
- peak memory: the process's peak RSS (ru_maxrss), and its growth during the apportionment;
- a member's share proof (`services.share_proof`): median latency over 200 members.

Baselines, measured in the same run: the raw time to SHA-256 the same N leaves plus one
`sqlite3.executemany` of the N balance updates; and a bare `UPDATE` debiting all the balances.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tortoise import Tortoise

from heartchain.accounts.services import initialise, register_account, self_register_member
from heartchain.clock import Clock
from heartchain.db import init_db
from heartchain.keys import address_of, new_signing_key
from heartchain.ledger.entries import format_time
from heartchain.ledger.store import execute_many
from heartchain.mutualaid import services
from heartchain.mutualaid.apportion import leaf_data
from heartchain.mutualaid.entries import Rules, membership_id
from heartchain.platform import build_platform
from heartchain.settings import Settings, sqlite_url

RULES = Rules(min_age_days=28, max_age_years=59, waiting_days=90, cap_fen=30_000_000,
              senior_age=40, senior_cap_fen=10_000_000, fee_bp=800, member_case_cap_fen=1_000,
              min_prepay_fen=1_000, conditions=("cancer",))
CHUNK = 50_000


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fake_address(i: int) -> str:
    return "hc1p" + hashlib.sha256(i.to_bytes(8, "big")).hexdigest()[:58]


async def run(n: int, tmp: Path) -> dict[str, float | int]:
    settings = Settings(data_dir=tmp / "data", db_url=sqlite_url(tmp / "bench.sqlite3"),
                        batch_period_ms=2)
    platform = build_platform(settings, clock=Clock(), create_keys=True)
    await init_db(settings.database_url)
    genesis = await initialise(platform)
    op = genesis.operator
    inv = (await register_account(platform, role="investigator", registrar=op)).address
    await services.create_plan(platform, operator=op, plan="bench", name="bench", rules=RULES)
    patient = new_signing_key()
    await self_register_member(platform, patient)
    await services.join_plan(platform, plan="bench", member=patient,
                             birth_date=platform.clock.now().date() - timedelta(days=30 * 365),
                             prepay_fen=10_000)
    joined = format_time(platform.clock.now())
    conn = platform.log._conn()
    for start in range(1, n, CHUNK):
        rows = []
        for i in range(start, min(n, start + CHUNK)):
            member = fake_address(i)
            rows.append([membership_id("bench", member), "bench", member, "active", 0, joined,
                         joined, 1, 30, "00" * 32, 10_000, 10_000, 0, 0])
        await execute_many(conn, "INSERT INTO ma_membership (id, plan, member, status, "
                           "joined_idx, joined_at, covered_from, join_version, age_years, "
                           "birth_commitment, balance_fen, prepaid_fen, shared_fen, refund_fen) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    platform.clock.advance(timedelta(days=91))
    case, _ = await services.open_case(
        platform, plan="bench", member=address_of(patient), opener=patient, condition="cancer",
        asked_fen=5_000_000, hospital="bench hospital", patient_name="张三",
        diagnosed_on=platform.clock.now().date())
    await services.attest_case(platform, case=case, investigator=inv, findings="ok",
                               recommendation="approve", amount_fen=5_000_000)
    await services.notice_case(platform, case=case, operator=op, days=7)
    platform.clock.advance(timedelta(days=8))
    await services.decide_case(platform, case=case, operator=op, decision="approve",
                               amount_fen=5_000_000)

    rss_before = peak_rss_mb()
    t0 = time.perf_counter()
    body = await services.apportion_body(platform, plan="bench", operator=op)
    t1 = time.perf_counter()
    appended = await platform.write("period.apportion", body, [op])
    t2 = time.perf_counter()
    rss_after = peak_rss_mb()
    members = [fake_address(i) for i in random.Random(1).sample(range(1, n), min(200, n - 1))]
    latencies = []
    for member in members:
        s = time.perf_counter()
        proof = await services.share_proof(appended.index, member)
        latencies.append(time.perf_counter() - s)
        proof.verify()
    await Tortoise.close_connections()
    return {"n": n, "share_fen": int(body["share_fen"]), "compute_s": t1 - t0,
            "append_s": t2 - t1, "apportion_s": t2 - t0, "peak_rss_mb": rss_after,
            "rss_growth_mb": rss_after - rss_before,
            "proof_median_ms": statistics.median(latencies) * 1000}


def baselines(n: int, share: int, tmp: Path) -> dict[str, float]:
    members = [fake_address(i) for i in range(n)]
    db = sqlite3.connect(tmp / "raw.sqlite3")
    db.execute("PRAGMA journal_mode=wal")
    db.execute("CREATE TABLE m (member TEXT PRIMARY KEY, balance INTEGER)")
    db.executemany("INSERT INTO m VALUES (?, ?)", ((m, 10_000) for m in members))
    db.commit()
    t0 = time.perf_counter()
    sha = hashlib.sha256
    _ = [sha(b"\x00" + leaf_data(m, 1, share)).digest() for m in members]
    with db:
        db.executemany("UPDATE m SET balance = balance - ? WHERE member = ?",
                       ((share, m) for m in members))
    t1 = time.perf_counter()
    with db:
        db.execute("UPDATE m SET balance = balance - ? WHERE balance > 0", (share,))
    t2 = time.perf_counter()
    db.close()
    return {"baseline_s": t1 - t0, "bare_update_s": t2 - t1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="covered members")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result: dict[str, float | int] = asyncio.run(run(args.n, Path(tmp)))
        result.update(baselines(args.n, int(result["share_fen"]), Path(tmp)))
    result["ratio"] = result["apportion_s"] / result["baseline_s"]
    result["ratio_bare_update"] = result["apportion_s"] / result["bare_update_s"]
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
        return 0
    n = args.n
    print(f"apportion one period over {n:,} covered members (SQLite)")
    print(f"  end to end       {result['apportion_s']:8.3f} s   (service computes body "
          f"{result['compute_s']:.3f} s; sign+append+check+project+commit "
          f"{result['append_s']:.3f} s)")
    print(f"  baseline         {result['baseline_s']:8.3f} s   (sha256 of {n:,} leaves + one "
          f"sqlite3 executemany of {n:,} balance updates)   ratio {result['ratio']:.1f}x")
    print(f"  bare UPDATE      {result['bare_update_s']:8.3f} s   (one set-based debit)"
          f"{'':27}ratio {result['ratio_bare_update']:.1f}x")
    print(f"  peak RSS         {result['peak_rss_mb']:8.0f} MB  (grew "
          f"{result['rss_growth_mb']:.0f} MB while apportioning)")
    print(f"  share proof      {result['proof_median_ms']:8.2f} ms  median over 200 members")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
