"""GraphQL of corrections: `correctEntry`, and an entry's corrections."""

from __future__ import annotations

import json
from typing import Annotated, Any

import strawberry

from heartchain.corrections import queries, services
from heartchain.corrections.entries import CORRECTION_REASONS
from heartchain.corrections.models import Correction as CorrectionRow
from heartchain.errors import ValidationError
from heartchain.gql import JSON, ErrorResult, Info, Int64, mutation
from heartchain.ledger.types import LogEntry, load_entry


@strawberry.type(description="One field a correction changed: the value before and after.")
class CorrectedField:
    field: str
    before: JSON
    after: JSON


@strawberry.type(description="An entry.correct entry: which entry it corrects, why, and how.")
class Correction:
    index: Int64
    target_index: Int64
    target_kind: str
    reason: str
    note: str | None
    at: str
    changes: list[CorrectedField]

    @classmethod
    def of(cls, row: CorrectionRow) -> Correction:
        changes: dict[str, list[Any]] = json.loads(row.changes)
        return cls(index=Int64(row.idx), target_index=Int64(row.target_idx),
                   target_kind=row.target_kind, reason=row.reason, note=row.note, at=row.at,
                   changes=[CorrectedField(field=name, before=JSON(before), after=JSON(after))
                            for name, (before, after) in sorted(changes.items())])


@strawberry.type(description="The correction was appended; the projections show the new values.")
class EntryCorrected:
    correction: Correction
    entry: LogEntry


CorrectEntryResult = Annotated[EntryCorrected | ErrorResult,
                               strawberry.union("CorrectEntryResult")]


@strawberry.type
class Query:
    @strawberry.field(description="The corrections of an entry, oldest first.")
    async def corrections(self, entry: Int64) -> list[Correction]:
        found = await queries.entry_corrections(entry)
        return [Correction.of(row) for row in found.corrections] if found else []


@strawberry.type
class Mutation:
    @mutation(signed_in=True, description="Correct fields of an entry you alone signed (a "
              "donation's quantity or campaign, a disbursement's payee, purpose or receipt); "
              "`values` maps each field to its correct value; reason: "
              + ", ".join(CORRECTION_REASONS) + " (other needs a note).")
    async def correct_entry(self, info: Info, entry: Int64, values: JSON, reason: str,
                            note: str | None = None) -> CorrectEntryResult:
        if not isinstance(values, dict):
            raise ValidationError("values: must be an object of field: value", field="values")
        appended = await services.correct(info.context.platform, entry=entry, values=values,
                                          reason=reason, note=note,
                                          caller=info.context.caller.address)
        row = await queries.correction_at(appended.index)
        if row is None:
            raise RuntimeError(f"correction {appended.index} has no row")
        return EntryCorrected(correction=Correction.of(row),
                              entry=await load_entry(info, appended.index))
