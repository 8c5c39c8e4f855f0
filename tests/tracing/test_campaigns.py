"""Campaigns as entries: a donation or disbursement names a declared campaign that exists, is the
charity's own and is open at the entry's time; it spends only on what the campaign declared."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from heartchain.errors import ValidationError
from heartchain.ledger.entries import format_time
from heartchain.ledger.verify import verify_log
from tests.conftest import Ledger, gql
from tests.factories import campaign
from tests.tokens.factories import token
from tests.tracing import factories as f
from tests.tracing.conftest import Cast
from tokens import services as hearts
from tracing import campaign_services, services
from tracing.campaigns import CampaignCreateBody
from tracing.errors import (
    CampaignClosed,
    CampaignExists,
    ForeignCampaign,
    InsufficientFunds,
    SpendNotAllowed,
    UnknownCampaign,
)
from tracing.models import Campaign


def _at(ledger: Ledger, days: float) -> str:
    return format_time(ledger.platform.clock.now() + timedelta(days=days))


async def _give(ledger: Ledger, cast: Cast, slug: str, quantity: int = 1_000,
                charity: str | None = None) -> int:
    appended = await hearts.record_donation(ledger.platform, charity=charity or cast.charity,
                                            donor=cast.donor, kind="cash", quantity=quantity,
                                            campaign=slug)
    return appended.index


async def test_a_typo_in_the_slug_is_refused_and_writes_nothing(ledger: Ledger,
                                                                cast: Cast) -> None:
    await campaign(ledger, cast.charity, "winter-2026")
    size = await f.size(ledger)
    with pytest.raises(UnknownCampaign, match="declared no campaign wniter-2026"):
        await _give(ledger, cast, "wniter-2026")
    assert await f.size(ledger) == size
    assert await Campaign.filter(slug="wniter-2026").count() == 0  # no campaign appeared
    await _give(ledger, cast, "winter-2026")
    assert (await Campaign.get(slug="winter-2026")).donated == 1_000


async def test_another_charitys_campaign_is_refused(ledger: Ledger, cast: Cast) -> None:
    other = await f.account(ledger, "charity")
    await campaign(ledger, other, "theirs")
    with pytest.raises(ForeignCampaign, match="belongs to"):
        await _give(ledger, cast, "theirs")
    await f.donate(ledger, cast.charity, cast.donor, "cash", 500, "mine")
    with pytest.raises(ForeignCampaign):
        await services.disburse(ledger.platform, charity=other, campaign="mine", amount=100,
                                payee="x", purpose="y", receipt=f.digest())
    # The same slug declared by both is two campaigns, each its charity's own.
    await campaign(ledger, cast.charity, "theirs")
    await _give(ledger, cast, "theirs")
    assert (await Campaign.get(key=f"theirs@{cast.charity}")).donated == 1_000


async def test_a_campaign_takes_gifts_only_while_open(ledger: Ledger, cast: Cast) -> None:
    await campaign(ledger, cast.charity, "later", starts=_at(ledger, 2))
    await campaign(ledger, cast.charity, "short", starts=_at(ledger, -1), ends=_at(ledger, 1))
    with pytest.raises(CampaignClosed, match="not open"):
        await _give(ledger, cast, "later")
    await _give(ledger, cast, "short")
    ledger.platform.clock.advance(timedelta(days=1, minutes=10))
    with pytest.raises(CampaignClosed):
        await _give(ledger, cast, "short")
    with pytest.raises(CampaignClosed):  # nor spends after its end
        await services.disburse(ledger.platform, charity=cast.charity, campaign="short",
                                amount=100, payee="x", purpose="y", receipt=f.digest())
    ledger.platform.clock.advance(timedelta(days=1))
    await _give(ledger, cast, "later")
    # Extending the end reopens it.
    await campaign_services.update_campaign(ledger.platform, charity=cast.charity, slug="short",
                                            ends=_at(ledger, 30))
    await _give(ledger, cast, "short")


async def test_disbursements_spend_only_on_declared_kinds(ledger: Ledger, cast: Cast) -> None:
    await campaign(ledger, cast.charity, "trees", category="trees", unit="trees", goal=500,
                   goods=("seedlings", "tools"), payees=("nursery",))
    await _give(ledger, cast, "trees", 10_000)

    async def spend(**kinds: str) -> None:
        await services.disburse(ledger.platform, charity=cast.charity, campaign="trees",
                                amount=1_000, payee="Green nursery", purpose="saplings",
                                receipt=f.digest(), **kinds)

    with pytest.raises(SpendNotAllowed, match="may spend only on seedlings, tools"):
        await spend(goods="food", payee_kind="nursery")  # no tree campaign buying rice
    with pytest.raises(SpendNotAllowed, match="goods"):
        await spend(payee_kind="nursery")  # naming nothing is refused too
    with pytest.raises(SpendNotAllowed, match="payee_kind"):
        await spend(goods="seedlings", payee_kind="supplier")
    await spend(goods="seedlings", payee_kind="nursery")
    with pytest.raises(InsufficientFunds):
        await services.disburse(ledger.platform, charity=cast.charity, campaign="trees",
                                amount=10_000, payee="n", purpose="p", receipt=f.digest(),
                                goods="tools", payee_kind="nursery")
    # An update widens what it may buy.
    await campaign_services.update_campaign(ledger.platform, charity=cast.charity, slug="trees",
                                            goods=["seedlings", "tools", "water"])
    await spend(goods="water", payee_kind="nursery")
    assert (await Campaign.get(slug="trees")).disbursed == 2_000


async def test_declaring_twice_and_bad_declarations(ledger: Ledger, cast: Cast) -> None:
    await campaign(ledger, cast.charity, "once")
    with pytest.raises(CampaignExists):
        await campaign(ledger, cast.charity, "once")
    with pytest.raises(ValidationError, match="category"):
        await campaign(ledger, cast.charity, "bad", category="weapons")
    with pytest.raises(ValidationError, match="ends: must be after starts"):
        await campaign(ledger, cast.charity, "bad", starts=_at(ledger, 1), ends=_at(ledger, 0))
    with pytest.raises(ValidationError, match="lists a kind twice"):
        await campaign(ledger, cast.charity, "bad", goods=("food", "food"))
    with pytest.raises(ValidationError, match="validator: must not be the charity"):
        await campaign(ledger, cast.charity, "bad", validator=cast.charity,
                       outcome_deadline=_at(ledger, 30))
    with pytest.raises(ValidationError, match="not a registered organisation"):
        await campaign(ledger, cast.charity, "bad", validator=cast.donor,
                       outcome_deadline=_at(ledger, 30))
    with pytest.raises(ValidationError, match="come together"):
        await campaign(ledger, cast.charity, "bad", validator=cast.school)
    with pytest.raises(UnknownCampaign):
        await campaign_services.update_campaign(ledger.platform, charity=cast.charity,
                                                slug="never", goal=5)
    with pytest.raises(ValidationError, match="changes nothing"):
        await campaign_services.update_campaign(ledger.platform, charity=cast.charity,
                                                slug="once")
    with pytest.raises(ValidationError, match="cannot change category"):
        await campaign_services.update_campaign(ledger.platform, charity=cast.charity,
                                                slug="once", category="trees")
    assert not await campaign_services.campaigns_of(cast.donor)
    assert [c.slug for c in await campaign_services.campaigns_of(cast.charity)] == ["once"]
    assert "beneficiary" in CampaignCreateBody.__struct_fields__


async def test_campaign_entries_replay_in_verify(ledger: Ledger, cast: Cast) -> None:
    await campaign(ledger, cast.charity, "meals", goods=("food",), payees=("supplier",))
    await _give(ledger, cast, "meals", 5_000)
    await campaign_services.update_campaign(ledger.platform, charity=cast.charity, slug="meals",
                                            title_en="School meals", goal=9_000)
    await services.disburse(ledger.platform, charity=cast.charity, campaign="meals",
                            amount=2_000, payee="Grain Co.", purpose="rice",
                            receipt=f.digest(), goods="food", payee_kind="supplier")
    row = await campaign_services.get_campaign("meals")
    assert (row.title_en, row.goal, row.goods) == ("School meals", 9_000, "food")
    report = await verify_log(ledger.platform.log)
    assert report.entries == await f.size(ledger)


async def test_create_and_update_through_graphql(ledger: Ledger, client: httpx.AsyncClient,
                                                 cast: Cast) -> None:
    charity_token = await token(ledger, cast.charity)
    create = """mutation($input: CampaignInput!) { createCampaign(input: $input) {
      __typename ... on CampaignSaved { campaign { slug titleZh goods cash { balance } }
        entry { index kind } } ... on ValidationError { message field }
      ... on Conflict { message } } }"""
    fields = {"slug": "books", "titleZh": "图书角", "titleEn": "Reading corners",
              "purpose": "books for village schools", "category": "education",
              "goal": 300_000, "unit": "fen", "starts": "2026-01-01T00:00:00.000Z",
              "beneficiary": "pupils of three village schools", "goods": ["books"]}
    made = (await gql(client, create, {"input": fields}, charity_token))["data"]
    saved = made["createCampaign"]
    assert saved["__typename"] == "CampaignSaved", saved
    assert saved["campaign"] == {"slug": "books", "titleZh": "图书角", "goods": ["books"],
                                 "cash": None}
    assert saved["entry"]["kind"] == "campaign.create"
    again = (await gql(client, create, {"input": fields}, charity_token))["data"]
    assert again["createCampaign"]["__typename"] == "Conflict"
    bad = (await gql(client, create, {"input": {**fields, "slug": "x", "unit": "kg"}},
                     charity_token))["data"]["createCampaign"]
    assert bad["__typename"] == "ValidationError" and bad["field"] == "unit"
    update = """mutation($input: CampaignUpdateInput!) { updateCampaign(input: $input) {
      __typename ... on CampaignSaved { campaign { goal updatedIndex } entry { kind } } } }"""
    changed = (await gql(client, update, {"input": {"slug": "books", "goal": 400_000}},
                         charity_token))["data"]["updateCampaign"]
    assert changed["campaign"]["goal"] == 400_000
    assert changed["entry"]["kind"] == "campaign.update"
    listed = (await gql(client, "query($c: String!) { campaignsOf(charity: $c) { slug } "
                                "campaignDeclaration(slug: \"books\") { titleEn } }",
                        {"c": cast.charity}))["data"]
    assert listed == {"campaignsOf": [{"slug": "books"}],
                      "campaignDeclaration": {"titleEn": "Reading corners"}}
