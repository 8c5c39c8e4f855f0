"""GraphQL: every operation in graphql/operations/mutualaid.graphql, through a whole case."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import httpx

from heartchain.ledger import merkle
from tests.conftest import Ledger, gql
from tests.mutualaid.factories import RULES, advance

DOCUMENT = (Path(__file__).resolve().parents[2] / "graphql" / "operations"
            / "mutualaid.graphql").read_text()
OPERATIONS = re.findall(r"^(?:query|mutation) (\w+)", DOCUMENT, re.MULTILINE)


class Runner:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.ran: set[str] = set()

    async def __call__(self, operation: str, token: str | None = None, /, **variables: Any
                       ) -> Any:
        response = await self.client.post("/graphql", json={
            "query": DOCUMENT, "operationName": operation, "variables": variables},
            headers={"Authorization": f"Bearer {token}"} if token else {})
        document = response.json()
        assert "errors" not in document, document
        self.ran.add(operation)
        data = document["data"]
        return next(iter(data.values())) if len(data) == 1 else data


async def account(client: httpx.AsyncClient, ledger: Ledger, role: str) -> tuple[str, str]:
    made = (await gql(client, """mutation($r: String!) { registerAccount(role: $r) {
      ... on AccountRegistered { token account { address } } } }""", {"r": role},
                      token=ledger.operator_token))["data"]["registerAccount"]
    return made["account"]["address"], made["token"]


async def test_every_operation(ledger: Ledger, client: httpx.AsyncClient) -> None:
    run = Runner(client)
    op = ledger.operator_token
    rules = {"minAgeDays": RULES.min_age_days, "maxAgeYears": RULES.max_age_years,
             "waitingDays": 90, "capFen": RULES.cap_fen, "seniorAge": RULES.senior_age,
             "seniorCapFen": RULES.senior_cap_fen, "feeBp": 800, "memberCaseCapFen": 300,
             "minPrepayFen": 1_000, "conditions": list(RULES.conditions)}
    made = await run("CreatePlan", op, id="basic", name="Basic 大病互助", rules=rules)
    assert made["__typename"] == "MutualAidPlanSaved" and made["plan"]["version"] == 1
    people = [await account(client, ledger, "member") for _ in range(3)]
    _, inv = await account(client, ledger, "investigator")
    for _, token in people:
        joined = await run("JoinPlan", token, plan="basic", birthDate="1990-03-04",
                           prepayFen=5_000)
        assert joined["membership"]["coverage"] == "waiting"
    size = await ledger.platform.log.size()
    again = await run("JoinPlan", people[0][1], plan="basic", birthDate="1990-03-04",
                      prepayFen=5_000)
    assert again["__typename"] == "Conflict"
    zero = await run("TopUp", people[2][1], plan="basic", amountFen=0)
    assert zero["__typename"] == "ValidationError"
    assert await ledger.platform.log.size() == size
    assert (await run("TopUp", people[2][1], plan="basic", amountFen=100))[
        "membership"]["balanceFen"] == 5_100

    hospital = await run("RegisterHospital", op, code="huashan", nameZh="华山医院",
                         nameEn="Huashan Hospital")
    assert hospital["hospital"]["listed"] is True
    assert (await run("RegisterHospital", people[0][1], code="x", nameZh="x", nameEn="x"))[
        "__typename"] == "PermissionDenied"

    advance(ledger, 91)
    today = str(ledger.platform.clock.now().date())
    opened = await run("OpenCase", people[0][1], plan="basic", condition="cancer",
                       askedFen=2_000, hospital="huashan", patientName="李四",
                       diagnosedOn=today, description="pathology: adenocarcinoma")
    case = opened["case"]["id"]
    assert opened["case"]["maskedName"] == "李*" and opened["case"]["ageBand"] == "30-39"
    assert opened["case"]["conditionLabel"] == {"zh": "恶性肿瘤",
                                                "en": "Malignant tumour (cancer)"}
    assert opened["case"]["hospitalLabel"] == {"zh": "华山医院", "en": "Huashan Hospital"}
    assert len(opened["case"]["detailsCommitment"]) == 64
    typed = await run("OpenCase", people[0][1], plan="basic", condition="cancer",
                      askedFen=2_000, hospital="Huashan Hospital 华山医院", patientName="李四",
                      diagnosedOn=today)
    assert typed["__typename"] == "ValidationError" and typed["field"] == "hospital"

    # people[1] authorises people[2] (family) to open a case for them, then revokes it.
    granted = await run("GrantCaseProxy", people[1][1], plan="basic", proxy=people[2][0])
    assert granted["proxy"]["active"] is True
    for_family = await run("OpenCase", people[2][1], plan="basic", condition="stroke",
                           askedFen=1_000, hospital="huashan", patientName="王五",
                           diagnosedOn=today, member=people[1][0])
    assert for_family["__typename"] == "MutualAidCaseSaved", for_family
    revoked = await run("RevokeCaseProxy", people[1][1], plan="basic", proxy=people[2][0])
    assert revoked["proxy"]["active"] is False and revoked["proxy"]["revokedIndex"]
    refused = await run("OpenCase", people[2][1], plan="basic", condition="stroke",
                        askedFen=1_000, hospital="huashan", patientName="王五",
                        diagnosedOn=today, member=people[1][0])
    assert refused["__typename"] == "PermissionDenied", refused
    codes = await run("CaseCodes")
    assert {"code": "pre-existing", "zh": "加入前已患病",
            "en": "The condition predates joining"} in codes["objectionReasons"]
    assert [h["code"] for h in codes["hospitals"]] == ["huashan"]
    denied = await run("AttestCase", people[1][1], case=case, findings="x",
                       recommendation="approve", amountFen=2_000)
    assert denied["__typename"] == "PermissionDenied"
    await run("AttestCase", inv, case=case, findings="hospital records match",
              recommendation="approve", amountFen=2_000)
    await run("NoticeCase", op, case=case, days=7)
    objected = await run("ObjectCase", people[1][1], case=case, reason="not-diagnosed",
                         note="needs a second look")
    (objection,) = objected["case"]["objections"]
    assert objection["reason"] == "not-diagnosed" and len(objection["noteCommitment"]) == 64
    early = await run("DecideCase", op, case=case, decision="approve", amountFen=2_000)
    assert early["__typename"] == "Conflict" and "notice" in early["message"]
    advance(ledger, 8)
    await run("ReviewCase", inv, case=case, findings="second look done", outcome="dismissed")
    decided = await run("DecideCase", op, case=case, decision="approve", amountFen=2_000)
    assert decided["case"]["status"] == "approved"
    noticed = await run("OpenPeriodNotice", op, plan="basic")
    assert noticed["notice"]["members"] == 3
    period = await run("ApportionPeriod", op, plan="basic")
    assert period["period"]["members"] == 3
    assert period["period"]["noticeIndex"] == noticed["notice"]["index"]
    assert period["period"]["totalFen"] == 2_000 + 160

    plan = await run("Plan", id="basic")
    assert plan["periodCount"] == 1 and plan["coveredMembers"] == 3
    assert plan["notices"][0]["apportionedIndex"] == period["entry"]["index"]
    assert plan["rules"]["timeZone"] == "UTC" and plan["rules"]["ageBands"] == []
    membership = await run("Membership", address=people[0][0])
    share = membership["shares"][0]
    assert share["entry"]["body"]["share_root"] == share["shareRoot"]
    merkle.verify_inclusion(merkle.leaf_hash(share["leafData"].encode()), share["position"],
                            share["treeSize"], [base64.b64decode(h) for h in share["hashes"]],
                            bytes.fromhex(share["shareRoot"]))
    assert membership["joinEntry"]["firstCheckpoint"]["size"] > membership["joinEntry"]["index"]
    shown = await run("Case", id=case)
    assert shown["status"] == "paid" and shown["reviews"][0]["outcome"] == "dismissed"
    notice = await run("Period", plan="basic", number=1)
    assert notice["cases"][0]["maskedName"] == "李*"
    assert notice["cases"][0]["objections"][0]["reason"] == "not-diagnosed"
    assert "李四" not in str(notice) and "second look" not in str(notice)
    membership = await run("Membership", address=people[1][0])
    assert membership["proxies"][0]["active"] is False
    left = await run("LeavePlan", people[2][1], plan="basic")
    assert left["membership"]["coverage"] == "left"
    assert run.ran == set(OPERATIONS)
