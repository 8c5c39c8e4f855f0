"""Test data for the member jury: a plan with jury settings, qualified volunteers, an objected
case whose objection window has closed."""

from __future__ import annotations

from dataclasses import dataclass

from heartchain.keys import SigningKey, address_of
from heartchain.mutualaid import jury_services, services
from tests.conftest import Ledger
from tests.mutualaid.factories import advance, investigator, make_plan, members, noticed_case


@dataclass
class Scene:
    plan: str
    case: str
    claimant: SigningKey
    objector: SigningKey
    linked: SigningKey  # a qualified volunteer the claimant declared a link to
    unqualified: SigningKey  # volunteered, failed the qualification
    leaver: SigningKey  # qualified, then left the plan (no longer covered)
    eligible: list[SigningKey]  # qualified, covered, unrelated volunteers

    def key_of(self, address: str) -> SigningKey:
        keys = [self.claimant, self.objector, self.linked, self.unqualified, self.leaver,
                *self.eligible]
        return next(k for k in keys if address_of(k) == address)


async def objected_case(ledger: Ledger, *, volunteers: int = 6, size: int = 3,
                        quorum: int = 2, case: str = "case-0a1b2c3d") -> Scene:
    """An objected case of a plan with a jury of `size`, its objection window closed and a
    checkpoint signed since (ready for `jury.draw`)."""
    platform = ledger.platform
    plan = await make_plan(ledger)
    inv = await investigator(ledger)
    keys = await members(ledger, plan, [5_000] * (5 + volunteers))
    claimant, objector, linked, unqualified, leaver, *eligible = keys
    advance(ledger, 91)
    await jury_services.set_jury_rules(platform, operator=ledger.operator, plan=plan,
                                       size=size, quorum=quorum)
    for key in keys:
        await jury_services.volunteer(platform, plan=plan, member=key)
        await jury_services.qualify(platform, operator=ledger.operator, plan=plan,
                                    member=address_of(key), passed=key is not unqualified,
                                    record="quiz 9/10; no conflicts declared")
    await jury_services.declare_link(platform, member=claimant, other=address_of(linked),
                                     relation="family")
    await services.leave_plan(platform, plan=plan, member=leaver)
    case_id = await noticed_case(ledger, plan, claimant, inv, asked=20_000, case=case)
    await services.object_case(platform, case=case_id, member=objector,
                               reason="pre-existing", note="I know them: ill since 2019")
    advance(ledger, 8)
    # Anything logged after the window closed gives a checkpoint nobody knew during it.
    await services.top_up(platform, plan=plan, member=eligible[0], amount_fen=100)
    return Scene(plan, case_id, claimant, objector, linked, unqualified, leaver, eligible)


async def vote_all(ledger: Ledger, scene: Scene, votes: list[str]) -> None:
    """Each drawn juror, in rank order, commits then (after the commit deadline) reveals."""
    view = await jury_services.jury_of(ledger.platform, scene.case)
    if view is None:
        raise AssertionError("no jury drawn")
    salts = []
    for seat, vote in zip(view.seats, votes, strict=False):
        salt, _ = await jury_services.commit_vote(ledger.platform, case=scene.case,
                                                  juror=scene.key_of(seat.juror), vote=vote)
        salts.append((seat.juror, vote, salt))
    advance(ledger, 3)
    for juror, vote, salt in salts:
        await jury_services.reveal_vote(ledger.platform, case=scene.case,
                                        juror=scene.key_of(juror), vote=vote, salt=salt)
