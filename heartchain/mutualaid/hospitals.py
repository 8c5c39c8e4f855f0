"""`hospital.register` (operator): the vetted list of hospitals cases may name.

A case names its hospital by code, never by a name someone typed (a typed name could carry
anything onto the permanent log). The operator registers each hospital once under a code with
its Chinese and English names, may correct the names later, and may unlist it: cases already
open keep it, new cases cannot name it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from heartchain.accounts.entries import require_role
from heartchain.keys import Address
from heartchain.ledger.fields import BodyReader
from heartchain.ledger.kinds import ApplyContext
from heartchain.ledger.legacy_kinds import EntryKind, register
from heartchain.mutualaid.codes import PUBLIC_NAME
from heartchain.mutualaid.errors import RuleBroken, UnknownHospital
from heartchain.mutualaid.models import Hospital


@dataclass(frozen=True)
class HospitalRegister:
    hospital: str
    name_zh: str
    name_en: str
    listed: bool
    operator: Address

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> HospitalRegister:
        reader = BodyReader(body, "hospital.register")
        parsed = cls(reader.slug("hospital"),
                     reader.text("name_zh", max_length=100, pattern=PUBLIC_NAME),
                     reader.text("name_en", max_length=100, pattern=PUBLIC_NAME),
                     reader.boolean("listed"), reader.address("operator"))
        reader.finish()
        return parsed


async def require_listed(conn: BaseDBAsyncClient, code: str) -> Hospital:
    hospital = await Hospital.filter(code=code).using_db(conn).first()
    if hospital is None:
        raise UnknownHospital(f"no registered hospital {code!r}: the operator registers "
                              "hospitals (hospital.register) before cases name them")
    if not hospital.listed:
        raise RuleBroken(f"hospital {code} is no longer listed", field="hospital")
    return hospital


async def _check(ctx: ApplyContext, b: HospitalRegister) -> None:
    await require_role(ctx, b.operator, "operator")


async def _project(ctx: ApplyContext, b: HospitalRegister) -> None:
    values = {"name_zh": b.name_zh, "name_en": b.name_en, "listed": b.listed,
              "updated_idx": ctx.index}
    if await Hospital.filter(code=b.hospital).using_db(ctx.conn).update(**values) == 0:
        await Hospital.create(using_db=ctx.conn, code=b.hospital, registered_idx=ctx.index,
                              **values)


HOSPITAL_REGISTER = register(EntryKind(
    "hospital.register", HospitalRegister.parse, lambda b: [b.operator], _check, _project,
    "the operator registers (or renames, or unlists) a hospital cases may name"))
