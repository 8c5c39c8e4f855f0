"""Fixed CPU shares for benchmark processes, with cgroup v1 `cpu.cfs_quota_us` (or v2 `cpu.max`).

bench/load.py --cap-worker 0.5 --cap-generator 0.3 puts each server worker in a group of its own
capped at half a core, and the load generator (this process) at 0.3 of a core: then 2 workers
against 1 measures what the log's head lock and the shared database allow, not how many cores
the machine had left over. PostgreSQL and the witnesses stay uncapped (they are reported).
Needs root and a cpu controller mounted at /sys/fs/cgroup/cpu (v1) or /sys/fs/cgroup (v2).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PERIOD_US = 100_000


def _root() -> tuple[Path, bool]:
    """(the cpu hierarchy's root, whether it is cgroup v2)."""
    v1 = Path("/sys/fs/cgroup/cpu")
    if (v1 / "cpu.cfs_quota_us").exists():
        return v1, False
    v2 = Path("/sys/fs/cgroup")
    if (v2 / "cgroup.controllers").exists() and "cpu" in (v2 / "cgroup.controllers").read_text():
        return v2, True
    raise SystemExit("--cap-*: no cgroup cpu controller here (needs /sys/fs/cgroup/cpu)")


class CpuCap:
    """One cgroup capped at `cores` cores; `add(pid)` moves a process (all its threads) in."""

    def __init__(self, name: str, cores: float) -> None:
        if cores <= 0:
            raise ValueError("a CPU cap must be positive")
        self.root, v2 = _root()
        self.cores = cores
        self.path = self.root / f"hc_bench_{os.getpid()}_{name}"
        self.path.mkdir(exist_ok=True)
        quota = int(cores * PERIOD_US)
        if v2:
            (self.path / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        else:
            (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (self.path / "cpu.cfs_quota_us").write_text(str(quota))

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def throttled_seconds(self) -> float:
        """How long the group was held back by its quota (cpu.stat), in seconds."""
        for line in (self.path / "cpu.stat").read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "throttled_time":  # v1, nanoseconds
                return int(value) / 1e9
            if name == "throttled_usec":  # v2
                return int(value) / 1e6
        return 0.0

    def throttled_share(self) -> float:
        """The share of scheduling periods in which the group hit its quota (cpu.stat): near 0,
        the cap did not bind (the machine gave the group less than its cap anyway)."""
        stat = dict(line.split(" ", 1) for line in
                    (self.path / "cpu.stat").read_text().splitlines() if " " in line)
        periods = int(stat.get("nr_periods", 0))
        return int(stat.get("nr_throttled", 0)) / periods if periods else 0.0

    def close(self) -> None:
        """Move what is left back to the root group and remove the group."""
        try:
            pids = (self.path / "cgroup.procs").read_text().split()
        except OSError:
            return
        for pid in pids:
            with contextlib.suppress(OSError):  # exited meanwhile
                (self.root / "cgroup.procs").write_text(pid)
        with contextlib.suppress(OSError):
            self.path.rmdir()


def worker_pids(pid: int) -> list[int]:
    """The uvicorn workers `heartchain serve --workers N` (process `pid`) spawned: its children
    started by multiprocessing's spawn_main (not its resource tracker). None with one worker:
    uvicorn then serves in the process itself."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"spawn_main" in command:
            found.append(int(entry.name))
    return sorted(found)
