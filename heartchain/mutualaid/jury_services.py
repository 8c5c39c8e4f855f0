"""Services of the member jury: settings, volunteers and their qualification, declared links,
the draw, commit and reveal, and the reads the case page and GraphQL show.

A juror keeps their vote secret by keeping the salt: `commit_vote` returns it (or takes the one
the juror chose, which makes a retry write the same commitment), and `reveal_vote` needs it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from heartchain.errors import NotFound, ValidationError
from heartchain.keys import Address, Signer, signer_address, signing_keys
from heartchain.ledger import witness_client
from heartchain.ledger.body import decode
from heartchain.ledger.entries import format_time
from heartchain.ledger.log import Appended
from heartchain.ledger.witnessed import Cosignature, cosignatures_of, witnessed_checkpoint
from heartchain.lookups import can_match
from heartchain.mutualaid import draw
from heartchain.mutualaid.errors import RuleBroken, UnknownCase, WrongStage
from heartchain.mutualaid.jurors import (
    JurorQualify,
    JurorVolunteer,
    MemberLinkDeclare,
    PlanJury,
)
from heartchain.mutualaid.jury import (
    JuryCommit,
    JuryDraw,
    JuryReveal,
    Tally,
    eligible_pool,
    tally,
    vote_commitment,
)
from heartchain.mutualaid.jury_models import Juror, Jury, JuryRules, JurySeat
from heartchain.mutualaid.models import Case
from heartchain.platform import Platform
from heartchain.privacy import commitment, seal_personal, subject_salt

MAX_RECORD = 2_000




async def set_jury_rules(platform: Platform, *, operator: Signer, plan: str, size: int,
                         quorum: int, majority_bp: int = 5_000, commit_days: int = 3,
                         reveal_days: int = 2) -> Appended:
    return await platform.write(PlanJury(
        plan=plan, operator=signer_address(operator), size=size, quorum=quorum,
        majority_bp=majority_bp, commit_days=commit_days, reveal_days=reveal_days),
        *signing_keys(operator))


async def volunteer(platform: Platform, *, plan: str, member: Signer, active: bool = True
                    ) -> Appended:
    return await platform.write(JurorVolunteer(plan=plan, member=signer_address(member),
                                               active=active), *signing_keys(member))


async def qualify(platform: Platform, *, operator: Signer, plan: str, member: str,
                  passed: bool, record: str) -> Appended:
    """Record the qualification result; `record` (what was assessed) is sealed under the
    member, the entry carries its salted commitment."""
    if not record or len(record) > MAX_RECORD:
        raise ValidationError(f"record: 1..{MAX_RECORD} characters", field="record")
    # Checked as the entry will be before a salt is made for `member` (a bad address: typed).
    decode(JurorQualify, {"plan": plan, "member": member, "operator": signer_address(operator),
                          "passed": passed, "record_hash": "0" * 64})
    subject = f"mutualaid:{member}"
    salted = commitment(await subject_salt(platform, subject), record)
    appended = await platform.write(JurorQualify(
        plan=plan, member=Address(member), operator=signer_address(operator), passed=passed,
        record_hash=salted), *signing_keys(operator))
    await seal_personal(platform, subject, f"juror:{plan}:{appended.index}", record)
    return appended


async def declare_link(platform: Platform, *, member: Signer, other: str, relation: str
                       ) -> Appended:
    return await platform.write(MemberLinkDeclare(
        member=signer_address(member), other=Address(other),
        relation=relation),  # type: ignore[arg-type]
        *signing_keys(member))


async def _case(case_id: str) -> Case:
    case = await Case.get_or_none(id=case_id) if can_match(Case, id=case_id) else None
    if case is None:
        raise UnknownCase(f"no case {case_id!r}")
    return case


async def draw_body(platform: Platform, *, operator: str, case: str) -> JuryDraw:
    """The `jury.draw` for `case` from the newest witnessed checkpoint (the newest checkpoint
    when no witnesses are configured), which must be signed after the objection window closed."""
    row = await _case(case)
    if row.notice_until is None:
        raise WrongStage(f"case {case} is not on notice")
    settings = await JuryRules.get_or_none(plan=row.plan)
    if settings is None:
        raise RuleBroken(f"plan {row.plan} has no jury (plan.jury)", field="case")
    log = platform.log
    found = await witnessed_checkpoint(log, witness_client.policy_for(log))
    if found is None or found.signed.signed_at < row.notice_until:
        raise WrongStage(f"case {case}: no witnessed checkpoint signed since the objection "
                         f"window closed at {row.notice_until} yet; draw when there is one")
    signed = found.signed
    pool = await eligible_pool(log.reader.connection(), row, format_time(platform.clock.now()))
    jurors = draw.draw(signed.root_hash, case, pool, settings.size)
    return JuryDraw(case=case, operator=Address(operator), checkpoint_size=signed.size,
                    checkpoint_root=signed.root_hash.hex(), eligible=len(pool),
                    eligible_digest=draw.pool_digest(pool),
                    jurors=tuple(Address(a) for a in jurors))


async def draw_jury(platform: Platform, *, operator: Signer, case: str) -> Appended:
    return await platform.write(await draw_body(platform, operator=signer_address(operator),
                                                case=case), *signing_keys(operator))


async def commit_vote(platform: Platform, *, case: str, juror: Signer, vote: str,
                      salt: str | None = None) -> tuple[str, Appended]:
    """Commit to `vote`; returns the salt, which the juror needs to reveal."""
    if vote not in ("approve", "reject"):
        raise ValidationError("vote: approve or reject", field="vote")
    salt = salt or secrets.token_hex(32)
    try:
        int(salt, 16)
    except ValueError:
        raise ValidationError("salt: 64 hex digits", field="salt") from None
    address = signer_address(juror)
    appended = await platform.write(JuryCommit(
        case=case, juror=address, commitment=vote_commitment(case, address, vote, salt)),
        *signing_keys(juror))
    return salt, appended


async def reveal_vote(platform: Platform, *, case: str, juror: Signer, vote: str, salt: str
                      ) -> Appended:
    return await platform.write(JuryReveal(case=case, juror=signer_address(juror),
                                           vote=vote, salt=salt),  # type: ignore[arg-type]
                                *signing_keys(juror))


# -- reads ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class JuryView:
    jury: Jury
    seats: list[JurySeat]
    tally: Tally
    cosignatures: tuple[Cosignature, ...]


async def jury_of(platform: Platform, case: str) -> JuryView | None:
    jury = await Jury.get_or_none(case=case) if can_match(Jury, case=case) else None
    if jury is None:
        return None
    seats = await JurySeat.filter(case=case).order_by("rank")
    log = platform.log
    try:
        signed = await log.checkpoint_at(jury.checkpoint_size)
        cosigned = await cosignatures_of(witness_client.policy_for(log), signed)
    except NotFound:  # a checkpoint the log no longer serves: no cosignatures to show
        cosigned = ()
    return JuryView(jury, seats, tally(jury, format_time(platform.clock.now())), cosigned)


async def jury_rules(plan: str) -> JuryRules | None:
    return await JuryRules.get_or_none(plan=plan) if can_match(JuryRules, plan=plan) else None


async def jurors_of(plan: str) -> list[Juror]:
    return await Juror.filter(plan=plan).order_by("volunteered_idx")


async def seats_of_member(member: str) -> list[JurySeat]:
    """The juries `member` was drawn for (for "my coverage")."""
    return await JurySeat.filter(juror=member).order_by("case")
