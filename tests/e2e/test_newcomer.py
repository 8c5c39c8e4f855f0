"""A newcomer's first hour in real Chromium (issue 16, issue 11): GraphiQL with the network
blocked, no CSP violation on any page the demo prints, the console's sign-in state, a QR label
served on a non-default port that decodes to that port, and the English entry page on a phone."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server, _free_port, artifacts_dir

pytestmark = pytest.mark.slow

# Every page `heartchain demo` prints under "open:".
_OPEN_LINE = re.compile(r"^\s+(http://127\.0\.0\.1:\d+\S*)$")
_WATCH_CSP = """document.addEventListener("securitypolicyviolation", (e) => {
  (window.__csp = window.__csp || []).push(`${e.violatedDirective} ${e.blockedURI}`); });"""


def demo_pages(server: Server) -> list[str]:
    urls = [m[1] for line in server.demo_output.splitlines() if (m := _OPEN_LINE.match(line))]
    return [url.removeprefix(server.url) or "/" for url in urls]


def page_of(server: Server, prefix: str) -> str:
    return next(path for path in demo_pages(server) if path.startswith(prefix))


async def test_demo_prints_every_page_a_newcomer_needs(server: Server) -> None:
    pages = demo_pages(server)
    for prefix in ("/", "/members/", "/lots/", "/cases/", "/plans/", "/log", "/graphql",
                   "/console"):
        assert any(p.startswith(prefix) for p in pages), (prefix, pages)
    assert "operator: hc1" in server.demo_output  # the operator's token is printed too
    assert "heartchain token issue --account" in server.demo_output
    donor = httpx.get(server.url + page_of(server, "/members/") + "?lang=en", timeout=30).text
    # The featured donor's gifts are all traced: none says "not used yet".
    assert "Not used yet" not in donor and "Delivered" in donor and "This money paid for" in donor


async def test_graphiql_renders_and_runs_a_query_with_the_network_blocked(
        browser: Any, server: Server) -> None:
    context = await browser.new_context(base_url=server.url)
    outside: list[str] = []

    async def only_local(route: Any) -> None:
        if route.request.url.startswith("http://127.0.0.1"):
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_local)
    errors: list[str] = []
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        await page.goto("/graphql")
        await page.locator(".graphiql-execute-button").click(timeout=20_000)
        response = page.locator(".result-window")
        await response.get_by_text('"rootHash"').wait_for(timeout=20_000)
        size = server.gql("{ checkpoint { size } }")["checkpoint"]["size"]
        assert '"size"' in await response.inner_text()
        assert size > 0
        await page.screenshot(path=str(artifacts_dir() / "graphiql-offline.png"))
    finally:
        await context.close()
    assert outside == [], "GraphiQL asked for something outside this server"
    assert errors == []


async def test_pages_produce_no_csp_violation(browser: Any, server: Server) -> None:
    context = await browser.new_context(base_url=server.url)
    await context.add_init_script(_WATCH_CSP)
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{page.url}: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))
    try:
        # The HTML pages (a text/plain one makes Chromium ask for /favicon.ico).
        pages = [*(p for p in demo_pages(server) if not p.startswith("/log/")), "/entries/3",
                 "/log?consistency_from=3&consistency_to=9"]
        for path in pages:
            response = await page.goto(path)
            assert response.status == 200, path
            assert "script-src 'self'" in response.headers["content-security-policy"]
            await page.wait_for_load_state("networkidle")
            violations = await page.evaluate("window.__csp || []")
            assert violations == [], (path, violations)
    finally:
        await context.close()
    assert problems == []


async def test_console_sign_in_state(browser: Any, server: Server) -> None:
    context = await browser.new_context(viewport={"width": 360, "height": 780},
                                        base_url=server.url)
    page = await context.new_page()
    try:
        await page.goto("/console?lang=en")
        await page.wait_for_selector("body[data-console-ready]", state="attached")
        await page.get_by_label("API token").fill("hct_not-a-real-token")
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_text("That token is not valid or was revoked.").wait_for()

        await page.get_by_label("API token").fill(server.token_of("Sunrise"))
        await page.get_by_role("button", name="Sign in").click()
        await page.locator("#whoami-text").wait_for()
        assert not await page.locator("#signin-form").is_visible()
        assert not await page.get_by_label("API token").is_visible()
        assert not await page.get_by_role("button", name="Sign in").is_visible()
        assert not await page.locator("#signin-result").is_visible()  # no empty error bar
        assert await page.evaluate("localStorage.getItem('heartchain.token')") is None
        assert (await page.evaluate("sessionStorage.getItem('heartchain.token')")
                == server.token_of("Sunrise"))
        # The campaign picker holds the food bank's own campaigns.
        options = await page.locator("#d-campaign option").all_inner_texts()
        assert "winter-meals-2026" in options and "surgery-fund-2026" not in options
        # The slug pattern compiles (Chromium ignores an invalid one, so nothing mismatches).
        mismatch = await page.evaluate("""(values) => values.map((v) => {
            const input = document.getElementById('d-campaign-new');
            input.value = v;
            return input.validity.patternMismatch; })""", ["Not A Slug", "school-meals-2"])
        assert mismatch == [True, False]
        await page.screenshot(path=str(artifacts_dir() / "console-signed-in.png"))

        await page.get_by_role("button", name="Sign out").click()
        assert await page.get_by_label("API token").is_visible()
        assert await page.evaluate("sessionStorage.getItem('heartchain.token')") is None
    finally:
        await context.close()


@pytest.fixture
def second_server(server: Server) -> Iterator[str]:
    """`heartchain serve` on another port over the same data, without HEARTCHAIN_PUBLIC_URL."""
    port = _free_port()
    env = {**os.environ, "HEARTCHAIN_DATA_DIR": str(server.data_dir)}
    for name in ("HEARTCHAIN_PUBLIC_URL", "HEARTCHAIN_DB_URL", "HEARTCHAIN_WITNESSES"):
        env.pop(name, None)
    log = (server.data_dir / f"serve-{port}.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "heartchain.cli", "serve", "--port",
                                str(port), "--log-level", "warning"], env=env,
                               cwd=server.data_dir, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (server.data_dir / f"serve-{port}.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the second server did not start"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def decode_qr(png: bytes) -> str:
    """The text of the QR code in an image, '' if none is found. OpenCV's detectors miss a code
    at some sizes (a 1,476-pixel label read at half its size and not at its own) and on
    anti-aliased seams, so the image is binarised, given a quiet zone, and tried at several
    sizes with both detectors (the code's text is the same at any size)."""
    import cv2
    import numpy

    image = cv2.imdecode(numpy.frombuffer(png, dtype=numpy.uint8), cv2.IMREAD_GRAYSCALE)
    _, image = cv2.threshold(image, 128, 255, cv2.THRESH_BINARY)
    image = cv2.copyMakeBorder(image, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255)
    detectors = [cv2.QRCodeDetector()]
    if hasattr(cv2, "QRCodeDetectorAruco"):
        detectors.append(cv2.QRCodeDetectorAruco())
    for scale in (1, 0.5, 2, 0.25, 3):
        if scale == 1:
            scaled = image
        else:
            # Shrinking averages pixels (then binarised again); growing repeats them.
            scaled = cv2.resize(image, None, fx=scale, fy=scale, interpolation=(
                cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST))
            _, scaled = cv2.threshold(scaled, 128, 255, cv2.THRESH_BINARY)
        for detector in detectors:
            text, _, _ = detector.detectAndDecode(scaled)
            if text:
                return str(text)
    return ""


async def test_qr_label_on_a_non_default_port_decodes_to_that_port(
        browser: Any, server: Server, second_server: str) -> None:
    pytest.importorskip("cv2")
    lot_id = page_of(server, "/lots/").split("/")[2]
    context = await browser.new_context(base_url=second_server, device_scale_factor=3)
    page = await context.new_page()
    try:
        await page.goto(f"/lots/{lot_id}/label")
        # The label the page shows, drawn alone and large at a whole number of pixels per
        # module (its viewBox is one unit per module), so no module edge falls between pixels
        # and no page layout clips or shrinks it.
        markup = await page.locator("#label svg").evaluate("e => e.outerHTML")
        await page.set_content('<body style="margin:24px;background:#fff">' + markup
                               + "</body>")
        label = page.locator("svg")
        modules = await label.evaluate("e => e.viewBox.baseVal.width")
        await label.evaluate("""(e, side) => { e.setAttribute('width', side + 'px');
            e.setAttribute('height', side + 'px'); e.style.shapeRendering = 'crispEdges'; }""",
                             modules * 12)
        shot = await label.screenshot()
        (artifacts_dir() / "label-second-port.png").write_bytes(shot)
    finally:
        await context.close()
    decoded = decode_qr(shot)
    assert decoded.startswith(f"{second_server}/lots/{lot_id}?c="), decoded
    png = httpx.get(f"{second_server}/lots/{lot_id}/label.png", timeout=30).content
    assert decode_qr(png) == decoded
    # The page the label opens is served there.
    assert httpx.get(decoded, timeout=30).status_code == 200


async def test_english_entry_page_on_a_phone_has_no_narrow_column(browser: Any,
                                                                  server: Server) -> None:
    context = await browser.new_context(viewport={"width": 360, "height": 780},
                                        base_url=server.url, locale="en-US")
    page = await context.new_page()
    try:
        donation = page_of(server, "/members/")
        await page.goto(donation)
        first_gift = await page.locator("li.gift").first.get_attribute("data-index")
        await page.goto(f"/entries/{first_gift}")
        assert await page.evaluate("document.documentElement.lang") == "en"  # Accept-Language
        widths = await page.evaluate("""() => [...document.querySelectorAll(
            'main dt, main dd, main td, main th')].filter((e) => e.offsetParent)
            .map((e) => [e.textContent.trim().slice(0, 30), e.getBoundingClientRect().width])""")
        await page.screenshot(path=str(artifacts_dir() / "entry-en-360.png"), full_page=True)
    finally:
        await context.close()
    assert widths, "no columns measured"
    narrow = [(text, round(width)) for text, width in widths if width < 120]
    assert narrow == []
