"""The jury section of a case page: the draw (checkpoint, seed, pool, how to recompute), the
tally after the reveal, the verdict and a rejection's reason, in zh and en; GraphQL's view."""

from __future__ import annotations

import subprocess
import sys

import httpx

from heartchain.mutualaid import draw, jury_services, services
from tests.conftest import Ledger, gql
from tests.mutualaid.factories import advance
from tests.mutualaid.jury_factories import objected_case, vote_all
from web.coverage import cases_of


async def test_jury_section_and_pool(ledger: Ledger, client: httpx.AsyncClient) -> None:
    platform = ledger.platform
    scene = await objected_case(ledger)
    before = (await client.get(f"/cases/{scene.case}?lang=en")).text
    assert 'data-testid="jury"' in before and "This plan has a member jury" in before
    await jury_services.draw_jury(platform, operator=ledger.operator, case=scene.case)
    view = await jury_services.jury_of(platform, scene.case)
    assert view is not None
    page = (await client.get(f"/cases/{scene.case}?lang=en")).text
    assert view.jury.checkpoint_root in page and f"/checkpoints/{view.jury.checkpoint_size}" \
        in page
    assert "6 · list digest" in page and "Votes stay secret" in page
    assert "python -m heartchain.mutualaid.draw --root" in page
    # The page's pool and command recompute the jurors shown.
    pool = await client.get(f"/cases/{scene.case}/jury/pool.txt")
    assert pool.status_code == 200 and pool.headers["content-type"].startswith("text/plain")
    run = subprocess.run([sys.executable, "-m", "heartchain.mutualaid.draw", "--root",
                          view.jury.checkpoint_root, "--case", scene.case, "--size", "3"],
                         input=pool.text, capture_output=True, text=True, check=True)
    lines = run.stdout.splitlines()
    assert lines[0].endswith(view.jury.eligible_digest)
    assert lines[1:] == [s.juror for s in view.seats]
    for juror in lines[1:]:
        assert juror in page
    assert (await client.get("/cases/case-ffffff/jury/pool.txt")).status_code == 404

    juror = view.seats[0].juror
    assert [(c.case, c.role) for c in await cases_of(juror, "en")
            if c.role in ("juror", "committed", "voted")] == [(scene.case, "juror")]
    await vote_all(ledger, scene, ["reject", "reject", "approve"])
    # "My coverage" lists the jury the member sat on, with their vote once revealed.
    mine = [c for c in await cases_of(juror, "en") if c.case == scene.case and c.role == "voted"]
    assert len(mine) == 1 and mine[0].detail in ("for the payout", "against the payout")
    advance(ledger, 2)
    await services.decide_case(platform, case=scene.case, operator=ledger.operator,
                               decision="reject", reason="jury-rejected",
                               reason_text="诊断早于加入")
    en = (await client.get(f"/cases/{scene.case}?lang=en")).text
    assert "approve 1 · reject 2 · committed 3" in en
    assert 'data-testid="jury-verdict">reject<' in en
    assert "The member jury voted to reject" in en and 'data-testid="reason-sealed"' in en
    assert "诊断早于加入" not in en  # sealed: only its commitment is shown
    zh = (await client.get(f"/cases/{scene.case}?lang=zh")).text
    assert "赔审团" in zh and "核准 1 · 不予核准 2" in zh and "赔审团投票不予互助" in zh
    assert 'data-testid="decision">不予核准<' in zh

    query = """query($id: String!) { case(id: $id) { sealedReason
      decision { reason reasonCommitment }
      jury { checkpointRoot eligible eligibleDigest pool size quorum verdict rejectVotes
             approveVotes seats { juror rank vote commitment } entry { kind } } } }"""
    anonymous = (await gql(client, query, {"id": scene.case}))["data"]["case"]
    assert anonymous["sealedReason"] is None
    assert anonymous["decision"]["reasonCommitment"] is not None
    jury = anonymous["jury"]
    assert jury["verdict"] == "reject" and (jury["rejectVotes"], jury["approveVotes"]) == (2, 1)
    assert draw.draw(bytes.fromhex(jury["checkpointRoot"]), scene.case, jury["pool"], 3) == \
        [s["juror"] for s in jury["seats"]]
    assert jury["entry"]["kind"] == "jury.draw"
    operator = (await gql(client, query, {"id": scene.case}, token=ledger.operator_token))
    assert operator["data"]["case"]["sealedReason"] == "诊断早于加入"


async def test_jury_mutations_over_graphql(ledger: Ledger, client: httpx.AsyncClient) -> None:
    from tests.mutualaid.factories import make_plan

    plan = await make_plan(ledger)
    mutation = """mutation($plan: String!, $size: Int!, $quorum: Int!) {
      setPlanJury(plan: $plan, size: $size, quorum: $quorum) {
        __typename ... on MutualAidJuryEntry { entry { kind } } } }"""
    token = ledger.operator_token
    bad = await gql(client, mutation, {"plan": plan, "size": 3, "quorum": 5}, token=token)
    assert bad["data"]["setPlanJury"]["__typename"] == "ValidationError"
    good = await gql(client, mutation, {"plan": plan, "size": 5, "quorum": 3}, token=token)
    assert good["data"]["setPlanJury"]["entry"]["kind"] == "plan.jury"
    rules = await jury_services.jury_rules(plan)
    assert rules is not None and (rules.size, rules.quorum, rules.majority_bp) == (5, 3, 5_000)
    anonymous = await gql(client, mutation, {"plan": plan, "size": 5, "quorum": 3})
    assert anonymous["data"]["setPlanJury"]["__typename"] == "PermissionDenied"
    draw_jury = await gql(client, """mutation { drawJury(case: "case-ffffff") {
      __typename } }""", token=token)
    assert draw_jury["data"]["drawJury"]["__typename"] == "NotFound"
