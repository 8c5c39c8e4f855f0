"""Every mutation × every role (and no token): exactly the allowed callers get past the rules.

The world below gives each allowed caller something real to act on (a lot it holds, a case at
the right step, a consent to check), so "allowed" is shown by success, not by a lucky error.
Mutations are enumerated from the schema: a new mutation without a row in POLICY fails here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx

from graphql import GraphQLUnionType, get_named_type
from heartchain.accounts.services import issue_token, register_account
from heartchain.keys import address_of, new_signing_key
from heartchain.ledger.entries import format_time
from heartchain.mutualaid import services as mutualaid
from heartchain.schema import schema
from tests.conftest import Ledger, gql
from tests.factories import campaign, self_registration
from tests.mutualaid.factories import RULES, members
from tokens import services as tokens
from tracing import services as tracing

CALLERS = ("operator", "charity", "partner", "investigator", "member", "witness", "anonymous")

# Y  allowed, and succeeds in this world
# r  allowed past the permission rules, refused for another reason (typed, not PermissionDenied)
#    and nothing written: an offer made to another taker answers NotFound, not "yours? no"
# .  PermissionDenied, and nothing is written
#
# "custodian" rows are open to every signed-in account by role; the entry rules then admit only
# the lot's custodian, which here is the charity. submitEntry needs no token at all: the
# entry's own signatures are its authority (each caller submits a self-registration).
POLICY_TABLE = """
mutation           operator charity partner investigator member witness anonymous
submitEntry            Y       Y       Y         Y          Y      Y        Y
registerAccount        Y       .       .         .          .      .        .
recordDonation         .       Y       .         .          .      .        .
reverseDonation        .       Y       .         .          .      .        .
setHeartRates          Y       .       .         .          .      .        .
grantConsent           .       .       .         .          Y      .        .
checkHearts            .       .       Y         .          .      .        .
revokeConsent          .       .       .         .          Y      .        .
presentHearts          .       .       .         .          Y      .        .
createLot              Y       Y       .         .          .      .        .
offerLot               .       Y       .         .          .      .        .
acceptLot              r       r       r         r          Y      r        .
splitLot               .       Y       .         .          .      .        .
mergeLots              .       Y       .         .          .      .        .
recordLoss             .       Y       .         .          .      .        .
deliverLot             .       Y       .         .          .      .        .
disburseFunds          .       Y       .         .          .      .        .
correctEntry           .       Y       .         .          .      .        .
createCampaign         .       Y       .         .          .      .        .
updateCampaign         .       Y       .         .          .      .        .
attestOutcome          .       .       Y         .          .      .        .
refundCampaign         r       r       r         .          .      .        .
createPlan             Y       .       .         .          .      .        .
joinPlan               .       .       .         .          Y      .        .
topUp                  .       .       .         .          Y      .        .
registerHospital       Y       .       .         .          .      .        .
grantCaseProxy         .       .       .         .          Y      .        .
openCase               Y       .       .         .          Y      .        .
revokeCaseProxy        .       .       .         .          Y      .        .
attestCase             .       .       .         Y          .      .        .
noticeCase             Y       .       .         .          .      .        .
objectCase             .       .       .         .          Y      .        .
reviewCase             Y       .       .         Y          .      .        .
decideCase             Y       .       .         .          .      .        .
apportionPeriod        Y       .       .         .          .      .        .
openPeriodNotice       Y       .       .         .          .      .        .
setPlanJury            Y       .       .         .          .      .        .
volunteerAsJuror       .       .       .         .          Y      .        .
qualifyJuror           Y       .       .         .          .      .        .
declareMemberLink      .       .       .         .          Y      .        .
drawJury               r       .       .         .          .      .        .
commitJuryVote         .       .       .         .          r      .        .
revealJuryVote         .       .       .         .          r      .        .
leavePlan              .       .       .         .          Y      .        .
closePlan              Y       .       .         .          .      .        .
refundPlan             r       .       .         .          .      .        .
registerWebhook        .       Y       Y         .          .      .        .
disableWebhook         .       r       r         .          .      .        .
"""


def parse_policy(table: str) -> dict[str, dict[str, str]]:
    header, *rows = [line.split() for line in table.strip().splitlines()]
    if tuple(header[1:]) != CALLERS:
        raise ValueError(f"policy header must list {CALLERS}")
    return {row[0]: dict(zip(CALLERS, row[1:], strict=True)) for row in rows}


POLICY = parse_policy(POLICY_TABLE)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class World:
    ledger: Ledger
    tokens: dict[str, str | None]
    address: dict[str, str]
    target: dict[str, Any]

    def registration(self) -> str:
        """A fresh self-custody member's registration, signed at the log's (advanced) time."""
        return self_registration(self.ledger, new_signing_key()).leaf_data.decode()


async def build_world(ledger: Ledger) -> World:
    platform, operator = ledger.platform, ledger.operator
    address = {"operator": operator}
    tokens_by_role: dict[str, str | None] = {"operator": ledger.operator_token,
                                             "anonymous": None}
    for role in ("charity", "partner", "investigator", "member", "witness"):
        registered = await register_account(platform, role=role, registrar=operator,
                                            label=None if role == "member" else f"the {role}")
        address[role] = registered.address
        tokens_by_role[role] = await issue_token(platform, registered.address, "matrix")
    charity, member, partner = address["charity"], address["member"], address["partner"]

    # Mutual aid: the member is covered in "basic"; cases wait at each step.
    await mutualaid.create_plan(platform, operator=operator, plan="basic", name="Basic",
                                rules=RULES)
    await mutualaid.create_plan(platform, operator=operator, plan="second", name="Second",
                                rules=RULES)
    await mutualaid.register_hospital(platform, operator=operator, code="renji",
                                      name_zh="仁济医院", name_en="Renji Hospital")
    await mutualaid.join_plan(platform, plan="basic", member=member,
                              birth_date=date(1990, 5, 1), prepay_fen=10_000)
    patient, objector = await members(ledger, "basic", [10_000, 10_000])
    platform.clock.advance(timedelta(days=RULES.waiting_days + 1))
    today = platform.clock.now().date()

    async def case(step: str, days: int = 7) -> str:
        case_id, _ = await mutualaid.open_case(
            platform, plan="basic", member=address_of(patient), opener=patient,
            condition="cancer", asked_fen=100_000, hospital="renji",
            patient_name="Patient Matrix", diagnosed_on=today)
        if step == "opened":
            return case_id
        await mutualaid.attest_case(platform, case=case_id, investigator=address["investigator"],
                                    findings="report", recommendation="approve",
                                    amount_fen=100_000)
        if step == "attested":
            return case_id
        await mutualaid.notice_case(platform, case=case_id, operator=operator, days=days)
        return case_id

    to_attest, to_notice = await case("opened"), await case("attested")
    to_object, to_decide = await case("noticed", days=30), await case("noticed")
    to_review = await case("noticed")
    await mutualaid.object_case(platform, case=to_review, member=objector,
                                reason="pre-existing")
    platform.clock.advance(timedelta(days=8))  # to_decide's window is over; to_object's is not

    # Hearts: two gifts to the member, a consent the partner can check.
    await campaign(ledger, charity, "winter")
    # Pay for success: the partner validates "cure"; before its deadline a refund is refused.
    await campaign(ledger, charity, "cure", validator=partner,
                   outcome_deadline=format_time(platform.clock.now() + timedelta(days=30)))
    gift = await tokens.record_donation(platform, charity=charity, donor=member, kind="cash",
                                        quantity=10_000, campaign="winter")
    second = await tokens.record_donation(platform, charity=charity, donor=member,
                                          kind="cash", quantity=50_000, campaign="winter")
    consent = await tokens.grant_consent(platform, member=member, partner=partner,
                                         expires=platform.clock.now() + timedelta(days=365))

    # Tracing: lots the charity holds, and a handover offered to the member.
    lots = {}
    for name in ("offer", "accept", "split", "merge1", "merge2", "loss", "deliver"):
        lot = await tracing.create_lot(platform, charity=charity, goods="rice", quantity=1_000,
                                       unit="grams", custodian=charity, receipt=digest(name))
        lots[name] = lot.id
    offer = await tracing.offer_handover(platform, lot=lots["accept"], giver=charity,
                                         taker=member, place="warehouse",
                                         evidence=digest("handover"))
    target = {"today": platform.clock.now().date().isoformat(), "gift": gift.index,
              "second_gift": second.index,
              "consent": consent.index, "lots": lots, "offer": offer.id,
              "family": address_of(patient),
              "cases": {"attest": to_attest, "notice": to_notice, "object": to_object,
                        "decide": to_decide, "review": to_review}}
    return World(ledger, tokens_by_role, address, target)


def operation(field: str, world: World, caller: str) -> tuple[str, dict[str, Any]]:
    """The document and variables that call `field` as an allowed caller would."""
    a, t = world.address, world.target
    lots, cases = t["lots"], t["cases"]
    rules = {"minAgeDays": 28, "maxAgeYears": 59, "waitingDays": 90, "capFen": 30_000_000,
             "seniorAge": 40, "seniorCapFen": 10_000_000, "feeBp": 800,
             "memberCaseCapFen": 300, "minPrepayFen": 1_000, "conditions": ["cancer"]}
    calls: dict[str, tuple[str, dict[str, Any]]] = {
        "submitEntry": ("$entry: String!", {"entry": world.registration()}),
        "registerAccount": ("$role: String!", {"role": "member"}),
        "recordDonation": ("$kind: String!, $quantity: Int64!, $campaign: String!, "
                           "$donor: String", {"kind": "cash", "quantity": 5_000,
                                              "campaign": "winter", "donor": a["member"]}),
        "reverseDonation": ("$donation: Int64!", {"donation": t["gift"]}),
        "setHeartRates": ("$rates: [HeartRateInput!]!", {"rates": [
            {"kind": "cash", "hearts": 1, "per": 1}, {"kind": "food", "hearts": 1, "per": 1},
            {"kind": "tree", "hearts": 100, "per": 1}]}),
        "grantConsent": ("$partner: String!, $days: Int", {"partner": a["partner"], "days": 30}),
        "checkHearts": ("$member: String!, $threshold: Int64!",
                        {"member": a["member"], "threshold": 1}),
        "revokeConsent": ("$consent: Int64!", {"consent": t["consent"]}),
        "presentHearts": ("$partner: String!, $threshold: Int64!",
                          {"partner": a["partner"], "threshold": 1}),
        "createLot": ("$input: CreateLotInput!", {"input": {
            "goods": "rice", "quantity": 500, "unit": "grams",
            "receipt": digest(f"purchase by {caller}")}}),
        "offerLot": ("$lotId: String!, $to: String!, $place: String!, $evidence: String!",
                     {"lotId": lots["offer"], "to": a["member"], "place": "depot",
                      "evidence": digest("offer")}),
        "acceptLot": ("$offerId: String!", {"offerId": t["offer"]}),
        "splitLot": ("$lotId: String!, $outputs: [Int64!]!",
                     {"lotId": lots["split"], "outputs": [400, 600]}),
        "mergeLots": ("$lotIds: [String!]!", {"lotIds": [lots["merge1"], lots["merge2"]]}),
        "recordLoss": ("$lotId: String!, $quantity: Int64!, $reason: String!",
                       {"lotId": lots["loss"], "quantity": 10, "reason": "spoiled"}),
        "deliverLot": ("$lotId: String!, $quantity: Int64!, $place: String!, "
                       "$beneficiaryCommitment: String",
                       {"lotId": lots["deliver"], "quantity": 100, "place": "school",
                        "beneficiaryCommitment": digest("beneficiary")}),
        "disburseFunds": ("$campaign: String!, $amount: Int64!, $payee: String!, "
                          "$purpose: String!, $receipt: String!",
                          {"campaign": "winter", "amount": 1_000, "payee": "Grain Co.",
                           "purpose": "rice", "receipt": digest("receipt")}),
        "correctEntry": ("$entry: Int64!, $values: JSON!, $reason: String!",
                         {"entry": t["second_gift"], "values": {"quantity": 40_000},
                          "reason": "wrong_amount"}),
        "createCampaign": ("$input: CampaignInput!", {"input": {
            "slug": f"new-{caller}", "titleZh": "新项目", "titleEn": "New campaign",
            "purpose": "school books", "category": "education", "goal": 100_000, "unit": "fen",
            "starts": "2026-01-01T00:00:00.000Z", "beneficiary": "pupils of one school"}}),
        "updateCampaign": ("$input: CampaignUpdateInput!",
                           {"input": {"slug": "winter", "goal": 2_000_000}}),
        "attestOutcome": ("$input: OutcomeAttestInput!", {"input": {
            "charity": a["charity"], "campaign": "cure", "evidence": digest("outcome"),
            "amount": 100}}),
        "refundCampaign": ("$input: CampaignRefundInput!",
                           {"input": {"charity": a["charity"], "campaign": "cure"}}),
        "createPlan": ("$id: String!, $name: String!, $rules: MutualAidRulesInput!",
                       {"id": "third", "name": "Third", "rules": rules}),
        "joinPlan": ("$plan: String!, $birthDate: String!, $prepayFen: Int64!",
                     {"plan": "second", "birthDate": "1990-05-01", "prepayFen": 2_000}),
        "topUp": ("$plan: String!, $amountFen: Int64!", {"plan": "basic", "amountFen": 1_000}),
        "leavePlan": ("$plan: String!", {"plan": "second"}),
        "openCase": ("$plan: String!, $condition: String!, $askedFen: Int64!, "
                     "$hospital: String!, $patientName: String!, $diagnosedOn: String!, "
                     "$member: String",
                     {"plan": "basic", "condition": "cancer", "askedFen": 50_000,
                      "hospital": "renji", "patientName": "Matrix Patient",
                      "diagnosedOn": t["today"], "member": a["member"]}),
        "attestCase": ("$case: String!, $findings: String!, $recommendation: String!, "
                       "$amountFen: Int64", {"case": cases["attest"], "findings": "ok",
                                             "recommendation": "approve", "amountFen": 100_000}),
        "noticeCase": ("$case: String!, $days: Int!", {"case": cases["notice"], "days": 7}),
        "objectCase": ("$case: String!, $reason: String!",
                       {"case": cases["object"], "reason": "not-diagnosed"}),
        "registerHospital": ("$code: String!, $nameZh: String!, $nameEn: String!",
                             {"code": "huashan", "nameZh": "华山医院", "nameEn": "Huashan"}),
        "grantCaseProxy": ("$plan: String!, $proxy: String!",
                           {"plan": "basic", "proxy": t["family"]}),
        "revokeCaseProxy": ("$plan: String!, $proxy: String!",
                            {"plan": "basic", "proxy": t["family"]}),
        "reviewCase": ("$case: String!, $findings: String!, $outcome: String!",
                       {"case": cases["review"], "findings": "checked", "outcome": "dismissed"}),
        "decideCase": ("$case: String!, $decision: String!, $amountFen: Int64",
                       {"case": cases["decide"], "decision": "approve", "amountFen": 100_000}),
        "apportionPeriod": ("$plan: String!", {"plan": "basic"}),
        "openPeriodNotice": ("$plan: String!", {"plan": "basic"}),
        "setPlanJury": ("$plan: String!, $size: Int!, $quorum: Int!",
                        {"plan": "basic", "size": 3, "quorum": 1}),
        "volunteerAsJuror": ("$plan: String!", {"plan": "basic"}),
        "qualifyJuror": ("$plan: String!, $member: String!, $passed: Boolean!, "
                         "$record: String!", {"plan": "basic", "member": a["member"],
                                              "passed": True, "record": "quiz passed"}),
        "declareMemberLink": ("$other: String!, $relation: String!",
                              {"other": t["family"], "relation": "family"}),
        # no jury for these: the decided case is past its draw, the objected one has none yet
        "drawJury": ("$case: String!", {"case": cases["decide"]}),
        "commitJuryVote": ("$case: String!, $vote: String!",
                           {"case": cases["review"], "vote": "approve"}),
        "revealJuryVote": ("$case: String!, $vote: String!, $salt: String!",
                           {"case": cases["review"], "vote": "approve", "salt": "00" * 32}),
        "closePlan": ("$plan: String!, $lastNotice: String!",
                      {"plan": "second", "lastNotice": t["today"]}),
        "refundPlan": ("$plan: String!", {"plan": "second"}),  # the claims window is open
        "registerWebhook": ("$url: String!, $kinds: [String!]",
                            {"url": "https://hooks.example.org/heartchain",
                             "kinds": ["donation.record"]}),
        "disableWebhook": ("$id: String!", {"id": "wh_000000000000000000000000"}),
    }
    params, variables = calls[field]
    return params, variables


def mutation_fields() -> dict[str, list[str]]:
    """Each mutation's name -> the member types of its result union."""
    mutation = schema._schema.mutation_type
    if mutation is None:
        raise AssertionError("the schema has no mutations")
    found = {}
    for name, field in mutation.fields.items():
        result = get_named_type(field.type)
        if not isinstance(result, GraphQLUnionType):
            raise AssertionError(f"{name} must return a union result")
        found[name] = [member.name for member in result.types]
    return found


def document(field: str, params: str, variables: dict[str, Any], members: list[str]) -> str:
    args = ", ".join(f"{name}: ${name}" for name in variables)
    errors = "".join(f" ... on {m} {{ message }}" for m in members
                     if m in ("ValidationError", "PermissionDenied", "NotFound", "Conflict"))
    return f"mutation({params}) {{ {field}({args}) {{ __typename{errors} }} }}"


async def call(client: httpx.AsyncClient, world: World, field: str, members: list[str],
               caller: str) -> dict[str, Any]:
    params, variables = operation(field, world, caller)
    response = await gql(client, document(field, params, variables, members), variables,
                         token=world.tokens[caller])
    if response.get("errors"):
        raise AssertionError(f"{field} as {caller}: {response['errors']}")
    result: dict[str, Any] = response["data"][field]
    return result


def test_policy_covers_every_mutation_and_every_caller() -> None:
    fields = mutation_fields()
    missing = sorted(set(fields) - set(POLICY))
    stale = sorted(set(POLICY) - set(fields))
    assert not missing, f"mutations without a row in the access policy: {missing}"
    assert not stale, f"policy rows for mutations that no longer exist: {stale}"
    for name, members_ in fields.items():
        assert "PermissionDenied" in members_, f"{name} cannot answer PermissionDenied"


async def test_every_mutation_with_every_role(ledger: Ledger, client: httpx.AsyncClient) -> None:
    world = await build_world(ledger)
    platform = ledger.platform
    fields = mutation_fields()
    log = platform.log
    seen: dict[str, dict[str, str]] = {}
    # Rows in the table's order (the world's steps depend on it: leave the plan last); within
    # a row, denied callers first so an allowed caller's success cannot mask a later write.
    for field, cells in POLICY.items():
        seen[field] = {}
        ordered = sorted(CALLERS, key=lambda c: cells[c] != ".")
        for caller in ordered:
            before = await log.size()
            result = await call(client, world, field, fields[field], caller)
            kind = result["__typename"]
            seen[field][caller] = kind
            expected = cells[caller]
            message = f"{field} as {caller}: {result}"
            if expected == ".":
                assert kind == "PermissionDenied", message
                assert await log.size() == before, f"{message} wrote to the log"
            elif expected == "r":
                assert kind in ("ValidationError", "NotFound", "Conflict"), message
                assert await log.size() == before, f"{message} wrote to the log"
            else:
                assert kind not in ("ValidationError", "PermissionDenied", "NotFound",
                                    "Conflict"), message
    assert seen.keys() == fields.keys()
    from heartchain.ledger.verify import verify_log

    await verify_log(platform.log)
