"""Set-based integration (heartchain.ledger.kinds `batched=True`, heartchain.ledger.writes): a
batch checked against state loaded once and written with one executemany per statement gives the
same outcomes and the same projection rows as integrating its entries one at a time."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from heartchain.accounts.entries import RegisterBody
from heartchain.errors import HeartchainError
from heartchain.keys import SigningKey, address_of
from heartchain.ledger import integrate, kinds, sequencer
from heartchain.ledger.body import MAX_QUANTITY
from heartchain.ledger.entries import Entry, Signature, new_entry
from heartchain.ledger.log import Log, create_head
from heartchain.ledger.notes import NoteSigner
from heartchain.ledger.reader import Appended
from heartchain.ledger.verify import SCRATCH, _drop_scratch, _scratch_client, verify_log
from heartchain.ledger.verify_compare import compare_model
from heartchain.ledger.writes import WriteBuffer
from tests.conftest import Ledger
from tests.tokens.factories import charity as make_charity
from tests.tokens.factories import donation, rates
from tokens.entries import RecordBody, ReverseBody
from tracing.funds import DisburseBody


def _register(key: SigningKey) -> Entry:
    address = address_of(key)
    return _entry("account.register", {"address": address, "role": "member",
                                       "registrar": address}, key)


def _entry(kind: str, body: dict[str, Any], *keys: SigningKey) -> Entry:
    from datetime import UTC, datetime

    return new_entry(kind, body, at=datetime.now(UTC)).signed_by(*keys)


async def _mixed_batch(ledger: Ledger) -> tuple[list[Entry], list[str]]:
    """Entries that read what earlier entries of the same batch wrote, some rejected because
    of it, with per-entry kinds (rates, reversals, disbursements) between set-based ones; and
    the outcome expected of each (`ok` or the error class)."""
    platform = ledger.platform
    charity = await make_charity(ledger)
    charity_key = await platform.custodial_key(charity)
    operator_key = await ledger.operator_key()
    m1, m2, m3 = (SigningKey.generate() for _ in range(3))
    a1, a2, a3 = (address_of(k) for k in (m1, m2, m3))
    size = await platform.log.size()
    plan: list[tuple[Entry, str]] = []

    def add(entry: Entry, outcome: str = "ok") -> int:
        index = size + sum(1 for _, o in plan if o == "ok")
        plan.append((entry, outcome))
        return index

    def give(donor: str, **overrides: Any) -> Entry:
        return _entry("donation.record", donation(charity, donor, **overrides), charity_key)

    add(_register(m1))
    add(_register(m2))
    first = add(give(a1, quantity=100))
    add(give(a3), "UnknownAccount")  # not registered yet ...
    add(_register(m3))
    add(give(a3, kind="food", quantity=50))  # ... now it is, in the same batch
    add(give(a1, quantity=MAX_QUANTITY - 50), "HeartsOverflow")  # 100 already minted above
    add(give(a1, quantity=MAX_QUANTITY - 100))  # exactly the ceiling
    add(give(a1, quantity=1), "HeartsOverflow")
    add(_entry("heart.rates", rates(ledger.operator, 1, cash=(2, 1)), operator_key))
    add(give(a2, quantity=10))  # at the new rate: 20 hearts
    add(_entry("donation.reverse", {"charity": charity, "donation": first,
                                    "reason": "refund"}, charity_key))
    add(_entry("donation.reverse", {"charity": charity, "donation": first,
                                    "reason": "refund"}, charity_key), "AlreadyReversed")
    add(give(a1, quantity=50))  # room again after the reversal burned 100
    add(_register(m2), "AccountExists")
    add(_entry("donation.record", donation(a2, a1), m2), "RoleRequired")  # a2 is a member
    # The campaign's balance so far is buffered: a disbursement must see all of it.
    add(_entry("fund.disburse", {"charity": charity, "campaign": "winter-2026", "amount": 20,
                                 "payee": "Grain Co", "purpose": "rice",
                                 "receipt": hashlib.sha256(b"r").hexdigest()}, charity_key))
    add(give(a2, quantity=7, campaign="c"))  # another of its declared campaigns
    add(give(a2, quantity=7, campaign="spring"), "UnknownCampaign")  # never declared
    return [e for e, _ in plan], [o for _, o in plan]


def _outcome(result: Appended | HeartchainError) -> str:
    return "ok" if isinstance(result, Appended) else type(result).__name__


async def _twin(ledger: Ledger) -> tuple[Log, BaseDBAsyncClient]:
    """A second store (SQLite) holding the same log prefix, integrated one entry per batch."""
    live = ledger.platform.log
    conn = await _scratch_client(ledger.settings.data_dir.parent / "twin.sqlite3")
    twin = Log(origin=live.origin, signer=NoteSigner.generate("twin"), clock=live.clock,
               connection=SCRATCH, batch_size=1)
    async with in_transaction(SCRATCH) as tx:
        await create_head(tx, live.origin, twin.signer, live.clock.now())
    stored = await live.get_entries(range(await live.size()))
    for index in sorted(stored):
        [result] = await twin.append_now([stored[index].data])
        assert isinstance(result, Appended), result
    return twin, conn


async def test_a_mixed_batch_matches_one_by_one_integration(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    entries, expected = await _mixed_batch(ledger)
    twin, twin_conn = await _twin(ledger)
    try:
        now = ledger.platform.clock.now()
        live = ledger.platform.log
        assert kinds.is_set_based(RecordBody) and not kinds.is_set_based(DisburseBody)
        batched = await live.integrator.integrate_batch([live.prepare(e) for e in entries], now)
        assert [_outcome(r) for r in batched] == expected

        # The reference: one entry per batch, every kind applied one entry at a time.
        with monkeypatch.context() as patched:
            patched.setattr(integrate, "is_set_based", lambda cls: False)
            single = []
            for entry in entries:
                single.extend(await twin.integrator.integrate_batch([twin.prepare(entry)], now))
        assert [_outcome(r) for r in single] == expected
        assert [str(r) for r in single if not isinstance(r, Appended)] == \
            [str(r) for r in batched if not isinstance(r, Appended)]
        live_conn = live.reader.connection()
        compared = {m._meta.db_table: await compare_model(m, live_conn, twin_conn, None)
                    for m in kinds.projections()}
        assert compared["heart_donation"] == 6 and compared["tracing_campaign"] == 2
    finally:
        await _drop_scratch()
    report = await verify_log(ledger.platform.log, scratch_dir=ledger.settings.data_dir.parent)
    assert report.entries == await ledger.platform.log.size()


async def test_per_entry_kinds_see_the_rows_set_based_ones_buffered(ledger: Ledger) -> None:
    """A disbursement (applied one entry at a time) after donations in the same batch sees the
    campaign's balance they buffered; without the flush it would be refused."""
    charity = await make_charity(ledger)
    key = await ledger.platform.custodial_key(charity)
    donor = SigningKey.generate()
    batch = [_register(donor),
             _entry("donation.record", donation(charity, address_of(donor), quantity=300), key),
             _entry("fund.disburse", {"charity": charity, "campaign": "winter-2026",
                                      "amount": 300, "payee": "Grain Co", "purpose": "rice",
                                      "receipt": hashlib.sha256(b"r").hexdigest()}, key)]
    results = await ledger.platform.log.append_now(batch)
    assert [_outcome(r) for r in results] == ["ok", "ok", "ok"]


async def test_a_failing_buffered_write_costs_only_its_entry(ledger: Ledger,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """The buffered rows go out at the end of the batch: if that fails, the batch is redone one
    entry per transaction, so only the entry whose rows fail is lost."""
    charity = await make_charity(ledger)
    key = await ledger.platform.custodial_key(charity)
    donors = [SigningKey.generate() for _ in range(3)]
    await ledger.platform.log.append_now([_register(d) for d in donors])
    flush = WriteBuffer.flush

    async def failing(self: WriteBuffer, conn: BaseDBAsyncClient) -> None:
        if any(address_of(donors[1]) in v for rows in self._rows.values() for v in rows):
            raise RuntimeError("disk full")
        await flush(self, conn)

    monkeypatch.setattr(WriteBuffer, "flush", failing)
    results = await ledger.platform.log.append_now([
        _entry("donation.record", donation(charity, address_of(d)), key) for d in donors])
    assert [_outcome(r) for r in results] == ["ok", "HeartchainError", "ok"]
    assert "disk full" in str(results[1])


def test_a_kind_with_a_per_entry_step_is_not_set_based() -> None:
    """Another domain's observer registered the per-entry way turns its kind back to one entry
    at a time: it may read what the batch buffered."""
    assert kinds.is_set_based(RecordBody) and kinds.is_set_based(RegisterBody)
    assert not kinds.is_set_based(ReverseBody)

    async def project(ctx: kinds.ApplyContext, body: Any) -> None: ...

    async def observe(ctx: kinds.ApplyContext, body: Any) -> None: ...

    steps = kinds._Steps(projector=project)
    assert not steps.set_based()
    kinds._mark(steps, project, batched=True)
    assert steps.set_based()
    steps.observer_projectors.append(observe)  # as observes() registers it
    kinds._mark(steps, observe, batched=False)
    assert not steps.set_based()


def test_entries_prepared_together_are_refused_as_alone() -> None:
    """prepare_entries checks shapes, then signatures: each entry gets the outcome, and the very
    error, that prepare_entry gives it alone."""
    keys = [SigningKey.generate() for _ in range(120)]
    entries: list[Entry | bytes] = [_register(k) for k in keys]
    forged = _register(keys[0])
    entries[7] = Entry(forged.kind, forged.at, forged.nonce, forged.body,
                       (Signature(forged.sigs[0].by, bytes(64)),))  # a signature that fails
    entries[50] = _entry("account.register", {"address": address_of(keys[1]), "role": "member",
                                              "registrar": address_of(keys[1])}, keys[2])
    entries[90] = b'{"v":1}'
    entries[100] = _entry("account.register", {"address": "hc1nope", "role": "member",
                                               "registrar": address_of(keys[3])}, keys[3])

    def alone(entry: Entry | bytes) -> object:
        try:
            return sequencer.prepare_entry(entry).entry.leaf_data
        except HeartchainError as exc:
            return f"{type(exc).__name__}: {exc}"

    prepared = sequencer.prepare_entries(entries)
    together = [item.entry.leaf_data if isinstance(item, kinds.PreparedEntry)
                else f"{type(item).__name__}: {item}" for item in prepared]
    assert together == [alone(e) for e in entries]
    assert sum(isinstance(t, str) for t in together) == 4
