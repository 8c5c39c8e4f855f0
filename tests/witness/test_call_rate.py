"""The log's declared call rate to its witnesses, and one submitter among several processes."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from heartchain.ledger.submitter_lease import FileLease, lease_for
from heartchain.ledger.witness_client import WitnessClient
from heartchain.ledger.witness_policy import WitnessPolicy
from heartchain.settings import Settings
from heartchain.witness.models import WitnessCosignature
from tests.conftest import Ledger
from tests.factories import self_registration
from tests.witness.test_client import Setup, make_setup


@pytest.fixture
async def setup(ledger: Ledger, tmp_path: Path) -> AsyncIterator[Setup]:
    async for value in make_setup(ledger, tmp_path):
        yield value


def counting_http(setup: Setup, sent: list[str]) -> httpx.AsyncClient:
    async def count(request: httpx.Request) -> None:
        sent.append(request.url.host)
    return httpx.AsyncClient(mounts=dict(setup.mounts), event_hooks={"request": [count]})


def paced(policy: WitnessPolicy, interval: float) -> WitnessPolicy:
    return WitnessPolicy(policy.witnesses, policy.required, policy.timeout, interval)


async def cosigned_size(name: str) -> int:
    row = await WitnessCosignature.filter(witness=name).order_by("-size").first()
    return row.size if row is not None else 0


async def test_requests_to_a_witness_keep_the_declared_interval(setup: Setup) -> None:
    interval = 0.2
    await setup.client.aclose()  # the fixture's client submits unpaced: only ours may
    sent: list[str] = []
    http = counting_http(setup, sent)
    log = setup.ledger.platform.log
    client = WitnessClient(log, paced(setup.client.policy, interval), seal=setup.client.seal,
                           http=http)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(25):  # 25 checkpoints, each offered as it is signed
        await log.append_now([self_registration(setup.ledger)])
        client.offer(await log.latest_checkpoint())
        await asyncio.sleep(0.01)
    await client.wait_idle()
    elapsed = loop.time() - started
    await client.aclose()
    await http.aclose()
    size = await log.size()
    for name in setup.verifiers:
        assert await cosigned_size(name) == size  # the newest one always goes in the end
    for host in ("w1", "w2"):
        # One request per interval at most (the first goes at once), not one per checkpoint.
        assert 1 < sent.count(host) <= math.floor(elapsed / interval) + 1 < 25, (host, sent)


async def test_only_the_lease_holder_submits_and_another_takes_over(setup: Setup) -> None:
    settings: Settings = setup.ledger.settings
    log = setup.ledger.platform.log
    await setup.client.aclose()  # the fixture's own client holds no lease: take it away
    sent_a: list[str] = []
    sent_b: list[str] = []
    http_a, http_b = counting_http(setup, sent_a), counting_http(setup, sent_b)
    policy = paced(setup.client.policy, 0.05)
    clients = [WitnessClient(log, policy, seal=setup.client.seal, http=http,
                             lease=lease_for(settings.database_url, settings.data_dir),
                             takeover_s=0.05) for http in (http_a, http_b)]
    clients[0].start()
    for _ in range(100):
        if clients[0].submitting:
            break
        await asyncio.sleep(0.02)
    clients[1].start()
    try:
        # Entries written by "another process": the holder finds them in the store.
        for _ in range(3):
            await log.append_now([self_registration(setup.ledger)])
        size = await log.size()
        for _ in range(200):
            if all([await cosigned_size(n) == size for n in setup.verifiers]):
                break
            await asyncio.sleep(0.02)
        assert clients[0].submitting and not clients[1].submitting
        assert all([await cosigned_size(n) == size for n in setup.verifiers])
        assert sent_a and not sent_b
        # The holder exits: the other takes the lease over and submits what came since.
        await clients[0].aclose()
        await log.append_now([self_registration(setup.ledger)])
        size = await log.size()
        for _ in range(300):
            if all([await cosigned_size(n) == size for n in setup.verifiers]):
                break
            await asyncio.sleep(0.02)
        assert clients[1].submitting
        assert all([await cosigned_size(n) == size for n in setup.verifiers])
        assert sorted(set(sent_b)) == ["w1", "w2"]
    finally:
        for client in clients:
            await client.aclose()
        await http_a.aclose()
        await http_b.aclose()


async def test_a_file_lease_is_held_by_one_holder_at_a_time(tmp_path: Path) -> None:
    first, second = FileLease(tmp_path / "lock"), FileLease(tmp_path / "lock")
    assert await first.acquire() and await first.acquire()
    assert not await second.acquire()
    await first.release()
    assert await second.acquire()
    assert (tmp_path / "lock").stat().st_mode & 0o777 == 0o600
    await second.release()


def test_the_interval_is_configured_and_declared() -> None:
    settings = Settings.from_env({"HEARTCHAIN_WITNESS_INTERVAL": "0.5"})
    assert settings.witness_interval_s == 0.5
    assert Settings.from_env({}).witness_interval_s == 0.25
    policy = WitnessPolicy.from_settings(settings)
    assert policy.interval == 0.5 and policy.calls_per_second == 2.0
    with pytest.raises(ValueError, match="INTERVAL"):
        WitnessPolicy((), 0, 10.0, -1)
