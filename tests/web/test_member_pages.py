"""The donor's /me pages over HTTP: one-time-code sign-in, the session cookie, CSRF on every
POST, a credential for a partner, revoking a consent (server side, no browser)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import Ledger
from tests.tokens import factories as f
from tokens import services
from tokens.errors import NoActiveConsent

pytest.importorskip("tokens.signin")
PHONE = "+8613900000001"


async def signed_in(ledger: Ledger, client: httpx.AsyncClient, codes: Path) -> str:
    response = await client.post("/me/code", data={"contact": "139 0000 0001"})
    assert response.status_code == 200 and 'name="code"' in response.text
    code = codes.read_text().split()[-1]
    response = await client.post("/me/verify", data={"contact": PHONE, "code": code})
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    page = (await client.get("/me?lang=en")).text
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match
    return match.group(1)


async def test_sign_in_present_and_revoke(ledger: Ledger, client: httpx.AsyncClient,
                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    codes = tmp_path / "codes.txt"
    monkeypatch.setenv("HEARTCHAIN_OTP_SENDER", f"file:{codes}")
    p = ledger.platform
    charity, partner = await f.charity(ledger), await f.partner(ledger, "Cycle Share")
    donor = await services.donor_for_contact(p, PHONE, charity=charity)
    await services.record_donation(p, charity=charity, donor=donor.address, kind="cash",
                                   quantity=9_000, campaign="c")
    grant = await services.grant_consent(p, member=donor.address, partner=partner,
                                         expires=p.clock.now() + timedelta(days=30))
    p.clock.advance(timedelta(hours=1))

    wrong = await client.post("/me/verify", data={"contact": PHONE, "code": "000000"})
    assert wrong.status_code == 403
    csrf = await signed_in(ledger, client, codes)
    page = (await client.get("/me?lang=en")).text
    assert donor.address in page and "9,000" in page and f"#{grant.index}" in page

    # every POST needs the session's CSRF token
    for path in ("/me/credential", f"/me/consents/{grant.index}/revoke", "/me/sign-out"):
        refused = await client.post(path, data={"partner": partner, "threshold": "1"})
        assert refused.status_code == 403
    shown = await client.post("/me/credential", data={"csrf": csrf, "partner": partner,
                                                      "threshold": "8000"})
    assert shown.status_code == 200
    assert "<svg" in shown.text and "/partner/verify#c=" in shown.text
    assert "hearts ≥ 8000" in shown.text and donor.address not in shown.text
    bad = await client.post("/me/credential", data={"csrf": csrf, "partner": partner,
                                                    "threshold": "lots"})
    assert bad.status_code == 400

    revoked = await client.post(f"/me/consents/{grant.index}/revoke", data={"csrf": csrf})
    assert revoked.status_code == 303
    with pytest.raises(NoActiveConsent):
        await services.active_consent(donor.address, partner, p.clock.now())
    assert "presented by me" in (await client.get("/me?lang=en")).text

    out = await client.post("/me/sign-out", data={"csrf": csrf})
    assert out.status_code == 303
    assert 'name="contact"' in (await client.get("/me?lang=en")).text


async def test_partner_page_names_the_issuer(ledger: Ledger, client: httpx.AsyncClient) -> None:
    page = (await client.get("/partner/verify?lang=en")).text
    assert 'value="did:key:z6Mk' in page and "partner.js" in page and "<script>" not in page
