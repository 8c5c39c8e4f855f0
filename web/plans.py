"""Mutual-aid plans in public: the index of plans, a plan's page (its rules in force and every
earlier version, members covered, periods, the insurer or closed group it operates under, its
wind-down), its period index and its closing report.

    GET /plans
    GET /plans/{plan}
    GET /plans/{plan}/periods
    GET /plans/{plan}/closing

A period itself is web/cases.py's page (/plans/{plan}/periods/{n}).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from heartchain.mutualaid import services, winddown
from heartchain.mutualaid.closing import closing_of, operates_under
from heartchain.mutualaid.codes import CONDITIONS
from heartchain.mutualaid.models import Membership, Plan, PlanClosing, PlanVersion
from heartchain.platform import Platform
from web import hooks
from web.i18n import MESSAGES, add_messages, choose_language, translator
from web.render import not_found, platform_of, render
from web.units import money

add_messages({
    "nav_plans": ("互助计划", "Plans"),
    "plans_title": ("互助计划", "Mutual-aid plans"),
    "plans_intro": ("每个计划的规则、成员人数、分摊期和关闭情况，均来自日志上的签名条目。",
                    "Each plan's rules, members, periods and wind-down, all from signed entries "
                    "on the log."),
    "plans_none": ("还没有互助计划。", "No plans yet."),
    "plan_missing": ("互助计划 {id} 不存在。", "Plan {id} does not exist."),
    "plan_under": ("经营依托", "Operates under"),
    "plan_under_none": ("未注明持牌保险机构或封闭团体",
                        "no licensed insurer or closed group named"),
    "plan_status": ("状态", "Status"),
    "pstatus_open": ("运行中", "open"),
    "pstatus_closing": ("关闭中", "winding down"),
    "pstatus_closed": ("已关闭", "closed"),
    "plan_covered": ("当前保障中的成员", "Members covered now"),
    "plan_members": ("成员（未退出）", "Members (not left)"),
    "plan_periods": ("分摊期", "Periods"),
    "plan_carry": ("待结转", "Carried to the next period"),
    "plan_rules": ("现行规则（第 {v} 版）", "Rules in force (version {v})"),
    "plan_history": ("规则历史", "Rules history"),
    "plan_version": ("版本", "Version"),
    "plan_version_entry": ("条目", "Entry"),
    "plan_changed": ("改动", "Changes"),
    "plan_first": ("首版", "first version"),
    "plan_all_periods": ("全部分摊期", "All periods"),
    "plan_no_periods": ("还没有分摊期。", "No periods yet."),
    "plan_closing": ("关闭计划", "Wind-down"),
    "plan_closing_report": ("关闭报告", "Closing report"),
    "plan_announced": ("宣布关闭", "Announced"),
    "plan_last_notice": ("最后公示日", "Last notice date"),
    "plan_claims_until": ("理赔申请截止", "Claims accepted until"),
    "plan_refund_from": ("退款开始", "Refunds from"),
    "plan_closed_at": ("退款完毕、计划关闭", "Refunded and closed"),
    "plan_not_closing": ("该计划没有宣布关闭。", "This plan has not announced a wind-down."),
    "periods_title": ("{plan} 的分摊期", "Periods of {plan}"),
    "period_number": ("期数", "Period"),
    "period_at": ("时间", "At"),
    "period_case_count": ("案件数", "Cases"),
    "closing_title": ("{plan} 关闭报告", "Closing report of {plan}"),
    "closing_prepaid": ("成员预存合计", "Prepaid by members"),
    "closing_collected": ("各期分摊合计", "Collected by the periods"),
    "closing_payouts": ("其中核准互助金", "of which approved payouts"),
    "closing_fee": ("其中管理费", "of which management fees"),
    "closing_carried": ("最后结转（不再收取）", "Last carry (no longer collected)"),
    "closing_left": ("退出成员的退款", "Refunded to members who left"),
    "closing_refunded": ("关闭退款（{n} 人，{b} 批）",
                         "Wind-down refunds ({n} members, {b} batches)"),
    "closing_held": ("尚未退还的余额（{n} 人）", "Balances not yet refunded ({n} members)"),
    "closing_balanced": ("预存 = 分摊 + 退出退款 + 关闭退款 + 余额：核对一致。",
                         "Prepaid = collected + refunds on leaving + wind-down refunds + held: it "
                         "balances."),
    "closing_unbalanced": ("核对不一致！", "It does not balance!"),
    "closing_refunds": ("退款条目", "Refund entries"),
    "closing_how": ("每笔退款都等于该成员的余额，精确到分，由日志规则校验；"
                    "verify 会从日志重建这里的每个数字。",
                    "Each refund equals that member's balance to the fen, checked by the log's "
                    "rules; verify rebuilds every figure here from the log."),
    "rule_min_age_days": ("最小年龄（天）", "Minimum age (days)"),
    "rule_max_age_years": ("最大年龄（岁）", "Maximum age (years)"),
    "rule_waiting_days": ("等待期（天）", "Waiting period (days)"),
    "rule_cap_fen": ("互助金上限", "Payout cap"),
    "rule_senior_age": ("高龄起始年龄", "Senior from age"),
    "rule_senior_cap_fen": ("高龄互助金上限", "Senior payout cap"),
    "rule_fee_bp": ("管理费率", "Management fee"),
    "rule_member_case_cap_fen": ("每案每人分摊上限", "Most a member pays per case"),
    "rule_min_prepay_fen": ("最低预存", "Minimum prepayment"),
    "rule_conditions": ("保障病种", "Conditions covered"),
    "rule_age_bands": ("年龄段互助金上限", "Payout caps by age band"),
    "rule_year_cap_fen": ("每人每年分摊上限", "Most a member pays a year"),
    "rule_time_zone": ("计划时区", "Plan time zone"),
    "rule_notice_days": ("公示日（每月）", "Notice days (of the month)"),
    "rule_deduction_days": ("扣款日（每月）", "Deduction days (of the month)"),
})


@dataclass(frozen=True)
class RuleRow:
    key: str
    label: str
    value: str


RULE_ORDER = ("min_age_days", "max_age_years", "waiting_days", "min_prepay_fen", "cap_fen",
              "senior_age", "senior_cap_fen", "age_bands", "fee_bp", "member_case_cap_fen",
              "year_cap_fen", "time_zone", "notice_days", "deduction_days", "conditions")


def _band(band: Any, language: str) -> str:
    """An age band ({"to_years", "cap_fen"}, as the rules lane writes it) as text."""
    if isinstance(band, dict) and isinstance(band.get("cap_fen"), int):
        years = band.get("to_years")
        upto = f"≤ {years} 岁" if language == "zh" else f"to {years} years"
        return f"{upto}: {money(band['cap_fen'])}"
    return json.dumps(band, ensure_ascii=False, sort_keys=True)


def _rule_order(key: str) -> tuple[int, str]:
    return (RULE_ORDER.index(key) if key in RULE_ORDER else len(RULE_ORDER), key)


def rule_rows(rules: dict[str, Any], language: str) -> list[RuleRow]:
    """A version's rules as label and value, whatever fields the rules carry (a field added to
    the rules later shows under its own name until it gets a label)."""
    t = translator(language)
    rows = []
    for key in sorted(rules, key=_rule_order):
        value = rules[key]
        if key == "conditions" and isinstance(value, list):
            names = [CONDITIONS[c].text(language) if isinstance(c, str) and c in CONDITIONS
                     else str(c) for c in value]
            shown = ("、" if language == "zh" else ", ").join(names)
        elif key == "age_bands" and isinstance(value, list):
            shown = "; ".join(_band(band, language) for band in value) or "—"
        elif isinstance(value, list | dict):
            shown = json.dumps(value, ensure_ascii=False, sort_keys=True)
        elif key.endswith("_fen") and isinstance(value, int):
            shown = money(value)
        elif key.endswith("_bp") and isinstance(value, int):
            shown = f"{value / 100:g}%"
        else:
            shown = str(value)
        label = t(f"rule_{key}") if f"rule_{key}" in MESSAGES else key
        rows.append(RuleRow(key, label, shown))
    return rows


def changes(before: dict[str, Any] | None, after: dict[str, Any], language: str) -> list[str]:
    """The labels of the rules a version changed (all of them for the first)."""
    if before is None:
        return [translator(language)("plan_first")]
    return [row.label for row in rule_rows(after, language)
            if before.get(row.key) != after.get(row.key)]


def plan_status(closing: PlanClosing | None) -> str:
    if closing is None:
        return "open"
    return "closed" if closing.closed_idx is not None else "closing"


async def plan_summary(platform: Platform, plan: Plan) -> dict[str, Any]:
    closing = await closing_of(platform.log.reader.connection(), plan.id)
    return {"plan": plan, "closing": closing, "status": plan_status(closing),
            "under": await operates_under(plan.id),
            "covered": await services.covered_count(platform, plan.id)}


async def plans_index(request: Request) -> Response:
    platform = platform_of(request)
    plans = [await plan_summary(platform, p) for p in await Plan.all().order_by("id")]
    return render(request, "plans.html", {"plans": plans})


async def _plan_or_404(request: Request) -> Plan | Response:
    plan_id = request.path_params["plan"]
    plan = await services.find_plan(plan_id)
    if plan is None:
        t = translator(choose_language(request)[0])
        return not_found(request, t("plan_missing", id=plan_id))
    return plan


async def plan_page(request: Request) -> Response:
    platform = platform_of(request)
    language = choose_language(request)[0]
    plan = await _plan_or_404(request)
    if isinstance(plan, Response):
        return plan
    versions = []
    before: dict[str, Any] | None = None
    for row in await PlanVersion.filter(plan=plan.id).order_by("idx"):
        rules = json.loads(row.rules)
        versions.append({"row": row, "changes": changes(before, rules, language)})
        before = rules
    current = json.loads((await PlanVersion.filter(plan=plan.id).order_by("-idx").first()
                          or PlanVersion(rules="{}")).rules)
    periods = await services.periods_of(plan.id)
    members = await Membership.filter(plan=plan.id).exclude(status="left").count()
    return render(request, "plan.html", {
        **await plan_summary(platform, plan), "rules": rule_rows(current, language),
        "versions": list(reversed(versions)), "members": members,
        "periods": list(reversed(periods))[:10], "period_total": len(periods),
    })


async def periods_index(request: Request) -> Response:
    plan = await _plan_or_404(request)
    if isinstance(plan, Response):
        return plan
    periods = list(reversed(await services.periods_of(plan.id)))
    return render(request, "plan_periods.html", {
        **await plan_summary(platform_of(request), plan), "periods": periods,
        "case_counts": {p.idx: len(json.loads(p.cases)) for p in periods}})


async def closing_page(request: Request) -> Response:
    platform = platform_of(request)
    plan = await _plan_or_404(request)
    if isinstance(plan, Response):
        return plan
    report = await winddown.closing_report(platform, plan.id)
    batches = []
    if report.closing is not None:
        batches = sorted({r.idx for r in await winddown.refunds_of(plan.id)})
    return render(request, "plan_closing.html", {
        **await plan_summary(platform, plan), "report": report, "batches": batches})


@hooks.search_resolver
async def _find_plan(platform: Platform, query: str) -> str | None:
    plan = await services.find_plan(query.strip())
    return f"/plans/{plan.id}" if plan else None


routes = [
    Route("/plans", plans_index, name="plans"),
    Route("/plans/{plan}", plan_page, name="plan"),
    Route("/plans/{plan}/periods", periods_index, name="plan_periods"),
    Route("/plans/{plan}/closing", closing_page, name="plan_closing"),
]
