"""A real `heartchain serve` delivering to a receiver, killed with -9 mid-stream and started
again: every entry arrives, none is skipped, and only the one in flight may come twice."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from heartchain.webhooks import signing
from tests.hostile.test_socket_tokens import init
from tests.servers import Server
from tests.webhooks.receiver import Receiver, serving

pytestmark = pytest.mark.slow

GIFTS = 30


async def call(url: str, query: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(f"{url}/graphql", json={"query": query,
                                                           "variables": variables},
                                   headers={"Authorization": f"Bearer {token}"})
    data: dict[str, Any] = response.json()["data"]
    return data


async def until(condition: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


async def test_a_killed_server_resumes_deliveries_none_lost_none_duplicated(
        tmp_path: Path) -> None:
    env, operator_token, _ = init(tmp_path, HEARTCHAIN_WEBHOOK_ALLOW_LOOPBACK_HTTP="1",
                                  HEARTCHAIN_WEBHOOK_LEASE_S="1",
                                  HEARTCHAIN_WEBHOOK_RETRY_BASE_S="0.2")
    receiver = Receiver(delay=0.05)
    server = Server(env, log=tmp_path / "serve.log")
    async with serving(receiver) as hook:
        await server.start()
        try:
            made = await call(server.url, "mutation { registerAccount(role: \"charity\", "
                              "label: \"Sunrise\") { ... on AccountRegistered { token } } }",
                              {}, operator_token)
            token = made["registerAccount"]["token"]
            declared = await call(server.url, """mutation($input: CampaignInput!) {
              createCampaign(input: $input) { __typename } }""", {"input": {
                "slug": "winter-2026", "titleZh": "冬季", "titleEn": "Winter", "purpose": "food",
                "category": "food", "goal": 1_000_000, "unit": "fen",
                "starts": "2020-01-01T00:00:00.000Z", "beneficiary": "families in need"}}, token)
            assert declared["createCampaign"]["__typename"] == "CampaignSaved", declared
            registered = await call(server.url, """mutation($url: String!) {
              registerWebhook(url: $url, kinds: ["donation.record"]) {
                ... on WebhookRegistered { secret webhook { id } } } }""", {"url": hook}, token)
            secret = registered["registerWebhook"]["secret"]
            endpoint = registered["registerWebhook"]["webhook"]["id"]
            indexes = []
            for n in range(GIFTS):
                done = await call(server.url, """mutation($c: String!) {
                  recordDonation(kind: "cash", quantity: 100, campaign: "winter-2026",
                                 contact: $c) {
                    ... on DonationRecorded { donation { index } } } }""",
                                  {"c": f"+861390000{n:04d}"}, token)
                indexes.append(done["recordDonation"]["donation"]["index"])
            await until(lambda: len(receiver.received) >= 8)
            server.kill()
            cut = len(set(receiver.ids))
            assert cut < GIFTS, "the kill came after every delivery"
            await server.start()
            await until(lambda: len(set(receiver.ids)) >= GIFTS)
            await asyncio.sleep(0.5)  # nothing more comes
        finally:
            server.stop()
    assert receiver.delivered_indexes() == indexes  # none lost, none skipped, in log order
    assert set(receiver.ids) == {f"{endpoint}:{i}" for i in indexes}
    assert len(receiver.ids) - len(set(receiver.ids)) <= 1  # only the one in flight, again
    for got in receiver.received:
        signing.verify(secret, got.headers["heartchain-signature"], got.body, now=time.time())
