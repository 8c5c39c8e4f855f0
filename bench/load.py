"""Load test of the production layout: `heartchain serve --workers N` on one PostgreSQL database,
with two witnesses cosigning, driven over HTTP on 127.0.0.1 with a realistic mix.

    python bench/load.py [--seconds 15] [--requests 100000] [--clients 16] [--workers 1,2]
                         [--seed demo|light] [--postgres postgres://postgres@127.0.0.1:5432/postgres]
                         [--warmup-seconds 3] [--op-seconds 3]
                         [--cap-worker CORES] [--cap-generator CORES] [--keep] [--json]

1. Creates its own database (dropped at the end unless --keep) and data directory; seeds it with
   `heartchain demo` (26,600 entries: realistic depth for proofs and pages) or `--seed light`
   (`heartchain init` only); starts the two witnesses (`heartchain witness serve`) and points the
   log at them (HEARTCHAIN_WITNESSES, policy 2 of 2).
2. Setup over GraphQL with an operator token: a charity, a partner, members who consent to the
   partner, and per client two custodians and a lot they hand to each other.
3. For each worker count in --workers (default 1 then 2): starts `heartchain serve --workers N`
   and runs --clients closed-loop clients for --seconds or --requests (whichever ends first),
   each picking an operation by weight:

   | op         | what                                                              | writes |
   |------------|-------------------------------------------------------------------|--------|
   | donation   | recordDonation (charity token) for a member                       | 1      |
   | handover   | offerLot (giver's token) then acceptLot (taker's token)           | 1      |
   | check      | checkHearts (partner token) on a member who consented             | 1      |
   | lot_page   | GET /lots/<id> (the QR landing page)                              |        |
   | donor_page | GET /members/<address> (hearts, gifts, where each went)           |        |
   | proof      | GraphQL entry(index) { leafHash inclusionProof { hashes } }       |        |
   | tile       | GET /log/tile/0/<N> or /log/tile/entries/<N> (full tiles)         |        |

   and reports throughput and p50/p99 latency per operation, and the ratio N workers / 1.
4. Afterwards: every acknowledged write (index + leaf hash from its response) is read back
   through /log/tile/entries and compared, and `heartchain verify` must pass.

Each phase also prints the cores used by the servers, witnesses, PostgreSQL, the generator and
the whole machine (from /proc), and the integration batches from the workers' /metrics (count,
entries per batch, milliseconds per batch, lock waits included): on a shared machine these
say why the throughput is what it is.

Before each measured phase a fresh server gets --warmup-seconds of the same mix, unmeasured (its
workers' first requests compile templates and fill caches: the 2-worker phase used to pay that
twice inside its measurement, the 1-worker phase not at all). After it, each operation runs alone
for --op-seconds with the same clients: the servers' CPU over that phase divided by its
operations is the CPU per operation (no sampling or attribution; writes alone batch more
entries per transaction than mixed with reads, so both figures are printed), with PostgreSQL's
and the witnesses' beside it. A CPU-speed probe (bench/cpuprobe.py: a fixed SHA-256 workload at
~5 % of a core) reports what CPU time itself cost in each phase: on this shared, virtualised
machine the same work's CPU time varies 1.5-4x with contention, so compare phases only next
to the probe. --cap-worker / --cap-generator put each server worker and the generator in a
cgroup capped at that many cores (bench/cpucap.py): 2 workers against 1 then measures what the
log's head lock and the shared database allow, not how many cores the machine had left.

Figures: the servers' CPU time per request; each operation's latency under load beside the
same operation unloaded (one request at a time, measured first); the 2-worker figures beside
the 1-worker ones; the 1-worker total beside STACK.md's trivial strawberry query on one worker.
The load generator is a minimal keep-alive HTTP/1.1 client (httpx costs more CPU than the
servers it measures), but it still shares the machine's cores with the servers, PostgreSQL and
the witnesses.

Tile reads through nginx (the README's static-tiles block) beside the app are measured by
bench/tiles.py, with wrk: this generator would be the bottleneck at nginx's rates.

This file runs the phases; bench/load_procs.py starts the processes, the workload (client,
operations, setup, read-back) is bench/load_driver.py, the CPU split and the figures
bench/load_report.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cpuprobe import CpuProbe
from figures import report
from load_driver import (
    MIX,
    Ack,
    Connection,
    Tally,
    World,
    check_acknowledged,
    run_clients,
    setup_world,
    unloaded,
)
from load_procs import (
    PYTHON,
    CpuCap,
    Service,
    cap_workers,
    cli,
    generator_capped,
    operator_token,
    pg_admin,
    pg_url,
    start_witnesses,
)
from load_report import (
    batches_during,
    cores_used,
    cpu_mark,
    figures_for,
    integration_stats,
    op_cpu_figures,
    print_op_cpu,
    print_phase,
    print_table,
    summary,
)
from trivial import TARGET_MACHINE_MS, trivial_query_ms

from heartchain.witness.demo import stop_all

__all__ = ["pg_admin", "pg_url", "start_witnesses", "stop_all"]  # bench/hearts.py uses them

# ---------------------------------------------------------------------------------------------


def parse_mix(text: str | None) -> dict[str, int]:
    if not text:
        return dict(MIX)
    mix = {name: 0 for name in MIX}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name not in MIX:
            raise SystemExit(f"--mix: unknown operation {name!r}; one of {', '.join(MIX)}")
        mix[name] = int(weight)
    return mix


async def per_op_phases(world: World, mix: dict[str, int], args: argparse.Namespace,
                        workers: int, server_pid: int, witness_pids: list[int],
                        acks: list[Ack], probe: CpuProbe) -> dict[str, Tally]:
    """Each operation of the mix alone, --clients closed-loop clients for --op-seconds: the
    servers' CPU in a phase divided by its operations is that operation's CPU (no sampling,
    no attribution). Writes alone batch differently than mixed with reads: both are shown."""
    phases = {}
    for number, op in enumerate(name for name in mix if mix[name] > 0):
        batches = await integration_stats(world.port, workers)
        probe.mark()
        before = cpu_mark(server_pid, witness_pids)
        tally = await run_clients(world, {op: 1}, args.clients, args.op_seconds,
                                  args.requests, seed=workers * 100 + number)
        tally.cpu = cores_used(before, server_pid, witness_pids, tally.seconds)
        tally.cpu["probe_us"] = probe.us_per_1000()
        tally.integration = batches_during(batches, await integration_stats(world.port,
                                                                              workers))
        acks.extend(tally.acks)
        phases[op] = tally
    return phases


def log(args: argparse.Namespace, message: str) -> None:
    print(message, file=sys.stderr if args.json else sys.stdout, flush=True)


async def main_async(args: argparse.Namespace) -> int:
    mix = parse_mix(args.mix)
    workers = [int(w) for w in args.workers.split(",")]
    database = f"hc_load_{secrets.token_hex(5)}"
    data_dir = Path(tempfile.mkdtemp(prefix="hc-load-"))
    db_url = pg_url(args.postgres, database)
    env = dict(os.environ)
    # The load comes from one address and a few tokens: measure the service, not the limiter.
    env.update({"HEARTCHAIN_DATA_DIR": str(data_dir / "data"), "HEARTCHAIN_DB_URL": db_url,
                "HEARTCHAIN_RATE_LIMIT": "0"})
    env.pop("HEARTCHAIN_WITNESSES", None)
    await pg_admin(args.postgres, f'CREATE DATABASE "{database}"')
    witnesses: list[subprocess.Popen[bytes]] = []
    service: Service | None = None
    caps: list[CpuCap] = []
    generator_cap = CpuCap("generator", args.cap_generator) if args.cap_generator else None
    per_op: dict[int, dict[str, Tally]] = {}
    trivial_ms: float | None = None
    cpu_probe = CpuProbe()
    started = time.perf_counter()
    try:
        t0 = time.perf_counter()
        cli(env, "demo" if args.seed == "demo" else "init")
        seed_seconds = time.perf_counter() - t0
        token = await operator_token(env)
        witnesses, policy = start_witnesses(env, data_dir / "data")
        env["HEARTCHAIN_WITNESSES"] = policy
        log(args, f"database {database}; seeded ({args.seed}) in {seed_seconds:.0f} s; "
                  f"witnesses up; {args.clients} clients, mix {mix}")

        runs: list[tuple[int, Tally]] = []
        acks: list[Ack] = []
        idle: dict[str, dict[str, float]] = {}
        world: World | None = None
        for n in workers:
            service = Service(env, n)
            await service.wait()
            if world is None:
                world, setup_acks = await setup_world(service.port, token, args.clients,
                                                      args.members)
                acks.extend(setup_acks)
                baseline = await unloaded(world, mix, args.samples)
                acks.extend(baseline.acks)
                idle = summary(baseline)
                if not args.json:
                    print_table(f"unloaded (1 request at a time, {args.samples} each):", idle)
            world.port = service.port
            probe = Connection(service.port)
            world.size = json.loads(await probe.get("/healthz"))["size"]
            await probe.close()
            if args.cap_worker:
                caps.extend(await cap_workers(service, n, args.cap_worker))
            witness_pids = [w.pid for w in witnesses]
            with generator_capped(generator_cap):
                if args.warmup_seconds > 0:
                    # A fresh server's first requests compile templates, fill caches, unseal
                    # keys: in every worker. Not what a running service costs per request.
                    warm = await run_clients(world, mix, args.clients, args.warmup_seconds,
                                             args.requests, seed=n + 50)
                    acks.extend(warm.acks)
                cpu_probe.mark()
                before = cpu_mark(service.process.pid, witness_pids)
                tally = await run_clients(world, mix, args.clients, args.seconds,
                                          args.requests, seed=n)
                tally.cpu = cores_used(before, service.process.pid, witness_pids,
                                       tally.seconds)
                tally.cpu["probe_us"] = cpu_probe.us_per_1000()
                tally.integration = await integration_stats(service.port, n)
                acks.extend(tally.acks)
                runs.append((n, tally))
                if not args.json:
                    print_phase(n, args.clients, tally)
                    for cap in [*caps, *([generator_cap] if generator_cap else [])]:
                        log(args, f"  cap {cap.path.name}: {cap.cores:g} cores, bound in "
                                  f"{cap.throttled_share():.0%} of periods so far")
                if args.op_seconds > 0:
                    per_op[n] = await per_op_phases(world, mix, args, n, service.process.pid,
                                                    witness_pids, acks, cpu_probe)
                    if not args.json:
                        print_op_cpu(n, per_op[n])
            if n == workers[-1]:
                size, checked = await check_acknowledged(service.port, acks)
            problems = service.problems()
            if problems:
                log(args, f"  the server logged {len(problems)} warning/error lines "
                          f"({service.log}); the last: " + " | ".join(problems[-3:])[:1500])
            service.stop()
            service = None
            for cap in caps:
                cap.close()
            caps = []
            if args.op_seconds > 0 and n == workers[-1]:
                # The reference the 1 ms target assumed, in this window (bench/trivial.py).
                trivial_ms, _ = await trivial_query_ms(args.clients, args.op_seconds)
                log(args, f"trivial strawberry query: {trivial_ms:.3f} ms of server CPU a "
                          f"request (STACK.md's machine: {TARGET_MACHINE_MS:.3f})")
        stop_all(witnesses)
        witnesses = []
        t0 = time.perf_counter()
        verify = subprocess.run([PYTHON, "-m", "heartchain.cli", "verify"], env=env,
                                capture_output=True, text=True, timeout=1800, check=False)
        verify_seconds = time.perf_counter() - t0
        verified = verify.stdout.strip().splitlines()
        log(args, f"every acknowledged write present: {checked} checked against the stored "
                  f"log of {size}")
        if verify.returncode == 0:
            log(args, f"heartchain verify passed in {verify_seconds:.0f} s: "
                      f"{verified[0] if verified else ''}")
        else:
            log(args, f"heartchain verify FAILED:\n{verify.stderr[-3000:]}")
        results = figures_for(idle, runs)
        for n, phases in per_op.items():
            results.extend(op_cpu_figures(n, phases, trivial_ms))
        errors = sum(sum(t.errors.values()) for _, t in runs)
        report("load", f"load: heartchain serve --workers {args.workers} on PostgreSQL, 2 "
                       f"witnesses, {args.clients} clients, {os.cpu_count()} cores "
                       f"(total {time.perf_counter() - started:.0f} s)", results,
               as_json=args.json, clients=args.clients, seed=args.seed, cores=os.cpu_count(),
               phases={str(n): summary(t) for n, t in runs}, unloaded=idle,
               cores_busy={str(n): {k: round(v, 2) for k, v in t.cpu.items()} for n, t in runs},
               integration={str(n): t.integration for n, t in runs},
               per_op={str(n): {op: {"rate": t.total / t.seconds, **t.cpu}
                                for op, t in phases.items()} for n, phases in per_op.items()},
               caps={"worker": args.cap_worker, "generator": args.cap_generator},
               acknowledged_checked=checked, log_size=size, errors=errors,
               trivial_query_ms=trivial_ms, verify_seconds=round(verify_seconds, 1),
               verify_passed=verify.returncode == 0)
        return 0 if verify.returncode == 0 and not errors else 1
    finally:
        if service is not None:
            service.stop()
        stop_all(witnesses)
        for cap in [*caps, *([generator_cap] if generator_cap else [])]:
            cap.close()
        cpu_probe.close()
        if args.keep:
            log(args, f"kept database {database} and data dir {data_dir}")
        else:
            await pg_admin(args.postgres, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            shutil.rmtree(data_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15, help="per worker count")
    parser.add_argument("--requests", type=int, default=100_000, help="per worker count")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--members", type=int, default=40)
    parser.add_argument("--workers", default="1,2", help="worker counts to run, in order")
    parser.add_argument("--samples", type=int, default=15, help="unloaded samples per op")
    parser.add_argument("--mix", help="e.g. donation=20,handover=10,proof=15 (others 0)")
    parser.add_argument("--warmup-seconds", type=float, default=3.0,
                        help="unmeasured mixed load on each fresh server first")
    parser.add_argument("--op-seconds", type=float, default=3.0,
                        help="after each mixed phase, each operation alone for this long "
                             "(server CPU per operation); 0: skip")
    parser.add_argument("--cap-worker", type=float, default=0.0,
                        help="cap each server worker at this many cores (cgroup; 0: uncapped)")
    parser.add_argument("--cap-generator", type=float, default=0.0,
                        help="cap this load generator at this many cores (cgroup; 0: uncapped)")
    parser.add_argument("--seed", choices=["demo", "light"], default="demo")
    parser.add_argument("--postgres", default=os.environ.get(
        "HEARTCHAIN_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--keep", action="store_true", help="keep the database and data dir")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
