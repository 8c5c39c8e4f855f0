"""GraphQL types of the log: checkpoints, entries with their proofs, the live feed."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncGenerator
from typing import Annotated, Any

import strawberry

from heartchain.errors import NotFound, ValidationError
from heartchain.gql import (
    JSON,
    Connection,
    ErrorResult,
    Info,
    Int64,
    b64,
    connection,
    decode_cursor,
    encode_cursor,
    mutation,
    page_size,
)
from heartchain.ledger.entries import ReplayError, parse_entry
from heartchain.ledger.log import Appended, Log, SignedCheckpoint, StoredEntry
from heartchain.ledger.reader import BatchProofs


@strawberry.type(description="A C2SP signed checkpoint: the log's size and root, signed.")
class Checkpoint:
    origin: str
    size: Int64
    root_hash: str = strawberry.field(description="base64 SHA-256 Merkle root (RFC 9162)")
    note: str = strawberry.field(description="the signed note, as served at /log/checkpoint")
    signed_at: str

    @classmethod
    def of(cls, signed: SignedCheckpoint) -> Checkpoint:
        return cls(origin=signed.checkpoint.origin, size=Int64(signed.size),
                   root_hash=b64(signed.root_hash), note=signed.note, signed_at=signed.signed_at)

    @strawberry.field(description="The checkpoint signed before this one (none for size 0).")
    async def previous(self, info: Info) -> Checkpoint | None:
        found = await info.context.platform.log.checkpoint_before(self.size)
        return Checkpoint.of(found) if found else None


@strawberry.type(description="RFC 9162 inclusion proof of one entry in a checkpoint's tree.")
class InclusionProof:
    leaf_index: Int64
    tree_size: Int64
    leaf_hash: str
    hashes: list[str]
    checkpoint: Checkpoint


@strawberry.type(description="RFC 9162 consistency proof: the smaller tree is a prefix of "
                             "the larger.")
class ConsistencyProof:
    from_size: Int64
    to_size: Int64
    hashes: list[str]
    from_checkpoint: Checkpoint | None
    to_checkpoint: Checkpoint | None


@strawberry.type(description="One signed entry of the log.")
class LogEntry:
    index: Int64
    kind: str
    at: str = strawberry.field(description="the signer's clock")
    integrated_at: str = strawberry.field(description="the log's clock when it was appended")
    leaf_hash: str
    # The stored entry: its text is parsed only for a request that asks for body or signers
    # (a write's answer asks for index and leafHash).
    stored: strawberry.Private[StoredEntry]
    # An entry this process just integrated: its batch's proofs, so no tile is read back.
    proofs: strawberry.Private[BatchProofs | None] = None

    @classmethod
    def of(cls, stored: StoredEntry, proofs: BatchProofs | None = None) -> LogEntry:
        return cls(index=Int64(stored.index), kind=stored.kind, at=stored.at,
                   integrated_at=stored.integrated_at, leaf_hash=b64(stored.leaf_hash),
                   stored=stored, proofs=proofs)

    # Python callers read these attributes; GraphQL resolves the fields below from them.
    @property
    def data(self) -> str:
        return self.stored.data.decode()

    @property
    def body(self) -> Any:
        return self._document["body"]

    @property
    def signers(self) -> list[str]:
        return [s["by"] for s in self._document["sigs"]]

    @functools.cached_property
    def _document(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.stored.data)
        return document

    @strawberry.field(name="data", description="the canonical JSON (RFC 8785) that was hashed")
    def data_field(self) -> str:
        return self.data

    @strawberry.field(name="body")
    def body_field(self) -> JSON:
        return self.body

    @strawberry.field(name="signers")
    def signers_field(self) -> list[str]:
        return self.signers

    @strawberry.field(description="Proof against the given tree size, or the latest checkpoint.")
    async def inclusion_proof(self, info: Info, tree_size: Int64 | None = None
                              ) -> InclusionProof:
        # Just written: the checkpoint signed with its batch, which was the latest when the
        # write was answered.
        batch = self.proofs.inclusion_proof(self.index) if self.proofs and tree_size is None \
            else None
        if self.proofs is not None and batch is not None:
            return InclusionProof(leaf_index=self.index,
                                  tree_size=Int64(self.proofs.checkpoint.size),
                                  leaf_hash=self.leaf_hash, hashes=[b64(h) for h in batch],
                                  checkpoint=Checkpoint.of(self.proofs.checkpoint))
        log = info.context.platform.log
        signed = (await log.latest_checkpoint() if tree_size is None
                  else await log.checkpoint_at(tree_size))
        hashes = await log.inclusion_proof(self.index, signed.size)
        return InclusionProof(leaf_index=self.index, tree_size=Int64(signed.size),
                              leaf_hash=self.leaf_hash, hashes=[b64(h) for h in hashes],
                              checkpoint=Checkpoint.of(signed))

    @strawberry.field(description="A receipt to keep: C2SP tlog-proof@v1 text, whose extra "
                                  "line holds this entry, proved against the newest witnessed "
                                  "checkpoint (or the one at treeSize), with its cosignatures.")
    async def receipt(self, info: Info, tree_size: Int64 | None = None) -> str:
        from heartchain.receipt_service import entry_receipt  # it reads the witness policy

        return await entry_receipt(info.context.platform, self.index, tree_size)

    @strawberry.field(description="The first checkpoint that included this entry: it proves "
                                  "the entry existed no later than that checkpoint was signed.")
    async def first_checkpoint(self, info: Info) -> Checkpoint:
        return Checkpoint.of(await info.context.platform.log.checkpoint_covering(self.index))


@strawberry.type(description="The entry was appended; its proof is against the checkpoint "
                             "signed with its batch.")
class EntryAccepted:
    entry: LogEntry


@strawberry.interface(description="Anything that came from one log entry: its index, and the "
                                  "entry itself with its inclusion proof.")
class FromEntry:
    index: Int64

    @strawberry.field(description="The entry this came from, with its inclusion proof.")
    async def entry(self, info: Info) -> LogEntry:
        return await load_entry(info, self.index)


SubmitEntryResult = Annotated[EntryAccepted | ErrorResult,
                              strawberry.union("SubmitEntryResult")]


async def load_entry(info: Info, index: int) -> LogEntry:
    stored = info.context.written_entries.get(index)
    if stored is None:
        stored = await info.context.entry_loader.load(index)
    return LogEntry.of(stored)


async def written_entry(info: Info, appended: Appended) -> LogEntry:
    """The entry `appended` answers for: from what its integration handed back when this process
    just wrote it (kept for any other field of the request that loads it), else loaded."""
    if appended.written is None:
        return await load_entry(info, appended.index)
    info.context.written_entries[appended.index] = appended.written.stored
    return LogEntry.of(appended.written.stored, appended.written.proofs)


@strawberry.type
class LedgerQuery:
    @strawberry.field(description="The latest signed checkpoint, or the one at `size`.")
    async def checkpoint(self, info: Info, size: Int64 | None = None) -> Checkpoint:
        log = info.context.platform.log
        return Checkpoint.of(await log.latest_checkpoint() if size is None
                             else await log.checkpoint_at(size))

    @strawberry.field
    async def entry(self, info: Info, index: Int64) -> LogEntry | None:
        try:
            return await load_entry(info, index)
        except NotFound:
            return None

    @strawberry.field(description="Entries, newest first unless `oldestFirst`; filter by kind "
                                  "and signer address.")
    async def entries(self, info: Info, first: int = 20, after: str | None = None,
                      kind: str | None = None, signer: str | None = None,
                      oldest_first: bool = False) -> Connection[LogEntry]:
        limit = page_size(first)
        position = decode_cursor("entry", after)
        bound = None if position is None else int(position)
        indexes = await info.context.platform.log.reader.entry_indexes(
            kind=kind, signer=signer, limit=limit + 1, oldest_first=oldest_first,
            lower=bound + 1 if bound is not None and oldest_first else None,
            upper=bound if bound is not None and not oldest_first else None)
        found = await info.context.platform.log.get_entries(indexes[:limit])
        return connection(indexes, limit, cursor=lambda i: encode_cursor("entry", i),
                          node=lambda i: LogEntry.of(found[i]))

    @strawberry.field
    async def consistency_proof(self, info: Info, from_size: Int64, to_size: Int64
                                ) -> ConsistencyProof:
        log = info.context.platform.log
        hashes = await log.consistency_proof(from_size, to_size)

        async def stored(size: int) -> Checkpoint | None:
            try:
                return Checkpoint.of(await log.checkpoint_at(size))
            except NotFound:
                return None

        return ConsistencyProof(from_size=from_size, to_size=to_size,
                                hashes=[b64(h) for h in hashes],
                                from_checkpoint=await stored(from_size),
                                to_checkpoint=await stored(to_size))

    @strawberry.field(description="The log's C2SP verifier key (name+keyid+base64 key).")
    def verifier_key(self, info: Info) -> str:
        return info.context.platform.verifier_key

    @strawberry.field(description="Every entry kind this log accepts.")
    def entry_kinds(self) -> list[str]:
        from heartchain.ledger.kinds import kind_names

        return kind_names()


@strawberry.type
class LedgerMutation:
    @mutation(description="Append an entry already signed by self-custody keys: the "
                          "canonical JSON of DESIGN §2, signatures included.")
    async def submit_entry(self, info: Info, entry: str) -> SubmitEntryResult:
        log = info.context.platform.log
        try:
            appended = await log.append(entry.encode())
        except ReplayError:
            # The same signed entry sent again (its answer was lost): answer the stored one.
            parsed = parse_entry(entry.encode())
            earlier = await log.find_signed(parsed.signers[0], parsed.nonce)
            if earlier is None or earlier.data != parsed.leaf_data:
                raise
            appended = await log.appended(earlier.index)
        return EntryAccepted(entry=await written_entry(info, appended))


@strawberry.type
class LedgerSubscription:
    @strawberry.subscription(description="Every new entry, in order, as the log integrates it.")
    async def entries(self, info: Info, from_index: Int64 | None = None
                      ) -> AsyncGenerator[LogEntry, None]:
        log = info.context.platform.log
        if from_index is not None and from_index < 0:
            raise ValidationError("fromIndex: must be 0 or more", field="fromIndex")
        next_index = await log.size() if from_index is None else from_index
        async for entry in _entries_between(log, next_index, await log.size()):
            next_index = entry.index + 1
            yield entry
        async for size in log.sizes():
            async for entry in _entries_between(log, next_index, size):
                next_index = entry.index + 1
                yield entry


async def _entries_between(log: Log, start: int, end: int) -> AsyncGenerator[LogEntry, None]:
    for chunk_start in range(start, end, 500):
        chunk_end = min(end, chunk_start + 500)
        found = await log.get_entries(range(chunk_start, chunk_end))
        for index in range(chunk_start, chunk_end):
            yield LogEntry.of(found[index])
