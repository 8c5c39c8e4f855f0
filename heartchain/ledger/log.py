"""The log: its parts put together behind the one object the domains use (DESIGN §3).

Cut the way Tessera cuts its own log:

- `sequencer.py` queues writers' entries into batches;
- `integrate.py` integrates a batch in one transaction under the head row's lock: rules,
  projections, entries, tiles, a signed checkpoint;
- `settle.py` finds out whether a batch whose commit lost its answer is in the log after all;
- `reader.py` (`LogReader`, `log.reader`) answers every question about what is stored: entries,
  signers, checkpoints, tiles and proofs;
- `feed.py` tells listeners of each new checkpoint and size.

`Log` delegates the calls most callers make (append, get_entry, checkpoint_at, proofs...);
anything else about stored entries and checkpoints is asked of `log.reader`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from tortoise.backends.base.client import BaseDBAsyncClient

from heartchain import metrics
from heartchain.clock import Clock
from heartchain.errors import HeartchainError
from heartchain.ledger import merkle, tiles
from heartchain.ledger.body import Body
from heartchain.ledger.entries import Entry
from heartchain.ledger.feed import CheckpointListener, Feed
from heartchain.ledger.integrate import Integrator, ProjectorFailed, create_head
from heartchain.ledger.kinds import OffLogRow, PreparedEntry, SetRefused, prepared_signed
from heartchain.ledger.notes import NoteSigner
from heartchain.ledger.reader import Appended, LogReader, SignedCheckpoint, StoredEntry
from heartchain.ledger.sequencer import Sequencer, prepare_entry
from heartchain.ledger.settle import settle_in_doubt

__all__ = ["Appended", "CheckpointListener", "Log", "LogReader", "ProjectorFailed",
           "SetRefused", "SignedCheckpoint", "StoredEntry", "create_head"]


class Log:
    def __init__(self, *, origin: str, signer: NoteSigner, clock: Clock,
                 connection: str = "default", batch_period: float = 0.02,
                 batch_size: int = 256, write_timeout: float | None = None) -> None:
        self.origin = origin
        self.signer = signer
        self.clock = clock
        self.connection = connection
        self.reader = LogReader(connection)
        self.feed = Feed(self.reader.size)
        self.integrator = Integrator(origin=origin, signer=signer, clock=clock,
                                     connection=connection, reader=self.reader,
                                     committed=self.feed.committed)
        # Through `self._integrate`, looked up per batch: tests stand in for it on the instance.
        self.sequencer = Sequencer(
            integrate=lambda batch: self._integrate(batch),
            settle=lambda batch, failure: settle_in_doubt(self.reader, batch, failure),
            in_background=self.feed.in_background, batch_period=batch_period,
            batch_size=batch_size, write_timeout=write_timeout)

    @property
    def batch_size(self) -> int:
        return self.sequencer.batch_size

    @property
    def batch_period(self) -> float:
        return self.sequencer.batch_period

    @property
    def write_timeout(self) -> float | None:
        return self.sequencer.write_timeout

    # -- writing ---------------------------------------------------------------------------

    def prepare(self, entry: Entry | bytes | str) -> PreparedEntry:
        return prepare_entry(entry)

    async def append(self, entry: Entry | bytes | str) -> Appended:
        """Queue one entry for the next batch; return once it is committed, or raise why not."""
        return await self.sequencer.append(prepare_entry(entry))

    async def append_signed(self, entry: Entry, body: Body, *,
                            off_log: tuple[OffLogRow, ...] = ()) -> Appended:
        """`append` for an entry this process just built from `body`, already decoded, and signed
        with its signers' keys (Platform.write; `signed_by` enforced the size limit): its shape
        and signatures are not checked again. `verify` re-checks every entry from its bytes."""
        return await self.sequencer.append(prepared_signed(entry, body, off_log=off_log))

    async def append_now(self, entries: Sequence[Entry | bytes | str]
                         ) -> list[Appended | HeartchainError]:
        """Integrate `entries` directly in batches, in order (seeding, imports, benchmarks)."""
        return await self.sequencer.append_now(entries)

    async def append_all(self, signed: Sequence[tuple[Entry, Body]]) -> list[Appended]:
        """Integrate entries this process built from their bodies and signed (Platform.signed)
        in one transaction, all of them or none (bulk import): a rule refusing any raises
        `SetRefused` naming it, a projector failing raises ProjectorFailed (where the sequencer
        would redo the batch entry by entry), and either way nothing was written. The clock and
        nonce checks, which a set signed just now with fresh nonces passes, are the
        integrator's as for any batch."""
        batch = [prepared_signed(entry, body, all_or_none=True) for entry, body in signed]
        if not batch:
            return []
        outcomes = await self.integrator.integrate_batch(batch, self.clock.now())
        refused = [o for o in outcomes if isinstance(o, HeartchainError)]
        # Only a clock or nonce refusal gets here. None of the set written: that error, typed.
        if refused and len(refused) == len(outcomes):
            raise refused[0]
        if refused:  # committed with the rest
            raise RuntimeError(f"append_all: {len(refused)} entries refused outside the rules "
                               f"(the first: {refused[0]}); the others were written")
        metrics.BATCH_SIZE.observe(len(batch))
        metrics.count_appended(item.entry.kind for item in batch)
        return [o for o in outcomes if isinstance(o, Appended)]

    async def _integrate(self, batch: list[PreparedEntry]) -> list[Appended | HeartchainError]:
        return await self.integrator.integrate(batch)

    # -- the live feed ---------------------------------------------------------------------

    def add_checkpoint_listener(self, listener: CheckpointListener) -> None:
        """Call `listener` with every checkpoint this process signs, after its commit, in the
        background: a slow listener (a witness far away) never delays an append."""
        self.feed.add_checkpoint_listener(listener)

    def sizes(self, poll: float = 1.0) -> AsyncIterator[int]:
        """Yield the log size whenever it grows (see `Feed.sizes`)."""
        return self.feed.sizes(poll)

    # -- reading (see LogReader for the rest) ---------------------------------------------

    def _conn(self) -> BaseDBAsyncClient:
        # Kept for the tests, which edit log_* rows to play an attacker; code asks the reader.
        return self.reader.connection()

    async def size(self) -> int:
        return await self.reader.size()

    async def latest_checkpoint(self) -> SignedCheckpoint:
        return await self.reader.latest_checkpoint()

    async def checkpoint_at(self, size: int) -> SignedCheckpoint:
        return await self.reader.checkpoint_at(size)

    async def checkpoint_before(self, size: int) -> SignedCheckpoint | None:
        return await self.reader.checkpoint_before(size)

    async def checkpoint_covering(self, index: int) -> SignedCheckpoint:
        """The first checkpoint that includes `index`: when the entry became public."""
        return await self.reader.checkpoint_covering(index)

    async def get_entry(self, index: int) -> StoredEntry:
        return await self.reader.get_entry(index)

    async def get_entries(self, indexes: Sequence[int]) -> dict[int, StoredEntry]:
        return await self.reader.get_entries(indexes)

    async def find_signed(self, signer: str, nonce: str) -> StoredEntry | None:
        """The entry `signer` signed with `nonce`, if any: a (signer, nonce) pair is used once."""
        return await self.reader.find_signed(signer, nonce)

    async def appended(self, index: int) -> Appended:
        """What `append` answered for the stored entry at `index`."""
        return await self.reader.appended(index)

    async def read_nodes(self, ids: Sequence[merkle.NodeID],
                         conn: BaseDBAsyncClient | None = None) -> list[bytes]:
        return await self.reader.read_nodes(ids, conn)

    async def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return await self.reader.inclusion_proof(index, size)

    async def consistency_proof(self, size1: int, size2: int, *,
                                size2_committed: bool = False) -> list[bytes]:
        return await self.reader.consistency_proof(size1, size2,
                                                   size2_committed=size2_committed)

    async def root_at(self, size: int) -> bytes:
        return await self.reader.root_at(size)

    async def read_tile(self, ref: tiles.TileRef) -> bytes:
        """The bytes of a hash tile or entry bundle, exactly as tlog-tiles serves them."""
        return await self.reader.read_tile(ref)
