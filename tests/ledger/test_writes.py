"""WriteBuffer.add_up folds additive upserts per key, and heartchain.collector's pacing nests
(and a server's, set once, outlives a bulk job)."""

from __future__ import annotations

import gc

import pytest

from heartchain import collector
from heartchain.collector import fewer_collections
from heartchain.ledger.writes import WriteBuffer

UPSERT = "INSERT INTO t (k, n, m, last, first) VALUES (?, ?, ?, ?, ?) ON CONFLICT ..."


def test_add_up_folds_rows_of_one_key_in_first_seen_order() -> None:
    writes = WriteBuffer()
    writes.add_up(UPSERT, ["a", 1, 10, 100, "x"], summed=(1, 2), latest=(3,))
    writes.add_up(UPSERT, ["b", 5, 50, 101, "y"], summed=(1, 2), latest=(3,))
    given = ["a", 2, 20, 102, "z"]
    writes.add_up(UPSERT, given, summed=(1, 2), latest=(3,))
    writes.add("INSERT INTO other VALUES (?)", [1])
    assert given == ["a", 2, 20, 102, "z"]  # the caller's list is not changed
    assert writes._rows[UPSERT] == [["a", 3, 30, 102, "x"], ["b", 5, 50, 101, "y"]]
    assert writes.pending() == 3


async def test_a_flush_starts_the_folding_afresh() -> None:
    sent: list[tuple[str, list[list[object]]]] = []

    class Recording:
        capabilities = type("Caps", (), {"dialect": "sqlite"})()

        async def execute_many(self, query: str, rows: list[list[object]]) -> None:
            sent.append((query, [list(r) for r in rows]))

    writes = WriteBuffer()
    writes.add_up(UPSERT, ["a", 1, 1, 1, "x"], summed=(1, 2), latest=(3,))
    await writes.flush(Recording())  # type: ignore[arg-type]
    writes.add_up(UPSERT, ["a", 1, 1, 2, "y"], summed=(1, 2), latest=(3,))
    await writes.flush(Recording())  # type: ignore[arg-type]
    assert sent == [(UPSERT, [["a", 1, 1, 1, "x"]]), (UPSERT, [["a", 1, 1, 2, "y"]])]


def test_fewer_collections_nests_and_restores_the_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collector, "_serving", False)  # as in a CLI job, not a server
    before = gc.get_threshold()
    with fewer_collections(young=40_000):
        assert gc.get_threshold()[0] == 40_000
        assert gc.get_freeze_count() > 0
        with fewer_collections(young=10_000):  # an overlapping job keeps the first's pace
            assert gc.get_threshold()[0] == 40_000
        assert gc.get_threshold()[0] == 40_000  # the outer job is still running
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_server_freezes_its_start_up_once_and_keeps_it_after_a_bulk_job(
        monkeypatch: pytest.MonkeyPatch) -> None:
    saved, was_frozen = gc.get_threshold(), gc.get_freeze_count()
    monkeypatch.setattr(collector, "_serving", False)
    try:
        collector.serving_pace(young=3_000)
        assert gc.get_threshold()[0] == 3_000
        assert gc.get_freeze_count() > 0
        collector.serving_pace(young=9_000)  # once per process: a second app changes nothing
        assert gc.get_threshold()[0] == 3_000
        with fewer_collections(young=40_000):
            assert gc.get_threshold()[0] == 40_000
        assert gc.get_threshold()[0] == 3_000  # the server's pace, not the default, is back
        assert gc.get_freeze_count() > 0  # and what lives on is out of the collections again
    finally:
        if not was_frozen:
            gc.unfreeze()
        gc.set_threshold(*saved)
