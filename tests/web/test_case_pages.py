"""Case notice and period pages (server side): masked claimant, steps, a member's share proof."""

from __future__ import annotations

import httpx
import pytest

from heartchain.keys import address_of
from tests.conftest import Ledger

pytest.importorskip("heartchain.mutualaid.services")


async def test_case_and_period_pages(ledger: Ledger, client: httpx.AsyncClient) -> None:
    from heartchain.mutualaid import services
    from tests.mutualaid.factories import (
        advance,
        approved_case,
        investigator,
        make_plan,
        members,
    )

    plan = await make_plan(ledger)
    inv = await investigator(ledger)
    keys = await members(ledger, plan, [5_000] * 4)
    advance(ledger, 91)
    case = await approved_case(ledger, plan, keys[0], inv, asked=2_000, case="case-0a1b2c")
    await services.apportion_period(ledger.platform, plan=plan, operator=ledger.operator)

    page = await client.get(f"/cases/{case}?lang=en")
    assert page.status_code == 200
    text = page.text
    assert 'data-testid="masked-name">张*<' in text and "张三" not in text
    assert "Renji Hospital" in text and "Malignant tumour (cancer)" in text
    assert "肺腺癌" not in text  # the sealed description
    zh = (await client.get(f"/cases/{case}?lang=zh")).text
    assert "仁济医院" in zh and "恶性肿瘤" in zh
    assert "Fair Claims" in text and "¥20.00" in text
    assert text.count("data-verify-entry=") >= 4  # opened, attested, noticed, decided
    assert f"/plans/{plan}/periods/1" in text

    member = address_of(keys[1])
    period = await client.get(f"/plans/{plan}/periods/1", params={"member": member,
                                                                 "lang": "en"})
    assert period.status_code == 200
    assert "data-verify-share" in period.text and 'data-testid="your-share"' in period.text
    nobody = await client.get(f"/plans/{plan}/periods/1", params={"member": "hc1nobody"})
    assert "period_no_share" not in nobody.text and 'role="alert"' in nobody.text
    assert (await client.get(f"/plans/{plan}/periods/9")).status_code == 404
    assert (await client.get("/cases/case-ffffff")).status_code == 404
    found = await client.get("/search", params={"q": case})
    assert found.headers["location"] == f"/cases/{case}"
