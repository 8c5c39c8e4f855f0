"""GraphQL types of witnessing: the policy, each checkpoint's cosignatures, refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from heartchain.gql import (
    Connection,
    Info,
    Int64,
    connection,
    decode_cursor,
    encode_cursor,
    page_size,
)
from heartchain.ledger import witness_client, witnessed
from heartchain.ledger.store import fetch
from heartchain.ledger.types import Checkpoint
from heartchain.ledger.witnessed import CosignedCheckpoint as Cosigned
from heartchain.lookups import can_match
from heartchain.witness.models import WitnessCosignature
from heartchain.witness.models import WitnessRefusal as RefusalRow


@strawberry.type(description="A witness the log submits its checkpoints to (C2SP tlog-witness).")
class Witness:
    name: str = strawberry.field(description="its key name, as in its cosignature lines")
    label: str
    url: str = strawberry.field(description="submission prefix: POST <url>/add-checkpoint")
    verifier_key: str = strawberry.field(description="cosignature/v1 verifier key (type 0x04)")
    cosigned_size: Int64 | None = strawberry.field(
        description="the largest checkpoint it has cosigned")


@strawberry.type(description="Which witnesses cosign, and how many must for a checkpoint "
                             "to count as witnessed.")
class WitnessPolicy:
    required: int
    total: int
    description: str = strawberry.field(description='"k of n"')
    witnesses: list[Witness]


@strawberry.type(description="One witness's cosignature/v1 over a checkpoint.")
class Cosignature:
    witness: str
    timestamp: Int64 = strawberry.field(description="the witness's time, POSIX seconds")
    time: str = strawberry.field(description="the same, ISO 8601 UTC")
    line: str = strawberry.field(description="the note signature line, as appended to the note")
    received_at: str


@strawberry.type(description="A checkpoint with the cosignatures the witnesses returned.")
class CosignedCheckpoint:
    checkpoint: Checkpoint
    cosignatures: list[Cosignature]
    witnessed: bool = strawberry.field(description="enough cosignatures for the policy")
    note: str = strawberry.field(description="the signed note with the cosignature lines, as "
                                             "/log/checkpoint serves it")

    @classmethod
    # `Cosigned`, not `witnessed.CosignedCheckpoint`: the `witnessed` field hides the module here.
    def of(cls, found: Cosigned) -> CosignedCheckpoint:
        return cls(
            checkpoint=Checkpoint.of(found.signed), witnessed=found.witnessed, note=found.note,
            cosignatures=[Cosignature(
                witness=c.witness, timestamp=Int64(c.timestamp),
                time=datetime.fromtimestamp(c.timestamp, UTC).isoformat(), line=c.line,
                received_at=c.received_at.isoformat()) for c in found.cosignatures])


@strawberry.type(description="A witness refused a checkpoint (status 0: it was unreachable). "
                             "422 means the log's history changed under what it had cosigned.")
class WitnessRefusal:
    id: Int64
    witness: str
    size: Int64 = strawberry.field(description="the checkpoint submitted")
    old_size: Int64 = strawberry.field(description="the size the proof started from")
    status: int
    body: str
    at: str

    @classmethod
    def of(cls, row: RefusalRow) -> WitnessRefusal:
        return cls(id=Int64(row.id), witness=row.witness, size=Int64(row.size),
                   old_size=Int64(row.old_size), status=row.status, body=row.body,
                   at=row.at.isoformat())


@strawberry.type
class Query:
    @strawberry.field(description="The witnesses and the policy (k of n).")
    async def witness_policy(self, info: Info) -> WitnessPolicy:
        policy = witness_client.policy_for(info.context.platform.log)
        witnesses = []
        for endpoint in policy.witnesses:
            row = await WitnessCosignature.filter(witness=endpoint.name).order_by("-size").first()
            witnesses.append(Witness(
                name=endpoint.name, label=endpoint.label, url=endpoint.url,
                verifier_key=endpoint.verifier.verifier_key,
                cosigned_size=Int64(row.size) if row is not None else None))
        return WitnessPolicy(required=policy.required, total=len(policy.witnesses),
                             description=policy.description, witnesses=witnesses)

    @strawberry.field(description="The newest checkpoint the policy is met for: what "
                                  "/log/checkpoint serves. Null if none is witnessed yet.")
    async def witnessed_checkpoint(self, info: Info) -> CosignedCheckpoint | None:
        log = info.context.platform.log
        found = await witnessed.witnessed_checkpoint(log, witness_client.policy_for(log))
        return CosignedCheckpoint.of(found) if found is not None else None

    @strawberry.field(description="The checkpoint at `size` (default: the latest) with its "
                                  "cosignatures.")
    async def cosigned_checkpoint(self, info: Info, size: Int64 | None = None
                                  ) -> CosignedCheckpoint:
        log = info.context.platform.log
        signed = await (log.latest_checkpoint() if size is None else log.checkpoint_at(size))
        policy = witness_client.policy_for(log)
        return CosignedCheckpoint.of(await witnessed.cosigned(log, policy, signed))

    @strawberry.field(description="Checkpoints that have at least one cosignature, newest "
                                  "first.")
    async def cosigned_checkpoints(self, info: Info, first: int = 20, after: str | None = None
                                   ) -> Connection[CosignedCheckpoint]:
        limit = page_size(first)
        position = decode_cursor("cosigned", after)
        log = info.context.platform.log
        policy = witness_client.policy_for(log)
        sizes: list[int] = []
        if policy.witnesses:
            names = [w.name for w in policy.witnesses]
            where = f"witness IN ({', '.join('?' * len(names))})"
            values: list[object] = list(names)
            if position is not None:
                where += " AND size < ?"
                values.append(int(position))
            rows = await fetch(log.reader.connection(), "SELECT DISTINCT size FROM "
                               f"witness_cosignature WHERE {where} ORDER BY size DESC "
                               f"LIMIT {limit + 1}", values)
            sizes = [int(r["size"]) for r in rows]
        found = {size: await witnessed.cosigned(log, policy, await log.checkpoint_at(size))
                 for size in sizes[:limit]}
        return connection(sizes, limit, cursor=lambda size: encode_cursor("cosigned", size),
                          node=lambda size: CosignedCheckpoint.of(found[size]))

    @strawberry.field(description="Refusals by the witnesses, newest first: the evidence a "
                                  "rewritten or forked log leaves.")
    async def witness_refusals(self, info: Info, first: int = 20, after: str | None = None,
                               witness: str | None = None) -> Connection[WitnessRefusal]:
        limit = page_size(first)
        position = decode_cursor("refusal", after)
        rows: list[RefusalRow] = []
        if witness is None or can_match(RefusalRow, witness=witness):
            query = RefusalRow.all() if witness is None else RefusalRow.filter(witness=witness)
            if position is not None:
                query = query.filter(id__lt=int(position))
            rows = await query.order_by("-id").limit(limit + 1)
        return connection(rows, limit, cursor=lambda row: encode_cursor("refusal", row.id),
                          node=WitnessRefusal.of)
