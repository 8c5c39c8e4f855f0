"""verify checks the log's witness rows: MACs, cosignatures against the witness keys, rollback."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tortoise import Tortoise

from heartchain.ledger.batches import BatchLine, batch_checkpoint
from heartchain.ledger.entries import format_time, parse_time
from heartchain.ledger.notes import sign_note
from heartchain.ledger.store import execute, fetch
from heartchain.ledger.verify import VerifyFailed, verify_log
from heartchain.witness.models import WitnessCosignature, WitnessRefusal
from heartchain.witness.records import WitnessRecords, verify_witness_records
from heartchain.witness.rollback import WitnessView, ask_witnesses, judge
from tests.conftest import Ledger
from tests.witness.test_client import Setup, make_setup, write

WITNESS_TABLES = frozenset({"witness_cosignature", "witness_refusal"})


@pytest.fixture
async def setup(ledger: Ledger, tmp_path: Path) -> AsyncIterator[Setup]:
    async for value in make_setup(ledger, tmp_path):
        yield value


async def records(setup: Setup) -> WitnessRecords:
    return await verify_witness_records(setup.ledger.platform.log, setup.client.policy,
                                        setup.client.seal)


async def failure(setup: Setup) -> VerifyFailed:
    with pytest.raises(VerifyFailed) as failed:
        await records(setup)
    return failed.value


async def test_stored_records_verify(setup: Setup) -> None:
    await write(setup, 3)
    size = await setup.ledger.platform.log.size()
    report = await records(setup)
    assert report.cosigned_sizes == {name: size for name in setup.verifiers}
    assert report.cosignatures >= 2 and report.unchecked == {}


async def test_an_edited_cosignature_row_is_named(setup: Setup) -> None:
    await write(setup, 2)
    conn = setup.ledger.platform.log._conn()
    size = await setup.ledger.platform.log.size()
    await execute(conn, "UPDATE witness_cosignature SET timestamp = timestamp - 86400 "
                  "WHERE size = ? AND witness = ?", [size, "witness.test/w1"])
    failed = await failure(setup)
    assert failed.difference.table == "witness_cosignature.mac"
    assert failed.difference.key == f"size={size}, witness=witness.test/w1"


async def test_a_forged_cosignature_fails_even_with_a_valid_mac(setup: Setup) -> None:
    """Whoever holds the master key can MAC a row, but not make a witness sign."""
    await write(setup, 2)
    size = await setup.ledger.platform.log.size()
    row = await WitnessCosignature.get(size=size, witness="witness.test/w2")
    other = await WitnessCosignature.get(size=size, witness="witness.test/w1")
    # w1's line relabelled as w2's: it parses, but w2's key does not verify it.
    forged = other.line.replace("witness.test/w1", "witness.test/w2")
    mac = setup.client.seal.cosignature(size=size, witness=row.witness, line=forged,
                                        timestamp=row.timestamp, received_at=row.received_at)
    await WitnessCosignature.filter(id=row.id).update(line=forged, mac=mac)
    failed = await failure(setup)
    assert failed.difference.table == "witness_cosignature.line"
    assert failed.difference.key == f"size={size}, witness=witness.test/w2"


async def test_an_edited_refusal_row_is_named(ledger: Ledger, tmp_path: Path) -> None:
    async for setup in make_setup(ledger, tmp_path, required=1, down=("w2",)):
        await write(setup, 2)
        refusal = await WitnessRefusal.get(witness="witness.test/w2")
        assert (await records(setup)).refusals == 1
        await execute(ledger.platform.log._conn(),
                      "UPDATE witness_refusal SET body = 'all fine' WHERE id = ?", [refusal.id])
        failed = await failure(setup)
        assert (failed.difference.table, failed.difference.key) == ("witness_refusal.mac",
                                                                    f"id={refusal.id}")


async def test_an_inserted_refusal_row_is_named(setup: Setup) -> None:
    await write(setup, 1)
    await execute(setup.ledger.platform.log._conn(),
                  "INSERT INTO witness_refusal (witness, size, old_size, status, body, at, mac) "
                  "VALUES (?, 1, 0, 0, 'unreachable', ?, ?)",
                  ["witness.test/w1", setup.ledger.platform.clock.now(), b"\x00" * 32])
    assert (await failure(setup)).difference.table == "witness_refusal.mac"


async def snapshot(conn: Any) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table but the witness records: a consistent backup of the log."""
    tables = [model._meta.db_table for model in Tortoise.apps.get_models_iterable()]
    return {table: await fetch(conn, f'SELECT * FROM "{table}"')
            for table in tables if table not in WITNESS_TABLES}


async def roll_back(conn: Any, saved: dict[str, list[dict[str, Any]]]) -> None:
    """Put every saved table back as it was: entries, tiles, checkpoints, head, projections."""
    for table, rows in saved.items():
        await execute(conn, f'DELETE FROM "{table}"')
        for row in rows:
            columns = ", ".join(f'"{c}"' for c in row)
            marks = ", ".join("?" * len(row))
            await execute(conn, f'INSERT INTO "{table}" ({columns}) VALUES ({marks})',
                          list(row.values()))


async def test_a_consistent_tail_truncation_is_found_from_the_witness_rows(setup: Setup) -> None:
    log = setup.ledger.platform.log
    await write(setup, 3)
    kept = await log.size()
    saved = await snapshot(log._conn())
    await write(setup, 4)
    cosigned = await log.size()
    await roll_back(log._conn(), saved)
    # The log alone is consistent again: verify replays it without a difference...
    assert (await verify_log(log)).entries == kept
    # ...but the witnesses had cosigned further than the head.
    failed = await failure(setup)
    assert failed.difference.table == "witness_cosignature"
    assert "the store was rolled back" in failed.difference.found
    assert failed.difference.expected == f"size <= {kept} (the head)"
    beyond = re.search(r"cosigned size (\d+)", failed.difference.found)
    assert beyond is not None and kept < int(beyond.group(1)) <= cosigned


async def ask(setup: Setup) -> tuple[list[WitnessView], str | None]:
    policy = setup.client.policy
    views = await ask_witnesses(setup.ledger.platform.log, policy, http=setup.client._http)
    return views, judge(policy, views)


async def test_the_witnesses_confirm_an_honest_store(setup: Setup) -> None:
    await write(setup, 3)
    views, problem = await ask(setup)
    assert problem is None
    size = await setup.ledger.platform.log.size()
    assert [view.audited.size for view in views if view.audited] == [size, size]
    assert "cosigned by witness.test/w1" in views[0].summary()


async def test_a_whole_store_rolled_back_is_found_by_asking_the_witnesses(
        setup: Setup) -> None:
    log = setup.ledger.platform.log
    await write(setup, 3)
    kept = await log.size()
    conn = log._conn()
    saved = await snapshot(conn)
    saved_records = {table: await fetch(conn, f'SELECT * FROM "{table}"')
                     for table in sorted(WITNESS_TABLES)}
    await write(setup, 4)
    cosigned = await log.size()
    await roll_back(conn, {**saved, **saved_records})
    # Inside the database nothing is wrong any more...
    assert (await verify_log(log)).entries == kept
    assert (await records(setup)).cosigned_sizes == {name: kept for name in setup.verifiers}
    # ...but each witness cosigned a longer log.
    views, problem = await ask(setup)
    assert problem is not None
    assert all(not view.ok and view.answered for view in views)
    assert f"holds {kept} entries but the checkpoint commits to {cosigned}" in problem


async def test_a_batch_time_re_signed_with_the_log_key_is_found_by_the_witnesses(
        setup: Setup) -> None:
    """The log key's holder can re-sign a batch's time and drop the witness rows that no
    longer verify: verify passes, the witnesses' own copy of the checkpoint does not match."""
    log = setup.ledger.platform.log
    await write(setup, 2)
    latest = await log.latest_checkpoint()
    line = BatchLine.of(latest.checkpoint)
    # Later, not earlier: an earlier time than the batch before it fails verify by itself.
    moved = format_time(parse_time(line.integrated_at) + dt.timedelta(minutes=4))
    forged = sign_note(batch_checkpoint(log.origin, latest.size, latest.root_hash,
                                        BatchLine(line.first, moved)).to_text(), log.signer)
    conn = log._conn()
    await execute(conn, "UPDATE log_checkpoint SET note = ?, signed_at = ? WHERE size = ?",
                  [forged, moved, latest.size])
    await execute(conn, "UPDATE log_entry SET integrated_at = ? WHERE idx >= ?",
                  [moved, line.first])
    with pytest.raises(VerifyFailed, match=r"witness_cosignature\.line"):
        await records(setup)
    await execute(conn, "DELETE FROM witness_cosignature WHERE size = ?", [latest.size])
    await verify_log(log)
    await records(setup)
    _, problem = await ask(setup)
    assert problem is not None and "differs from the published one" in problem
