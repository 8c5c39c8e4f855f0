"""My coverage: a mutual-aid member's own page, signed in with the one-time code of /me or with
their member API token.

    GET  /me/plans                   plans joined: balance, prepaid, covered from / waiting
                                     until, status; every period's share with its receipt (the
                                     share-tree proof and the log proof, one .tlog-proof file);
                                     the cases I am in (claimant, objector; voting: CASE_ROLES)
    POST /me/plans/token             sign in with a member API token (a session like /me's)
    POST /me/plans/{plan}/topup      top up (yuan), through the GraphQL `topUp` mutation
    POST /me/plans/{plan}/leave      leave, through the GraphQL `leavePlan` mutation

The session is web/members.py's cookie; every POST carries the session's CSRF token. The forms
run the same GraphQL mutations an app would (as the signed-in account, in-process), so the role
check, the rules and the typed errors are the ones every client gets. Each form carries a fresh
Idempotency-Key: sending it twice writes once.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from heartchain.accounts.models import Account
from heartchain.accounts.services import authenticate
from heartchain.errors import HeartchainError, ValidationError
from heartchain.gql import Context
from heartchain.idempotency import set_idempotency_key
from heartchain.mutualaid import jury_services, services
from heartchain.mutualaid.closing import closing_of, operates_under
from heartchain.mutualaid.codes import OBJECTION_REASONS
from heartchain.mutualaid.jury_models import Jury
from heartchain.mutualaid.models import Case, Membership, Objection
from tokens import signin
from web.i18n import add_messages, choose_language, translator
from web.members import COOKIE, _form, _session
from web.render import platform_of, render

add_messages({
    "cov_title": ("我的互助保障", "My coverage"),
    "cov_intro": ("用捐赠时登记的手机号或邮箱登录（“我的爱心”页），或用您的成员 API 令牌登录。",
                  "Sign in with the phone or e-mail you registered (the “My hearts” page), or "
                  "with your member API token."),
    "cov_code_sign_in": ("用验证码登录", "Sign in with a code"),
    "cov_token": ("成员 API 令牌", "Member API token"),
    "cov_token_sign_in": ("用令牌登录", "Sign in with the token"),
    "cov_bad_token": ("令牌无效、已撤销，或不是成员令牌。",
                      "That token is not valid, was revoked, or is not a member's."),
    "cov_none": ("您还没有加入任何互助计划。", "You have not joined a plan."),
    "cov_address": ("成员地址", "Member address"),
    "cov_status": ("保障状态", "Coverage"),
    "cov_covered": ("保障中", "covered"),
    "cov_waiting": ("等待期中", "in the waiting period"),
    "cov_lapsed": ("余额不足，已失效", "lapsed (balance used up)"),
    "cov_left": ("已退出", "left"),
    "cov_covered_from": ("保障起始", "Covered from"),
    "cov_waiting_until": ("等待期至", "Waiting until"),
    "cov_joined": ("加入", "Joined"),
    "cov_balance": ("余额", "Balance"),
    "cov_prepaid": ("累计预存", "Prepaid in all"),
    "cov_shared": ("累计分摊", "Shared in all"),
    "cov_refund": ("退款", "Refunded"),
    "cov_closing": ("该计划正在关闭：最后公示日 {d}，理赔申请截止 {c}。",
                    "This plan is winding down: last notice date {d}, claims until {c}."),
    "cov_closed": ("该计划已关闭，余额已退还。", "This plan is closed; balances were refunded."),
    "cov_shares": ("我的每期分摊", "My share of each period"),
    "cov_no_shares": ("还没有分摊。", "No shares yet."),
    "cov_share_row": ("第 {n} 期 · {amount}", "Period {n} · {amount}"),
    "cov_check": ("在浏览器中核对", "Check in my browser"),
    "cov_cases": ("与我有关的案件", "Cases I am in"),
    "cov_no_cases": ("没有。", "None."),
    "crole_claimant": ("我是患者", "I am the patient"),
    "crole_objected": ("我提出了异议", "I objected"),
    "crole_voted": ("我参与了评审投票", "I voted on it"),
    "crole_juror": ("我被抽选为评审员", "I was drawn for its jury"),
    "crole_committed": ("我已提交密封投票", "I cast a sealed vote"),
    "cvote_approve": ("赞成赔付", "for the payout"),
    "cvote_reject": ("反对赔付", "against the payout"),
    "cov_topup": ("充值", "Top up"),
    "cov_amount": ("金额（元）", "Amount (yuan)"),
    "cov_leave": ("退出计划", "Leave the plan"),
    "cov_leave_help": ("退出后余额退还，保障结束；再加入需重新等待。",
                       "Leaving refunds your balance and ends your coverage; joining again "
                       "starts a new waiting period."),
    "cov_leave_confirm": ("我确认退出该计划", "Yes, I want to leave this plan"),
    "cov_done_topup": ("已充值，写入日志条目 #{n}。", "Topped up: log entry #{n}."),
    "cov_done_leave": ("已退出，写入日志条目 #{n}。", "You left the plan: log entry #{n}."),
    "cov_bad_amount": ("请输入正确的金额（元，最多两位小数）。",
                       "Enter an amount in yuan, with at most two decimals."),
    "nav_coverage": ("我的保障", "My coverage"),
})


@dataclass(frozen=True)
class CaseInvolvement:
    """A case a member is in, and how: `role` is crole_<role> in the strings."""

    case: str
    role: str
    index: int  # the entry that put them there
    detail: str = ""


CaseRole = Callable[[str, str], Awaitable[list[CaseInvolvement]]]
# The hook for how a member may be in a case: each takes (address, language). Objections and
# the claimant's own cases are here; the member jury adds its votes with @case_role.
CASE_ROLES: list[CaseRole] = []


def case_role(finder: CaseRole) -> CaseRole:
    if finder not in CASE_ROLES:
        CASE_ROLES.append(finder)
    return finder


@case_role
async def _claimant(address: str, language: str) -> list[CaseInvolvement]:
    return [CaseInvolvement(c.id, "claimant", c.opened_idx)
            for c in await Case.filter(member=address).order_by("opened_idx")]


@case_role
async def _objected(address: str, language: str) -> list[CaseInvolvement]:
    rows = await Objection.filter(member=address).order_by("idx")
    return [CaseInvolvement(o.case, "objected", o.idx,
                            OBJECTION_REASONS[o.reason].text(language)
                            if o.reason in OBJECTION_REASONS else o.reason) for o in rows]


@case_role
async def _juror(address: str, language: str) -> list[CaseInvolvement]:
    """Juries the member was drawn for: drawn, then sealed vote, then revealed (the vote itself
    is theirs to see; the page shows it only to them)."""
    found = []
    for seat in await jury_services.seats_of_member(address):
        if seat.reveal_idx is not None:
            found.append(CaseInvolvement(seat.case, "voted", seat.reveal_idx,
                                         translator(language)(f"cvote_{seat.vote}")))
        elif seat.commit_idx is not None:
            found.append(CaseInvolvement(seat.case, "committed", seat.commit_idx))
        else:
            jury = await Jury.get_or_none(case=seat.case)
            if jury is not None:
                found.append(CaseInvolvement(seat.case, "juror", jury.draw_idx))
    return found


async def cases_of(address: str, language: str) -> list[CaseInvolvement]:
    found = [c for finder in CASE_ROLES for c in await finder(address, language)]
    return sorted(found, key=lambda c: c.index)


async def _membership_view(request: Request, m: Membership, now: str) -> dict[str, Any]:
    platform = platform_of(request)
    plan = await services.find_plan(m.plan)
    return {
        "m": m, "plan": plan, "coverage": services.coverage(m, now),
        "closing": await closing_of(platform.log.reader.connection(), m.plan),
        "under": await operates_under(m.plan),
        "shares": [{"period": period, "proof": proof}
                   for period, proof in await services.shares_of(m.plan, m.member)],
        "idem": secrets.token_urlsafe(16),
    }


async def coverage_page(request: Request, *, message: str | None = None,
                        status_code: int = 200) -> Response:
    session = await _session(request)
    language = choose_language(request)[0]
    t = translator(language)
    done, entry = request.query_params.get("done"), request.query_params.get("entry", "")
    if message is None and done in ("topup", "leave") and entry.isdigit():
        message = t(f"cov_done_{done}", n=entry)
    context: dict[str, Any] = {"session": session, "message": message}
    if session is not None:
        now = services.log_now(platform_of(request))
        members = []
        for address in session.addresses:
            rows = await services.memberships_of(address)
            members.append({"address": address,
                            "plans": [await _membership_view(request, m, now) for m in rows],
                            "cases": await cases_of(address, language)})
        context.update(members=members, csrf=session.csrf)
    return render(request, "coverage.html", context, status_code=status_code)


async def coverage_get(request: Request) -> Response:
    return await coverage_page(request)


async def token_sign_in(request: Request) -> Response:
    platform = platform_of(request)
    t = translator(choose_language(request)[0])
    try:
        form = await _form(request)
    except HeartchainError:
        return await coverage_page(request, message=t("cov_bad_token"), status_code=400)
    account = await authenticate(platform, form.get("token", "").strip())
    if account is None or account.role != "member":
        return await coverage_page(request, message=t("cov_bad_token"), status_code=403)
    session = await signin.start_session(platform, [account.address])
    response = RedirectResponse("/me/plans", status_code=303)
    response.set_cookie(COOKIE, session.token,
                        max_age=int(signin.SESSION_LIFETIME.total_seconds()), httponly=True,
                        samesite="strict", path="/",
                        secure=platform.settings.public_url.startswith("https://"))
    return response


def yuan_to_fen(text: str) -> int:
    """'12.5' -> 1250; Decimal, never float; at most two decimals, above zero."""
    try:
        amount = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        raise ValidationError("amount: not a number", field="amount") from None
    fen = amount * 100
    if not amount.is_finite() or fen != fen.to_integral_value() or fen <= 0 or fen >= 10**15:
        raise ValidationError("amount: yuan with at most two decimals, above zero",
                              field="amount")
    return int(fen)


_ANSWER = ("{ __typename ... on MutualAidMembershipSaved { entry { index } } "
           "... on ValidationError { message } ... on PermissionDenied { message } "
           "... on NotFound { message } ... on Conflict { message } }")
_MUTATIONS = {
    "topUp": "mutation($plan: String!, $amountFen: Int64!) { topUp(plan: $plan, "
             f"amountFen: $amountFen) {_ANSWER} }}",
    "leavePlan": f"mutation($plan: String!) {{ leavePlan(plan: $plan) {_ANSWER} }}",
}


async def run_mutation(request: Request, account: Account, name: str,
                       variables: dict[str, Any], idempotency_key: str | None) -> int:
    """Run the GraphQL mutation `name` as `account`; the entry index, or raise with its error."""
    from heartchain.schema import schema

    set_idempotency_key(idempotency_key)
    result = await schema.execute(_MUTATIONS[name], variable_values=variables,
                                  context_value=Context(request=request,
                                                        platform=platform_of(request),
                                                        account=account))
    if result.errors:
        raise ValidationError("; ".join(e.message for e in result.errors))
    answer = (result.data or {})[name]
    if "entry" not in answer:
        raise ValidationError(answer.get("message") or answer["__typename"])
    return int(answer["entry"]["index"])


async def _member_action(request: Request, name: str) -> Response:
    t = translator(choose_language(request)[0])
    session = await _session(request)
    try:
        form = await _form(request) if session is not None else {}
    except HeartchainError:
        form = {}
    address = form.get("address", "")
    if (session is None or not signin.csrf_ok(session, form.get("csrf"))
            or address not in session.addresses):
        return await coverage_page(request, message=t("me_bad_form"), status_code=403)
    account = await Account.get_or_none(address=address)
    if account is None:
        return await coverage_page(request, message=t("me_bad_form"), status_code=403)
    plan = request.path_params["plan"]
    variables: dict[str, Any] = {"plan": plan}
    try:
        if name == "topUp":
            try:
                variables["amountFen"] = yuan_to_fen(form.get("amount", ""))
            except ValidationError:
                return await coverage_page(request, message=t("cov_bad_amount"),
                                           status_code=400)
        elif form.get("confirm") != "yes":
            raise ValidationError(t("cov_leave_confirm"), field="confirm")
        index = await run_mutation(request, account, name, variables, form.get("idem"))
    except HeartchainError as exc:
        return await coverage_page(request, message=str(exc), status_code=400)
    done = "topup" if name == "topUp" else "leave"
    return RedirectResponse(f"/me/plans?done={done}&entry={index}#plan-{quote(plan)}",
                            status_code=303)


async def top_up(request: Request) -> Response:
    return await _member_action(request, "topUp")


async def leave(request: Request) -> Response:
    return await _member_action(request, "leavePlan")


routes = [
    Route("/me/plans", coverage_get, name="coverage"),
    Route("/me/plans/token", token_sign_in, methods=["POST"]),
    Route("/me/plans/{plan}/topup", top_up, methods=["POST"]),
    Route("/me/plans/{plan}/leave", leave, methods=["POST"]),
]
