"""Webhook deliveries: signed and verifiable, retried with backoff, resumed after a worker dies,
filtered by kind and campaign, HTTPS only."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from heartchain.accounts.models import Account
from heartchain.errors import VerificationError
from heartchain.webhooks import delivery, services, signing
from heartchain.webhooks.delivery import DeliveryWorker, backoff
from heartchain.webhooks.models import WebhookAttempt, WebhookEndpoint
from tests.conftest import Ledger, gql
from tests.factories import ensure_campaign
from tests.tracing.factories import account, digest, donate, reverse, size
from tests.webhooks.receiver import Receiver
from tracing import services as tracing

URL = "http://127.0.0.1:9/hook"  # the receiver is reached through its ASGI transport


@pytest.fixture
def hooks(ledger: Ledger) -> Ledger:
    ledger.platform.settings = ledger.settings.with_(
        webhook_allow_loopback_http=True, webhook_retry_base_s=5.0, webhook_retry_cap_s=40.0,
        webhook_lease_s=30.0)
    return ledger


def worker_for(ledger: Ledger, receiver: Receiver, now: Any = time.time) -> DeliveryWorker:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver))
    return DeliveryWorker(ledger.platform, http=http, now=now, poll=0.05)


async def endpoint(ledger: Ledger, owner: str, **filters: Any) -> services.Registered:
    row = await Account.get(address=owner)
    return await services.register(ledger.platform, row, filters.pop("url", URL),
                                   kinds=filters.get("kinds", []),
                                   campaigns=filters.get("campaigns", []))


async def test_deliveries_are_signed_verifiable_and_carry_no_personal_data(hooks: Ledger
                                                                           ) -> None:
    charity = await account(hooks, "charity")
    donor = await account(hooks)
    registered = await endpoint(hooks, charity, kinds=["donation.record"])
    indexes = [await donate(hooks, charity, donor, "cash", 100 * n) for n in (1, 2, 3)]
    receiver = Receiver()
    worker = worker_for(hooks, receiver)
    assert await worker.run_once() == 3
    assert receiver.delivered_indexes() == indexes
    for got, index in zip(receiver.received, indexes, strict=True):
        header = got.headers["heartchain-signature"]
        stamp = signing.verify(registered.secret, header, got.body, now=time.time())
        assert got.headers["heartchain-webhook-timestamp"] == str(stamp)
        assert got.id == f"{registered.endpoint.id}:{index}"
        document = got.document
        assert (document["id"], document["index"], document["kind"]) == (
            got.id, index, "donation.record")
        assert document["campaign"] == {"slug": "winter-2026", "charity": charity}
        assert document["links"]["entry"].endswith(f"/entries/{index}")
        assert document["links"]["receipt"].endswith(f"/entries/{index}/receipt")
        assert donor not in got.body.decode()  # the body stays on the log, behind the links
        with pytest.raises(VerificationError):
            signing.verify("whsec_other", header, got.body, now=time.time())
        with pytest.raises(VerificationError):
            signing.verify(registered.secret, header, got.body + b" ", now=time.time())
        with pytest.raises(VerificationError, match="from now"):  # a replay, later
            signing.verify(registered.secret, header, got.body, now=time.time() + 3600)
    assert await worker.run_once() == 0  # nothing twice
    await worker.close()
    row = await WebhookEndpoint.get(id=registered.endpoint.id)
    assert row.next_index == await hooks.platform.log.size()
    assert registered.secret.encode() not in bytes(row.secret_sealed)


async def test_a_failing_receiver_is_retried_with_backoff_and_gets_each_entry_once(
        hooks: Ledger) -> None:
    charity = await account(hooks, "charity")
    donor = await account(hooks)
    registered = await endpoint(hooks, charity, kinds=["donation.record"])
    first, second = (await donate(hooks, charity, donor, "cash", 100),
                     await donate(hooks, charity, donor, "cash", 200))
    clock = [1_000_000.0]
    receiver = Receiver(failures=2)
    worker = worker_for(hooks, receiver, now=lambda: clock[0])
    assert await worker.run_once() == 0  # 500
    row = await WebhookEndpoint.get(id=registered.endpoint.id)
    assert (row.failures, row.retry_at, row.next_index) == (1, clock[0] + 5, first)
    clock[0] += 4
    assert await worker.run_once() == 0  # not yet: backoff
    assert len(receiver.received) == 1
    clock[0] += 1
    assert await worker.run_once() == 0  # 500 again; next wait doubles
    row = await WebhookEndpoint.get(id=registered.endpoint.id)
    assert (row.failures, row.retry_at) == (2, clock[0] + 10)
    clock[0] += 10
    assert await worker.run_once() == 2  # then both, in log order
    assert receiver.answered == [500, 500, 200, 200]
    assert receiver.ids == [f"{registered.endpoint.id}:{first}"] * 3 + [
        f"{registered.endpoint.id}:{second}"]
    assert receiver.delivered_indexes() == [first, second]
    attempts = await WebhookAttempt.filter(endpoint_id=registered.endpoint.id).order_by("id")
    assert [(a.idx, a.status_code) for a in attempts] == [
        (first, 500), (first, 500), (first, 200), (second, 200)]
    row = await WebhookEndpoint.get(id=registered.endpoint.id)
    assert (row.failures, row.retry_at) == (0, None)
    await worker.close()


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff(n, base=5, cap=3600) for n in (1, 2, 3, 10, 11, 50)] == [
        5, 10, 20, 2560, 3600, 3600]


async def test_a_worker_killed_mid_stream_is_resumed_with_none_lost(hooks: Ledger) -> None:
    hooks.platform.settings = hooks.platform.settings.with_(webhook_lease_s=0.3)
    charity = await account(hooks, "charity")
    donor = await account(hooks)
    await endpoint(hooks, charity, kinds=["donation.record"])
    indexes = [await donate(hooks, charity, donor, "cash", n) for n in range(1, 21)]
    receiver = Receiver(delay=0.02)
    # The leases' clock moves only when the test says, so a slow machine cannot run a lease
    # out early (or late): the second worker's first pass is refused, its later one is not.
    clock = [time.time()]
    first = worker_for(hooks, receiver, now=lambda: clock[0])
    task = asyncio.get_running_loop().create_task(first.run())
    while len(receiver.received) < 7:
        await asyncio.sleep(0.01)
    task.cancel()  # mid-request: that delivery's answer is never recorded
    with pytest.raises(asyncio.CancelledError):
        await task
    cut = len(receiver.received)
    assert cut < len(indexes)
    second = worker_for(hooks, receiver, now=lambda: clock[0])  # a new process: its own owner
    assert await second.run_once() == 0  # the dead worker's lease has not run out yet
    clock[0] += 0.35
    more = [await donate(hooks, charity, donor, "cash", 1000)]
    await second.run_once()
    assert receiver.delivered_indexes() == indexes + more  # none lost, in order
    assert len(receiver.ids) - len(set(receiver.ids)) <= 1  # at most the one in flight again
    await second.close()


async def test_only_matching_kinds_and_campaigns_are_delivered(hooks: Ledger) -> None:
    charity = await account(hooks, "charity")
    other = await account(hooks, "charity")
    partner = await account(hooks, "partner")
    donor = await account(hooks)
    for who, slug in ((charity, "winter-2026"), (charity, "trees"), (other, "winter-2026")):
        await ensure_campaign(hooks, who, slug)  # declared before the endpoints exist
    spending = await endpoint(hooks, charity, kinds=["fund.disburse"])
    winter = await endpoint(hooks, charity, campaigns=["winter-2026"])
    declared_later = await endpoint(hooks, charity, campaigns=["spring"])
    winter_gifts = await endpoint(hooks, partner, kinds=["donation.record"],
                                  campaigns=[f"winter-2026@{charity}"])
    others = await endpoint(hooks, partner, campaigns=[f"winter-2026@{other}"])
    gift = await donate(hooks, charity, donor, "cash", 5000)
    await donate(hooks, charity, donor, "cash", 700, campaign="trees")
    theirs = await donate(hooks, other, donor, "cash", 900)
    paid = await tracing.disburse(hooks.platform, charity=charity, campaign="winter-2026",
                                  amount=1000, payee="Rice Co", purpose="rice", receipt=digest())
    small = await donate(hooks, charity, donor, "food", 2000)
    reversal = await reverse(hooks, charity, small)
    spring = await size(hooks)
    await donate(hooks, charity, donor, "cash", 300, campaign="spring")  # declares it first
    receiver = Receiver()
    worker = worker_for(hooks, receiver)
    await worker.run_once()
    by_endpoint: dict[str, list[int]] = {}
    for got in receiver.received:
        by_endpoint.setdefault(got.document["endpoint"], []).append(got.document["index"])
    assert by_endpoint == {
        spending.endpoint.id: [paid.idx],
        winter.endpoint.id: [gift, paid.idx, small, reversal],
        winter_gifts.endpoint.id: [gift, small],
        others.endpoint.id: [theirs],
        declared_later.endpoint.id: [spring, spring + 1],  # campaign.create, then the gift
    }
    await worker.close()


REGISTER = """mutation($url: String!, $kinds: [String!], $campaigns: [String!]) {
  registerWebhook(url: $url, kinds: $kinds, campaigns: $campaigns) {
    __typename ... on WebhookRegistered { secret webhook { id url kinds campaigns nextIndex } }
    ... on ValidationError { message field } ... on PermissionDenied { message } } }"""


async def test_only_https_endpoints_and_only_charities_and_partners(
        ledger: Ledger, client: httpx.AsyncClient) -> None:
    from heartchain.accounts.services import issue_token

    charity = await account(ledger, "charity")
    token = await issue_token(ledger.platform, charity)
    member_token = await issue_token(ledger.platform, await account(ledger))

    async def register(url: str, who: str = token, **more: Any) -> dict[str, Any]:
        document = await gql(client, REGISTER, {"url": url, "kinds": ["donation.record"],
                                                **more}, token=who)
        result: dict[str, Any] = document["data"]["registerWebhook"]
        return result

    for refused in ("http://hooks.example.org/x", "http://127.0.0.1:8000/hook",
                    "https://127.0.0.1/hook", "https://10.1.2.3/hook", "https://[::1]/x",
                    "https://user:pw@hooks.example.org/", "ftp://hooks.example.org/",
                    "https://hooks.example.org/" + "a" * 500):
        result = await register(refused)
        assert result["__typename"] == "ValidationError", refused
        assert result["field"] == "url"
    assert await WebhookEndpoint.all().count() == 0
    assert (await register("https://hooks.example.org/x", kinds=["no.such"]))["field"] == "kinds"
    assert (await register("https://hooks.example.org/x", member_token))["__typename"] == \
        "PermissionDenied"
    done = await register("https://hooks.example.org/heartchain",
                          campaigns=["winter-2026"])
    assert done["__typename"] == "WebhookRegistered"
    assert done["secret"].startswith("whsec_")
    assert done["webhook"]["campaigns"] == [f"winter-2026@{charity}"]
    listed = await gql(client, "{ webhooks { id url active } }", token=token)
    assert listed["data"]["webhooks"] == [{"id": done["webhook"]["id"],
                                           "url": "https://hooks.example.org/heartchain",
                                           "active": True}]
    assert done["secret"] not in json.dumps(listed)
    # Loopback HTTP only where the deployment allows it (the tests' receivers).
    ledger.platform.settings = ledger.settings.with_(webhook_allow_loopback_http=True)
    assert (await register("http://127.0.0.1:8000/hook"))["__typename"] == "WebhookRegistered"
    assert (await register("http://hooks.example.org/x"))["__typename"] == "ValidationError"


async def test_a_retried_registration_answers_the_same_endpoint(
        ledger: Ledger, client: httpx.AsyncClient) -> None:
    from heartchain.accounts.services import issue_token

    token = await issue_token(ledger.platform, await account(ledger, "partner"))
    body = {"query": REGISTER, "variables": {"url": "https://hooks.example.org/p",
                                             "kinds": ["donation.record"]}}
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "register-1"}
    answers = [(await client.post("/graphql", json=body, headers=headers)).json()
               for _ in range(2)]
    first, again = (a["data"]["registerWebhook"] for a in answers)
    assert first == again
    assert await WebhookEndpoint.all().count() == 1


async def test_an_endpoint_whose_secret_does_not_open_stops_only_itself(hooks: Ledger) -> None:
    charity = await account(hooks, "charity")
    donor = await account(hooks)
    await ensure_campaign(hooks, charity)
    broken = await endpoint(hooks, charity, kinds=["donation.record"])
    working = await endpoint(hooks, charity, kinds=["donation.record"])
    # A database administrator copies one endpoint's sealed secret onto another's row.
    await WebhookEndpoint.filter(id=broken.endpoint.id).update(
        secret_sealed=bytes(working.endpoint.secret_sealed))
    gift = await donate(hooks, charity, donor, "cash", 100)
    receiver = Receiver()
    worker = worker_for(hooks, receiver)
    assert await worker.run_once() == 1
    assert [(r.document["endpoint"], r.document["index"]) for r in receiver.received] == [
        (working.endpoint.id, gift)]
    assert (await WebhookEndpoint.get(id=broken.endpoint.id)).next_index == gift
    await worker.close()


async def test_the_log_watcher_outlives_a_database_outage(
        hooks: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """The watcher's first subscription fails as when PostgreSQL stops: it subscribes again,
    a gift made after that is delivered, and the worker stops cleanly."""
    charity = await account(hooks, "charity")
    donor = await account(hooks)
    await endpoint(hooks, charity, kinds=["donation.record"])
    log = hooks.platform.log
    real_sizes = log.sizes
    subscriptions = 0

    async def failing_once(poll: float = 1.0) -> Any:
        nonlocal subscriptions
        subscriptions += 1
        if subscriptions == 1:
            raise ConnectionError("connection was closed in the middle of operation")
        async for grown in real_sizes(poll):
            yield grown

    monkeypatch.setattr(log, "sizes", failing_once)
    receiver = Receiver()
    worker = worker_for(hooks, receiver)
    task = asyncio.get_running_loop().create_task(worker.run())
    for _ in range(200):
        if subscriptions >= 2:
            break
        await asyncio.sleep(0.01)
    assert subscriptions >= 2, "the watcher did not subscribe again"
    index = await donate(hooks, charity, donor, "cash", 500)
    for _ in range(200):
        if receiver.delivered_indexes() == [index]:
            break
        await asyncio.sleep(0.01)
    assert receiver.delivered_indexes() == [index]
    worker.stop()
    await asyncio.wait_for(task, 5)  # not the watcher's ConnectionError


async def test_passes_are_spaced_however_fast_the_log_grows(
        hooks: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """A giving day integrates dozens of batches a second: the worker does not query for
    endpoints on each. With none active, a pass at most once per poll; with one, at most
    once per PASS_GAP_S, and its gifts still all arrive."""
    charity = await account(hooks, "charity")
    donor = await account(hooks)
    monkeypatch.setattr(delivery, "PASS_GAP_S", 0.2)
    receiver = Receiver()
    worker = DeliveryWorker(hooks.platform, http=httpx.AsyncClient(
        transport=httpx.ASGITransport(app=receiver)), poll=0.5)
    passes: list[float] = []
    real_pass = worker.run_once

    async def counted() -> int:
        passes.append(time.monotonic())
        return await real_pass()

    monkeypatch.setattr(worker, "run_once", counted)
    task = asyncio.get_running_loop().create_task(worker.run())
    for _ in range(400):
        if passes or task.done():
            break
        await asyncio.sleep(0.005)
    assert passes, task
    for n in range(10):  # ten commits within about half a second, no endpoint yet
        await donate(hooks, charity, donor, "cash", 100 + n)
        await asyncio.sleep(0.05)
    assert len(passes) <= 3, passes  # the first, then one per 0.5 s
    await endpoint(hooks, charity, kinds=["donation.record"])
    indexes = []
    started = len(passes)
    for n in range(10):
        indexes.append(await donate(hooks, charity, donor, "cash", 200 + n))
        await asyncio.sleep(0.02)
    for _ in range(300):
        if receiver.delivered_indexes()[-10:] == indexes:
            break
        await asyncio.sleep(0.01)
    assert receiver.delivered_indexes()[-10:] == indexes
    gaps = [b - a for a, b in zip(passes[started:], passes[started + 1:], strict=False)]
    assert all(gap >= 0.19 for gap in gaps), gaps
    worker.stop()  # as the app's shutdown does: the pass under way ends, then the worker
    await asyncio.wait_for(task, 5)
    await asyncio.wait_for(worker.close(), 5)
