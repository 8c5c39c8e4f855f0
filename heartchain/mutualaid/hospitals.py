"""`hospital.register` (operator): the vetted list of hospitals cases may name.

A case names its hospital by code, never by a name someone typed (a typed name could carry
anything onto the permanent log). The operator registers each hospital once under a code with
its Chinese and English names, may correct the names later, and may unlist it: cases already
open keep it, new cases cannot name it.
"""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

from heartchain.accounts.entries import require_role
from heartchain.ledger.body import Address, Body, Slug
from heartchain.ledger.kinds import ApplyContext, projects, rules
from heartchain.mutualaid.codes import PublicName
from heartchain.mutualaid.errors import RuleBroken, UnknownHospital
from heartchain.mutualaid.models import Hospital


class HospitalRegister(Body):
    """The operator registers (or renames, or unlists) a hospital cases may name."""

    KIND = "hospital.register"
    SIGNERS = ("operator",)

    hospital: Slug
    name_zh: PublicName
    name_en: PublicName
    listed: bool
    operator: Address


async def require_listed(conn: BaseDBAsyncClient, code: str) -> Hospital:
    hospital = await Hospital.filter(code=code).using_db(conn).first()
    if hospital is None:
        raise UnknownHospital(f"no registered hospital {code!r}: the operator registers "
                              "hospitals (hospital.register) before cases name them")
    if not hospital.listed:
        raise RuleBroken(f"hospital {code} is no longer listed", field="hospital")
    return hospital


@rules(HospitalRegister)
async def _check(ctx: ApplyContext, b: HospitalRegister) -> None:
    await require_role(ctx, b.operator, "operator")


@projects(HospitalRegister)
async def _project(ctx: ApplyContext, b: HospitalRegister) -> None:
    values = {"name_zh": b.name_zh, "name_en": b.name_en, "listed": b.listed,
              "updated_idx": ctx.index}
    if await Hospital.filter(code=b.hospital).using_db(ctx.conn).update(**values) == 0:
        await Hospital.create(using_db=ctx.conn, code=b.hospital, registered_idx=ctx.index,
                              **values)

