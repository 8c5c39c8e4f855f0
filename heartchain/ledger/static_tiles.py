"""Full tiles and entry bundles published as static files, for any HTTP server or CDN to serve.

With HEARTCHAIN_STATIC_TILES_DIR set, every hash tile (all levels) and entry bundle that becomes
full is written to `<dir>/tile/<L>/<N>` and `<dir>/tile/entries/<N>` (the C2SP tlog-tiles paths,
so the directory mirrors /log/tile/ byte for byte) once its batch has committed. Full tiles never
change, so a file once present is never rewritten; partial tiles change with every batch and stay
with the app.

Writes happen in a checkpoint listener (`Feed`), so after COMMIT and off the integration lock: a
rolled-back batch signs no checkpoint and so writes nothing. Each file is written to a temporary
name, flushed, then hard-linked into place (which fails if the name exists, so no reader ever
sees a half-written or rewritten tile) and made 0644 in 0755 directories: it is public data.
`publish_missing` (`heartchain tiles publish`, and the app at startup) writes any full tile a
crash, a full disk or a log older than the setting left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import weakref
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from heartchain.errors import NotFound
from heartchain.ledger import tiles
from heartchain.ledger.batches import BatchLine
from heartchain.ledger.log import Log
from heartchain.ledger.reader import LogReader, SignedCheckpoint

logger = logging.getLogger(__name__)

FILE_MODE = 0o644
DIR_MODE = 0o755


def full_tiles_between(first: int, size: int) -> list[tiles.TileRef]:
    """Every full hash tile and entry bundle that a log growing from `first` to `size` leaves
    completes: the ones full at `size` but not at `first`."""
    refs: list[tiles.TileRef] = []
    level = 0
    # A level-L tile n is full once the log holds (n + 1) * 256**(L + 1) leaves.
    while (span := tiles.TILE_WIDTH << (tiles.TILE_HEIGHT * level)) <= size:
        refs.extend(tiles.TileRef(level, n) for n in range(first // span, size // span))
        level += 1
    refs.extend(tiles.TileRef(tiles.ENTRIES_LEVEL, n) for n in
                range(first // tiles.TILE_WIDTH, size // tiles.TILE_WIDTH))
    return refs


class StaticTiles:
    def __init__(self, directory: Path, reader: LogReader) -> None:
        self.directory = Path(directory)
        self.reader = reader
        self._lock = asyncio.Lock()
        self._behind_from: int | None = None  # a failed publication left tiles from here on

    def path_of(self, ref: tiles.TileRef) -> Path:
        """Where `ref` lives under the directory; `ref.path` is canonical, digits and '/' only."""
        return self.directory / ref.path

    def read(self, ref: tiles.TileRef) -> bytes | None:
        """The published bytes of full tile `ref`, or None if it has no file (yet)."""
        if not ref.is_full:
            return None
        try:
            # A plain read on the event loop: 8 KiB, or a bundle's ~100 KiB, from the page cache
            # costs less than a hop to a thread would.
            return self.path_of(ref).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    async def on_checkpoint(self, signed: SignedCheckpoint) -> None:
        """Publish the tiles the batch behind `signed` completed (a Feed checkpoint listener)."""
        first = BatchLine.of(signed.checkpoint).first
        async with self._lock:
            start = first if self._behind_from is None else min(first, self._behind_from)
            try:
                await self.publish(full_tiles_between(start, signed.size))
            except BaseException:
                self._behind_from = start  # the next batch retries these
                raise
            self._behind_from = None

    async def publish_missing(self) -> int:
        """Write every full tile of the stored log that has no file; how many were written."""
        size = await self.reader.size()
        wanted = full_tiles_between(0, size)
        missing = await asyncio.to_thread(
            lambda: [ref for ref in wanted if not self.path_of(ref).exists()])
        async with self._lock:
            return await self.publish(missing)

    async def publish(self, refs: Iterable[tiles.TileRef]) -> int:
        """Write the full tiles `refs` that have no file yet; how many were written."""
        written = 0
        for ref in refs:
            if not ref.is_full:
                raise ValueError(f"{ref.path} is partial: only full tiles are published")
            if self.path_of(ref).exists():
                continue
            try:
                data = await self.reader.read_tile(ref)
            except NotFound:
                continue  # beyond this store's size: a listener for another store's log
            if await asyncio.to_thread(self._write_once, ref, data):
                written += 1
        return written

    def _write_once(self, ref: tiles.TileRef, data: bytes) -> bool:
        target = self.path_of(ref)
        self._make_dirs(target.parent)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                # A file served as immutable must survive a crash whole, or not exist.
                os.fsync(out.fileno())
            os.chmod(temporary, FILE_MODE)
            try:
                os.link(temporary, target)
            except FileExistsError:
                return False  # another worker or process published it first: same bytes
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)

    def _make_dirs(self, directory: Path) -> None:
        missing: list[Path] = []
        while not directory.exists():
            missing.append(directory)
            directory = directory.parent
        for created in reversed(missing):
            with contextlib.suppress(FileExistsError):
                created.mkdir()
            os.chmod(created, DIR_MODE)  # whatever the umask: the web server must read it


_attached: weakref.WeakKeyDictionary[Log, StaticTiles] = weakref.WeakKeyDictionary()


def attach_static_tiles(log: Log, directory: Path | str | None) -> StaticTiles | None:
    """Publish `log`'s full tiles under `directory` after every commit (None or "": off).
    Attaching twice returns the first; `static_tiles_of(log)` finds it again."""
    if not directory:
        return None
    existing = _attached.get(log)
    if existing is not None:
        return existing
    published = StaticTiles(Path(directory), log.reader)
    _attached[log] = published
    log.add_checkpoint_listener(published.on_checkpoint)
    return published


def static_tiles_of(log: Log) -> StaticTiles | None:
    return _attached.get(log)


@contextlib.asynccontextmanager
async def publishing(log: Log, directory: Path | str | None) -> AsyncIterator[None]:
    """For the app's lifespan: attach, and write what is missing in the background meanwhile
    (a log older than the setting, or tiles a crash left out); stop that on the way out."""
    published = attach_static_tiles(log, directory)
    if published is None:
        yield
        return
    task = asyncio.get_running_loop().create_task(published.publish_missing())
    task.add_done_callback(_log_failure)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def _log_failure(task: asyncio.Task[int]) -> None:
    if task.cancelled():
        return
    if task.exception() is not None:
        logger.error("publishing missing static tiles failed", exc_info=task.exception())
    elif task.result():
        logger.info("published %d missing static tiles", task.result())
