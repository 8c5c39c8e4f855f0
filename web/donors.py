"""A donor's page: heart score with its history chart, every gift, and where each one went.

    GET /members/{address}

For goods, each gift's journey is the lots it went into down to every delivery and loss; for
cash, the disbursements its fen paid for (allocated first in, first out) and what they bought;
for cash in a pay-for-success campaign, its escrow steps too: held until the validator attests,
released (the outcome.attest entry), refunded (its pro-rata share, the hearts it burned and the
campaign.refund entry), each with its inclusion proof. The journeys and steps come from tracing
when that domain is installed.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from heartchain.accounts.models import Account
from heartchain.corrections.queries import corrections_of
from heartchain.lookups import can_match
from tokens import services as hearts
from tokens.models import HeartDonation
from web import explorer
from web.accounts import account_page
from web.i18n import add_messages, choose_language
from web.render import platform_of, render

add_messages({
    "donor_title": ("爱心档案", "Donor"),
    "hearts": ("爱心值", "Hearts"),
    "hearts_total": ("当前爱心值", "Hearts now"),
    "hearts_help": ("爱心值不可转让：每一次捐赠按当时的费率记入，退款会扣回。",
                    "Hearts cannot be transferred: each gift adds them at the rate then in "
                    "force, and a refund takes them back."),
    "hearts_history": ("爱心值变化", "Hearts over time"),
    "hearts_chart_label": ("爱心值历史图：{n} 个检查点，从 {a} 到 {b}",
                           "Hearts history chart: {n} checkpoints, from {a} to {b}"),
    "chart_x": ("日志大小（检查点）", "log size (checkpoint)"),
    "show_table": ("以表格查看", "Show as a table"),
    "hearts_by_kind": ("按类型", "By kind"),
    "kind_cash": ("善款", "Cash"),
    "kind_food": ("食物", "Food"),
    "kind_tree": ("树木", "Trees"),
    "gifts": ("捐赠记录", "Gifts"),
    "gift_refunded": ("项目未达成效，按比例退回 {n}（记录 #{i}）",
                      "The outcome was not attested in time: {n} refunded pro rata (entry #{i})"),
    "escrow_steps": ("按成效拨付", "Pay for success"),
    "escrow_held": ("由机构保管，待核验方 {v} 在 {d} 前确认成效后才能支出",
                    "Held until the validator attests the outcome: {v}, by {d}"),
    "escrow_released": ("核验方已确认成效，放行 {n}",
                        "The validator attested: {n} released so far"),
    "escrow_released_all": ("核验方已确认成效，全部放行",
                            "The validator attested: all of it released"),
    "escrow_hearts_burned": ("扣回 {n} 爱心", "{n} hearts taken back"),
    "gifts_count": ("共 {n} 笔", "{n} gifts"),
    "no_gifts": ("还没有捐赠记录。", "No gifts yet."),
    "gift_to": ("捐给 {charity}", "To {charity}"),
    "gift_campaign": ("项目", "Campaign"),
    "gift_hearts": ("+{n} 爱心", "+{n} hearts"),
    "gift_rate": ("（按费率表 v{v}）", "(rate table v{v})"),
    "gift_reversed": ("已退款（条目 #{n}），爱心已扣回",
                      "Refunded (entry #{n}); hearts taken back"),
    "journey_title": ("去向", "Where it went"),
    "journey_none": ("尚未分配：机构还没有把这笔捐赠放入批次或用于支出。",
                     "Not used yet: the charity has not put this gift into a lot or spent it."),
    "journey_summary": ("已发放 {d} · 损耗 {l} · 保管中 {h}",
                        "Delivered {d} · lost {l} · still held {h}"),
    "journey_undispatched": ("尚未放入批次：{n}", "Not yet in a lot: {n}"),
    "journey_paid_for": ("这笔善款支付了：", "This money paid for:"),
    "journey_unspent": ("尚未支出：{n}", "Not spent yet: {n}"),
    "journey_bought": ("购买的物资批次", "Lots bought with it"),
    "journey_share": ("其中 {n} 来自您的捐赠", "{n} of it from your gift"),
    "journey_lot_line": ("{lot}：收到 {r}，已发放 {d}", "{lot}: received {r}, delivered {d}"),
})


@dataclass
class Gift:
    donation: HeartDonation
    leaf_hex: str
    charity_label: str | None
    journey: Any = None  # tracing.services.Journey when tracing is installed
    paid: list[Any] = field(default_factory=list)


def _tracing() -> Any:
    if importlib.util.find_spec("tracing.journeys") is None:
        return None
    import tracing.journeys

    return tracing.journeys


def history_chart(points: list[Any], label: str, *, width: int = 360, height: int = 150,
                  x_title: str = "checkpoint", y_title: str = "hearts") -> Markup:
    """A small inline SVG line chart of the score after each checkpoint where it changed, with
    axes: hearts (0 to the highest) up the left, checkpoint sizes along the bottom."""
    if not points:
        return Markup("")
    left, right, top_pad, bottom_pad = 56, 10, 16, 30
    totals = [p.total for p in points]
    top = max(max(totals), 1)
    bottom = min(min(totals), 0)
    span = max(top - bottom, 1)
    count = len(points)

    def x(i: int) -> float:
        return left + (width - left - right) * (i / (count - 1) if count > 1 else 0.5)

    def y(v: int) -> float:
        return height - bottom_pad - (height - top_pad - bottom_pad) * (v - bottom) / span

    coords = [(x(0), y(bottom))] if count == 1 else []
    coords += [(x(i), y(v)) for i, v in enumerate(totals)]
    line = " ".join(f"{a:.1f},{b:.1f}" for a, b in coords)
    area = f"{coords[0][0]:.1f},{y(bottom):.1f} {line} {coords[-1][0]:.1f},{y(bottom):.1f}"
    dots = "".join(
        f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3"><title>{escape(str(p.checkpoint_size))}'
        f": {v:,}</title></circle>" for i, (p, v) in enumerate(zip(points, totals, strict=True)))
    axis = 'stroke="#7b8591" stroke-width="1"'
    text = 'fill="#5a636e" font-size="10"'
    y_ticks = "".join(
        f'<line x1="{left - 4}" y1="{y(v):.1f}" x2="{left}" y2="{y(v):.1f}" {axis}/>'
        f'<text x="{left - 6}" y="{y(v) + 3:.1f}" text-anchor="end" {text}>{v:,}</text>'
        for v in sorted({bottom, top}))
    first, last = points[0].checkpoint_size, points[-1].checkpoint_size
    x_ticks = (f'<text x="{x(0):.1f}" y="{height - bottom_pad + 13}" text-anchor="start" '
               f'{text}>{first:,}</text>')
    if count > 1:
        x_ticks += (f'<text x="{x(count - 1):.1f}" y="{height - bottom_pad + 13}" '
                    f'text-anchor="end" {text}>{last:,}</text>')
    titles = (f'<text x="{(left + width - right) / 2:.1f}" y="{height - 3}" text-anchor="middle" '
              f'{text}>{escape(x_title)}</text>'
              f'<text x="4" y="{top_pad - 5}" {text}>{escape(y_title)}</text>')
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f'<line x1="{left}" y1="{y(bottom):.1f}" x2="{width - right}" y2="{y(bottom):.1f}" '
        f'{axis}/><line x1="{left}" y1="{top_pad}" x2="{left}" y2="{y(bottom):.1f}" {axis}/>'
        f'{y_ticks}{x_ticks}{titles}'
        f'<polygon points="{area}" fill="#b3261e" fill-opacity="0.12"/>'
        f'<polyline points="{line}" fill="none" stroke="#b3261e" stroke-width="2.5" '
        'stroke-linejoin="round"/>'
        f'<g fill="#b3261e">{dots}</g></svg>')


async def donor_page(request: Request) -> Response:
    platform = platform_of(request)
    address = request.path_params["address"]
    if not can_match(Account, address=address):
        return await account_page(request)  # which answers 404
    account = await Account.get_or_none(address=address)
    donations = await hearts.donations_of(address, first=100)
    if not donations and (account is None or account.role != "member"):
        return await account_page(request)
    score = await hearts.score(address)
    history = await hearts.score_history(address, first=200)
    stored = await platform.log.get_entries([d.idx for d in donations])
    charities = await explorer.accounts_by_address(d.charity for d in donations)
    tracing = _tracing()
    journeys = ({} if tracing is None
                else await tracing.donation_journeys([d.idx for d in donations]))
    escrow = await _escrow_steps(donations)
    steps = await platform.log.get_entries(sorted({i for e in escrow.values()
                                                   for i in e.entries()}))
    validators = await explorer.accounts_by_address(e.validator for e in escrow.values())
    gifts = []
    for donation in donations:
        gift = Gift(donation, stored[donation.idx].leaf_hash.hex() if donation.idx in stored
                    else "", charities[donation.charity].label
                    if donation.charity in charities else None)
        gift.journey = journeys.get(donation.idx)
        gifts.append(gift)
    paid = [p.idx for g in gifts if g.journey is not None for _, p in g.journey.allocations]
    corrected = await corrections_of([d.idx for d in donations] + paid)
    language = choose_language(request)[0]
    from web.i18n import translator

    t = translator(language)
    chart_label = t("hearts_chart_label", n=len(history),
                    a=f"{history[0].total:,}" if history else 0,
                    b=f"{history[-1].total:,}" if history else 0)
    return render(request, "donor.html", {
        "address": address, "account": account, "score": score, "history": history,
        "escrow": escrow, "step_leaves": {i: e.leaf_hash.hex() for i, e in steps.items()},
        "validators": {a: v.label for a, v in validators.items()},
        "chart": history_chart(history, chart_label, x_title=t("chart_x"),
                               y_title=t("hearts")), "gifts": gifts,
        "breakdown": await hearts.breakdown(address), "corrected": corrected,
    })


async def _escrow_steps(donations: list[HeartDonation]) -> dict[int, Any]:
    """Pay-for-success steps of this donor's cash gifts, by gift (tracing.escrow)."""
    if importlib.util.find_spec("tracing.campaign_queries") is None:
        return {}
    from tracing.campaign_queries import escrow_steps

    return await escrow_steps(donations)


routes = [Route("/members/{address}", donor_page, name="donor")]
