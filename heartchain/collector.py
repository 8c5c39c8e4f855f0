"""Fewer garbage collections while a bulk job allocates (verify's replay, an import).

A bulk job keeps many young objects alive at once (entries, bodies, rows of the chunks in
flight), and at the collector's default pace (a young collection every 700 allocations, each
walking what survives) collections cost a tenth to a third of its CPU; in a forked worker they
would also copy every page they touch. For the job's duration, what exists already is frozen out
of collections and the young generation is collected every `young` allocations: what these jobs
allocate is mostly acyclic and freed by reference counting anyway.

Jobs may overlap in one process (two imports in a server): the first to enter sets the pace and
the last to leave restores it.

A server (`serving_pace`, once per process, after start-up) freezes what start-up built (the
schema, the ORM's models, templates: ~130,000 objects every full collection walked) and paces
the young generation at 2,000: under load collections were a fifth of a donation's server CPU
(py-spy --native). Collections cannot be skipped: each request leaves ~100 objects in cycles
(graphql-core's execution context, uvicorn's request cycle). Of 700, 2,000, 10,000 and 50,000,
2,000 cost least: a larger young generation costs more per object collected (cache misses).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_active = 0
_saved: tuple[int, int, int] = gc.get_threshold()
_serving = False
SERVING_YOUNG = 2_000


def serving_pace(young: int = SERVING_YOUNG) -> None:
    """Freeze what exists and collect the young generation every `young` allocations, for the
    rest of this process's life (only the first call in a process does anything)."""
    global _serving
    if _serving:
        return
    _serving = True
    gc.collect()  # nothing unreachable is frozen
    gc.freeze()
    gc.set_threshold(young, *gc.get_threshold()[1:])


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
            if _serving:  # the job's leftovers collected, what lives on frozen again
                gc.collect()
                gc.freeze()
