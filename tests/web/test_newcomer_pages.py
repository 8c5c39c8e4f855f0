"""Security headers, no inline script anywhere, the vendored GraphiQL, Accept-Language, the
campaign picker and plain-language handover errors (issue 16, issue 11)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from heartchain.accounts.services import register_account
from heartchain.errors import ValidationError
from heartchain.security_headers import CONTENT_SECURITY_POLICY
from tests.conftest import Ledger
from tests.factories import campaign
from web import i18n

WEB = Path(i18n.__file__).resolve().parent
VENDOR = WEB / "static" / "vendor" / "graphiql"


@pytest.mark.parametrize("path", ["/", "/log", "/entries/0", "/graphql", "/log/checkpoint",
                                  "/log/verifier-key", "/static/style.css", "/healthz",
                                  "/no-such-page"])
async def test_every_response_carries_the_security_headers(client: httpx.AsyncClient,
                                                           path: str) -> None:
    headers = {"accept": "text/html"} if path == "/graphql" else {}
    response = await client.get(path, headers=headers)
    csp = response.headers["content-security-policy"]
    assert csp == CONTENT_SECURITY_POLICY
    for directive in ("default-src 'self'", "script-src 'self'", "object-src 'none'",
                      "base-uri 'none'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_graphql_post_answers_carry_them_too(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ checkpoint { size } }"})
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_templates_have_no_inline_script_handler_or_style() -> None:
    for path in (WEB / "templates").glob("*.html"):
        text = path.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            # Only external scripts, or JSON data blocks (never executed).
            assert "src=" in tag or 'type="application/json"' in tag, (path.name, tag)
        assert not re.search(r"\son[a-z]+\s*=", text), path.name
        assert not re.search(r"\sstyle\s*=", text), path.name
        assert "<style" not in text, path.name


async def test_graphiql_is_served_from_the_package(client: httpx.AsyncClient) -> None:
    page = (await client.get("/graphql", headers={"accept": "text/html"})).text
    assert "GraphiQL" in page
    assert not re.search(r"(src|href)=\"https?://", page), "nothing from another host"
    assert not re.search(r"<script>(?!</script>)", page), "no inline script"
    for asset in re.findall(r"(?:src|href)=\"(/static/[^\"?]+)", page):
        response = await client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 100, asset
    for name in ("graphiql.min.js", "react.production.min.js", "react-dom.production.min.js",
                 "LICENSE.graphiql", "LICENSE.react", "LICENSE.react-dom", "README.md"):
        assert (VENDOR / name).is_file(), name
    assert "graphiql@3.8.3" in (VENDOR / "README.md").read_text()


@pytest.mark.parametrize(("header", "language"), [
    ("en-US,en;q=0.9", "en"), ("en", "en"), ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
    ("fr-FR, en;q=0.5, zh;q=0.4", "en"), ("fr", "zh"), ("", "zh"), ("en;q=0, zh;q=0.1", "zh"),
    ("EN-gb;q=0.8,  ZH;q=0.7", "en"), ("en;q=bogus, zh", "zh")])
def test_accept_language(header: str, language: str) -> None:
    assert i18n.from_accept_language(header) == language


async def test_accept_language_is_honoured_after_the_cookie(client: httpx.AsyncClient) -> None:
    english = await client.get("/", headers={"accept-language": "en-GB,en;q=0.9"})
    assert english.headers["content-language"] == "en"
    assert "Accept-Language" in english.headers["vary"]
    client.cookies.set(i18n.COOKIE, "zh")
    chinese = await client.get("/", headers={"accept-language": "en"})
    assert chinese.headers["content-language"] == "zh-CN"  # the cookie chose before
    assert (await client.get("/?lang=en", headers={"accept-language": "zh"})
            ).headers["content-language"] == "en"


def test_quantity_filter_formats_for_every_template() -> None:
    from web.render import templates

    render = templates.env.from_string(
        "{{ 10298750 | quantity('grams') }} · {{ 123456 | money }} · {{ 25000 | signed }} · "
        "{{ 12 | quantity('trees') }}")
    assert render.render(lang="en") == "10,298.75 kg · ¥1,234.56 · +25,000 · 12 trees"
    assert render.render(lang="zh") == "10,298.75 kg · ¥1,234.56 · +25,000 · 12 棵"


async def test_console_offers_the_charitys_own_campaigns(ledger: Ledger,
                                                         client: httpx.AsyncClient) -> None:
    from tokens import services as hearts

    charity = await register_account(ledger.platform, role="charity", registrar=ledger.operator,
                                     label="Sunrise")
    donor = await register_account(ledger.platform, role="member", registrar=ledger.operator)
    await campaign(ledger, charity.address, "school-meals")
    await hearts.record_donation(ledger.platform, charity=charity.address,
                                 donor=donor.address, kind="cash", quantity=500,
                                 campaign="school-meals")
    page = (await client.get("/console")).text
    data = re.search(r'<script type="application/json" id="hc-campaigns">(.*?)</script>', page)
    assert data is not None
    import json

    assert json.loads(data.group(1)) == {charity.address: ["school-meals"]}
    assert 'value="winter-2026"' not in page
    # The slug pattern is valid under the `v` flag Chromium compiles `pattern` with.
    assert r'pattern="[a-z0-9][a-z0-9\-]*"' in page


async def test_handover_to_an_invalid_address_says_so(ledger: Ledger) -> None:
    from tracing import services as tracing

    charity = await register_account(ledger.platform, role="charity", registrar=ledger.operator,
                                     label="Sunrise")
    lot = await tracing.create_lot(ledger.platform, charity=charity.address, goods="rice",
                                   quantity=1000, unit="grams", custodian=charity.address,
                                   receipt="ab" * 32, place="depot")
    with pytest.raises(ValidationError, match="not a valid address") as caught:
        await tracing.offer_handover(ledger.platform, lot=lot.id, giver=charity.address,
                                     taker="hc1pnotanaddress", place="depot", evidence="cd" * 32)
    assert "holds no key" not in str(caught.value)


async def test_home_leads_with_campaigns_and_deliveries(ledger: Ledger,
                                                        client: httpx.AsyncClient) -> None:
    from tokens import services as hearts
    from tracing import services as tracing

    charity = await register_account(ledger.platform, role="charity", registrar=ledger.operator,
                                     label="Sunrise Food Bank")
    donor = await register_account(ledger.platform, role="member", registrar=ledger.operator)
    await campaign(ledger, charity.address, "school-meals")
    await hearts.record_donation(ledger.platform, charity=charity.address,
                                 donor=donor.address, kind="cash", quantity=123456,
                                 campaign="school-meals")
    gift = await hearts.record_donation(ledger.platform, charity=charity.address,
                                        donor=donor.address, kind="food", quantity=12_500,
                                        campaign="school-meals")
    lot = await tracing.create_lot(ledger.platform, charity=charity.address, goods="rice",
                                   quantity=12_500, unit="grams", custodian=charity.address,
                                   donation=gift.index, place="depot")
    await tracing.deliver_lot(ledger.platform, by=charity.address, lot=lot.id, quantity=10_250,
                              place="Hope Primary School", commitment="ef" * 32)
    page = (await client.get("/?lang=en")).text
    campaigns, delivered, log = (page.index('id="campaigns"'), page.index('id="delivered"'),
                                 page.index('id="latest-checkpoint"'))
    assert campaigns < log and delivered < log  # what a donor came for comes first
    assert "school-meals" in page and "Sunrise Food Bank" in page and "¥1,234.56" in page
    assert "10.25 kg" in page and "Hope Primary School" in page


async def test_checkpoint_pages_and_the_nearest_signed_sizes(ledger: Ledger,
                                                             client: httpx.AsyncClient) -> None:
    from heartchain.keys import SigningKey, address_of
    from heartchain.ledger.store import CheckpointRecord

    platform = ledger.platform
    operator_key = await platform.custodial_key(ledger.operator)
    # One batch of three entries: one checkpoint after them, none at the sizes in between.
    await platform.log.append_now([
        platform.build("account.register", {"address": address_of(SigningKey.generate()),
                                            "role": "member", "registrar": ledger.operator}
                       ).signed_by(operator_key) for _ in range(3)])
    await register_account(platform, role="member", registrar=ledger.operator)
    signed = sorted(await CheckpointRecord.all().values_list("size", flat=True))
    latest = signed[-1]
    page = await client.get(f"/checkpoints/{latest}?lang=en")
    assert page.status_code == 200 and f"Checkpoint {latest}" in page.text
    assert f'data-verify-checkpoint="{latest}"' in page.text
    unsigned = next(n for n in range(1, latest) if n not in signed)
    log = (await client.get("/log?lang=en")).text
    assert f'href="/checkpoints/{latest}"' in log
    missing = await client.get(f"/checkpoints/{unsigned}?lang=en")
    assert missing.status_code == 404 and "The nearest signed sizes:" in missing.text
    explained = (await client.get(f"/log?consistency_from={unsigned}&consistency_to={latest}"
                                  "&lang=en")).text
    assert f"No checkpoint was signed at size {unsigned}" in explained
    below = max(n for n in signed if n < unsigned)
    above = min(n for n in signed if n > unsigned)
    assert f'data-nearest="{below}"' in explained and f'data-nearest="{above}"' in explained


def test_heart_chart_has_axes() -> None:
    from dataclasses import dataclass

    from web.donors import history_chart

    @dataclass
    class Point:
        checkpoint_size: int
        total: int

    svg = str(history_chart([Point(120, 1_000), Point(4_500, 25_000)], "chart",
                            x_title="log size", y_title="hearts"))
    labels = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert {"0", "25,000", "120", "4,500", "log size", "hearts"} <= set(labels)
    assert "style=" not in svg
