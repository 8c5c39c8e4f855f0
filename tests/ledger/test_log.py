from __future__ import annotations

import asyncio
import hashlib
import random
from datetime import timedelta

import pytest
from tortoise.transactions import in_transaction

from heartchain.accounts.errors import AccountExists, RoleRequired
from heartchain.accounts.models import Account
from heartchain.errors import Conflict, PermissionDenied, ValidationError
from heartchain.keys import address_of, new_signing_key
from heartchain.ledger import merkle
from heartchain.ledger.entries import new_entry
from heartchain.ledger.integrate import lock_head
from heartchain.ledger.kinds import PreparedEntry
from heartchain.ledger.notes import Checkpoint, NoteVerifier, open_note
from heartchain.ledger.store import execute, fetch
from tests.conftest import Ledger
from tests.factories import entry, registration_by_operator, self_registration


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 9162 §2.1.1, recursively."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + reference_root(leaves[:k]) + reference_root(leaves[k:])
                          ).digest()


async def leaf_data(ledger: Ledger) -> list[bytes]:
    rows = await fetch(ledger.platform.log._conn(), "SELECT data FROM log_entry ORDER BY idx")
    return [bytes(r["data"]) for r in rows]


async def test_genesis_registers_the_operator(ledger: Ledger) -> None:
    log = ledger.platform.log
    assert await log.size() == 1
    first = (await log.get_entry(0)).entry
    assert first.kind == "account.register" and first.body["role"] == "operator"
    assert (await Account.get(address=ledger.operator)).role == "operator"
    checkpoint = await log.latest_checkpoint()
    verifier = NoteVerifier.from_verifier_key(ledger.platform.verifier_key)
    note = open_note(checkpoint.note, [verifier])
    assert Checkpoint.from_text(note.text).size == 1
    empty = await log.checkpoint_at(0)
    assert empty.root_hash == merkle.EMPTY_ROOT


async def test_stored_tree_matches_reference_for_every_size(ledger: Ledger) -> None:
    log = ledger.platform.log
    registrations = [self_registration(ledger) for _ in range(599)]
    outcomes = await log.append_now(registrations)
    assert [o.index for o in outcomes] == list(range(1, 600))  # type: ignore[union-attr]
    leaves = await leaf_data(ledger)
    assert len(leaves) == 600
    for size in range(0, 601):
        assert await log.root_at(size) == reference_root(leaves[:size]), size
    rng = random.Random(7)
    for _ in range(40):
        size = rng.randint(1, 600)
        index = rng.randrange(size)
        proof = await log.inclusion_proof(index, size)
        merkle.verify_inclusion(merkle.leaf_hash(leaves[index]), index, size, proof,
                                reference_root(leaves[:size]))
        old = rng.randint(1, size)
        merkle.verify_consistency(old, size, await log.consistency_proof(old, size),
                                  reference_root(leaves[:old]), reference_root(leaves[:size]))


async def test_larger_random_sizes_match_reference(ledger: Ledger) -> None:
    log = ledger.platform.log
    await log.append_now([self_registration(ledger) for _ in range(2999)])
    leaves = await leaf_data(ledger)
    for size in (256, 257, 1024, 2047, 2048, 2049, 3000):
        assert await log.root_at(size) == reference_root(leaves[:size])


async def test_concurrent_appends_are_batched_and_each_gets_a_proof(ledger: Ledger) -> None:
    log = ledger.platform.log
    results = await asyncio.gather(*[log.append(self_registration(ledger)) for _ in range(300)])
    assert sorted(r.index for r in results) == list(range(1, 301))
    checkpoints = await fetch(log._conn(), "SELECT size FROM log_checkpoint")
    assert len(checkpoints) < 300  # batched: far fewer checkpoints than entries
    for result in results[:20]:
        signed = await log.checkpoint_at(result.checkpoint_size)
        proof = await log.inclusion_proof(result.index, signed.size)
        merkle.verify_inclusion(result.leaf_hash, result.index, signed.size, proof,
                                signed.root_hash)


async def test_rejected_entry_leaves_no_trace_and_batch_goes_on(ledger: Ledger) -> None:
    log = ledger.platform.log
    good1, good2 = self_registration(ledger), self_registration(ledger)
    key = new_signing_key()
    bad = entry(ledger, "account.register", {"address": address_of(key), "role": "charity",
                                             "registrar": address_of(key)}, key)
    before = await log.size()
    outcomes = await log.append_now([good1, bad, good2])
    assert isinstance(outcomes[1], PermissionDenied)
    assert [o.index for o in (outcomes[0], outcomes[2])] == [before, before + 1]  # type: ignore[union-attr]
    assert not await Account.exists(address=address_of(key))
    signers = await fetch(log._conn(), "SELECT COUNT(*) AS n FROM log_entry_signer "
                          "WHERE address = ?", [address_of(key)])
    assert signers[0]["n"] == 0


async def test_replayed_nonce_is_a_conflict(ledger: Ledger) -> None:
    log = ledger.platform.log
    key = new_signing_key()
    first = self_registration(ledger, key, nonce=b"n" * 16)
    await log.append(first)
    again = entry(ledger, "account.register", {"address": address_of(new_signing_key()),
                                               "role": "member", "registrar": ledger.operator},
                  await ledger.operator_key(), nonce=b"m" * 16)
    await log.append(again)
    replay = entry(ledger, "account.register", {"address": address_of(new_signing_key()),
                                                "role": "member", "registrar": ledger.operator},
                   await ledger.operator_key(), nonce=b"m" * 16)
    with pytest.raises(Conflict, match="already used"):
        await log.append(replay)
    with pytest.raises(Conflict):
        await log.append(first)  # the very same bytes again


async def test_two_entries_with_one_nonce_in_one_batch(ledger: Ledger) -> None:
    operator = await ledger.operator_key()
    pair = [entry(ledger, "account.register", {"address": address_of(new_signing_key()),
                                               "role": "member", "registrar": ledger.operator},
                  operator, nonce=b"z" * 16) for _ in range(2)]
    outcomes = await ledger.platform.log.append_now(pair)
    assert not isinstance(outcomes[0], Exception)
    assert isinstance(outcomes[1], Conflict)


@pytest.mark.parametrize("shift", [timedelta(minutes=6), timedelta(minutes=-6)])
async def test_clock_more_than_five_minutes_off(ledger: Ledger, shift: timedelta) -> None:
    with pytest.raises(ValidationError, match="from the log clock"):
        await ledger.platform.log.append(self_registration(ledger, shift=shift))


async def test_unknown_kind_and_bad_body(ledger: Ledger) -> None:
    key = new_signing_key()
    with pytest.raises(ValidationError, match="unknown entry kind"):
        await ledger.platform.log.append(entry(ledger, "nothing.here", {}, key))
    with pytest.raises(ValidationError, match="unknown field"):
        await ledger.platform.log.append(entry(ledger, "account.register", {
            "address": address_of(key), "role": "member", "registrar": address_of(key),
            "phone": "13800000000"}, key))
    with pytest.raises(ValidationError, match="members carry no label"):
        await ledger.platform.log.append(entry(ledger, "account.register", {
            "address": address_of(key), "role": "member", "registrar": address_of(key),
            "label": "张三"}, key))


async def test_roles_that_may_not_sign(ledger: Ledger) -> None:
    log = ledger.platform.log
    member_entry, member_key = await registration_by_operator(ledger)
    await log.append(member_entry)
    stranger = new_signing_key()
    by_member = entry(ledger, "account.register", {
        "address": address_of(stranger), "role": "member",
        "registrar": address_of(member_key)}, member_key)
    with pytest.raises(RoleRequired, match="is a member"):
        await log.append(by_member)
    with pytest.raises(AccountExists):
        await log.append(self_registration(ledger, member_key))
    second_operator = new_signing_key()
    with pytest.raises(PermissionDenied, match="already has its operator"):
        await log.append(entry(ledger, "account.register", {
            "address": address_of(second_operator), "role": "operator",
            "registrar": address_of(second_operator)}, second_operator))


async def test_missing_signature_is_refused_before_integration(ledger: Ledger) -> None:
    key = new_signing_key()
    unsigned = new_entry("account.register", {"address": address_of(key), "role": "member",
                                              "registrar": address_of(key)},
                         at=ledger.platform.clock.now())
    with pytest.raises(ValidationError):
        await ledger.platform.log.append(unsigned.leaf_data)


async def test_tile_reads_and_bounds(ledger: Ledger) -> None:
    from heartchain.errors import NotFound
    from heartchain.ledger.tiles import TileRef, decode_entry_bundle

    log = ledger.platform.log
    await log.append_now([self_registration(ledger) for _ in range(299)])
    full = await log.read_tile(TileRef(0, 0))
    assert len(full) == 256 * 32
    partial = await log.read_tile(TileRef(0, 1, 44))
    assert len(partial) == 44 * 32
    assert len(await log.read_tile(TileRef(1, 0, 1))) == 32
    bundle = decode_entry_bundle(await log.read_tile(TileRef(-1, 1, 44)))
    assert bundle == (await leaf_data(ledger))[256:300]
    with pytest.raises(NotFound):
        await log.read_tile(TileRef(0, 1, 45))
    with pytest.raises(NotFound):
        await log.read_tile(TileRef(0, 2, 1))


async def test_a_batch_that_committed_but_lost_its_answer_is_settled(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """The connection can drop after COMMIT: callers learn the truth, not "failed"."""
    log = ledger.platform.log
    integrate = log._integrate

    async def commit_then_lose_the_answer(batch: list[PreparedEntry]) -> None:
        await integrate(batch)
        raise ConnectionError("connection lost after COMMIT")

    monkeypatch.setattr(log, "_integrate", commit_then_lose_the_answer)
    results = await asyncio.gather(*[log.append(self_registration(ledger)) for _ in range(3)])
    assert sorted(r.index for r in results) == [1, 2, 3]
    assert all(r.checkpoint_size == 4 for r in results)

    async def fail_before_commit(batch: list[PreparedEntry]) -> None:
        raise ConnectionError("database down")

    monkeypatch.setattr(log, "_integrate", fail_before_commit)
    with pytest.raises(ConnectionError, match="database down"):
        await log.append(self_registration(ledger))
    assert await log.size() == 4


async def test_a_batch_that_failed_before_its_commit_is_answered_at_once(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch whose transaction failed before COMMIT (the database down, a statement refused)
    is certainly not in the log: its writers hear the error at once, not after settle.py's
    retries (10 s while the database stays away)."""
    from heartchain.ledger import integrate
    from heartchain.ledger import log as log_module

    log = ledger.platform.log

    async def unreachable(*args: object, **kwargs: object) -> int:
        raise ConnectionRefusedError("database down")

    async def never(*args: object, **kwargs: object) -> object:
        raise AssertionError("settled a batch that never reached its commit")

    monkeypatch.setattr(integrate, "execute", unreachable)
    monkeypatch.setattr(log_module, "settle_in_doubt", never)
    with pytest.raises(ConnectionRefusedError, match="database down"):
        await asyncio.wait_for(log.append(self_registration(ledger)), 2)
    with pytest.raises(ConnectionRefusedError):
        await log.append_now([self_registration(ledger)])
    monkeypatch.undo()
    assert await log.size() == 1


async def test_the_head_lock_sees_the_checkpoint_of_the_batch_it_waited_for(ledger: Ledger
                                                                          ) -> None:
    # Two workers: the second's head UPDATE waits for the first's batch, and must come back
    # with that batch's checkpoint time, or its own batch could be dated before it (verify
    # refused such a log after a two-server run).
    if ledger.backend != "postgres":
        pytest.skip("SQLite has one writer connection: nothing waits on a row lock")
    size, _ = await lock_head(ledger.platform.log._conn())
    later = "2999-01-01T00:00:00.000Z"
    first_holds_the_lock = asyncio.Event()

    async def second() -> tuple[int, str | None]:
        await first_holds_the_lock.wait()
        async with in_transaction("default") as conn:
            return await lock_head(conn)
    waiting = asyncio.create_task(second())  # before the first transaction: not nested in it
    async with in_transaction("default") as first:
        await lock_head(first)
        await execute(first, "INSERT INTO log_checkpoint (size, root_hash, note, signed_at) "
                      "VALUES (?, ?, ?, ?)", [size + 1, bytes(32), "note", later])
        await execute(first, "UPDATE log_head SET size = ? WHERE id = 1", [size + 1])
        first_holds_the_lock.set()
        await asyncio.sleep(0.3)  # the second transaction is now waiting for the row lock
        assert not waiting.done()
    assert await waiting == (size + 1, later)
