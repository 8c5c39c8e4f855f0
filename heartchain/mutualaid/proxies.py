"""`plan.proxy` (the member signs): authorise, or revoke, a family member to open cases for them.

Who may open a case for a member is decided by `case.open`'s rules on the log, the same for
custodial and self-custody entries: the member themself, the operator, or a registered account
the member authorised in that plan with a `plan.proxy` grant they signed and have not revoked.
"""

from __future__ import annotations

from typing import Literal

from heartchain.accounts.entries import require_role, role_of
from heartchain.errors import Conflict, ValidationError
from heartchain.ledger.body import Address, Body, Slug
from heartchain.ledger.kinds import ApplyContext, projects, rules
from heartchain.mutualaid.errors import NotAMember, NotAuthorised, RuleBroken
from heartchain.mutualaid.models import CaseProxy, Membership

MAX_PROXIES = 5  # active proxies per member and plan


def proxy_id(plan: str, member: str, proxy: str) -> str:
    return f"{plan}:{member}:{proxy}"


class PlanProxy(Body):
    """A member authorises (or revokes) a family member to open cases for them."""

    KIND = "plan.proxy"
    SIGNERS = ("member",)

    plan: Slug
    member: Address
    proxy: Address
    action: Literal["grant", "revoke"]

    def __post_init__(self) -> None:
        if self.proxy == self.member:
            raise ValidationError("plan.proxy: a member needs no proxy for themself",
                                  field="proxy")


async def _active(ctx: ApplyContext, b: PlanProxy) -> CaseProxy | None:
    return await CaseProxy.filter(id=proxy_id(b.plan, b.member, b.proxy),
                                  active=True).using_db(ctx.conn).first()


@rules(PlanProxy)
async def _check(ctx: ApplyContext, b: PlanProxy) -> None:
    if b.action == "revoke":
        if await _active(ctx, b) is None:
            raise Conflict(f"{b.proxy} is not a proxy of {b.member} in plan {b.plan}")
        return
    membership = await Membership.filter(plan=b.plan, member=b.member).using_db(ctx.conn).first()
    if membership is None or membership.status == "left":
        raise NotAMember(f"{b.member} is not a member of plan {b.plan}")
    # Family are people with an account of their own (a member key), not organisations.
    await require_role(ctx, b.proxy, "member")
    if await _active(ctx, b) is not None:
        raise Conflict(f"{b.proxy} is already a proxy of {b.member} in plan {b.plan}")
    count = await CaseProxy.filter(plan=b.plan, member=b.member, active=True).using_db(
        ctx.conn).count()
    if count >= MAX_PROXIES:
        raise RuleBroken(f"plan.proxy: at most {MAX_PROXIES} proxies at a time", field="proxy")


@projects(PlanProxy)
async def _project(ctx: ApplyContext, b: PlanProxy) -> None:
    key = proxy_id(b.plan, b.member, b.proxy)
    if b.action == "revoke":
        await CaseProxy.filter(id=key).using_db(ctx.conn).update(active=False,
                                                                 revoked_idx=ctx.index)
        return
    values = {"active": True, "granted_idx": ctx.index, "revoked_idx": None}
    if await CaseProxy.filter(id=key).using_db(ctx.conn).update(**values) == 0:
        await CaseProxy.create(using_db=ctx.conn, id=key, plan=b.plan, member=b.member,
                               proxy=b.proxy, **values)


async def require_may_open(ctx: ApplyContext, plan: str, member: str, opener: str) -> None:
    """The rule of `case.open`: the member, the operator, or a proxy the member authorised."""
    if opener == member or await role_of(ctx, opener) == "operator":
        return
    if await CaseProxy.filter(id=proxy_id(plan, member, opener), active=True).using_db(
            ctx.conn).exists():
        return
    raise NotAuthorised(f"{opener} may not open a case for {member}: only the member, a proxy "
                        f"they authorised in plan {plan} (plan.proxy), or the operator may")

