"""The demo's two witnesses: partner institutions that cosign the log.

The seeder creates their data directories under `<data dir>/witnesses/` (keys, the log's
verifier key), runs them in-process once to cosign the seeded log, and notes how to serve them.
`demo_witnesses(settings)` starts them as real processes beside `heartchain demo --serve` and
points the log at them (HEARTCHAIN_WITNESSES, unless already set).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from heartchain.demo import DemoState, seeder
from heartchain.ledger.witness_client import WitnessClient
from heartchain.ledger.witness_policy import ENV_WITNESSES, WitnessPolicy
from heartchain.settings import Settings
from heartchain.witness.config import WitnessConfig, init_witness
from heartchain.witness.records import RecordSeal
from heartchain.witness.server import create_app
from heartchain.witness.store import WitnessStore

# (label, key name) of the two demo organisations that run witnesses; their ports are
# options of `heartchain demo` (default: the served port + 101 and + 102).
DEMO_WITNESSES = [
    ("riverside", "riverside-library.witness.localhost"),
    ("federation", "city-charity-federation.witness.localhost"),
]


def witness_dir(settings: Settings, label: str) -> Path:
    return Path(settings.data_dir) / "witnesses" / label


def demo_configs(settings: Settings, log_key: str, ports: tuple[int, int] = (8101, 8102)
                 ) -> list[tuple[str, int, WitnessConfig]]:
    return [(label, port, init_witness(witness_dir(settings, label), name, [log_key]))
            for (label, name), port in zip(DEMO_WITNESSES, ports, strict=True)]


def demo_policy(configs: list[tuple[str, int, WitnessConfig]]) -> str:
    return ",".join(f"{label}=http://127.0.0.1:{port}|{config.signer().verifier_key}"
                    for label, port, config in configs)


@seeder
async def seed_witnesses(state: DemoState) -> None:
    platform = state.platform
    configs = demo_configs(platform.settings, platform.verifier_key, state.witness_ports)
    policy = WitnessPolicy.parse(demo_policy(configs))
    stores = [WitnessStore(config.database) for _, _, config in configs]
    mounts: dict[str, httpx.AsyncBaseTransport] = {
        f"http://127.0.0.1:{port}": httpx.ASGITransport(app=create_app(config, store=store))
        for (_, port, config), store in zip(configs, stores, strict=True)}
    try:
        async with httpx.AsyncClient(mounts=mounts) as http:
            client = WitnessClient(platform.log, policy, seal=RecordSeal(platform.vault),
                                   http=http)
            latest = await platform.log.latest_checkpoint()
            outcomes = [await client.submit(endpoint, latest) for endpoint in policy.witnesses]
            await client.aclose()
    finally:
        for store in stores:
            store.close()
    cosigned = sum(outcome.value == "cosigned" for outcome in outcomes)
    state.notes.append(f"witnesses: {cosigned} of {len(configs)} cosigned checkpoint "
                       f"{latest.size}; data in {witness_dir(platform.settings, '*')}")
    for label, port, _ in configs:
        state.notes.append(f"  heartchain witness serve --dir "
                           f"{witness_dir(platform.settings, label)} --port {port}")
    state.notes.append(f"  then serve the log with {ENV_WITNESSES}=\"{demo_policy(configs)}\"")


@contextmanager
def demo_witnesses(settings: Settings, log_key: str, ports: tuple[int, int] = (8101, 8102)
                   ) -> Iterator[str]:
    """Run the demo witnesses as processes while the block runs; yield HEARTCHAIN_WITNESSES."""
    configs = demo_configs(settings, log_key, ports)
    value = demo_policy(configs)
    processes = []
    try:
        for label, port, _ in configs:
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "heartchain.witness.cli", "serve", "--dir",
                 str(witness_dir(settings, label)), "--port", str(port), "--log-level",
                 "warning"]))
        for _, port, _ in configs:
            _wait_healthy(f"http://127.0.0.1:{port}/healthz")
        # This run's witnesses, on this run's ports (a variable left from another run with
        # other ports would point the log at witnesses that are not there).
        os.environ[ENV_WITNESSES] = value
        yield value
    finally:
        stop_all(processes)


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    """Terminate the processes still running, then kill any that has not ended within 10 s."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_healthy(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)
