"""Demo hearts: thousands of gifts of each kind by the three charities, a rate change, a few
refunds, donors known only by phone, and Cycle Share's deposit waiver checked under consent."""

from __future__ import annotations

import json
from datetime import timedelta

from heartchain.demo import DemoState, seeder, write_many
from heartchain.keys import Address, SigningKey, address_of
from heartchain.ledger.entries import format_time
from tokens import services
from tokens.attest import attestation_key, did_key
from tokens.consent_entries import GrantBody
from tokens.entries import DonationKind, RecordBody, ReverseBody

FOOD_BANK = "Sunrise Food Bank 朝阳食物银行"
TREES = "Green Ridge Tree Planting 青山植树"
MEDICAL = "Hope Medical Aid Fund 希望医疗救助基金"
PARTNER = "Cycle Share 单车共享"
PERK_THRESHOLD = 200_000  # hearts: Cycle Share waives its ¥99 deposit from here
GIFTS_PER_KIND = 2_000
DEMO_CONTACT = "+8613900000001"  # a donor known only by phone, who can sign in at /me


@seeder
async def seed_hearts(state: DemoState) -> None:
    platform, rng = state.platform, state.rng
    food_bank, trees, medical = (state.organisations[FOOD_BANK], state.organisations[TREES],
                                 state.organisations[MEDICAL])
    partner = state.organisations[PARTNER]
    keys: dict[str, SigningKey] = {c: await platform.custodial_key(c)
                                   for c in (food_bank, trees, medical)}
    # Every gift names a declared campaign (tracing.campaigns): declare the demo's first.
    from tracing.demo_campaigns import declare_demo_campaigns

    await declare_demo_campaigns(state)

    by_phone = [await services.donor_for_contact(platform, DEMO_CONTACT, charity=food_bank),
                *[await services.donor_for_contact(platform, f"+86139{rng.randrange(10**8):08d}",
                                                   charity=food_bank)
                  for _ in range(20)]]
    # The featured donor (the first member) gives only the first three gifts, which the
    # tracing seeder follows end to end (their rice and saplings into lots, their cash spent
    # first, first in first out), so the demo's donor page shows a gift's whole journey.
    featured = state.members[0]
    donors = [*state.members[1:], *(d.address for d in by_phone)]

    def gift(charity: Address, kind: DonationKind, quantity: int, campaign: str,
             donor: Address | None = None) -> tuple[RecordBody, SigningKey]:
        receipt = f"{rng.getrandbits(256):064x}" if rng.random() < 0.3 else None
        return RecordBody(charity=charity, donor=donor or rng.choice(donors), kind=kind,
                          quantity=quantity, campaign=campaign, receipt=receipt), keys[charity]

    def cash() -> int:
        return rng.choice((1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000))

    items = []
    for _ in range(GIFTS_PER_KIND):
        items.append(gift(food_bank, "food", rng.randrange(500, 20_001, 50), "winter-meals-2026"))
        items.append(gift(trees, "tree", rng.randint(1, 20), "spring-saplings-2026"))
        charity, campaign = rng.choice(((medical, "surgery-fund-2026"),
                                        (food_bank, "winter-meals-2026"),
                                        (trees, "spring-saplings-2026")))
        items.append(gift(charity, "cash", cash(), campaign))
    items.extend((RecordBody(charity=medical, donor=by_phone[0].address, kind="cash",
                             quantity=100_000, campaign="surgery-fund-2026"), keys[medical])
                 for _ in range(3))
    rng.shuffle(items)
    items[:0] = [gift(food_bank, "food", 12_500, "winter-meals-2026", featured),
                 gift(trees, "tree", 12, "spring-saplings-2026", featured),
                 gift(food_bank, "cash", 20_000, "winter-meals-2026", featured)]
    half = len(items) // 2
    # The gifts arrive over six simulated weeks (mutual aid then needs ~140 days).
    given = await write_many(state, "donations", items[:half], spread=timedelta(days=21))
    # From here on a tree earns 100 hearts: the operator's second rate table, never retroactive.
    rates = await services.set_heart_rates(platform, state.operator,
                                           {"cash": (1, 1), "food": (1, 1),
                                            "tree": (100, 1)})
    given += await write_many(state, "donations", items[half:], spread=timedelta(days=21))

    refunds = rng.sample(range(3, len(given)), len(given) // 100)  # never a featured gift
    await write_many(state, "refunds", [
        (ReverseBody(charity=items[i][0].charity, donation=given[i].index,
                     reason=rng.choice(("refund", "chargeback"))), keys[items[i][0].charity])
        for i in refunds])

    consenting = rng.sample(state.members, 60)
    expires = platform.clock.now() + timedelta(days=365)
    handles = [await services.consent_handle(platform, m, partner) for m in consenting]
    await write_many(state, "consents", [
        (GrantBody(handle=address_of(h), partner=partner, scope="hearts.threshold",
                   expires=format_time(expires)), h)
        for h in handles])
    # Checks answer as of the newest checkpoint before the hour began: let the gifts reach one.
    platform.clock.advance(timedelta(hours=1))
    checked = [await services.check_hearts(platform, partner=partner, member=m,
                                           threshold=PERK_THRESHOLD) for m in consenting[:30]]

    waived = [c for c in checked if c.result]
    sample = waived[0] if waived else checked[0]
    path = platform.settings.data_dir / "demo-attestation.json"
    path.write_text(json.dumps(sample.attestation, ensure_ascii=False, indent=2) + "\n")
    issuer = did_key(bytes(attestation_key(platform).verify_key))
    valid_at = sample.attestation["validFrom"]  # valid then, even once it has expired
    scores = {m: (await services.score(m)).total for m in state.members[:50]}
    top = max(scores, key=lambda m: scores[m])
    state.notes.extend([
        f"hearts: {len(given)} donations ({GIFTS_PER_KIND} each of cash, food, trees; "
        f"{len(refunds)} refunded), rate table v1 from entry {rates.index} (1 tree = 100 hearts), "
        f"{len(by_phone)} donors known only by phone",
        f"hearts: Cycle Share waives its deposit at {PERK_THRESHOLD} hearts; {len(consenting)} "
        f"members consented, {len(checked)} checked, {len(waived)} qualified",
        f"hearts: a donor to look at: member(address: \"{top}\") ({scores[top]} hearts)",
        f"hearts: a member who consented to Cycle Share: {consenting[0]}",
        f"hearts: a donor known by phone signs in at /me with {DEMO_CONTACT} (the one-time code "
        "goes to HEARTCHAIN_OTP_SENDER: by default the server's log); partners verify what "
        "members show them at /partner/verify",
        f"hearts: attestation key {issuer}",
    ])
    state.commands.append((
        "check Cycle Share's heart-score credential offline",
        f"heartchain attest verify {path} --key {issuer} --at {valid_at}"))
