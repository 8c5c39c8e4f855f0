"""A real server seeded with the demo, and real Chromium driven by playwright (async API).

The server runs in subprocesses exactly as a user starts it (`heartchain demo`, then `heartchain
serve`) in a temporary data directory. Without Chromium or playwright the browser tests skip,
unless HEARTCHAIN_REQUIRE_BROWSER=1 (set by .ci/run), which makes them fail instead.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

CHROMIUM = os.environ.get("HEARTCHAIN_CHROMIUM", "/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("HEARTCHAIN_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
_TOKEN_LINE = re.compile(r"^\s+(?P<label>.+?): (?P<address>hc1\w+)\s+token (?P<token>hct_\S+)$")


@dataclass
class Server:
    url: str
    data_dir: Path
    tokens: dict[str, str] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)
    demo_output: str = ""

    def token_of(self, prefix: str) -> str:
        return next(t for label, t in self.tokens.items() if label.startswith(prefix))

    def address_of(self, prefix: str) -> str:
        return next(a for label, a in self.addresses.items() if label.startswith(prefix))

    def gql(self, query: str, variables: dict[str, Any] | None = None,
            token: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.post(f"{self.url}/graphql", json={"query": query,
                                                           "variables": variables or {}},
                              headers=headers, timeout=30)
        body: dict[str, Any] = response.json()
        if body.get("errors"):
            raise AssertionError(f"GraphQL errors: {body['errors']}")
        return body["data"]  # type: ignore[no-any-return]


def _browser_missing() -> str | None:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        return f"Chromium not found at {CHROMIUM}"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "python playwright is not installed"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def browser_available() -> None:
    missing = _browser_missing()
    if missing:
        if REQUIRE_BROWSER:
            pytest.fail(f"{missing} (HEARTCHAIN_REQUIRE_BROWSER=1)")
        pytest.skip(missing)


@pytest.fixture(scope="session")
def server(browser_available: None, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("e2e-data")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "HEARTCHAIN_DATA_DIR": str(data_dir), "HEARTCHAIN_PUBLIC_URL": url,
           "HEARTCHAIN_OTP_SENDER": f"file:{data_dir / 'codes.txt'}"}
    env.pop("HEARTCHAIN_DB_URL", None)
    started = time.monotonic()
    demo = subprocess.run([sys.executable, "-m", "heartchain.cli", "demo"], env=env,
                          cwd=data_dir, capture_output=True, text=True, timeout=240)
    if demo.returncode != 0:
        raise RuntimeError(f"heartchain demo failed:\n{demo.stdout}\n{demo.stderr}")
    seeded = Server(url, data_dir, demo_output=demo.stdout)
    for line in demo.stdout.splitlines():
        match = _TOKEN_LINE.match(line)
        if match:
            seeded.tokens[match["label"]] = match["token"]
            seeded.addresses[match["label"]] = match["address"]
    print(f"\ne2e: demo seeded in {time.monotonic() - started:.1f} s")
    log_file = (data_dir / "serve.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "heartchain.cli", "serve", "--port",
                                str(port), "--log-level", "warning"], env=env, cwd=data_dir,
                               stdout=log_file, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError("heartchain serve exited:\n"
                                   + (data_dir / "serve.log").read_text())
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("heartchain serve did not start within 60 s")
            time.sleep(0.2)
        yield seeded
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log_file.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(browser_available: None) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                    args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Any, server: Server) -> AsyncIterator[Any]:
    """A fresh phone-sized page (own cookies and storage) that fails the test on a JS error."""
    context = await browser.new_context(viewport={"width": 360, "height": 780},
                                        base_url=server.url, locale="zh-CN")
    errors: list[str] = []
    tab = await context.new_page()
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.set_default_timeout(15_000)
    try:
        yield tab
    finally:
        await context.close()
    if errors:
        raise AssertionError(f"JavaScript errors on the page: {errors}")


def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
