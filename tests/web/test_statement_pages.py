"""A donor's printable receipt (with its offline receipt as a QR code, and as PDF) and the
year-end statement with each gift's status."""

from __future__ import annotations

import re
import zlib
from datetime import date
from typing import Any

import httpx
import pytest

from heartchain.corrections.services import correct
from heartchain.ledger.receipts import Receipt
from tests.conftest import Ledger
from tests.tracing import factories as f
from tests.web.factories import food_story
from tracing.disclosure import CST
from tracing.statements import fiscal_year, year_containing


async def test_receipt_page_carries_index_campaign_amount_and_the_proof(
        ledger: Ledger, client: httpx.AsyncClient) -> None:
    story = await food_story(ledger)
    response = await client.get(f"/donations/{story.cash}/receipt?lang=en")
    assert response.status_code == 200
    page = response.text
    assert f'data-testid="receipt-index">#{story.cash}<' in page
    assert 'data-testid="receipt-campaign"><code>winter-2026</code>' in page
    assert "¥50.00" in page and "Sunrise &lt;Food&gt; Bank" in page
    assert 'data-holds="proof"' in page and "<svg" in page and "<?xml" not in page
    assert "@media print" in (await client.get("/static/style.css")).text
    cv2 = pytest.importorskip("cv2")
    # OpenCV's detector misses a dense code at some sizes: try a few
    decoded = next((text for scale in (4, 5, 6, 7, 8, 10, 3)
                    if (text := _decode(cv2, _raster(page, scale)))), "")
    receipt = Receipt.from_text(decoded)  # the QR holds the tlog-proof receipt itself
    assert receipt.index == story.cash
    assert decoded == (await client.get(f"/entries/{story.cash}/receipt")).text
    assert (await client.get(f"/donations/{story.lot[1:]}/receipt")).status_code == 404


def _decode(cv2: Any, image: Any) -> str:
    for detector in (cv2.QRCodeDetector(), cv2.QRCodeDetectorAruco()):
        text, _, _ = detector.detectAndDecode(image)
        if text:
            return str(text)
    return ""


def _raster(page: str, scale: int = 6) -> Any:
    """The page's QR code (an SVG path of squares) as a grayscale image."""
    import numpy as np

    path = re.search(r'<path d="([^"]+)"', page)
    assert path is not None
    modules = _modules(path.group(1))
    size = max(max(x for x, _ in modules), max(y for _, y in modules)) + 1
    image = np.full(((size + 8) * scale, (size + 8) * scale), 255, np.uint8)
    for x, y in modules:
        image[(y + 4) * scale:(y + 5) * scale, (x + 4) * scale:(x + 5) * scale] = 0
    return image


def _modules(d: str) -> set[tuple[int, int]]:
    """The dark modules of a qrcode SvgPathImage path (squares `M x y h1 v1 h-1 z`, in mm)."""
    found = set()
    for x, y in re.findall(r"M([0-9.]+),([0-9.]+)", d.replace(" ", "")):
        found.add((round(float(x) / 0.4) - 4, round(float(y) / 0.4) - 4))
    return found


async def test_receipt_pdf_renders_chinese(ledger: Ledger, client: httpx.AsyncClient) -> None:
    pytest.importorskip("weasyprint")
    story = await food_story(ledger)
    response = await client.get(f"/donations/{story.cash}/receipt.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    data = response.content
    assert data.startswith(b"%PDF-")
    mapped = b"".join(zlib.decompress(m) for m in re.findall(rb"stream\r?\n(.*?)endstream",
                                                               data, re.S) if _inflates(m))
    # the text's glyphs map back to 捐 赠 (U+6350 U+8D60): the Chinese was set in a real font
    for char in ("6350", "8d60"):
        glyphs = re.findall(rb"<([0-9a-f]{4})> <" + char.encode() + rb">", mapped)
        assert glyphs and glyphs[0] != b"0000"


def _inflates(data: bytes) -> bool:
    try:
        zlib.decompress(data)
    except zlib.error:
        return False
    return True


async def test_statement_lists_every_gift_of_the_year_with_its_status(
        ledger: Ledger, client: httpx.AsyncClient) -> None:
    story = await food_story(ledger)
    platform = ledger.platform
    refunded = await f.donate(ledger, story.charity, story.donor, "cash", 700)
    await f.reverse(ledger, story.charity, refunded)
    fixed = await correct(platform, entry=story.cash, values={"quantity": 4_000},
                          reason="wrong_amount")
    today = platform.clock.now().astimezone(CST).date()  # fiscal years are in CST
    response = await client.get(f"/members/{story.donor}/statement",
                                params={"from": f"{today.year}-01-01", "lang": "en"})
    assert response.status_code == 200
    page = response.text
    rows = dict(re.findall(r'<tr data-index="(\d+)" data-statuses="([^"]+)"', page))
    assert rows == {str(story.donation): "recorded dispatched delivered",
                    str(story.cash): "recorded corrected disbursed",
                    str(refunded): "recorded reversed"}
    assert "¥30.00 disbursed to Van Rentals Ltd for delivery van" in page
    assert f"corrected (entry #{fixed.index})" in page
    assert "Cash: 2 gifts, net ¥40.00, 4,000 hearts" in page
    assert f'href="/donations/{story.cash}/receipt"' in page
    later = await client.get(f"/members/{story.donor}/statement",
                             params={"from": f"{today.year + 1}-04-01"})
    assert 'data-index="' not in later.text
    assert (await client.get(f"/members/{story.donor}/statement?from=2026-13-01")
            ).status_code == 400
    donor = (await client.get(f"/members/{story.donor}")).text
    assert f'href="/members/{story.donor}/statement"' in donor
    assert f'href="/donations/{story.cash}/receipt"' in donor


def test_fiscal_years() -> None:
    year = fiscal_year(date(2026, 4, 1))
    assert (year.end, year.bounds) == (date(2027, 4, 1), ("2026-03-31T16:00:00.000Z",
                                                          "2027-03-31T16:00:00.000Z"))
    assert fiscal_year(date(2028, 2, 29)).end == date(2029, 3, 1)
    assert year_containing(date(2026, 3, 31), 4, 1).start == date(2025, 4, 1)
    assert year_containing(date(2026, 4, 1), 4, 1).start == date(2026, 4, 1)
