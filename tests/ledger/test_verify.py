from __future__ import annotations

import datetime as dt

import pytest

from heartchain.ledger.batches import BatchLine, batch_checkpoint
from heartchain.ledger.entries import format_time, parse_time
from heartchain.ledger.notes import Checkpoint, sign_note
from heartchain.ledger.store import execute, fetch
from heartchain.ledger.verify import VerifyFailed, verify_log
from tests.conftest import Ledger
from tests.factories import self_registration


@pytest.fixture(autouse=True, params=[0, 2], ids=["in-process", "2-workers"])
def entry_workers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Every check here runs twice: the entries checked in this process, and in two forked
    worker processes ahead of the replay (what a large log gets by default)."""
    from heartchain.ledger import verify

    workers: int = request.param
    monkeypatch.setattr(verify, "default_workers", lambda size: workers)
    return workers


async def seeded(ledger: Ledger, count: int = 300) -> Ledger:
    await ledger.platform.log.append_now([self_registration(ledger) for _ in range(count)])
    return ledger


async def test_untouched_log_verifies(ledger: Ledger, entry_workers: int) -> None:
    await seeded(ledger)
    report = await verify_log(ledger.platform.log)
    assert report.workers == entry_workers
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


async def test_edited_kind_column_is_named(ledger: Ledger) -> None:
    await seeded(ledger)
    failed = await tamper(ledger, "UPDATE log_entry SET kind = 'donation.record' WHERE idx = 42",
                          [])
    assert (failed.difference.table, failed.difference.key) == ("log_entry.kind", "idx=42")
    assert failed.difference.expected == "'account.register'"
    assert failed.difference.found == "'donation.record'"


async def test_edited_signer_nonce_is_named(ledger: Ledger) -> None:
    await seeded(ledger)
    failed = await tamper(ledger, "UPDATE log_entry_signer SET nonce = 'AAAA' WHERE idx = 42", [])
    assert (failed.difference.table, failed.difference.key[:7]) == (
        "log_entry_signer.nonce", "idx=42,")
    assert failed.difference.found == "'AAAA'"


async def test_deleted_signer_row_is_named(ledger: Ledger) -> None:
    await seeded(ledger)
    failed = await tamper(ledger, "DELETE FROM log_entry_signer WHERE idx = 42", [])
    assert failed.difference.table == "log_entry_signer"
    assert failed.difference.key.startswith("idx=42, address=")
    assert failed.difference.expected == "this row next"
    assert failed.difference.found.startswith("idx=43, address=")


async def test_deleted_last_signer_row_is_named(ledger: Ledger) -> None:
    await seeded(ledger)
    failed = await tamper(ledger, "DELETE FROM log_entry_signer WHERE idx = 300", [])
    assert failed.difference.key.startswith("idx=300, address=")
    assert (failed.difference.expected, failed.difference.found) == ("a row", "missing")


@pytest.mark.parametrize("idx", [42, 300])
async def test_an_added_signer_row_is_named(ledger: Ledger, idx: int) -> None:
    await seeded(ledger)
    address = "hc1" + "z" * 59  # after every real address: the row after the entry's own
    # Not through `tamper`: PostgreSQL counts no affected rows for an INSERT here.
    await execute(ledger.platform.log._conn(), "INSERT INTO log_entry_signer (address, nonce, "
                  "idx) VALUES (?, 'AAAA', ?)", [address, idx])
    failed = await failure(ledger)
    assert failed.difference.table == "log_entry_signer"
    if idx == 300:  # after the last expected row
        assert failed.difference.key == f"idx=300, address={address}"
        assert failed.difference.expected == "no such row"
    else:
        assert failed.difference.key.startswith("idx=43, address=")
        assert failed.difference.found == f"idx=42, address={address} instead"


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
    from heartchain.ledger import verify_compare

    monkeypatch.setattr(verify_compare, "CHUNK", 7)
    await seeded(ledger)
    report = await verify_log(ledger.platform.log)
    assert report.entries == 301 and report.projection_rows["account"] == 301
    row = (await fetch(ledger.platform.log._conn(),
                       "SELECT address FROM account WHERE registered_idx = 250"))[0]
    failed = await tamper(ledger, "UPDATE account SET role = 'witness' WHERE address = ?",
                          [row["address"]])
    assert failed.difference.key == f"address={row['address']}"


async def batches(ledger: Ledger, *sizes: int) -> list[int]:
    """Append batches of these sizes (one checkpoint each); return the checkpoint sizes."""
    log = ledger.platform.log
    for count in sizes:
        log.clock.advance(dt.timedelta(seconds=7))
        await log.append_now([self_registration(ledger) for _ in range(count)])
    rows = await fetch(log._conn(), "SELECT size FROM log_checkpoint ORDER BY size")
    return [int(row["size"]) for row in rows]


async def failure(ledger: Ledger) -> VerifyFailed:
    with pytest.raises(VerifyFailed) as failed:
        await verify_log(ledger.platform.log)
    return failed.value


async def test_checkpoints_carry_their_batch_line(ledger: Ledger) -> None:
    sizes = await batches(ledger, 3, 4)
    assert sizes == [0, 1, 4, 8]
    log = ledger.platform.log
    signed = await log.checkpoint_at(8)
    line = BatchLine.of(signed.checkpoint)
    assert line == BatchLine(4, signed.signed_at)
    entry = await log.get_entry(5)
    assert entry.integrated_at == line.integrated_at
    # Still a C2SP checkpoint: origin, size, root, then one extension line.
    assert signed.note.split("\n")[3] == f"heartchain/batch 4 {line.integrated_at}"
    assert (await verify_log(log)).checkpoints == 4


async def test_a_batch_integration_time_shifted_is_named(ledger: Ledger) -> None:
    await batches(ledger, 3, 4, 2)
    conn = ledger.platform.log._conn()
    stored = (await ledger.platform.log.get_entry(5)).integrated_at
    shifted = format_time(parse_time(stored) + dt.timedelta(minutes=4))
    assert await execute(conn, "UPDATE log_entry SET integrated_at = ? WHERE integrated_at = ?",
                         [shifted, stored]) == 4
    failed = await failure(ledger)
    assert failed.difference.table == "log_entry.integrated_at"
    assert failed.difference.key == "idx=4"
    assert failed.difference.expected == f"{stored} (signed in checkpoint 8)"
    assert failed.difference.found == shifted


async def test_a_deleted_middle_checkpoint_is_named(ledger: Ledger) -> None:
    await batches(ledger, 3, 4, 2)
    await execute(ledger.platform.log._conn(), "DELETE FROM log_checkpoint WHERE size = 4")
    failed = await failure(ledger)
    assert (failed.difference.table, failed.difference.key) == ("log_checkpoint", "size=4")
    assert failed.difference.found == "missing"


async def test_a_deleted_latest_checkpoint_is_named(ledger: Ledger) -> None:
    await batches(ledger, 3, 4, 2)
    await execute(ledger.platform.log._conn(), "DELETE FROM log_checkpoint WHERE size = 10")
    failed = await failure(ledger)
    assert (failed.difference.table, failed.difference.key) == ("log_checkpoint", "size=10")
    assert failed.difference.found == "missing (the latest is at size 8)"


async def test_an_edited_signed_at_is_named(ledger: Ledger) -> None:
    await batches(ledger, 3, 4)
    conn = ledger.platform.log._conn()
    signed = await ledger.platform.log.checkpoint_at(4)
    earlier = format_time(parse_time(signed.signed_at) - dt.timedelta(days=30))
    assert await execute(conn, "UPDATE log_checkpoint SET signed_at = ? WHERE size = 4",
                         [earlier]) == 1
    failed = await failure(ledger)
    assert (failed.difference.table, failed.difference.key) == ("log_checkpoint.signed_at",
                                                                "size=4")
    assert (failed.difference.expected, failed.difference.found) == (signed.signed_at, earlier)


async def test_a_checkpoint_signed_without_its_batch_line_is_refused(ledger: Ledger) -> None:
    """Even the log's own key cannot drop the batch line: verify insists on it."""
    await batches(ledger, 3)
    log = ledger.platform.log
    signed = await log.checkpoint_at(4)
    bare = sign_note(Checkpoint(log.origin, 4, signed.root_hash).to_text(), log.signer)
    await execute(log._conn(), "UPDATE log_checkpoint SET note = ? WHERE size = 4", [bare])
    failed = await failure(ledger)
    assert (failed.difference.table, failed.difference.key) == ("log_checkpoint.note", "size=4")
    assert "heartchain/batch" in failed.difference.found


async def test_a_batch_re_signed_earlier_than_the_one_before_is_named(ledger: Ledger) -> None:
    """With the log's key a batch time can be re-signed, but never before the batch before."""
    await batches(ledger, 3, 4)
    log = ledger.platform.log
    signed = await log.checkpoint_at(8)
    before = await log.checkpoint_at(4)
    backdated = format_time(parse_time(before.signed_at) - dt.timedelta(minutes=1))
    note = sign_note(batch_checkpoint(log.origin, 8, signed.root_hash,
                                      BatchLine(4, backdated)).to_text(), log.signer)
    conn = log._conn()
    await execute(conn, "UPDATE log_checkpoint SET note = ?, signed_at = ? WHERE size = 8",
                  [note, backdated])
    await execute(conn, "UPDATE log_entry SET integrated_at = ? WHERE idx >= 4", [backdated])
    failed = await failure(ledger)
    assert (failed.difference.table, failed.difference.key) == ("log_checkpoint.note", "size=8")
    assert failed.difference.expected == f"integrated at or after {before.signed_at}"
