"""The core pages render from the log, server side (no browser): fast checks of what they say."""

from __future__ import annotations

import re

import httpx

from heartchain.accounts.services import register_account
from tests.conftest import Ledger


async def test_home_shows_the_latest_checkpoint(ledger: Ledger, client: httpx.AsyncClient
                                                ) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-language"] == "zh-CN"
    size = await ledger.platform.log.size()
    assert f'data-verify-checkpoint="{size}"' in response.text
    assert ledger.platform.verifier_key in response.text
    assert "/static/verify.js?v=" in response.text


async def test_language_from_query_then_cookie(client: httpx.AsyncClient) -> None:
    response = await client.get("/?lang=en")
    assert response.headers["content-language"] == "en"
    assert 'lang="en"' in response.text and "See where the gifts went" in response.text
    assert "lang=en" in response.headers["set-cookie"]
    again = await client.get("/log")  # the client keeps the cookie
    assert "Log explorer" in again.text
    assert "set-cookie" not in again.headers
    back = await client.get("/log?lang=zh")
    assert "日志浏览" in back.text


async def test_search_redirects_to_entry_and_account(ledger: Ledger,
                                                     client: httpx.AsyncClient) -> None:
    response = await client.get("/search", params={"q": "0"})
    assert response.status_code == 303 and response.headers["location"] == "/entries/0"
    response = await client.get("/search", params={"q": ledger.operator})
    assert response.headers["location"] == f"/members/{ledger.operator}"
    missing = await client.get("/search", params={"q": "999999"})
    assert missing.status_code == 404 and "999999" in missing.text
    empty = await client.get("/search", params={"q": " "})
    assert empty.status_code == 400


async def test_entry_page_shows_body_signers_and_leaf(ledger: Ledger,
                                                      client: httpx.AsyncClient) -> None:
    charity = await register_account(ledger.platform, role="charity", registrar=ledger.operator,
                                     label="Sunrise <Food> Bank")
    index = charity.appended.index
    response = await client.get(f"/entries/{index}")
    assert response.status_code == 200
    stored = await ledger.platform.log.get_entry(index)
    assert f'data-leaf-hash="{stored.leaf_hash.hex()}"' in response.text
    assert f'data-verify-entry="{index}"' in response.text
    assert "Sunrise &lt;Food&gt; Bank" in response.text  # escaped, never raw HTML
    assert "account.register" in response.text
    assert (await client.get("/entries/424242")).status_code == 404


async def test_log_explorer_pages_and_consistency(ledger: Ledger,
                                                  client: httpx.AsyncClient) -> None:
    for _ in range(30):
        await register_account(ledger.platform, role="member", registrar=ledger.operator)
    size = await ledger.platform.log.size()
    response = await client.get("/log")
    assert response.status_code == 200
    assert len(re.findall(r'<tr id="checkpoint-\d+">', response.text)) == 25
    assert f"before={size - 25}" in response.text  # link to the older entries
    older = await client.get("/log", params={"before": size - 25})
    assert f'href="/entries/{size - 26}"' in older.text
    proof = await client.get("/log", params={"consistency_from": 3, "consistency_to": size})
    assert f'data-verify-consistency data-from="3" data-to="{size}"' in proof.text
    bad = await client.get("/log", params={"consistency_from": 5, "consistency_to": 2})
    assert bad.status_code == 400
    kind = await client.get("/log", params={"kind": "account.register"})
    assert kind.status_code == 200
    assert (await client.get("/log", params={"before": "x"})).status_code == 400


async def test_account_page(ledger: Ledger, client: httpx.AsyncClient) -> None:
    response = await client.get(f"/members/{ledger.operator}")
    assert response.status_code == 200 and ledger.operator in response.text
    assert (await client.get("/members/hc1nobody")).status_code == 404


async def test_static_files_are_served(client: httpx.AsyncClient) -> None:
    script = await client.get("/static/verify.js")
    assert script.status_code == 200 and "crypto.subtle.verify" in script.text
    assert (await client.get("/static/style.css")).status_code == 200
