"""The load test's report: where the cores went (from /proc), the integration batches (from the
workers' /metrics), per-operation throughput and latency, and the figures beside their baselines.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from cpucap import worker_pids
from figures import figure
from load_driver import WRITES, Connection, HTTPError, Tally

STRAWBERRY_BASELINE = 3500.0  # STACK.md: trivial strawberry query, 1 uvicorn worker, req/s
TARGET_MACHINE_MS = 1000 / STRAWBERRY_BASELINE  # its server CPU a request (bench/trivial.py)

# ---------------------------------------------------------------------------------------------
# Cores used, from /proc


def process_cpu() -> dict[int, tuple[int, float]]:
    """Every process's parent and user + system CPU seconds, from one pass over /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    return stats


def cpu_seconds(root: int, stats: dict[int, tuple[int, float]] | None = None) -> float:
    """CPU seconds of a process and its children (uvicorn workers), from `stats` (else now)."""
    stats = process_cpu() if stats is None else stats
    tree, total = {root}, 0.0
    for _ in range(3):
        tree |= {pid for pid, (ppid, _) in stats.items() if ppid in tree}
    for pid in tree:
        total += stats.get(pid, (0, 0.0))[1]
    return total


def cpu_of_command(name: str) -> float:
    """CPU seconds of every process whose command is `name` (PostgreSQL: all its backends)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm, rest = (entry / "stat").read_text().split(" (", 1)[1].rsplit(")", 1)
        except (OSError, ValueError):
            continue
        if comm == name:
            fields = rest.split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, float(sum(values))


@dataclass
class CpuMark:
    """The CPU counters when a phase starts."""

    servers: float
    witnesses: float
    generator: float
    machine: tuple[float, float]
    postgres: float
    workers: dict[int, float] = field(default_factory=dict)  # each worker's own, when several


def cpu_mark(server_pid: int, witness_pids: list[int]) -> CpuMark:
    # One pass over /proc for every party, read before the generator's own clock starts.
    workers = worker_pids(server_pid)
    stats = process_cpu()
    return CpuMark(cpu_seconds(server_pid, stats),
                   sum(cpu_seconds(pid, stats) for pid in witness_pids), time.process_time(),
                   machine_busy(), cpu_of_command("postgres"),
                   {pid: cpu_seconds(pid, stats) for pid in workers})


def cores_used(before: CpuMark, server_pid: int, witness_pids: list[int],
               seconds: float) -> dict[str, float]:
    """The cores each party kept busy over the `seconds` since `before`."""
    generator = time.process_time() - before.generator  # before this function's own reads
    busy, total = machine_busy()
    stats = process_cpu()
    # The least and the most busy worker: a worker left idle (connections all on another) shows.
    workers = sorted((cpu_seconds(pid, stats) - start) / seconds
                     for pid, start in before.workers.items())
    spread = ({"idlest worker": workers[0], "busiest worker": workers[-1]}
              if len(workers) > 1 else {})
    return {
        "servers": (cpu_seconds(server_pid, stats) - before.servers) / seconds,
        **spread,
        "witnesses": (sum(cpu_seconds(pid, stats) for pid in witness_pids) - before.witnesses)
        / seconds,
        "generator": generator / seconds,
        # Backends that exit during the run take their CPU time with them: a floor.
        "postgres": max(0.0, cpu_of_command("postgres") - before.postgres) / seconds,
        "machine": (busy - before.machine[0]) / (total - before.machine[1])
        * (os.cpu_count() or 1)}


# ---------------------------------------------------------------------------------------------
# Integration batches, from the workers' /metrics


async def integration_stats(port: int, workers: int) -> dict[str, float]:
    """Batches, entries per batch and seconds per integration from the server's /metrics: one
    read, since with several workers `/metrics` is already the sum over all of them (Prometheus
    multiprocess mode, `heartchain serve --workers N`)."""
    conn = Connection(port)
    try:
        text = (await conn.get("/metrics")).decode()
    except (HTTPError, OSError):
        return {}
    finally:
        await conn.close()
    values: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("heartchain_batch_entries_sum", "heartchain_batch_entries_count",
                    "heartchain_integration_seconds_sum"):
            values[name] = float(value)
    batches = values.get("heartchain_batch_entries_count", 0.0)
    entries = values.get("heartchain_batch_entries_sum", 0.0)
    seconds = values.get("heartchain_integration_seconds_sum", 0.0)
    return {"batches": batches, "entries_per_batch": entries / batches if batches else 0.0,
            "ms_per_batch": seconds / batches * 1000 if batches else 0.0,
            "workers": float(workers)}


def batches_during(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """The integration batches between two `integration_stats` reads (each a sum since start)."""
    batches = after.get("batches", 0.0) - before.get("batches", 0.0)
    entries = (after.get("entries_per_batch", 0.0) * after.get("batches", 0.0)
               - before.get("entries_per_batch", 0.0) * before.get("batches", 0.0))
    ms = (after.get("ms_per_batch", 0.0) * after.get("batches", 0.0)
          - before.get("ms_per_batch", 0.0) * before.get("batches", 0.0))
    return {"batches": batches, "entries_per_batch": entries / batches if batches else 0.0,
            "ms_per_batch": ms / batches if batches else 0.0,
            "workers": after.get("workers", 0.0)}


# ---------------------------------------------------------------------------------------------
# Figures


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(tally: Tally) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for op in sorted(set(tally.latencies) | set(tally.errors)):
        values = tally.latencies.get(op, [])
        out[op] = {"count": len(values), "errors": tally.errors.get(op, 0),
                   "rate": len(values) / tally.seconds if tally.seconds else 0.0,
                   "p50_ms": percentile(values, 0.5) * 1000 if values else 0.0,
                   "p99_ms": percentile(values, 0.99) * 1000 if values else 0.0}
    return out


def print_table(title: str, rows: dict[str, dict[str, float]]) -> None:
    print(title)
    print(f"  {'op':<14} {'count':>7} {'errors':>6} {'ops/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for op, row in rows.items():
        rate = f"{row['rate']:>8.1f}" if row["rate"] else f"{'-':>8}"
        print(f"  {op:<14} {row['count']:>7.0f} {row['errors']:>6.0f} {rate} "
              f"{row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f}")


def print_phase(workers: int, clients: int, tally: Tally) -> None:
    """One phase's table, cores and integration batches, and its first errors."""
    print_table(f"{workers} worker(s), {clients} clients, {tally.seconds:.1f} s: "
                f"{tally.total / tally.seconds:.1f} req/s", summary(tally))
    print("  cores busy: " + ", ".join(f"{k} {v:.2f}" for k, v in tally.cpu.items()
                                       if k != "probe_us")
          + f" (of {os.cpu_count()}); CPU probe {tally.cpu.get('probe_us', 0):.0f} µs per "
          "1,000 SHA-256 (bench/cpuprobe.py: what CPU time cost in this phase)")
    if tally.integration:
        i = tally.integration
        print(f"  integration (this server since start): {i['batches']:.0f} "
              f"batches, {i['entries_per_batch']:.1f} entries and "
              f"{i['ms_per_batch']:.1f} ms each (all {i['workers']:.0f} worker(s))")
    for message in tally.messages:
        print(f"    error: {message}")


def figures_for(idle: dict[str, dict[str, float]], runs: list[tuple[int, Tally]]
                ) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    first_workers, first = runs[0]
    first_rows = summary(first)
    first_rate = first.total / first.seconds
    results.append(figure(f"total_{first_workers}w", first_rate, "req/s", STRAWBERRY_BASELINE,
                          "trivial strawberry query, 1 worker"))
    first_cpu = first.cpu.get("servers", 0.0) / first_rate * 1000
    if first_cpu:
        # What the servers spent per request: unlike req/s, it barely depends on what else
        # the machine is running. The baseline is the same 3,500 req/s in CPU terms.
        results.append(figure(f"server_cpu_per_request_{first_workers}w", first_cpu, "ms",
                              1000 / STRAWBERRY_BASELINE, "trivial strawberry query", False))
    for op, row in first_rows.items():
        if op in idle and row["count"]:
            results.append(figure(f"{op}_p50_{first_workers}w", row["p50_ms"], "ms",
                                  idle[op]["p50_ms"], "same op unloaded", False))
            results.append(figure(f"{op}_p99_{first_workers}w", row["p99_ms"], "ms",
                                  idle[op]["p99_ms"], "same op unloaded", False))
    for workers, tally in runs[1:]:
        rows = summary(tally)
        rate = tally.total / tally.seconds
        results.append(figure(f"total_{workers}w", rate, "req/s", first_rate,
                              f"total_{first_workers}w"))
        cpu = tally.cpu.get("servers", 0.0) / rate * 1000
        if cpu and first_cpu:
            results.append(figure(f"server_cpu_per_request_{workers}w", cpu, "ms", first_cpu,
                                  f"{first_workers}w", False))
        if tally.cpu.get("probe_us") and first.cpu.get("probe_us"):
            # The same fixed work's CPU time: > 1 when CPU time itself got dearer (contention).
            results.append(figure(f"cpu_probe_{workers}w", tally.cpu["probe_us"], "µs/1000 hashes",
                                  first.cpu["probe_us"], f"{first_workers}w", False))
        writes = sum(rows[op]["count"] for op in WRITES if op in rows) / tally.seconds
        first_writes = sum(first_rows[op]["count"] for op in WRITES
                           if op in first_rows) / first.seconds
        results.append(figure(f"writes_{workers}w", writes, "writes/s", first_writes,
                              f"writes_{first_workers}w"))
        for op, row in rows.items():
            if op in first_rows and row["count"] and first_rows[op]["count"]:
                results.append(figure(f"{op}_{workers}w", row["rate"], "ops/s",
                                      first_rows[op]["rate"], f"{first_workers}w"))
                results.append(figure(f"{op}_p50_{workers}w", row["p50_ms"], "ms",
                                      first_rows[op]["p50_ms"], f"{first_workers}w", False))
                results.append(figure(f"{op}_p99_{workers}w", row["p99_ms"], "ms",
                                      first_rows[op]["p99_ms"], f"{first_workers}w", False))
    return results


def op_cpu(tally: Tally) -> dict[str, float]:
    """Milliseconds of each party's CPU per operation in a one-operation phase."""
    rate = tally.total / tally.seconds if tally.seconds else 0.0
    return {k: v / rate * 1000 for k, v in tally.cpu.items()
            if k not in ("machine", "generator", "probe_us", "idlest worker", "busiest worker")
            } if rate else {}


def print_op_cpu(workers: int, phases: dict[str, Tally]) -> None:
    """The one-operation phases: CPU per operation by party, and the cores each used."""
    print(f"{workers} worker(s), each operation alone: CPU ms per operation (and cores busy)")
    print(f"  {'op':<14} {'ops/s':>8} {'server':>7} {'pg':>6} {'witn':>6}  batches  cores: "
          f"servers pg witnesses generator machine; probe µs")
    for op, tally in phases.items():
        ms, c, i = op_cpu(tally), tally.cpu, tally.integration
        batch = (f"{i['entries_per_batch']:>5.1f}/b" if i.get("batches") else f"{'-':>7}")
        print(f"  {op:<14} {tally.total / tally.seconds:>8.1f} {ms.get('servers', 0):>7.2f} "
              f"{ms.get('postgres', 0):>6.2f} {ms.get('witnesses', 0):>6.2f}  {batch}  "
              f"{c['servers']:.2f} {c['postgres']:.2f} {c['witnesses']:.2f} "
              f"{c['generator']:.2f} {c['machine']:.2f}; {c.get('probe_us', 0):.0f}")


def op_cpu_figures(workers: int, phases: dict[str, Tally], trivial_ms: float | None = None
                   ) -> list[dict[str, object]]:
    """Server CPU per operation: writes against the 1 ms target, reads against the trivial
    strawberry query (1 / 3,500 s). With `trivial_ms` (that query's CPU in this window), each
    write's CPU is also given on the machine the target assumed (× 0.286 / trivial_ms)."""
    results: list[dict[str, object]] = []
    if trivial_ms:
        results.append(figure("trivial_query_cpu", trivial_ms, "ms", TARGET_MACHINE_MS,
                              "STACK.md's machine, where the targets were set", False))
    for op, tally in phases.items():
        ms = op_cpu(tally).get("servers", 0.0)
        if not ms:
            continue
        if op in WRITES:
            results.append(figure(f"{op}_server_cpu_{workers}w", ms, "ms/op", 1.0,
                                  "target 1 ms per write" + (" (2 requests: offer, accept)"
                                                             if op == "handover" else ""),
                                  False))
            if trivial_ms:
                results.append(figure(f"{op}_server_cpu_{workers}w_scaled",
                                      ms * TARGET_MACHINE_MS / trivial_ms, "ms/op", 1.0,
                                      "target 1 ms, on the target's machine (bench/trivial.py)",
                                      False))
        else:
            results.append(figure(f"{op}_server_cpu_{workers}w", ms, "ms/op",
                                  1000 / STRAWBERRY_BASELINE, "trivial strawberry query", False))
    return results
