"""`account.register`: who may act on the log, in which role.

The operator registers every account, except that anyone may register their own key as a member
(self-custody) and that the very first entry of a log registers the operator itself. Labels name
organisations (charities, partners, witnesses); members carry no label: no personal data here.
"""

from __future__ import annotations

import re
from typing import Literal

from heartchain.accounts.errors import AccountExists, RoleRequired, UnknownAccount
from heartchain.accounts.models import Account
from heartchain.errors import PermissionDenied, ValidationError
from heartchain.ledger.body import Address, Body, Label, literal_values
from heartchain.ledger.kinds import ApplyContext, projects, rules
from heartchain.ledger.store import execute, fetch

Role = Literal["operator", "charity", "partner", "investigator", "member", "witness"]
ROLES: tuple[str, ...] = literal_values(Role)
_LABEL = re.compile(r"\S(.*\S)?")


class RegisterBody(Body):
    """Register an address in a role."""

    KIND = "account.register"
    SIGNERS = ("registrar",)

    address: Address
    role: Role
    registrar: Address
    label: Label | None = None

    def __post_init__(self) -> None:
        if self.role == "member" and self.label is not None:
            raise ValidationError("account.register: members carry no label (no personal data "
                                  "on the log)", field="label")
        if self.label is not None and not _LABEL.fullmatch(self.label):
            raise ValidationError("account.register: label has surrounding spaces", field="label")


async def role_of(ctx: ApplyContext, address: str) -> str | None:
    """An account's role, memoized per batch: roles never change once registered."""
    key = ("role", address)
    if key not in ctx.memo:
        rows = await fetch(ctx.conn, "SELECT role FROM account WHERE address = ?", [address])
        # A miss is memoized too: within the batch only `_project` can add the account.
        ctx.memo[key] = str(rows[0]["role"]) if rows else None
    role: str | None = ctx.memo[key]
    return role


async def require_role(ctx: ApplyContext, address: str, *roles: str) -> None:
    role = await role_of(ctx, address)
    if role is None:
        raise UnknownAccount(f"{address} is not a registered account")
    if role not in roles:
        raise RoleRequired(f"{address} is a {role}; this needs a {' or '.join(roles)}")


@rules(RegisterBody)
async def _check(ctx: ApplyContext, body: RegisterBody) -> None:
    if await role_of(ctx, body.address) is not None:
        raise AccountExists(f"{body.address} is already registered")
    if body.role == "operator":
        if body.registrar != body.address:
            raise PermissionDenied("the operator registers itself, once, at genesis")
        if await Account.filter(role="operator").using_db(ctx.conn).exists():
            raise PermissionDenied("this log already has its operator")
        return
    if body.registrar == body.address:
        if body.role != "member":
            raise PermissionDenied(f"only the operator may register a {body.role}")
        return
    await require_role(ctx, body.registrar, "operator")


@projects(RegisterBody)
async def _project(ctx: ApplyContext, body: RegisterBody) -> None:
    # Raw SQL: registration is the hottest projector (every member), and the ORM triples its cost.
    await execute(ctx.conn, "INSERT INTO account (address, role, label, registrar, registered_idx)"
                  " VALUES (?, ?, ?, ?, ?)",
                  [body.address, body.role, body.label, body.registrar, ctx.index])
    ctx.memo[("role", body.address)] = body.role

