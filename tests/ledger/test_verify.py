from __future__ import annotations

import pytest

from heartchain.ledger.store import execute, fetch
from heartchain.ledger.verify import VerifyFailed, verify_log
from tests.conftest import Ledger
from tests.factories import self_registration


async def seeded(ledger: Ledger, count: int = 300) -> Ledger:
    await ledger.platform.log.append_now([self_registration(ledger) for _ in range(count)])
    return ledger


async def test_untouched_log_verifies(ledger: Ledger) -> None:
    await seeded(ledger)
    report = await verify_log(ledger.platform.log)
    assert report.entries == 301
    assert report.projection_rows["account"] == 301
    assert report.root_hash == (await ledger.platform.log.latest_checkpoint()).root_hash
    assert report.checkpoints >= 3


async def tamper(ledger: Ledger, query: str, values: list[object]) -> VerifyFailed:
    changed = await execute(ledger.platform.log._conn(), query, values)
    assert changed == 1
    with pytest.raises(VerifyFailed) as failure:
        await verify_log(ledger.platform.log)
    return failure.value


async def test_edited_entry_row_is_named(ledger: Ledger) -> None:
    await seeded(ledger)
    row = (await fetch(ledger.platform.log._conn(), "SELECT data FROM log_entry WHERE idx = 7"))[0]
    data = bytes(row["data"]).replace(b'"role":"member"', b'"role":"charity"')
    failed = await tamper(ledger, "UPDATE log_entry SET data = ? WHERE idx = 7", [data])
    assert failed.difference.table == "log_entry"
    assert failed.difference.key == "idx=7"
    assert "does not verify" in failed.difference.found


async def test_edited_leaf_hash_column_is_named(ledger: Ledger) -> None:
    await seeded(ledger)
    failed = await tamper(ledger, "UPDATE log_entry SET leaf_hash = ? WHERE idx = 42",
                          [b"\x00" * 32])
    assert failed.difference.table == "log_entry.leaf_hash"
    assert failed.difference.key == "idx=42"
    assert failed.difference.found == "00" * 32


async def test_edited_tile_row_is_named(ledger: Ledger) -> None:
    await seeded(ledger)
    row = (await fetch(ledger.platform.log._conn(),
                       "SELECT data FROM log_tile WHERE level = 0 AND idx = 0"))[0]
    data = bytearray(row["data"])
    data[100] ^= 1
    failed = await tamper(ledger, "UPDATE log_tile SET data = ? WHERE level = 0 AND idx = 0",
                          [bytes(data)])
    assert failed.difference.table == "log_tile.data"
    assert failed.difference.key == "level=0, idx=0"


async def test_edited_checkpoint_row_is_named(ledger: Ledger) -> None:
    await seeded(ledger)
    rows = await fetch(ledger.platform.log._conn(),
                       "SELECT size FROM log_checkpoint WHERE size > 1 ORDER BY size LIMIT 1")
    size = int(rows[0]["size"])
    failed = await tamper(ledger, "UPDATE log_checkpoint SET root_hash = ? WHERE size = ?",
                          [b"\x01" * 32, size])
    assert failed.difference.table == "log_checkpoint.root_hash"
    assert failed.difference.key == f"size={size}"


async def test_forged_checkpoint_note_is_named(ledger: Ledger) -> None:
    await seeded(ledger)
    rows = await fetch(ledger.platform.log._conn(),
                       "SELECT size, note FROM log_checkpoint WHERE size > 1 ORDER BY size LIMIT 1")
    size, note = int(rows[0]["size"]), str(rows[0]["note"])
    forged = note.replace(f"\n{size}\n", f"\n{size + 1}\n")
    failed = await tamper(ledger, "UPDATE log_checkpoint SET note = ? WHERE size = ?",
                          [forged, size])
    assert failed.difference.table == "log_checkpoint.note"
    assert failed.difference.key == f"size={size}"


async def test_edited_projection_row_is_named(ledger: Ledger) -> None:
    await seeded(ledger)
    row = (await fetch(ledger.platform.log._conn(),
                       "SELECT address FROM account WHERE registered_idx = 9"))[0]
    failed = await tamper(ledger, "UPDATE account SET role = 'charity' WHERE address = ?",
                          [row["address"]])
    assert failed.difference.table == "account.role"
    assert failed.difference.key == f"address={row['address']}"
    assert failed.difference.expected == "'member'"
    assert failed.difference.found == "'charity'"


async def test_deleted_and_inserted_projection_rows_are_named(ledger: Ledger) -> None:
    await seeded(ledger)
    failed = await tamper(ledger, "DELETE FROM account WHERE registered_idx = ?", [5])
    assert failed.difference.table == "account"


async def test_deleted_entry_is_a_gap(ledger: Ledger) -> None:
    await seeded(ledger)
    failed = await tamper(ledger, "DELETE FROM log_entry WHERE idx = ?", [100])
    assert failed.difference.table == "log_entry"
    assert failed.difference.key == "idx=100"
    assert "missing" in failed.difference.found


async def test_small_chunks_page_through_every_table(ledger: Ledger,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Keyset pagination: with 7-row chunks every table spans many pages, composite keys too."""
    from heartchain.ledger import verify

    monkeypatch.setattr(verify, "_CHUNK", 7)
    await seeded(ledger)
    report = await verify_log(ledger.platform.log)
    assert report.entries == 301 and report.projection_rows["account"] == 301
    row = (await fetch(ledger.platform.log._conn(),
                       "SELECT address FROM account WHERE registered_idx = 250"))[0]
    failed = await tamper(ledger, "UPDATE account SET role = 'witness' WHERE address = ?",
                          [row["address"]])
    assert failed.difference.key == f"address={row['address']}"
