"""The consistency proof the witness client last made, shared between its workers.

Witnesses in step (the usual case) ask for the same proof, from the size they all cosigned to
the newest checkpoint, at the same moment: it is read from the tiles once. The log is
append-only, so a proof between two sizes never changes.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from heartchain.ledger.log import Log


class SharedProof:
    def __init__(self, log: Log) -> None:
        self.log = log
        self._last: tuple[tuple[int, int], asyncio.Task[list[bytes]]] | None = None

    async def between(self, old: int, size: int) -> list[bytes]:
        """The proof from `old` to `size`, a committed checkpoint's size. A task, so callers
        asking at the same moment share one read; a failed one is not kept."""
        if self._last is None or self._last[0] != (old, size):
            self._last = ((old, size), asyncio.get_running_loop().create_task(
                self.log.consistency_proof(old, size, size2_committed=True)))
        making = self._last
        try:
            return await asyncio.shield(making[1])
        except Exception:
            if self._last is making:
                self._last = None
            raise
