"""Reading the log: entries, signers, checkpoints, tiles and proofs (DESIGN §3).

`LogReader` is the one place outside integration that runs SQL over the `log_*` tables. The web
pages, the witness client and the domains ask it named questions (`entry_indexes`,
`checkpoint_sizes`, `checkpoint_size_covering`, ...) instead of writing their own queries, so the
tables can change under them. Proofs ask `merkle.py` which nodes they need, read only the tiles
that hold them (`tiles.tiles_holding`) and fold them (`tiles.fold_nodes`). Full tiles never
change, so they are cached.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from heartchain.errors import NotFound, ValidationError
from heartchain.ledger import merkle, tiles
from heartchain.ledger.entries import Entry, parse_entry
from heartchain.ledger.notes import Checkpoint
from heartchain.ledger.store import fetch, in_chunks

_FULL_TILE_CACHE = 4096  # 4096 x 8 KiB = 32 MiB of immutable tiles
_ENTRY_COLUMNS = "idx, leaf_hash, data, kind, at, integrated_at"
_CHECKPOINT_COLUMNS = "size, note, signed_at"


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    note: str
    signed_at: str

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def root_hash(self) -> bytes:
        return self.checkpoint.root_hash


@dataclass(frozen=True)
class StoredEntry:
    index: int
    leaf_hash: bytes
    data: bytes
    kind: str
    at: str
    integrated_at: str

    @property
    def entry(self) -> Entry:
        return parse_entry(self.data)


class BatchProofs:
    """Inclusion proofs of a batch's entries in the checkpoint signed with it, from the tree
    nodes the integration had in hand (the border before the batch and every node the batch
    completed): no tile is read back. A proof needs only those (the nodes left of the batch on
    a leaf's path are border nodes), and `inclusion_proof` answers None rather than guess."""

    def __init__(self, checkpoint: SignedCheckpoint, nodes: Mapping[merkle.NodeID, bytes]
                 ) -> None:
        self.checkpoint = checkpoint
        self._nodes = nodes

    def inclusion_proof(self, index: int) -> list[bytes] | None:
        wanted = merkle.inclusion_nodes(index, self.checkpoint.size)
        try:
            hashes = [self._nodes[node] for node in wanted.ids]
        except KeyError:
            return None
        return list(wanted.rehash(hashes))


@dataclass(frozen=True)
class Written:
    """What the process that integrated an entry knows of it, so its writer need not read it
    back: the stored row, what the kind's projector answered (`ApplyContext.answer`), and the
    batch's proofs."""

    stored: StoredEntry
    answer: Any
    proofs: BatchProofs


@dataclass(frozen=True)
class Appended:
    index: int
    leaf_hash: bytes
    checkpoint_size: int  # the checkpoint signed with this entry's batch includes it
    # Set by the integrating process (None when looked up again, as for a retried write).
    written: Written | None = field(default=None, compare=False, repr=False)


class LogReader:
    def __init__(self, connection: str = "default") -> None:
        self.connection_name = connection
        self._full_tiles: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._as_of: tuple[str, int, bytes] | None = None  # checkpoint_as_of's final answer

    def connection(self) -> BaseDBAsyncClient:
        """The database the log lives in. Domains query their own tables (heart_*, mutual_*)
        over it; questions about the log itself go through this reader's methods."""
        conn: BaseDBAsyncClient = connections.get(self.connection_name)
        return conn

    # -- the head and checkpoints --------------------------------------------------------

    async def size(self) -> int:
        rows = await fetch(self.connection(), "SELECT size FROM log_head WHERE id = 1")
        return int(rows[0]["size"]) if rows else 0

    async def latest_checkpoint(self) -> SignedCheckpoint:
        found = await self._checkpoint("ORDER BY size DESC LIMIT 1")
        if found is None:
            raise NotFound("the log has no checkpoint yet: run `heartchain init`")
        return found

    async def checkpoint_at(self, size: int) -> SignedCheckpoint:
        found = await self._checkpoint("WHERE size = ?", [size])
        if found is None:
            raise NotFound(f"no checkpoint was signed at size {size}")
        return found

    async def checkpoint_before(self, size: int) -> SignedCheckpoint | None:
        return await self._checkpoint("WHERE size < ? ORDER BY size DESC LIMIT 1", [size])

    async def checkpoint_covering(self, index: int) -> SignedCheckpoint:
        """The first checkpoint that includes `index`: when the entry became public."""
        found = await self._checkpoint("WHERE size > ? ORDER BY size LIMIT 1", [index])
        if found is None:
            raise NotFound(f"no checkpoint includes entry {index}")
        return found

    async def checkpoint_size_covering(self, index: int) -> int | None:
        """The size of the first checkpoint that includes `index`, if one does yet."""
        rows = await fetch(self.connection(), "SELECT MIN(size) AS size FROM log_checkpoint "
                           "WHERE size > ?", [index])
        return int(rows[0]["size"]) if rows and rows[0]["size"] is not None else None

    async def checkpoint_sizes_covering(self, indexes: Sequence[int]) -> dict[int, int]:
        """For each stored entry of `indexes`, the size of the first checkpoint that includes
        it; one query a chunk however many, so a page's query count does not grow with them."""
        found: dict[int, int] = {}
        unique = sorted(set(indexes))
        for chunk in in_chunks(unique):
            rows = await fetch(self.connection(), "SELECT e.idx, (SELECT MIN(c.size) FROM "
                               "log_checkpoint c WHERE c.size > e.idx) AS size FROM log_entry e "
                               f"WHERE e.idx IN ({', '.join('?' * len(chunk))})", chunk)
            found.update((int(r["idx"]), int(r["size"])) for r in rows if r["size"] is not None)
        return found

    async def checkpoint_as_of(self, at: str) -> tuple[int, bytes]:
        """The size and root hash of the newest checkpoint signed at or before `at` (a
        `format_time` string), else of the first checkpoint: one round trip, and none once the
        answer is final (every check in an hour asks with the hour's start). Sizes and signing
        times grow together, so walking back from the newest checkpoint by its key stops within
        those signed after `at`."""
        if self._as_of is not None and self._as_of[0] == at:
            return self._as_of[1], self._as_of[2]
        rows = await fetch(self.connection(), "SELECT c.size, c.root_hash, (SELECT MAX(signed_at)"
                           " FROM log_checkpoint) AS latest FROM log_checkpoint c WHERE c.size = "
                           "COALESCE((SELECT size FROM log_checkpoint WHERE signed_at <= ? "
                           "ORDER BY size DESC LIMIT 1), (SELECT MIN(size) FROM log_checkpoint))",
                           [at])
        size, root_hash = int(rows[0]["size"]), bytes(rows[0]["root_hash"])
        # Checkpoint times never go back (verify refuses a log where they do): once one is
        # signed after `at`, none signed by `at` can follow, so the answer cannot change.
        # (format_time strings sort as the times they name.)
        if str(rows[0]["latest"]) > at:
            self._as_of = (at, size, root_hash)
        return size, root_hash

    async def first_checkpoint_size(self) -> int:
        rows = await fetch(self.connection(), "SELECT MIN(size) AS size FROM log_checkpoint")
        return int(rows[0]["size"])

    async def checkpoint_sizes(self, *, lower: int | None = None, upper: int | None = None,
                               limit: int, oldest_first: bool = False) -> list[int]:
        """Sizes of signed checkpoints with lower <= size < upper (either bound optional)."""
        where, values = _bounds("size", lower, upper)
        order = "ASC" if oldest_first else "DESC"
        rows = await fetch(self.connection(), f"SELECT size FROM log_checkpoint {where} "
                           f"ORDER BY size {order} LIMIT {int(limit)}", values)
        return [int(r["size"]) for r in rows]

    async def checkpoint_notes(self, sizes: Sequence[int]) -> dict[int, str]:
        """The signed note of each of `sizes` that has a checkpoint (missing ones are absent)."""
        found: dict[int, str] = {}
        unique = sorted(set(sizes))
        for chunk in in_chunks(unique):
            for row in await fetch(self.connection(), "SELECT size, note FROM log_checkpoint "
                                   f"WHERE size IN ({', '.join('?' * len(chunk))})", chunk):
                found[int(row["size"])] = str(row["note"])
        return found

    async def _checkpoint(self, condition: str, values: list[object] | None = None
                          ) -> SignedCheckpoint | None:
        rows = await fetch(self.connection(), f"SELECT {_CHECKPOINT_COLUMNS} FROM log_checkpoint "
                           f"{condition}", values)
        return signed_checkpoint(rows[0]) if rows else None

    # -- entries ---------------------------------------------------------------------------

    async def get_entry(self, index: int) -> StoredEntry:
        rows = await fetch(self.connection(), f"SELECT {_ENTRY_COLUMNS} FROM log_entry "
                           "WHERE idx = ?", [index])
        if not rows:
            raise NotFound(f"entry {index} does not exist")
        return stored_entry(rows[0])

    async def get_entries(self, indexes: Sequence[int]) -> dict[int, StoredEntry]:
        found: dict[int, StoredEntry] = {}
        unique = sorted(set(indexes))
        for chunk in in_chunks(unique):
            marks = ", ".join("?" * len(chunk))
            for row in await fetch(self.connection(), f"SELECT {_ENTRY_COLUMNS} FROM log_entry "
                                   f"WHERE idx IN ({marks})", chunk):
                stored = stored_entry(row)
                found[stored.index] = stored
        return found

    async def find_signed(self, signer: str, nonce: str) -> StoredEntry | None:
        """The entry `signer` signed with `nonce`, if any: a (signer, nonce) pair is used once."""
        rows = await fetch(self.connection(), "SELECT e.idx, e.leaf_hash, e.data, e.kind, e.at, "
                           "e.integrated_at FROM log_entry_signer s JOIN log_entry e "
                           "ON e.idx = s.idx WHERE s.nonce = ? AND s.address = ?",
                           [nonce, signer])
        return stored_entry(rows[0]) if rows else None

    async def appended(self, index: int) -> Appended:
        """What `append` answered for the stored entry at `index`."""
        stored = await self.get_entry(index)
        covering = await self.checkpoint_covering(index)
        return Appended(index, stored.leaf_hash, covering.size)

    async def entry_indexes(self, *, kind: str | None = None, signer: str | None = None,
                            lower: int | None = None, upper: int | None = None, limit: int,
                            oldest_first: bool = False) -> list[int]:
        """Indexes of entries with lower <= index < upper, of `kind` and signed by `signer`
        when given: the pages of the explorer and of an account."""
        where, values = _bounds("idx", lower, upper)
        order = "ASC" if oldest_first else "DESC"
        if signer is not None and kind is None:
            # The (address, idx) index answers this alone, however long the log.
            where = f"{where} AND address = ?" if where else "WHERE address = ?"
            query = f"SELECT idx FROM log_entry_signer {where}"
            values.append(signer)
        else:
            conditions = [where.removeprefix("WHERE ")] if where else []
            if kind is not None:
                conditions.append("kind = ?")
                values.append(kind)
            if signer is not None:
                conditions.append("idx IN (SELECT idx FROM log_entry_signer WHERE address = ?)")
                values.append(signer)
            query = "SELECT idx FROM log_entry" + (
                f" WHERE {' AND '.join(conditions)}" if conditions else "")
        rows = await fetch(self.connection(), f"{query} ORDER BY idx {order} "
                           f"LIMIT {int(limit)}", values)
        return [int(r["idx"]) for r in rows]

    async def kinds(self) -> list[str]:
        """Every kind that has at least one entry, sorted."""
        rows = await fetch(self.connection(), "SELECT DISTINCT kind FROM log_entry ORDER BY kind")
        return [str(r["kind"]) for r in rows]

    # -- tiles and proofs --------------------------------------------------------------------

    async def fetch_tiles(self, conn: BaseDBAsyncClient, wanted: list[tuple[int, int]],
                          *, cache: bool = True) -> dict[tuple[int, int], bytes]:
        """Stored tiles by (level, index); `cache=False` inside integration, where a partial
        tile is about to grow and only this transaction's view of it is right."""
        found: dict[tuple[int, int], bytes] = {}
        missing: dict[int, list[int]] = {}
        for key in wanted:
            if cache and key in self._full_tiles:
                self._full_tiles.move_to_end(key)
                found[key] = self._full_tiles[key]
            else:
                missing.setdefault(key[0], []).append(key[1])
        for level, indexes in missing.items():
            marks = ", ".join("?" * len(indexes))
            for row in await fetch(conn, f"SELECT idx, data FROM log_tile WHERE level = ? "
                                   f"AND idx IN ({marks})", [level, *indexes]):
                data = bytes(row["data"])
                key = (level, int(row["idx"]))
                found[key] = data
                if cache and len(data) == tiles.TILE_WIDTH * tiles.HASH_SIZE:
                    self._full_tiles[key] = data
                    if len(self._full_tiles) > _FULL_TILE_CACHE:
                        self._full_tiles.popitem(last=False)
        return found

    async def read_nodes(self, ids: Sequence[merkle.NodeID],
                         conn: BaseDBAsyncClient | None = None) -> list[bytes]:
        """Hashes of perfect-subtree nodes, computed from the few tiles that hold them."""
        tile_data = await self.fetch_tiles(conn or self.connection(), tiles.tiles_holding(ids))
        try:
            return tiles.fold_nodes(ids, tile_data)
        except tiles.NodeNotStored as exc:
            raise NotFound(str(exc)) from None

    async def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        if not 0 <= index < size:
            raise ValidationError(f"index {index} out of bounds for tree size {size}")
        if size > await self.size():
            raise NotFound(f"the log is smaller than {size}")
        nodes = merkle.inclusion_nodes(index, size)
        return nodes.rehash(await self.read_nodes(nodes.ids))

    async def consistency_proof(self, size1: int, size2: int, *,
                                size2_committed: bool = False) -> list[bytes]:
        """`size2_committed`: the caller holds a checkpoint of size2 this log committed (the
        witness client), so the head need not be read to bound it."""
        if not 0 <= size1 <= size2:
            raise ValidationError(f"consistency needs 0 <= from <= to, got {size1}, {size2}")
        if not size2_committed and size2 > await self.size():
            raise NotFound(f"the log is smaller than {size2}")
        if size1 == 0 or size1 == size2:
            return []
        nodes = merkle.consistency_nodes(size1, size2)
        return nodes.rehash(await self.read_nodes(nodes.ids))

    async def root_at(self, size: int) -> bytes:
        return merkle.fold_range(await self.read_nodes(merkle.range_nodes(size)))

    async def read_tile(self, ref: tiles.TileRef) -> bytes:
        """The bytes of a hash tile or entry bundle, exactly as tlog-tiles serves them."""
        size = await self.size()
        if ref.is_entries:
            available = max(0, min(size - ref.index * tiles.TILE_WIDTH, tiles.TILE_WIDTH))
        else:
            stored = size >> (tiles.TILE_HEIGHT * ref.level)
            available = max(0, min(stored - ref.index * tiles.TILE_WIDTH, tiles.TILE_WIDTH))
        if available < ref.width:
            raise NotFound(f"{ref.path} is beyond the log's size {size}")
        if ref.is_entries:
            first = ref.index * tiles.TILE_WIDTH
            rows = await fetch(self.connection(), "SELECT data FROM log_entry WHERE idx >= ? "
                               "AND idx < ? ORDER BY idx", [first, first + ref.width])
            return tiles.encode_entry_bundle([bytes(r["data"]) for r in rows])
        data = (await self.fetch_tiles(self.connection(), [(ref.level, ref.index)])).get(
            (ref.level, ref.index), b"")
        return data[:ref.width * tiles.HASH_SIZE]


def _bounds(column: str, lower: int | None, upper: int | None) -> tuple[str, list[object]]:
    conditions: list[str] = []
    values: list[object] = []
    if lower is not None:
        conditions.append(f"{column} >= ?")
        values.append(lower)
    if upper is not None:
        conditions.append(f"{column} < ?")
        values.append(upper)
    return (f"WHERE {' AND '.join(conditions)}" if conditions else ""), values


def signed_checkpoint(row: dict[str, object]) -> SignedCheckpoint:
    note = str(row["note"])
    text = note.split("\n\n", 1)[0] + "\n"
    return SignedCheckpoint(Checkpoint.from_text(text), note, str(row["signed_at"]))


def stored_entry(row: dict[str, object]) -> StoredEntry:
    return StoredEntry(int(row["idx"]),  # type: ignore[call-overload]
                       bytes(row["leaf_hash"]), bytes(row["data"]),  # type: ignore[call-overload]
                       str(row["kind"]), str(row["at"]), str(row["integrated_at"]))
