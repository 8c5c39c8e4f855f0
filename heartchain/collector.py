"""Fewer garbage collections while a bulk job allocates (verify's replay, an import).

A bulk job keeps many young objects alive at once (entries, bodies, rows of the chunks in
flight), and at the collector's default pace (a young collection every 700 allocations, each
walking what survives) collections cost a tenth to a third of its CPU; in a forked worker they
would also copy every page they touch. For the job's duration, what exists already is frozen out
of collections and the young generation is collected every `young` allocations: what these jobs
allocate is mostly acyclic and freed by reference counting anyway.

Jobs may overlap in one process (two imports in a server): the first to enter sets the pace and
the last to leave restores it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_active = 0
_saved: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def fewer_collections(young: int = 50_000) -> Iterator[None]:
    global _active, _saved
    if _active == 0:
        _saved = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(young, *_saved[1:])
    _active += 1
    try:
        yield
    finally:
        _active -= 1
        if _active == 0:
            gc.set_threshold(*_saved)
            gc.unfreeze()
