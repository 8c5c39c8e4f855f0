"""What a donor came to the home page for, above the log's own panels: the campaigns (raised,
spent, left) and what was delivered lately. Empty when the tracing domain is not installed."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

from web import explorer
from web.i18n import add_messages

add_messages({
    "home_campaigns": ("募捐项目", "Campaigns"),
    "home_campaign_line": ("已募 {d} · 已支出 {s} · 余额 {b}",
                           "raised {d} · spent {s} · left {b}"),
    "home_delivered": ("最近送达", "Delivered lately"),
    "home_delivered_none": ("还没有送达记录。", "Nothing delivered yet."),
    "home_campaigns_none": ("还没有募捐项目。", "No campaigns yet."),
    "home_log_h": ("公开日志", "The public log"),
    "home_ledger": ("账目", "ledger"),
    "home_disclosure": ("信息公开", "disclosure"),
})


@dataclass
class Delivery:
    lot_id: str
    goods: str
    unit: str
    moved: int
    place: str | None
    at: str
    idx: int


def _tracing_installed() -> bool:
    try:
        return importlib.util.find_spec("tracing.models") is not None
    except ModuleNotFoundError:
        return False


async def panels(limit: int = 6) -> dict[str, Any]:
    if not _tracing_installed():
        return {"campaigns": [], "deliveries": [], "labels": {}}
    from tracing.models import Campaign, Lot, LotEvent

    campaigns = await Campaign.all().order_by("-donated").limit(limit)
    events = await LotEvent.filter(action="deliver").order_by("-idx").limit(limit)
    lots = {lot.id: lot for lot in await Lot.filter(id__in=[e.lot_id for e in events])}
    deliveries = [Delivery(e.lot_id, lots[e.lot_id].goods, lots[e.lot_id].unit, e.moved, e.place,
                           e.at, e.idx) for e in events if e.lot_id in lots]
    labels = await explorer.accounts_by_address(c.charity for c in campaigns)
    return {"campaigns": campaigns, "deliveries": deliveries,
            "labels": {address: account.label for address, account in labels.items()}}
