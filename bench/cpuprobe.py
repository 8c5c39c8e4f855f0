"""A CPU-speed probe: what a fixed piece of work costs in CPU time while a benchmark runs.

On a shared or virtualised machine a process's CPU time per unit of work is not constant: it
grows with contention (caches, the hypervisor). `CpuProbe` runs a small fixed workload (SHA-256
chains) in a child process at a low duty cycle (~5 % of a core) and reports its CPU
microseconds per 1,000 hashes over a window, so a server's CPU per request can be read beside
how expensive CPU time itself was in that window (bench/load.py prints both per phase).
"""

from __future__ import annotations

import os
import select
import statistics
import subprocess
import sys

_CHILD = r"""
import hashlib, sys, time
x = b"p" * 64
while True:
    t = time.thread_time_ns()
    for _ in range(1000):
        x = hashlib.sha256(x).digest()
    print(time.thread_time_ns() - t, flush=True)
    time.sleep(0.02)
"""


class CpuProbe:
    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", _CHILD], stdout=subprocess.PIPE,
                                        text=True, bufsize=1)
        self._partial = ""

    def _drain(self) -> list[int]:
        if self.process.stdout is None:
            return []
        fd = self.process.stdout.fileno()
        os.set_blocking(fd, False)
        data = ""
        while select.select([fd], [], [], 0)[0]:
            chunk = os.read(fd, 65536).decode()
            if not chunk:
                break
            data += chunk
        data = self._partial + data
        lines, _, self._partial = data.rpartition("\n")
        return [int(v) for v in lines.split()]

    def mark(self) -> None:
        """Start a window: forget what was measured before."""
        self._drain()

    def us_per_1000(self) -> float:
        """Median CPU microseconds per 1,000 SHA-256 hashes since `mark`."""
        samples = self._drain()
        return statistics.median(samples) / 1000 if samples else 0.0

    def close(self) -> None:
        self.process.kill()
        self.process.wait(5)
