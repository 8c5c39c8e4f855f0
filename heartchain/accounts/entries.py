"""`account.register`: who may act on the log, in which role.

The operator registers every account, except that anyone may register their own key as a member
(self-custody) and that the very first entry of a log registers the operator itself. Labels name
organisations (charities, partners, witnesses); members carry no label: no personal data here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from heartchain.accounts.errors import AccountExists, RoleRequired, UnknownAccount
from heartchain.accounts.models import Account
from heartchain.errors import PermissionDenied, ValidationError
from heartchain.keys import Address
from heartchain.ledger.fields import BodyReader
from heartchain.ledger.kinds import ApplyContext, EntryKind, register
from heartchain.ledger.store import execute, fetch

ROLES = ("operator", "charity", "partner", "investigator", "member", "witness")
_LABEL = re.compile(r"\S(.*\S)?")


@dataclass(frozen=True)
class RegisterBody:
    address: Address
    role: str
    registrar: Address
    label: str | None

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> RegisterBody:
        reader = BodyReader(body, "account.register")
        parsed = cls(reader.address("address"), reader.choice("role", ROLES),
                     reader.address("registrar"), reader.optional_text("label", max_length=100))
        reader.finish()
        if parsed.role == "member" and parsed.label is not None:
            raise ValidationError("account.register: members carry no label (no personal data "
                                  "on the log)", field="label")
        if parsed.label is not None and not _LABEL.fullmatch(parsed.label):
            raise ValidationError("account.register: label has surrounding spaces", field="label")
        return parsed


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


def _signers(body: RegisterBody) -> Sequence[str]:
    return [body.registrar]


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


async def _project(ctx: ApplyContext, body: RegisterBody) -> None:
    # Raw SQL: registration is the hottest projector (every member), and the ORM triples its cost.
    await execute(ctx.conn, "INSERT INTO account (address, role, label, registrar, registered_idx)"
                  " VALUES (?, ?, ?, ?, ?)",
                  [body.address, body.role, body.label, body.registrar, ctx.index])
    ctx.memo[("role", body.address)] = body.role


ACCOUNT_REGISTER = register(EntryKind(
    name="account.register", parse=RegisterBody.parse, signers=_signers, check=_check,
    project=_project, summary="register an address in a role"))
