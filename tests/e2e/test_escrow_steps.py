"""A donor follows a pay-for-success gift in real Chromium at 360 px: held, released by the
validator's outcome.attest, then refunded after the deadline (its share, the hearts taken back,
the campaign.refund entry), each step linking its entry with a proof that verifies."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import Server, artifacts_dir
from tests.e2e.test_campaign_pages import wider_than_the_screen
from tests.e2e.test_core_pages import verify_state

pytestmark = pytest.mark.slow

UNION = "__typename ... on ValidationError { message } ... on PermissionDenied { message } " \
        "... on NotFound { message } ... on Conflict { message }"


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _ok(answer: dict[str, Any], typename: str) -> dict[str, Any]:
    assert answer["__typename"] == typename, answer
    return answer


def _seed(server: Server, deadline: datetime) -> tuple[str, int]:
    """A new escrow campaign of the medical charity with one 30-yuan gift, 10 yuan of it
    released; answers the donor and the attest entry."""
    charity = server.token_of("Hope Medical")
    validator = server.token_of("Cycle Share")
    donor = _ok(server.gql(f"""mutation {{ registerAccount(role: "member") {{ {UNION}
        ... on AccountRegistered {{ account {{ address }} }} }} }}""",
        token=server.token_of("operator"))["registerAccount"], "AccountRegistered")
    address = donor["account"]["address"]
    now = datetime.now(UTC)
    _ok(server.gql(f"""mutation($input: CampaignInput!) {{ createCampaign(input: $input) {{
        {UNION} ... on CampaignSaved {{ campaign {{ slug }} }} }} }}""", {"input": {
        "slug": "sight-e2e", "titleZh": "复明测试", "titleEn": "Sight test", "purpose": "surgery",
        "category": "medical", "goal": 100_000, "unit": "fen",
        "starts": _time(now - timedelta(days=1)), "beneficiary": "patients",
        "validator": server.address_of("Cycle Share"), "outcomeDeadline": _time(deadline)}},
        charity)["createCampaign"], "CampaignSaved")
    _ok(server.gql(f"""mutation($d: String!) {{ recordDonation(kind: "cash", quantity: 3000,
        campaign: "sight-e2e", donor: $d) {{ {UNION}
        ... on DonationRecorded {{ entry {{ index }} }} }} }}""",
        {"d": address}, charity)["recordDonation"], "DonationRecorded")
    attested = _ok(server.gql(f"""mutation($input: OutcomeAttestInput!) {{
        attestOutcome(input: $input) {{ {UNION}
        ... on EscrowChanged {{ entry {{ index }} }} }} }}""",
        {"input": {"charity": server.address_of("Hope Medical"), "campaign": "sight-e2e",
                   "evidence": "ab" * 32, "amount": 1_000}}, validator)["attestOutcome"],
        "EscrowChanged")
    return address, attested["entry"]["index"]


async def test_a_donor_sees_held_released_then_refunded(page: Any, server: Server) -> None:
    deadline = datetime.now(UTC) + timedelta(seconds=8)
    donor, attest_index = _seed(server, deadline)
    await page.goto(f"/members/{donor}?lang=en")
    steps = page.get_by_test_id("escrow-steps")
    await steps.wait_for()
    held = await page.get_by_test_id("escrow-held").inner_text()
    assert "Held until the validator attests the outcome: Cycle Share" in held
    released = page.get_by_test_id("escrow-released")
    assert "¥10.00 released so far" in await released.inner_text()
    assert await page.get_by_test_id("escrow-refunded").count() == 0
    assert await verify_state(
        page, f"[data-testid=escrow-released] [data-verify-entry='{attest_index}']") == "ok"

    await asyncio.sleep(max(0.0, (deadline - datetime.now(UTC)).total_seconds()) + 0.5)
    refund = None
    for _ in range(10):  # the server's clock may trail ours by a moment
        answer = server.gql(f"""mutation($input: CampaignRefundInput!) {{
            refundCampaign(input: $input) {{ {UNION} ... on EscrowChanged {{ entry {{ index }} }}
            }} }}""", {"input": {"charity": server.address_of("Hope Medical"),
                                 "campaign": "sight-e2e"}},
            server.token_of("Hope Medical"))["refundCampaign"]
        if answer["__typename"] == "EscrowChanged":
            refund = answer["entry"]["index"]
            break
        assert answer["__typename"] == "Conflict", answer
        time.sleep(0.5)
    assert refund is not None
    await page.reload()
    refunded = page.get_by_test_id("escrow-refunded")
    await refunded.wait_for()
    text = await refunded.inner_text()
    assert "¥30.00 refunded pro rata" in text and "3,000 hearts taken back" in text
    assert await page.get_by_test_id("hearts-total").inner_text() == "0"
    assert await verify_state(
        page, f"[data-testid=escrow-refunded] [data-verify-entry='{refund}']") == "ok"
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, await wider_than_the_screen(page)
    await page.screenshot(path=str(artifacts_dir() / "donor-escrow-360.png"), full_page=True)
    await refunded.get_by_role("link", name=f"#{refund}").click()
    await page.wait_for_url(f"**/entries/{refund}")
    assert "campaign.refund" in await page.locator("h1").inner_text()
