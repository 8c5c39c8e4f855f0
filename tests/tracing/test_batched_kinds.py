"""The set-based lot.handover and consent.check (heartchain.ledger.kinds `batched=True`): a batch
that hands one lot on several times, with per-entry lot and consent kinds between, gives the same
outcomes, errors and projection rows as integrating each entry alone; and verify passes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from heartchain.keys import SigningKey, address_of
from heartchain.ledger import integrate, kinds
from heartchain.ledger.body import Body, wire
from heartchain.ledger.entries import Entry
from heartchain.ledger.reader import Appended
from heartchain.ledger.verify import _drop_scratch, verify_log
from heartchain.ledger.verify_compare import compare_model
from tests.conftest import Ledger
from tests.ledger.test_setbased import _outcome, _twin
from tests.tracing import factories as f
from tokens import services as tokens
from tokens.consent_entries import CheckBody, RevokeBody
from tracing.custody import DeliverBody, HandoverBody, LossBody


def _signed(ledger: Ledger, body: Body, *keys: SigningKey) -> Entry:
    return ledger.platform.build(body.KIND, wire(body)).signed_by(*keys)


async def _batch(ledger: Ledger) -> tuple[list[Entry], list[str]]:
    platform = ledger.platform
    charity, driver, school = [await f.account(ledger, role) for role in
                               ("charity", "partner", "partner")]
    member, partner = await f.account(ledger), await f.account(ledger, "partner")
    key: dict[str, SigningKey] = {a: await platform.custodial_key(a)
                                  for a in (charity, driver, school, partner)}
    one = await f.purchased_lot(ledger, charity)
    two = await f.purchased_lot(ledger, charity, quantity=5)
    stranger_key = SigningKey.generate()  # a key, but no account
    stranger = address_of(stranger_key)
    key[stranger] = stranger_key
    granted = await tokens.grant_consent(platform, member=member, partner=partner,
                                         expires=platform.clock.now() + timedelta(days=30))
    handle = await tokens.consent_handle(platform, member, partner)
    plan: list[tuple[Entry, str]] = []

    def hand(lot: str, giver: str, taker: str, outcome: str = "ok") -> None:
        body = HandoverBody(lot=lot, giver=giver, taker=taker, place="dock 3",
                            evidence=f.digest())
        plan.append((_signed(ledger, body, key[giver], key[taker]), outcome))

    def check(consent: int, outcome: str = "ok", by: str = partner) -> None:
        body = CheckBody(partner=by, handle=address_of(handle), commitment=f.digest(),
                         consent=consent)
        plan.append((_signed(ledger, body, key[by]), outcome))

    hand(one.id, charity, driver)
    hand(one.id, charity, school, "NotCustodian")  # the driver holds it since the entry above
    hand(one.id, driver, school)
    plan.append((_signed(ledger, LossBody(lot=one.id, by=school, quantity=10, reason="damaged"),
                         key[school]), "ok"))  # per-entry: the memo is dropped after it
    hand(one.id, school, driver)
    hand(two.id, charity, stranger, "UnknownAccount")
    check(granted.index)
    check(granted.index, "NoActiveConsent", by=school)  # not the consent's partner
    check(one.created_idx, "UnknownConsent")
    plan.append((_signed(ledger, DeliverBody(lot=two.id, by=charity, quantity=5,
                                             beneficiary=f.digest(), place="school"),
                         key[charity]), "ok"))
    hand(two.id, charity, driver, "LotClosed")  # delivered in full just above
    hand("L99999", charity, driver, "LotNotFound")
    plan.append((_signed(ledger, RevokeBody(handle=address_of(handle), consent=granted.index),
                         handle), "ok"))
    check(granted.index, "NoActiveConsent")  # revoked above, in this batch
    return [e for e, _ in plan], [o for _, o in plan]


_WRITTEN = {"tracing_lot", "tracing_lot_event", "tracing_lot_share", "tracing_origin_flow",
            "heart_check"}


async def test_a_batch_of_handovers_and_checks_matches_one_by_one(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    entries, expected = await _batch(ledger)
    assert kinds.is_set_based(HandoverBody) and kinds.is_set_based(CheckBody)
    twin, twin_conn = await _twin(ledger)
    try:
        live = ledger.platform.log
        now = ledger.platform.clock.now()
        batched = await live.integrator.integrate_batch([live.prepare(e) for e in entries], now)
        assert [_outcome(r) for r in batched] == expected
        with monkeypatch.context() as patched:
            patched.setattr(integrate, "is_set_based", lambda cls: False)
            single: list[Any] = []
            for entry in entries:
                single.extend(await twin.integrator.integrate_batch([twin.prepare(entry)], now))
        assert [_outcome(r) for r in single] == expected
        assert [str(r) for r in single if not isinstance(r, Appended)] == \
            [str(r) for r in batched if not isinstance(r, Appended)]
        # The tables this batch writes (the twin integrated the prefix at other times, which
        # rows like heart_consent.granted_at record).
        compared = {m._meta.db_table: await compare_model(m, live.reader.connection(),
                                                          twin_conn, None)
                    for m in kinds.projections() if m._meta.db_table in _WRITTEN}
        assert compared["tracing_lot_event"] >= 7 and compared["heart_check"] == 1
    finally:
        await _drop_scratch()
    # The lot's handover answers the lot as it left it, for the accepting resolver.
    last_handover = batched[4]
    assert isinstance(last_handover, Appended) and last_handover.written is not None
    assert last_handover.written.answer.quantity == 990
    report = await verify_log(ledger.platform.log, scratch_dir=ledger.settings.data_dir.parent)
    assert report.entries == await ledger.platform.log.size()
