"""The load benchmarks' own instruments: the CPU cap, the CPU-speed probe, batch deltas."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from cpucap import CpuCap
from cpuprobe import CpuProbe
from load_report import batches_during

BUSY = "import time\nend = time.monotonic() + 1.5\nwhile time.monotonic() < end: pass\n" \
       "print(time.process_time())"


def test_batches_during_is_the_difference_of_two_reads() -> None:
    before = {"batches": 10.0, "entries_per_batch": 2.0, "ms_per_batch": 5.0, "workers": 2.0}
    after = {"batches": 30.0, "entries_per_batch": 4.0, "ms_per_batch": 6.0, "workers": 2.0}
    got = batches_during(before, after)
    # 120 - 20 entries and 180 - 50 ms over 20 batches
    assert got == {"batches": 20.0, "entries_per_batch": 5.0, "ms_per_batch": 6.5,
                   "workers": 2.0}
    assert batches_during(after, after)["entries_per_batch"] == 0.0


def test_the_probe_reports_cpu_time_per_thousand_hashes() -> None:
    probe = CpuProbe()
    try:
        time.sleep(0.5)
        probe.mark()
        time.sleep(0.5)
        cost = probe.us_per_1000()
    finally:
        probe.close()
    # 1,000 SHA-256 of 32-64 bytes take tens of µs to a few ms of CPU on any machine.
    assert 10 < cost < 50_000


def test_a_cap_holds_a_busy_process_to_its_share() -> None:
    try:
        cap = CpuCap("test", 0.2)
    except (SystemExit, OSError) as exc:
        pytest.skip(f"no writable cgroup cpu controller: {exc}")
    try:
        child = subprocess.Popen([sys.executable, "-c", BUSY], stdout=subprocess.PIPE,
                                 text=True)
        cap.add(child.pid)
        out, _ = child.communicate(timeout=30)
        # Uncapped it would spin ~1.5 s of CPU; capped at 0.2 of a core, about 0.3 s (python's
        # start-up ran before it was moved in).
        assert float(out) < 0.8
        assert cap.throttled_seconds() > 0
    finally:
        cap.close()
    assert not cap.path.exists()
