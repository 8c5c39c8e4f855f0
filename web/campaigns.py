"""Public campaign pages: each campaign's figures with their proof, and each charity's index.

    GET /campaigns/{slug}                  raised vs goal, cash, spending (receipt hashes), goods,
                                           donors, latest entries (?charity=hc1… when two
                                           charities use the slug)
    GET /charities/{address}/campaigns     every campaign a charity declared
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from heartchain.errors import HeartchainError
from tracing.campaign_models import DeclaredCampaign
from tracing.campaign_queries import campaign_figures
from tracing.campaign_services import campaigns_of
from web import explorer
from web.i18n import add_messages, choose_language, translator
from web.render import not_found, render

add_messages({
    "cp_index_title": ("{who} 的募捐项目", "Campaigns of {who}"),
    "cp_none": ("这家机构还没有声明募捐项目。", "This charity has declared no campaign yet."),
    "cp_missing": ("没有名为 {slug} 的募捐项目。", "No campaign is called {slug}."),
    "cp_choose": ("有多家机构使用项目标识 {slug}，请选择：",
                  "More than one charity uses the slug {slug}; choose one:"),
    "cp_raised": ("已募集", "Raised"),
    "cp_goal": ("目标", "Goal"),
    "cp_of_goal": ("{raised} / {goal}（{p}%）", "{raised} of {goal} ({p}%)"),
    "cp_cash": ("现金", "Cash"),
    "cp_donated": ("捐入", "Donated"),
    "cp_reversed": ("退款", "Refunded"),
    "cp_disbursed": ("已支出", "Spent"),
    "cp_balance": ("余额", "Balance"),
    "cp_ledger": ("现金台账（CSV，逐条对应链上记录）",
                  "Cash ledger (CSV, one row per log entry)"),
    "cp_donors": ("捐赠人数", "Donors"),
    "cp_gifts": ("{n} 笔捐赠", "{n} gifts"),
    "cp_spent_on": ("支出去向", "What the money paid for"),
    "cp_receipt": ("票据哈希", "Receipt hash"),
    "cp_goods": ("物资", "Goods"),
    "cp_received": ("入库", "Received"),
    "cp_in_stock": ("库存", "In stock"),
    "cp_delivered": ("已发放", "Delivered"),
    "cp_lost": ("损耗", "Lost"),
    "cp_lots": ("物资批次", "Lots"),
    "cp_latest": ("最新记录", "Latest entries"),
    "cp_kind_donation": ("捐赠", "Gift"),
    "cp_kind_reversal": ("退款", "Refund"),
    "cp_kind_disbursement": ("支出", "Spending"),
    "cp_purpose": ("宗旨", "Purpose"),
    "cp_beneficiary": ("受益对象", "Who it serves"),
    "cp_window": ("时间", "Dates"),
    "cp_open_ended": ("长期", "open-ended"),
    "cp_may_spend": ("可用于", "May spend on"),
    "cp_any": ("不限", "anything"),
    "cp_declared": ("声明记录", "Declared in"),
    "cp_validator": ("成效核验方", "Outcome validator"),
    "cp_deadline": ("成效截止", "Outcome deadline"),
    "cp_nothing": ("暂无。", "None yet."),
    "cp_escrow": ("按成效拨付", "Pay for success"),
    "cp_escrow_help": ("善款先行保管，核验方确认成效后才能支出；"
                       "截止日前未确认的，余款按比例退回捐赠人。",
                       "The cash is held until the validator attests the outcome; if it does "
                       "not by the deadline, what is left goes back to the donors pro rata."),
    "cp_released": ("已放行", "Released"),
    "cp_released_all": ("全部放行", "all of it"),
    "cp_refunded": ("已退回捐赠人", "Refunded to donors"),
    "cp_refund_of": ("捐赠 #{n} 退回 {a}", "gift #{n}: {a} back"),
    "cp_all": ("全部项目", "All its campaigns"),
    "cat_food": ("食物", "food"), "cat_trees": ("植树", "trees"),
    "cat_medical": ("医疗", "medical"),
    "cat_education": ("教育", "education"), "cat_disaster": ("救灾", "disaster relief"),
    "cat_water": ("饮水", "water"), "cat_elderly": ("养老", "elderly care"),
    "cat_children": ("儿童", "children"), "cat_environment": ("环境", "environment"),
    "cat_other": ("其他", "other"),
})


def title_of(row: DeclaredCampaign, language: str) -> str:
    return row.title_zh if language == "zh" else row.title_en


async def campaign_page(request: Request) -> Response:
    slug = request.path_params["slug"]
    charity = request.query_params.get("charity")
    t = translator(choose_language(request)[0])
    query = DeclaredCampaign.filter(slug=slug[:64])
    if charity:
        query = query.filter(charity=charity[:80])
    found = await query.order_by("created_idx").limit(50)
    if not found:
        return not_found(request, t("cp_missing", slug=slug))
    labels = await explorer.accounts_by_address(r.charity for r in found)
    if len(found) > 1:
        return render(request, "campaign_choose.html", {"slug": slug, "rows": found,
                                                        "labels": labels})
    row = found[0]
    try:
        figures = await campaign_figures(row)
    except HeartchainError as exc:
        return not_found(request, str(exc))
    others = await explorer.accounts_by_address(
        [a for a in (row.validator,) if a is not None])
    return render(request, "campaign.html", {
        "c": row, "f": figures, "charity_label": getattr(labels.get(row.charity), "label", None),
        "validator_label": getattr(others.get(row.validator or ""), "label", None),
        "title": title_of(row, choose_language(request)[0])})


async def charity_campaigns(request: Request) -> Response:
    address = request.path_params["address"][:80]
    rows = await campaigns_of(address)
    labels = await explorer.accounts_by_address([address])
    account = labels.get(address)
    t = translator(choose_language(request)[0])
    if account is None or account.role != "charity":
        return not_found(request, t("cp_none"))
    figures = [await campaign_figures(r, latest=0) for r in rows]
    return render(request, "campaigns.html", {"charity": address,
                                              "charity_label": account.label,
                                              "figures": figures})


routes = [
    Route("/campaigns/{slug}", campaign_page, name="campaign"),
    Route("/charities/{address}/campaigns", charity_campaigns, name="charity_campaigns"),
]
