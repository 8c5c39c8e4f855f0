"""A campaign's quarterly disclosure report (tracing.disclosure) as a page and as downloads.

    GET /campaigns/{slug}/disclosure[?charity=hc1…][&quarter=2026-Q4]   the page
    GET /campaigns/{slug}/disclosure.json[?…]                           heartchain-disclosure/1
    GET /campaigns/{slug}/disclosure.csv[?…]                            one row per figure

The shapes are documented in tracing/disclosure.py and the README.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from heartchain.errors import HeartchainError, NotFound
from tracing import disclosure
from tracing.http import _filename
from web.i18n import add_messages, choose_language, translator
from web.render import bad_request, not_found, platform_of, render

add_messages({
    "disclosure_title": ("信息公开：{slug}", "Disclosure: {slug}"),
    "disclosure_intro": ("按《慈善法》要求，每季度至少公开一次：募集、退款、按用途的支出、"
                         "物资收发和余额。"
                         "每个数字都列出其背后的日志条目，可逐条核对。季度按北京时间（UTC+8）划分。",
                         "What the Charity Law asks a charity to publish at least every three "
                         "months: raised, refunded, spent by purpose, goods received and "
                         "distributed, and the balance. Each figure lists the log entries behind "
                         "it. Quarters are in China Standard Time (UTC+8)."),
    "disclosure_quarter": ("{q}（{a} 至 {b} 前）", "{q} ({a} to before {b})"),
    "disclosure_opening": ("期初余额", "Opening balance"),
    "disclosure_raised": ("募集善款", "Raised"),
    "disclosure_reversed": ("退款", "Refunded"),
    "disclosure_refunded": ("按成效拨付未达成，按比例退回捐赠人",
                            "Outcome not attested: refunded to donors pro rata"),
    "disclosure_spent": ("支出", "Spent"),
    "disclosure_by_purpose": ("按用途", "By purpose"),
    "disclosure_goods_in": ("收到物资", "Goods received"),
    "disclosure_goods_out": ("发放物资", "Goods distributed"),
    "disclosure_goods_lost": ("损耗物资", "Goods lost"),
    "disclosure_goods_stock": ("期末库存", "Goods in stock at the close"),
    "disclosure_closing": ("期末余额", "Closing balance"),
    "disclosure_corrections": ("本季度涉及的更正", "Corrections behind these figures"),
    "disclosure_entries": ("条目", "Entries"),
    "disclosure_count": ("{n} 笔", "{n} entries"),
    "disclosure_more": ("及另外 {n} 条（见 JSON）", "and {n} more (see the JSON)"),
    "disclosure_json": ("下载 JSON", "Download JSON"),
    "disclosure_csv": ("下载 CSV", "Download CSV"),
    "disclosure_none": ("无", "none"),
    "disclosure_bad_quarter": ("季度格式应为 2026-Q4", "a quarter is written like 2026-Q4"),
})

_QUARTER = re.compile(r"[0-9]{4}-Q[1-4]")
SHOWN = 20  # entry links shown per figure; the downloads list them all


async def _report(request: Request) -> disclosure.Report | Response:
    t = translator(choose_language(request)[0])
    slug = request.path_params["slug"]
    quarter = request.query_params.get("quarter", "").strip()
    if quarter and not _QUARTER.fullmatch(quarter):
        return bad_request(request, t("disclosure_bad_quarter"))
    try:
        subject = await disclosure.find_subject(slug, request.query_params.get("charity"))
        return await disclosure.campaign_report(subject, now=platform_of(request).clock.now(),
                                                quarter=quarter or None)
    except NotFound as exc:
        return not_found(request, str(exc))
    except HeartchainError as exc:  # two charities' slug, a quarter outside the campaign
        return bad_request(request, str(exc))


async def disclosure_page(request: Request) -> Response:
    report = await _report(request)
    if isinstance(report, Response):
        return report
    return render(request, "disclosure.html", {
        "report": report, "quarters": list(reversed(report.quarters)), "shown": SHOWN,
        "query": request.url.query})


def _download(request: Request, text: str, extension: str, media: str) -> Response:
    name = _filename(request.path_params["slug"])
    return PlainTextResponse(text, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{name}-disclosure.{extension}"',
        "Cache-Control": "no-cache"})


async def disclosure_json(request: Request) -> Response:
    report = await _report(request)
    if isinstance(report, Response):
        return report
    return _download(request, disclosure.report_json(report), "json", "application/json")


async def disclosure_csv(request: Request) -> Response:
    report = await _report(request)
    if isinstance(report, Response):
        return report
    return _download(request, disclosure.report_csv(report), "csv", "text/csv; charset=utf-8")


routes = [
    Route("/campaigns/{slug}/disclosure", disclosure_page, name="disclosure"),
    Route("/campaigns/{slug}/disclosure.json", disclosure_json, name="disclosure_json"),
    Route("/campaigns/{slug}/disclosure.csv", disclosure_csv, name="disclosure_csv"),
]
