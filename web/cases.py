"""Mutual-aid public notices: a case (masked claimant, condition, hospital, investigation,
objections, decision; conditions, hospitals and objection reasons by their vetted zh/en labels,
never text someone typed) and a period (cases paid, the per-member share; a member looks up
their own share and the browser checks its proof against the share root in the period's entry).

    GET /cases/{id}
    GET /cases/{id}/jury/pool.txt  (the jury draw's eligible pool, to recompute it)
    GET /plans/{plan}/periods/{number}[?member=hc1...]
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from heartchain.errors import NotFound
from heartchain.mutualaid import jury_services, services
from heartchain.mutualaid.codes import CONDITIONS, DECISION_REASONS, OBJECTION_REASONS
from heartchain.mutualaid.models import Hospital
from heartchain.platform import Platform
from web import explorer, hooks
from web.i18n import MESSAGES, add_messages, choose_language, translator
from web.render import not_found, platform_of, render

add_messages({
    "case_title": ("互助案件公示 {id}", "Mutual-aid case notice {id}"),
    "case_missing": ("案件 {id} 不存在。", "Case {id} does not exist."),
    "case_claimant": ("患者", "Patient"),
    "case_age_band": ("年龄段", "Age band"),
    "case_condition": ("病种", "Condition"),
    "case_hospital": ("医院", "Hospital"),
    "case_diagnosed": ("确诊日期", "Diagnosed on"),
    "case_asked": ("申请金额", "Amount asked"),
    "case_cap": ("本计划上限", "Plan cap"),
    "case_status": ("状态", "Status"),
    "case_plan": ("互助计划", "Plan"),
    "case_member": ("成员", "Member"),
    "case_opened": ("立案", "Opened"),
    "case_investigation": ("调查", "Investigation"),
    "case_investigator": ("调查机构", "Investigator"),
    "case_recommendation": ("调查建议", "Recommendation"),
    "case_findings": ("调查报告哈希", "Findings hash"),
    "case_not_investigated": ("尚未调查。", "Not investigated yet."),
    "case_notice": ("公示期", "Public notice"),
    "case_notice_window": ("{a} 至 {b}（{d} 天）", "{a} to {b} ({d} days)"),
    "case_no_notice": ("尚未公示。", "Not on notice yet."),
    "case_objections": ("异议", "Objections"),
    "case_no_objections": ("没有异议。", "No objections."),
    "case_reviews": ("复核", "Reviews"),
    "case_decision": ("决定", "Decision"),
    "case_approved": ("核准金额", "Approved amount"),
    "case_no_decision": ("尚未决定。", "Not decided yet."),
    "case_period": ("分摊期", "Apportioned in period"),
    "case_privacy": ("患者姓名已打码；病种、医院和异议理由均为审定的代码。病情描述、调查报告和异议"
                     "说明密封存放于链下，链上只有其加盐承诺。",
                     "The patient's name is masked; conditions, hospitals and objection reasons "
                     "are vetted codes. Descriptions, findings and objectors' notes are sealed "
                     "off the log, which holds only their salted commitments."),
    "case_details": ("密封资料承诺", "Sealed details commitment"),
    "case_note_sealed": ("说明已密封", "note sealed"),
    "cstatus_opened": ("已立案", "opened"),
    "cstatus_attested": ("已调查", "investigated"),
    "cstatus_noticed": ("公示中", "on public notice"),
    "cstatus_approved": ("已核准", "approved"),
    "cstatus_rejected": ("未核准", "rejected"),
    "cstatus_paid": ("已分摊", "paid"),
    "case_reason_sealed": ("详细说明已密封交申请人，链上承诺", "Explanation sealed for the "
                           "claimant; commitment on the log"),
    "outcome_approve": ("核准", "approve"),
    "outcome_reject": ("不予核准", "reject"),
    "outcome_dismissed": ("异议不成立", "objection dismissed"),
    "outcome_upheld": ("异议成立", "objection upheld"),
    "jury_title": ("赔审团", "Member jury"),
    "jury_none": ("本计划设有赔审团：有异议的案件在异议期结束后抽选陪审员。",
                  "This plan has a member jury: an objected case draws its jurors once the "
                  "objection window closes."),
    "jury_draw": ("抽选", "Draw"),
    "jury_checkpoint": ("见证检查点", "Witnessed checkpoint"),
    "jury_cosigned": ("{n} 个见证人联署", "cosigned by {n} witnesses"),
    "jury_seed": ("随机种子（检查点根哈希）", "Seed (the checkpoint's root hash)"),
    "jury_eligible": ("合格候选人", "Eligible members"),
    "jury_eligible_n": ("{n} 人 · 名单摘要 {d}", "{n} · list digest {d}"),
    "jury_pool_link": ("下载候选名单", "Download the list"),
    "jury_rules": ("规则", "Rules"),
    "jury_rules_text": ("抽选 {size} 人，法定人数 {q}，否决需超过已揭晓票数的 {m}%",
                        "{size} drawn, quorum {q}; rejecting needs more than {m}% of the "
                        "revealed votes"),
    "jury_commit_until": ("投票（承诺）截止", "Votes committed until"),
    "jury_reveal_until": ("揭晓截止", "Votes revealed until"),
    "jury_jurors": ("陪审员", "Jurors"),
    "jury_committed": ("已投票（保密）", "voted (secret)"),
    "jury_not_committed": ("未投票", "not voted"),
    "jury_tally": ("计票", "Tally"),
    "jury_tally_text": ("核准 {a} · 不予核准 {r} · 已投 {c}", "approve {a} · reject {r} · "
                        "committed {c}"),
    "jury_secret": ("揭晓期结束前票数不公布；已揭晓：{n}", "Votes stay secret until revealed; "
                    "revealed so far: {n}"),
    "jury_verdict": ("裁定", "Verdict"),
    "jury_no_quorum": ("未达法定人数：由复核决定", "No quorum: a review decides"),
    "jury_open": ("投票进行中", "Voting is open"),
    "jury_how": ("如何核对抽选", "How to check the draw"),
    "jury_how_text": ("每位候选人的排序值为 HMAC-SHA256（密钥 = 检查点根哈希，消息 = "
                      "“heartchain/jury-draw/v1\\n” + 案件编号 + “\\n” + 地址），取最小的 {n} 位。"
                      "检查点可在 /checkpoints/{size} 核对其签名与见证人联署。命令：",
                      "Each eligible member's rank is HMAC-SHA256(key = the checkpoint's root "
                      "hash, message = \"heartchain/jury-draw/v1\\n\" + case id + \"\\n\" + "
                      "address); the {n} smallest are drawn. Check the checkpoint's signature "
                      "and cosignatures at /checkpoints/{size}. Command:"),
    "period_title": ("{plan} 第 {n} 期分摊", "{plan}: period {n}"),
    "period_missing": ("该分摊期不存在。", "That period does not exist."),
    "period_payouts": ("核准互助金", "Approved payouts"),
    "period_fee": ("管理费", "Management fee"),
    "period_carry_in": ("上期结转", "Carried in"),
    "period_members": ("分摊成员数", "Members sharing"),
    "period_share": ("每人分摊", "Share per member"),
    "period_collected": ("实收", "Collected"),
    "period_carry": ("结转下期", "Carried forward"),
    "period_lapsed": ("余额不足而失效的成员", "Members who lapsed"),
    "period_root": ("分摊表默克尔根", "Share table Merkle root"),
    "period_cases": ("本期案件", "Cases this period"),
    "period_lookup": ("查询我的分摊", "Look up my share"),
    "period_lookup_help": ("输入您的成员地址；"
                           "您的浏览器会用默克尔证明核对这笔分摊确实在本期分摊表中。",
                           "Enter your member address; your browser checks with a Merkle proof "
                           "that your share is in this period's share table."),
    "period_your_share": ("{member} 本期分摊 {amount}（分摊表第 {p} 项）",
                          "{member} paid {amount} this period (leaf {p} of the share table)"),
    "period_no_share": ("该地址在本期没有分摊。", "That address has no share in this period."),
    "period_entry": ("分摊条目", "Apportionment entry"),
}, js={
    "step_share": ("分摊证明（{k} 个哈希）得出第 {n} 期分摊表的根哈希",
                   "Share proof ({k} hashes) leads to the share-table root of period {n}"),
    "share_verified": ("已在您的浏览器中验证：该分摊在第 {n} 期分摊表中（根哈希与分摊条目一致）",
                       "Verified in your browser: this share is in the share table of period {n} "
                       "(root as in the apportionment entry)"),
})

_CASE_ID = re.compile(r"case-[0-9a-f]{4,32}|[A-Za-z0-9][A-Za-z0-9_-]{2,63}")


async def _names(addresses: list[str | None]) -> dict[str, str | None]:
    wanted = [a for a in addresses if a]
    accounts = await explorer.accounts_by_address(wanted)
    return {a: (accounts[a].label if a in accounts else None) for a in wanted}


async def _leaves(platform: Platform, indexes: list[int | None]) -> dict[int, str]:
    wanted = [i for i in indexes if i is not None]
    stored = await platform.log.get_entries(wanted)
    return {i: s.leaf_hash.hex() for i, s in stored.items()}


def _condition(code: str, language: str) -> str:
    label = CONDITIONS.get(code)
    return label.text(language) if label else code  # codes are slugs: nothing else to show


async def _hospital(code: str, language: str) -> str:
    row = await Hospital.get_or_none(code=code)
    if row is None:
        return code
    return row.name_zh if language == "zh" else row.name_en


async def case_page(request: Request) -> Response:
    platform = platform_of(request)
    case_id = request.path_params["case_id"]
    language = choose_language(request)[0]
    t = translator(language)
    case = await services.find_case(case_id)
    if case is None:
        return not_found(request, t("case_missing", id=case_id))
    objections = await services.objections_of(case.id)
    reviews = await services.reviews_of(case.id)
    period = None
    if case.period_idx is not None:
        from heartchain.mutualaid.models import Period

        period = await Period.get_or_none(idx=case.period_idx)
    indexes: list[int | None] = [case.opened_idx, case.attest_idx, case.notice_idx,
                                 case.decide_idx, *(o.idx for o in objections),
                                 *(r.idx for r in reviews)]
    jury = await jury_services.jury_of(platform, case.id)
    reason_commitment = None
    if case.decide_idx is not None:
        decided = await platform.log.get_entry(case.decide_idx)
        reason_commitment = decided.entry.body.get("reason_commitment")
    if jury is not None:
        indexes.append(jury.jury.draw_idx)
    return render(request, "case.html", {
        "jury": jury, "jury_rules": await jury_services.jury_rules(case.plan),
        "base_url": str(request.base_url),
        "reason_commitment": reason_commitment,
        "known_outcomes": {k for k in MESSAGES if k.startswith("outcome_")},
        "known_case_statuses": {k for k in MESSAGES if k.startswith("cstatus_")},
        "case": case, "objections": objections, "reviews": reviews, "period": period,
        "condition": _condition(case.condition, language),
        "hospital": await _hospital(case.hospital, language),
        "reasons": {code: label.text(language) for code, label in OBJECTION_REASONS.items()},
        "decision_reason": (DECISION_REASONS[case.decision_reason].text(language)
                            if case.decision_reason in DECISION_REASONS else None),
        "leaves": await _leaves(platform, indexes),
        "names": await _names([case.member, case.investigator,
                               *(o.member for o in objections),
                               *(s.juror for s in (jury.seats if jury else []))]),
    })


async def jury_pool(request: Request) -> Response:
    """The eligible addresses the draw ranked, one a line: feed them to
    `python -m heartchain.mutualaid.draw`."""
    view = await jury_services.jury_of(platform_of(request), request.path_params["case_id"])
    if view is None:
        return PlainTextResponse("no jury drawn for this case\n", status_code=404)
    return PlainTextResponse(view.jury.pool)


async def period_page(request: Request) -> Response:
    platform = platform_of(request)
    plan = request.path_params["plan"]
    number = request.path_params["number"]
    language = choose_language(request)[0]
    t = translator(language)
    period = await services.find_period(plan, number)
    if period is None:
        return not_found(request, t("period_missing"))
    member = request.query_params.get("member", "").strip()
    proof: dict[str, Any] | None = None
    missing = False
    if member:
        try:
            found = await services.share_proof(period.idx, member)
            proof = {
                "member": found.member, "share_fen": found.share_fen,
                "position": found.position, "tree_size": found.tree_size,
                "leaf_b64": base64.b64encode(found.leaf_data).decode(),
                "leaf_text": found.leaf_data.decode(),
                "hashes": json.dumps([base64.b64encode(h).decode() for h in found.hashes]),
                "root_hex": found.root.hex(),
            }
        except NotFound:
            missing = True
    return render(request, "period.html", {
        "period": period, "plan": plan, "cases": await services.cases_of_period(period),
        "conditions": {code: label.text(language) for code, label in CONDITIONS.items()},
        "leaf_hex": (await _leaves(platform, [period.idx])).get(period.idx, ""),
        "member": member, "proof": proof, "missing": missing,
    })


@hooks.search_resolver
async def _find_case(platform: Platform, query: str) -> str | None:
    if not _CASE_ID.fullmatch(query):
        return None
    case = await services.find_case(query)
    return f"/cases/{case.id}" if case else None


@hooks.entry_links
def _case_links(entry: explorer.EntryView, t: Any) -> list[hooks.Link]:
    case = entry.body.get("case")
    if isinstance(case, str) and _CASE_ID.fullmatch(case):
        return [hooks.Link(f"/cases/{case}", t("case_title", id=case))]
    return []


routes = [
    Route("/cases/{case_id}", case_page, name="case"),
    Route("/cases/{case_id}/jury/pool.txt", jury_pool, name="jury_pool"),
    Route("/plans/{plan}/periods/{number:int}", period_page, name="period"),
]
