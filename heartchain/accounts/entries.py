"""`account.register`: who may act on the log, in which role.

The operator registers every account, except that anyone may register their own key as a member
(self-custody) and that the very first entry of a log registers the operator itself. Labels name
organisations (charities, partners, witnesses); members carry no label: no personal data here.

Registration is set-based (heartchain.ledger.kinds): a batch's roles are loaded in one query
(`load_roles`, which other set-based kinds' prefetch hooks use too) and its rows written in one
executemany.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from heartchain.accounts.errors import AccountExists, RoleRequired, UnknownAccount
from heartchain.errors import PermissionDenied, ValidationError
from heartchain.ledger.body import Address, Body, Label, literal_values
from heartchain.ledger.kinds import ApplyContext, prefetches, projects, rules
from heartchain.ledger.store import fetch, in_chunks

Role = Literal["operator", "charity", "partner", "investigator", "member", "witness"]
ROLES: tuple[str, ...] = literal_values(Role)
_LABEL = re.compile(r"\S(.*\S)?")
_OPERATOR = ("role", "operator registered")


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


async def load_roles(ctx: ApplyContext, addresses: Iterable[str]) -> None:
    """Memoize the roles of `addresses` (a miss as None) in one query a chunk, for a batch's
    prefetch; addresses already memoized are left as they are (they may be newer)."""
    wanted = sorted({a for a in addresses if ("role", a) not in ctx.memo})
    for chunk in in_chunks(wanted):
        rows = await fetch(ctx.conn, f"SELECT address, role FROM account WHERE address IN "
                           f"({', '.join('?' * len(chunk))})", chunk)
        found = {str(row["address"]): str(row["role"]) for row in rows}
        for address in chunk:
            ctx.memo[("role", address)] = found.get(address)


async def _operator_registered(ctx: ApplyContext) -> bool:
    if _OPERATOR not in ctx.memo:
        ctx.memo[_OPERATOR] = bool(await fetch(
            ctx.conn, "SELECT address FROM account WHERE role = ? LIMIT 1", ["operator"]))
    registered: bool = ctx.memo[_OPERATOR]
    return registered


async def require_role(ctx: ApplyContext, address: str, *roles: str) -> None:
    role = await role_of(ctx, address)
    if role is None:
        raise UnknownAccount(f"{address} is not a registered account")
    if role not in roles:
        raise RoleRequired(f"{address} is a {role}; this needs a {' or '.join(roles)}")


@prefetches(RegisterBody)
async def _prefetch(ctx: ApplyContext, bodies: list[RegisterBody]) -> None:
    await load_roles(ctx, [a for body in bodies for a in (body.address, body.registrar)])


@rules(RegisterBody, batched=True)
async def _check(ctx: ApplyContext, body: RegisterBody) -> None:
    if await role_of(ctx, body.address) is not None:
        raise AccountExists(f"{body.address} is already registered")
    if body.role == "operator":
        if body.registrar != body.address:
            raise PermissionDenied("the operator registers itself, once, at genesis")
        if await _operator_registered(ctx):
            raise PermissionDenied("this log already has its operator")
        return
    if body.registrar == body.address:
        if body.role != "member":
            raise PermissionDenied(f"only the operator may register a {body.role}")
        return
    await require_role(ctx, body.registrar, "operator")


@projects(RegisterBody, batched=True)
async def _project(ctx: ApplyContext, body: RegisterBody) -> None:
    # Raw SQL: registration is the hottest projector (every member), and the ORM triples its cost.
    await ctx.write("INSERT INTO account (address, role, label, registrar, registered_idx)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [body.address, body.role, body.label, body.registrar, ctx.index])
    ctx.memo[("role", body.address)] = body.role
    if body.role == "operator":
        ctx.memo[_OPERATOR] = True

