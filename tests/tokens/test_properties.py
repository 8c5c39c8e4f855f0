"""Properties: every score equals its entries replayed from the log, and verify rebuilds it."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heartchain.ledger.entries import Entry
from heartchain.ledger.verify import verify_log
from tests.conftest import Ledger
from tests.factories import entry
from tests.tokens import factories as f
from tokens.models import KINDS, HeartScore
from tokens.services import current_rates

rate = st.tuples(st.integers(0, 1_000), st.integers(1, 1_000))
operation = st.one_of(
    st.tuples(st.just("give"), st.integers(0, 2), st.sampled_from(KINDS),
              st.integers(1, 10**9), st.integers(0, 1)),
    st.tuples(st.just("reverse"), st.integers(0, 40), st.integers(0, 1)),
    st.tuples(st.just("rates"), rate, rate, rate),
)


async def replayed_scores(ledger: Ledger) -> tuple[dict[str, int], int, int]:
    """An independent reading of the log: rate tables, mints and burns, entry by entry."""
    log = ledger.platform.log
    found = await log.get_entries(range(await log.size()))
    rates = dict.fromkeys(KINDS, (1, 1))
    minted_by: dict[int, tuple[str, int]] = {}
    scores: dict[str, int] = {}
    minted = burned = 0
    for index in sorted(found):
        document = json.loads(found[index].data)
        body: dict[str, Any] = document["body"]
        if document["kind"] == "heart.rates":
            rates = {k: (v["hearts"], v["per"]) for k, v in body["rates"].items()}
        elif document["kind"] == "donation.record":
            hearts, per = rates[body["kind"]]
            amount = body["quantity"] * hearts // per
            minted_by[index] = (body["donor"], amount)
            scores[body["donor"]] = scores.get(body["donor"], 0) + amount
            minted += amount
        elif document["kind"] == "donation.reverse":
            donor, amount = minted_by.pop(body["donation"])
            scores[donor] -= amount
            burned += amount
    return scores, minted, burned


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(operations=st.lists(operation, max_size=25))
async def test_scores_equal_the_log_replayed(ledger: Ledger, operations: list[Any]) -> None:
    platform = ledger.platform
    charities = [await f.charity(ledger, f"Charity {i}") for i in range(2)]
    keys = [await platform.custodial_key(c) for c in charities]
    donors = [await f.member(ledger) for _ in range(3)]
    operator_key = await ledger.operator_key()
    given_at: list[int] = []
    version = (await current_rates()).version
    batch: list[Entry] = []
    for position, op in enumerate(operations):
        if op[0] == "give":
            _, donor, kind, quantity, charity = op
            batch.append(entry(ledger, "donation.record", f.donation(
                charities[charity], donors[donor], kind=kind, quantity=quantity), keys[charity]))
        elif op[0] == "reverse":
            _, pick, charity = op
            target = given_at[pick % len(given_at)] if given_at else 0
            batch.append(entry(ledger, "donation.reverse", {
                "charity": charities[charity], "donation": target, "reason": "refund"},
                keys[charity]))
        else:
            version += 1
            batch.append(entry(ledger, "heart.rates", f.rates(
                ledger.operator, version, cash=op[1], food=op[2], tree=op[3]), operator_key))
        # half the operations land in one batch with what came before, half on their own
        if len(batch) > 1 and position % 2:
            for outcome, sent in zip(await platform.log.append_now(batch), batch, strict=True):
                if sent.kind == "donation.record" and not isinstance(outcome, Exception):
                    given_at.append(outcome.index)
            batch = []
    for outcome, sent in zip(await platform.log.append_now(batch), batch, strict=True):
        if sent.kind == "donation.record" and not isinstance(outcome, Exception):
            given_at.append(outcome.index)

    expected, minted, burned = await replayed_scores(ledger)
    rows = {r.address: r for r in await HeartScore.all()}
    assert {a: r.total for a, r in rows.items()} == expected
    assert sum(r.total for r in rows.values()) == minted - burned
    assert sum(r.minted for r in rows.values()) == minted
    assert sum(r.burned for r in rows.values()) == burned
    for row in rows.values():
        assert row.total == row.cash + row.food + row.tree >= 0
    await verify_log(platform.log)
