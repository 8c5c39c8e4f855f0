"""GraphQL types of accounts: who is who on the log, and registration by the operator."""

from __future__ import annotations

from typing import Annotated

import strawberry

from heartchain.accounts import services
from heartchain.accounts.entries import ROLES
from heartchain.accounts.models import Account as AccountRow
from heartchain.errors import ValidationError
from heartchain.gql import ErrorResult, Info, Int64, mutation
from heartchain.ledger.types import LogEntry, load_entry
from heartchain.lookups import can_match


@strawberry.type(description="An address registered on the log, in a role.")
class Account:
    address: str
    role: str
    label: str | None
    registered_index: Int64

    @classmethod
    def of(cls, row: AccountRow) -> Account:
        return cls(address=row.address, role=row.role, label=row.label,
                   registered_index=Int64(row.registered_idx))

    @strawberry.field(description="The account.register entry, with its proof.")
    async def registration(self, info: Info) -> LogEntry:
        return await load_entry(info, self.registered_index)


@strawberry.type(description="The account exists; its API token is shown this once.")
class AccountRegistered:
    account: Account
    token: str
    entry: LogEntry


RegisterAccountResult = Annotated[AccountRegistered | ErrorResult,
                                  strawberry.union("RegisterAccountResult")]


@strawberry.type
class Query:
    @strawberry.field
    async def account(self, address: str) -> Account | None:
        if not can_match(AccountRow, address=address):
            return None
        row = await AccountRow.get_or_none(address=address)
        return Account.of(row) if row else None

    @strawberry.field(description="The account of the bearer token, if any.")
    def me(self, info: Info) -> Account | None:
        return Account.of(info.context.account) if info.context.account else None


@strawberry.type
class Mutation:
    @mutation(roles=["operator"], description="Operator only: register a custodial account "
                                               "in a role and issue its first API token.")
    async def register_account(self, info: Info, role: str, label: str | None = None
                               ) -> RegisterAccountResult:
        if role not in ROLES or role == "operator":
            raise ValidationError(f"role: must be one of {', '.join(ROLES[1:])}", field="role")
        platform = info.context.platform
        registered = await services.register_account(
            platform, role=role, registrar=info.context.caller.address, label=label)
        token = await services.issue_token(platform, registered.address, "first token")
        row = await AccountRow.get(address=registered.address)
        return AccountRegistered(account=Account.of(row), token=token,
                                 entry=await load_entry(info, registered.appended.index))
