"""Test data for witnesses: an in-memory log that signs checkpoints and proves consistency, and
a witness app on a temporary data directory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from heartchain.ledger import merkle, tiles
from heartchain.ledger.notes import Checkpoint, NoteSigner, sign_note
from heartchain.witness.config import WitnessConfig, init_witness
from heartchain.witness.protocol import format_request
from heartchain.witness.server import create_app
from heartchain.witness.store import WitnessStore

ORIGIN = "heartchain.test/log"
WITNESS = "witness.test/w1"


@dataclass
class MemoryLog:
    """A log held in memory: every perfect-subtree node, so any consistency proof can be made."""

    origin: str = ORIGIN
    signer: NoteSigner = field(default_factory=lambda: NoteSigner.generate(ORIGIN))
    nodes: dict[merkle.NodeID, bytes] = field(default_factory=dict)
    compact: merkle.CompactRange = field(default_factory=merkle.CompactRange)

    def grow(self, count: int) -> None:
        for _ in range(count):
            leaf = merkle.leaf_hash(self.compact.size.to_bytes(8, "big"))
            self.nodes.update(self.compact.append(leaf))

    @property
    def size(self) -> int:
        return self.compact.size

    def root(self, size: int) -> bytes:
        return merkle.fold_range([self.nodes[n] for n in merkle.range_nodes(size)])

    def note(self, size: int | None = None, *, signer: NoteSigner | None = None,
             root: bytes | None = None) -> str:
        size = self.size if size is None else size
        text = Checkpoint(self.origin, size, root or self.root(size)).to_text()
        return sign_note(text, signer or self.signer)

    def proof(self, old: int, new: int) -> Sequence[bytes]:
        if old == 0 or old == new:
            return []
        nodes = merkle.consistency_nodes(old, new)
        return nodes.rehash([self.nodes[n] for n in nodes.ids])

    def request(self, old: int, size: int | None = None, **note_options: object) -> bytes:
        size = self.size if size is None else size
        return format_request(old, self.proof(old, size),
                              self.note(size, **note_options)).encode()  # type: ignore[arg-type]


def witness_config(data_dir: Path, *logs: MemoryLog, name: str = WITNESS) -> WitnessConfig:
    return init_witness(data_dir, name, [log.signer.verifier_key for log in logs])


def witness_client(config: WitnessConfig, store: WitnessStore | None = None
                   ) -> httpx.AsyncClient:
    app = create_app(config, store=store)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://witness")


def rederive_tiles(leaves: Sequence[bytes]) -> tuple[dict[tuple[int, int], bytes], bytes]:
    """Every tlog-tiles hash tile and the root of a tree with these leaf hashes: what an
    administrator who edits an entry must rewrite so the log itself notices nothing."""
    compact = merkle.CompactRange()
    found: dict[tuple[int, int], bytes] = {}
    for leaf in leaves:
        for (level, node), digest in compact.append(leaf):
            if level % tiles.TILE_HEIGHT == 0:
                key = (level // tiles.TILE_HEIGHT, node // tiles.TILE_WIDTH)
                found[key] = found.get(key, b"") + digest
    return found, compact.root()
