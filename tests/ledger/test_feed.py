"""Feed.sizes outlives a database outage: a poll that finds the database unavailable is no
growth yet, not the end of every live page and subscription. This process's commits tell the
size without a read of the head."""

from __future__ import annotations

import asyncio

import pytest

from heartchain.ledger.feed import Feed
from heartchain.ledger.notes import Checkpoint
from heartchain.ledger.reader import SignedCheckpoint


class StoredHead:
    """The head's size as the database would answer it, or its outage."""

    def __init__(self) -> None:
        self.size = 5
        self.outage: Exception | None = None
        self.reads = 0

    async def __call__(self) -> int:
        self.reads += 1
        if self.outage is not None:
            raise self.outage
        return self.size


async def next_size(sizes: object) -> int:
    return await asyncio.wait_for(sizes.__anext__(), 5)  # type: ignore[attr-defined]


async def grown_to(head: StoredHead, sizes: object, size: int) -> int:
    """The next size `sizes` yields once the head grows to `size` (after it read the head)."""
    waiting = asyncio.get_running_loop().create_task(next_size(sizes))
    reads = head.reads
    while head.reads == reads:
        await asyncio.sleep(0.005)
    head.size = size
    return await waiting


async def test_sizes_pause_through_an_outage_and_go_on_after_it() -> None:
    head = StoredHead()
    sizes = Feed(head).sizes(poll=0.01)
    assert await grown_to(head, sizes, 7) == 7
    head.outage = ConnectionError("connection was closed in the middle of operation")
    waiting = asyncio.get_running_loop().create_task(next_size(sizes))
    reads = head.reads
    for _ in range(500):  # polled through the outage, and still waiting
        if head.reads >= reads + 3 or waiting.done():
            break
        await asyncio.sleep(0.01)
    assert not waiting.done(), waiting.exception()
    head.outage, head.size = None, 9
    assert await waiting == 9
    await sizes.aclose()


async def test_an_error_that_is_not_an_outage_still_ends_them() -> None:
    head = StoredHead()
    sizes = Feed(head).sizes(poll=0.01)
    assert await grown_to(head, sizes, 6) == 6
    head.outage = RuntimeError("a bug")
    with pytest.raises(RuntimeError, match="a bug"):
        await next_size(sizes)


def committed_at(size: int) -> SignedCheckpoint:
    # Only its size is read: the note and time are not a signed checkpoint's.
    return SignedCheckpoint(Checkpoint("example.com/log", size, bytes(32)), note="",
                            signed_at="2026-09-09T00:00:00Z")


async def test_this_process_commits_are_yielded_without_reading_the_head() -> None:
    head = StoredHead()
    feed = Feed(head)
    sizes = feed.sizes(poll=60)  # no quiet poll within the test
    waiting = asyncio.get_running_loop().create_task(next_size(sizes))
    while head.reads == 0:  # the iterator's starting size
        await asyncio.sleep(0.005)
    feed.committed(committed_at(8))
    assert await waiting == 8
    for size in (9, 11, 10):  # committed while nobody iterated: the largest, once
        feed.committed(committed_at(size))
    assert await next_size(sizes) == 11
    assert head.reads == 1
    await sizes.aclose()
