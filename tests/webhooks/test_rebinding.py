"""Webhook SSRF by DNS rebinding: each delivery resolves the endpoint's host once, refuses it
when any address is not public, and connects to the address it checked, with the name as Host
and TLS server name; redirects are not followed; the loopback allowance is off by default."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from heartchain.accounts.models import Account
from heartchain.webhooks import pinning, services
from heartchain.webhooks.delivery import DeliveryWorker
from heartchain.webhooks.errors import EndpointRefused
from heartchain.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.conftest import Ledger
from tests.factories import ensure_campaign
from tests.servers import free_port
from tests.tracing.factories import account, donate
from tests.webhooks.receiver import Receiver

PUBLIC = "93.184.216.34"
URL = "https://hooks.example.org/heartchain"


class Dns:
    """A resolver stub whose answers the test changes between registration and delivery."""

    def __init__(self, **answers: list[str]) -> None:
        self.answers = {name.replace("_", "."): found for name, found in answers.items()}
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        if host not in self.answers:
            raise OSError(f"{host}: no such name")
        return self.answers[host]


class Recorder:
    """An httpx transport that records each request and answers `status` (no network)."""

    def __init__(self, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.status, self.headers = status, headers or {}

    def client(self, **options: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.answer), **options)

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, headers=self.headers)


async def _registered(ledger: Ledger, dns: Dns, url: str = URL) -> tuple[WebhookEndpoint, int]:
    charity = await account(ledger, "charity")
    await ensure_campaign(ledger, charity)
    owner = await Account.get(address=charity)
    registered = await services.register(ledger.platform, owner, url, kinds=["donation.record"],
                                         campaigns=[], resolver=dns)
    gift = await donate(ledger, charity, await account(ledger), "cash", 100)
    return registered.endpoint, gift


async def _attempts(endpoint: WebhookEndpoint) -> list[WebhookAttempt]:
    return await WebhookAttempt.filter(endpoint_id=endpoint.id).order_by("id")


@pytest.mark.parametrize("answer", [["127.0.0.1"], [PUBLIC, "10.0.0.7"], ["169.254.169.254"],
                                    ["::ffff:127.0.0.1"], ["100.64.0.9"], [PUBLIC, "::1"]])
async def test_a_name_rebound_to_a_private_address_is_refused_at_delivery(
        ledger: Ledger, answer: list[str]) -> None:
    dns = Dns(hooks_example_org=[PUBLIC])  # what registration saw
    endpoint, gift = await _registered(ledger, dns)
    dns.answers["hooks.example.org"] = answer  # and what the delivery gets
    recorder = Recorder()
    worker = DeliveryWorker(ledger.platform, http=recorder.client(), resolver=dns)
    assert await worker.run_once() == 0
    assert recorder.requests == []  # no connection was made
    (attempt,) = await _attempts(endpoint)
    bad = next(a for a in answer if pinning.refusal(a))
    assert attempt.status_code is None and attempt.idx == gift
    assert attempt.error is not None and attempt.error.startswith("refused: ")
    assert f"resolves to {bad}" in attempt.error
    row = await WebhookEndpoint.get(id=endpoint.id)
    assert (row.next_index, row.failures) == (gift, 1) and row.retry_at is not None
    assert (await WebhookDelivery.get(id=f"{endpoint.id}:{gift}")).delivered_at is None
    await worker.close()


async def test_the_connection_goes_to_the_checked_address(ledger: Ledger) -> None:
    dns = Dns(hooks_example_org=[PUBLIC, "2606:4700::1111"])
    endpoint, gift = await _registered(ledger, dns, "https://hooks.example.org:8443/h?x=1")
    recorder = Recorder()
    worker = DeliveryWorker(ledger.platform, http=recorder.client(), resolver=dns)
    assert await worker.run_once() == 1
    (request,) = recorder.requests
    assert str(request.url) == f"https://{PUBLIC}:8443/h?x=1"  # no second lookup by httpx
    assert request.headers["host"] == "hooks.example.org:8443"
    assert request.extensions["sni_hostname"] == "hooks.example.org"
    assert dns.asked[-1] == ("hooks.example.org", 8443)
    assert (await WebhookDelivery.get(id=f"{endpoint.id}:{gift}")).delivered_at is not None
    await worker.close()


async def test_redirects_are_not_followed(ledger: Ledger) -> None:
    dns = Dns(hooks_example_org=[PUBLIC])
    endpoint, gift = await _registered(ledger, dns)
    recorder = Recorder(302, {"location": "http://127.0.0.1:6379/"})
    # even a client built to follow redirects does not, for a delivery
    worker = DeliveryWorker(ledger.platform, http=recorder.client(follow_redirects=True),
                            resolver=dns)
    assert await worker.run_once() == 0
    assert [str(r.url) for r in recorder.requests] == [f"https://{PUBLIC}/heartchain"]
    (attempt,) = await _attempts(endpoint)
    assert (attempt.status_code, attempt.error) == (302, "HTTP 302")
    assert (await WebhookEndpoint.get(id=endpoint.id)).next_index == gift
    await worker.close()


async def test_registration_refuses_a_name_that_resolves_privately(ledger: Ledger) -> None:
    owner = await Account.get(address=await account(ledger, "charity"))
    for answer in (["10.1.2.3"], [PUBLIC, "fe80::1"]):
        with pytest.raises(EndpointRefused, match="resolves to"):
            await services.register(ledger.platform, owner, URL, kinds=["donation.record"],
                                    campaigns=[], resolver=Dns(hooks_example_org=answer))
    # a name that does not resolve yet is accepted: each delivery resolves it again
    await services.register(ledger.platform, owner, URL, kinds=["donation.record"],
                            campaigns=[], resolver=Dns())
    assert await WebhookEndpoint.all().count() == 1


async def test_the_loopback_allowance_is_explicit_and_off_by_default(ledger: Ledger) -> None:
    assert ledger.platform.settings.webhook_allow_loopback_http is False
    dns = Dns(localhost=["127.0.0.1"])
    ledger.platform.settings = ledger.settings.with_(webhook_allow_loopback_http=True)
    endpoint, gift = await _registered(ledger, dns, "http://localhost:9/hook")
    ledger.platform.settings = ledger.settings.with_(webhook_allow_loopback_http=False)
    recorder = Recorder()
    worker = DeliveryWorker(ledger.platform, http=recorder.client(), resolver=dns)
    assert await worker.run_once() == 0 and recorder.requests == []
    assert "https:// endpoints only" in str((await _attempts(endpoint))[0].error)
    # allowed, a loopback name must still resolve to loopback only
    await worker.close()
    ledger.platform.settings = ledger.settings.with_(webhook_allow_loopback_http=True)
    worker = DeliveryWorker(ledger.platform, http=recorder.client(), resolver=dns)
    dns.answers["localhost"] = ["127.0.0.1", "10.0.0.1"]
    await WebhookEndpoint.filter(id=endpoint.id).update(retry_at=None)
    assert await worker.run_once() == 0 and recorder.requests == []
    assert "10.0.0.1 is not a loopback address" in str((await _attempts(endpoint))[-1].error)
    dns.answers["localhost"] = ["127.0.0.1"]
    await WebhookEndpoint.filter(id=endpoint.id).update(retry_at=None)
    assert await worker.run_once() == 1
    assert str(recorder.requests[0].url) == "http://127.0.0.1:9/hook"
    assert (await WebhookDelivery.get(id=f"{endpoint.id}:{gift}")).delivered_at is not None
    await worker.close()


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fc00::1",
    "ff02::1", "::ffff:8.8.8.8", "::ffff:10.0.0.1", "64:ff9b::a00:1", "2002:a00:1::1",
    "192.0.2.1", "198.18.0.1", "not-an-ip"])
def test_refusal_names_every_non_public_address(address: str) -> None:
    assert pinning.refusal(address) is not None


@pytest.mark.parametrize("address", [PUBLIC, "8.8.8.8", "2606:4700::1111", "1.1.1.1"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert pinning.refusal(address) is None


# -- TLS: the certificate is verified against the host name, not the pinned address ----------


def _certificate(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the test certificate")
async def test_tls_is_verified_against_the_name(ledger: Ledger, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = _certificate(tmp_path, "hooks.test")
    port = free_port()
    receiver = Receiver()
    server = uvicorn.Server(uvicorn.Config(receiver, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off",
                                           ssl_certfile=str(cert), ssl_keyfile=str(key)))
    import asyncio

    task = asyncio.get_running_loop().create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    # The receiver is on loopback: let this one test's check pass, to see TLS do its part.
    monkeypatch.setattr(pinning, "refusal", lambda address: None)
    dns = Dns(hooks_test=["127.0.0.1"], other_test=["127.0.0.1"])
    trusted = ssl.create_default_context(cafile=str(cert))
    try:
        good, gift = await _registered(ledger, dns, f"https://hooks.test:{port}/hook")
        # the worker's own clients (one per name), trusting the test certificate
        worker = DeliveryWorker(ledger.platform, resolver=dns, verify=trusted)
        assert await worker.run_once() == 1
        assert receiver.delivered_indexes() == [gift]
        assert receiver.received[0].headers["host"] == f"hooks.test:{port}"
        await WebhookEndpoint.filter(id=good.id).update(active=False)
        # the same address under a name the certificate is not for: refused by TLS
        wrong, _ = await _registered(ledger, dns, f"https://other.test:{port}/hook")
        assert await worker.run_once() == 0
        (attempt,) = await _attempts(wrong)
        assert attempt.error is not None and "CERTIFICATE_VERIFY_FAILED" in attempt.error
        assert len(receiver.received) == 1
        await worker.close()
    finally:
        server.should_exit = True
        await task


@pytest.mark.parametrize("url", ["https://2130706433/hook", "https://127.1/hook",
                                 "https://0/hook", "https://0x7f000001/hook"])
async def test_numeric_host_spellings_of_loopback_are_refused(ledger: Ledger, url: str) -> None:
    # Not IP literals to `ipaddress`, but the system resolver reads them as 127.0.0.1 / 0.0.0.0
    # (inet_aton forms): the resolved address is what is checked, at registration and delivery.
    owner = await Account.get(address=await account(ledger, "charity"))
    with pytest.raises(EndpointRefused, match="resolves to"):
        await services.register(ledger.platform, owner, url, kinds=["donation.record"],
                                campaigns=[])
    with pytest.raises(EndpointRefused, match="resolves to"):
        await pinning.pin(url, resolver=pinning.system_resolver, allow_loopback_http=False)
