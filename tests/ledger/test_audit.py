from __future__ import annotations

import pytest

from heartchain.errors import RootMismatchError, VerificationError
from heartchain.ledger.audit import AuditError, check_against
from heartchain.ledger.notes import Checkpoint, CosignatureSigner, NoteSigner, sign_note
from heartchain.ledger.store import execute, fetch
from tests.conftest import Ledger
from tests.factories import self_registration


async def grow(ledger: Ledger, count: int) -> None:
    await ledger.platform.log.append_now([self_registration(ledger) for _ in range(count)])


async def published(ledger: Ledger) -> str:
    return (await ledger.platform.log.latest_checkpoint()).note


async def test_published_checkpoint_matches_the_grown_store(ledger: Ledger) -> None:
    await grow(ledger, 40)
    note = await published(ledger)
    await grow(ledger, 30)
    log = ledger.platform.log
    audited = await check_against(log, note, ledger.platform.verifier_key)
    assert (audited.size, audited.store_size) == (41, 71)
    assert audited.recomputed
    assert "checkpoint 41" in audited.summary()


async def test_witness_cosignatures_are_checked(ledger: Ledger) -> None:
    await grow(ledger, 5)
    note = await published(ledger)
    text = note[:note.index("\n\n") + 1]
    witness = CosignatureSigner.generate("witness.example/w1")
    cosigned = note + witness.cosign(text, 1_790_000_000).to_line()
    audited = await check_against(ledger.platform.log, cosigned, ledger.platform.verifier_key,
                                  witness_keys=[witness.verifier_key])
    assert audited.cosigned_by == (("witness.example/w1", 1_790_000_000),)
    other = CosignatureSigner.generate("witness.example/w2")
    with pytest.raises(AuditError, match=r"no cosignature by witness\.example/w2"):
        await check_against(ledger.platform.log, cosigned, ledger.platform.verifier_key,
                            witness_keys=[other.verifier_key])


async def test_note_signed_by_another_key_is_refused(ledger: Ledger) -> None:
    note = await published(ledger)
    stranger = NoteSigner.generate(ledger.settings.log_origin)
    with pytest.raises(VerificationError, match="no signature by a known key"):
        await check_against(ledger.platform.log, note, stranger.verifier_key)


async def test_restore_older_than_the_checkpoint_is_named(ledger: Ledger) -> None:
    await grow(ledger, 10)
    log = ledger.platform.log
    latest = await log.latest_checkpoint()
    # What the log had published before the backup being checked lost its last entries.
    later = sign_note(Checkpoint(log.origin, latest.size + 25, latest.root_hash).to_text(),
                      log.signer)
    with pytest.raises(AuditError, match="holds 11 entries but the checkpoint commits to 36"):
        await check_against(log, later, ledger.platform.verifier_key)


async def test_a_different_root_at_the_same_size_is_a_fork(ledger: Ledger) -> None:
    await grow(ledger, 10)
    log = ledger.platform.log
    forked = sign_note(Checkpoint(log.origin, 8, b"\x07" * 32).to_text(), log.signer)
    with pytest.raises(RootMismatchError, match="at size 8 \\(stored tiles\\)"):
        await check_against(log, forked, ledger.platform.verifier_key)


async def test_an_edited_entry_is_found_even_when_the_tiles_agree(ledger: Ledger) -> None:
    await grow(ledger, 12)
    log = ledger.platform.log
    note = await published(ledger)
    row = (await fetch(log._conn(), "SELECT data FROM log_entry WHERE idx = 5"))[0]
    edited = bytes(row["data"]).replace(b'"role":"member"', b'"role":"charity"')
    assert await execute(log._conn(), "UPDATE log_entry SET data = ? WHERE idx = 5",
                         [edited]) == 1
    with pytest.raises(RootMismatchError, match="stored entries"):
        await check_against(log, note, ledger.platform.verifier_key)
    # Without recomputing from the entries only the tiles are compared (fast; verify covers
    # the rest).
    audited = await check_against(log, note, ledger.platform.verifier_key, recompute=False)
    assert not audited.recomputed
