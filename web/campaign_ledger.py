"""A campaign's cash ledger as a page: every donation, reversal and disbursement with a running
balance, corrected values beside the struck-through originals.

    GET /campaigns/{slug}/ledger[?charity=hc1…]     (the CSV is /campaigns/{slug}/ledger.csv)
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from heartchain.corrections.queries import EntryCorrections, corrections_of
from heartchain.errors import HeartchainError
from tracing import services
from tracing.models import Disbursement, TracedDonation
from web import corrections  # noqa: F401  (its messages)
from web.i18n import add_messages, choose_language, translator
from web.render import not_found, render

add_messages({
    "ledger_title": ("项目账目：{slug}", "Campaign ledger: {slug}"),
    "ledger_csv": ("下载 CSV", "Download CSV"),
    "ledger_type": ("类型", "Type"),
    "ledger_amount": ("金额", "Amount"),
    "ledger_balance": ("余额", "Balance"),
    "ledger_detail": ("说明", "Detail"),
    "ledger_donation": ("捐赠", "donation"),
    "ledger_reversal": ("退款", "reversal"),
    "ledger_disbursement": ("支出", "disbursement"),
    "ledger_reverses": ("退回捐赠 #{n}", "reverses donation #{n}"),
    "ledger_totals": ("收入 {d} · 退款 {r} · 支出 {p} · 余额 {b}",
                      "Donated {d} · reversed {r} · disbursed {p} · balance {b}"),
})


@dataclass(frozen=True)
class Row:
    index: int
    at: str
    type: str
    amount: int  # + in, − out
    balance: int
    donation: TracedDonation | None = None
    disbursement: Disbursement | None = None
    corrections: EntryCorrections | None = None


def ledger_rows(view: services.CampaignView,
                corrected: dict[int, EntryCorrections]) -> list[Row]:
    events: list[tuple[int, str, str, int, TracedDonation | None, Disbursement | None]] = []
    for d in view.donations:
        events.append((d.idx, d.at, "donation", d.quantity, d, None))
        if d.reversed_idx is not None:
            events.append((d.reversed_idx, d.reversed_at or "", "reversal", -d.reversed, d,
                           None))
    events.extend((p.idx, p.at, "disbursement", -p.amount, None, p)
                  for p in view.disbursements)
    rows, balance = [], 0
    for index, at, kind, amount, donation, paid in sorted(events, key=lambda e: e[0]):
        balance += amount
        target = donation.idx if donation is not None and kind == "donation" else index
        rows.append(Row(index, at, kind, amount, balance, donation, paid,
                        corrected.get(target)))
    return rows


async def ledger_page(request: Request) -> Response:
    slug = request.path_params["slug"]
    charity = request.query_params.get("charity")
    t = translator(choose_language(request)[0])
    try:
        view = await services.campaign_view(slug, charity)
    except HeartchainError as exc:
        return not_found(request, str(exc))
    targets = [d.idx for d in view.donations] + [p.idx for p in view.disbursements]
    return render(request, "campaign_ledger.html", {
        "slug": slug, "campaign": view.campaign, "t_title": t("ledger_title", slug=slug),
        "rows": ledger_rows(view, await corrections_of(targets))})


routes = [Route("/campaigns/{slug}/ledger", ledger_page, name="campaign_ledger")]
