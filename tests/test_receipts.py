"""Receipts from a live log (HTTP, GraphQL) checked by `heartchain receipt verify | update`,
under a 2-of-2 witness policy whose cosignatures are made here (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from heartchain import receipt_cli
from heartchain.keys import address_of
from heartchain.ledger.notes import CosignatureSigner, Note, NoteSigner
from heartchain.ledger.receipts import Receipt
from heartchain.witness.models import WitnessCosignature
from heartchain.witness.records import RecordSeal
from tests.conftest import Ledger, gql
from tests.web.factories import food_story

pytest.importorskip("tracing.services")
pytest.importorskip("heartchain.mutualaid.services")

WITNESSES = [CosignatureSigner.generate(f"w{i}.receipts.test") for i in (1, 2)]


@pytest.fixture(autouse=True)
def two_witnesses(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing is ever submitted to these URLs: no witness client is attached in these tests.
    monkeypatch.setenv("HEARTCHAIN_WITNESSES", ",".join(
        f"w{i}=http://127.0.0.1:9|{w.verifier_key}" for i, w in enumerate(WITNESSES, 1)))
    monkeypatch.setenv("HEARTCHAIN_WITNESS_POLICY", "2")


async def cosign_latest(ledger: Ledger) -> int:
    signed = await ledger.platform.log.latest_checkpoint()
    text = Note.from_text(signed.note).text
    seal = RecordSeal(ledger.platform.vault)
    for witness in WITNESSES:
        line = witness.cosign(text, 1_800_000_000).to_line()
        received_at = datetime.now(UTC)
        await WitnessCosignature.create(
            size=signed.size, witness=witness.name, line=line, timestamp=1_800_000_000,
            received_at=received_at,
            mac=seal.cosignature(size=signed.size, witness=witness.name, line=line,
                                 timestamp=1_800_000_000, received_at=received_at))
    return signed.size


@dataclass
class Run:
    code: int
    out: str
    err: str


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    capsys.readouterr()
    code = receipt_cli.main(list(args))
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def keys(ledger: Ledger, witnesses: list[CosignatureSigner] = WITNESSES) -> list[str]:
    found = ["--log-key", ledger.platform.verifier_key]
    for witness in witnesses:
        found += ["--witness-key", witness.verifier_key]
    return found


async def index_of(http: httpx.AsyncClient, kind: str) -> int:
    body = await gql(http, "query($k: String) { entries(first: 1, kind: $k) { edges { node { "
                           "index } } } }", {"k": kind})
    return int(body["data"]["entries"]["edges"][0]["node"]["index"])


async def share_setup(ledger: Ledger) -> tuple[str, str]:
    from heartchain.mutualaid import services
    from tests.mutualaid.factories import advance, approved_case, investigator, make_plan, members

    plan = await make_plan(ledger)
    inv = await investigator(ledger)
    member_keys = await members(ledger, plan, [5_000] * 3)
    advance(ledger, 91)
    await approved_case(ledger, plan, member_keys[0], inv, asked=2_000, case="case-0c0ffe")
    await services.apportion_period(ledger.platform, plan=plan, operator=ledger.operator)
    return plan, address_of(member_keys[1])


def edit_entry_byte(text: str) -> str:
    receipt = Receipt.from_text(text)
    entry = bytearray(receipt.entry)
    entry[entry.index(b'"body":{') + 9] ^= 0x01  # a byte of the first body key
    return Receipt(bytes(entry), receipt.index, receipt.hashes, receipt.checkpoint,
                   receipt.share).to_text()


def drop_cosignature(text: str, name: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True)
                   if not line.startswith(f"\u2014 {name} "))


def forge_cosignature(text: str, name: str) -> str:
    lines = text.splitlines(keepends=True)
    position = next(i for i, line in enumerate(lines) if line.startswith(f"\u2014 {name} "))
    head, encoded = lines[position].rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(encoded))
    raw[20] ^= 0x01  # inside the Ed25519 signature, after key ID and timestamp
    lines[position] = f"{head} {base64.b64encode(bytes(raw)).decode()}\n"
    return "".join(lines)


def change_proof_line(text: str) -> str:
    lines = text.split("\n")
    position = next(i for i, line in enumerate(lines) if line.startswith("index ")) + 1
    raw = bytearray(base64.b64decode(lines[position]))
    raw[7] ^= 0x01
    lines[position] = base64.b64encode(bytes(raw)).decode()
    return "\n".join(lines)


async def test_receipts_verify_offline_and_every_edit_fails(
        ledger: Ledger, client: httpx.AsyncClient, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    story = await food_story(ledger)
    plan, member = await share_setup(ledger)
    size = await cosign_latest(ledger)

    handover = await index_of(client, "lot.handover")
    disburse = await index_of(client, "fund.disburse")
    wanted = {"donation.record": f"/entries/{story.donation}/receipt",
              "lot.handover": f"/entries/{handover}/receipt",
              "fund.disburse": f"/entries/{disburse}/receipt",
              "period.apportion": f"/plans/{plan}/periods/1/shares/{member}/receipt"}
    for kind, url in wanted.items():
        response = await client.get(url)
        assert response.status_code == 200, response.text
        assert response.headers["content-disposition"].endswith('.tlog-proof"')
        text = response.text
        assert text.startswith("c2sp.org/tlog-proof@v1\nextra ")
        assert f"\n\n{ledger.platform.log.origin}\n{size}\n" in text
        path = tmp_path / "receipt.tlog-proof"
        path.write_text(text)
        ok = cli(capsys, "verify", str(path), *keys(ledger))
        assert ok.code == 0, ok.err
        assert f"({kind}) is in checkpoint {size}" in ok.out
        assert "cosigned by 2 trusted witnesses, 2 required" in ok.out
        if kind == "period.apportion":
            assert f"share: {member} paid" in ok.out

        bad = {"edited entry byte": edit_entry_byte(text),
               "dropped cosignature": drop_cosignature(text, WITNESSES[1].name),
               "forged cosignature": forge_cosignature(text, WITNESSES[0].name),
               "proof line changed": change_proof_line(text)}
        for what, edited in bad.items():
            path.write_text(edited)
            failed = cli(capsys, "verify", str(path), *keys(ledger))
            assert failed.code == 1, f"{kind}: {what} verified:\n{failed.out}"
            assert "does NOT verify" in failed.err
        path.write_text(text)
        wrong_log = NoteSigner.generate(ledger.platform.log.origin).verifier_key
        failed = cli(capsys, "verify", str(path), "--log-key", wrong_log,
                     *keys(ledger)[2:])
        assert failed.code == 1 and "no signature by a known key" in failed.err
        # A 1-of-2 policy accepts a receipt with one cosignature dropped; 2-of-2 did not.
        path.write_text(drop_cosignature(text, WITNESSES[1].name))
        assert cli(capsys, "verify", str(path), *keys(ledger), "--witnesses", "1").code == 0


async def test_graphql_receipts_match_http(ledger: Ledger, client: httpx.AsyncClient) -> None:
    story = await food_story(ledger)
    plan, member = await share_setup(ledger)
    await cosign_latest(ledger)
    body = await gql(client, "query($i: Int64!, $m: String!) { entry(index: $i) { receipt } "
                             "membership(address: $m) { shares { receipt } } }",
                     {"i": story.donation, "m": member})
    http = await client.get(f"/entries/{story.donation}/receipt")
    assert body["data"]["entry"]["receipt"] == http.text
    share = await client.get(f"/plans/{plan}/periods/1/shares/{member}/receipt")
    assert body["data"]["membership"]["shares"][0]["receipt"] == share.text
    assert (await client.get("/entries/99999/receipt")).status_code == 404
    assert (await client.get(f"/entries/{story.donation}/receipt?size=1")).status_code == 400
    assert (await client.get(f"/plans/{plan}/periods/1/shares/hc1nobody/receipt")
            ).status_code == 404


async def test_an_old_receipt_is_kept_current_by_a_newer_one_and_a_consistency_proof(
        ledger: Ledger, client: httpx.AsyncClient, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    story = await food_story(ledger)
    old_size = await cosign_latest(ledger)
    old = tmp_path / "old.tlog-proof"
    old.write_text((await client.get(f"/entries/{story.donation}/receipt")).text)
    await food_story(ledger)  # the log grows; the witnesses cosign the new checkpoint
    new_size = await cosign_latest(ledger)
    assert new_size > old_size
    new = tmp_path / "new.tlog-proof"
    new.write_text((await client.get(f"/entries/{story.donation}/receipt")).text)
    proof = await gql(client, "query($a: Int64!, $b: Int64!) { consistencyProof(fromSize: $a, "
                              "toSize: $b) { hashes } }", {"a": old_size, "b": new_size})
    consistency = tmp_path / "consistency.txt"
    consistency.write_text("\n".join(proof["data"]["consistencyProof"]["hashes"]) + "\n")
    out = tmp_path / "current.tlog-proof"
    updated = cli(capsys, "update", str(old), "--new", str(new), "--consistency",
                  str(consistency), "--out", str(out), *keys(ledger))
    assert updated.code == 0, updated.err
    assert f"from checkpoint {old_size} to {new_size}" in updated.err
    assert out.read_text() == new.read_text()

    hashes = proof["data"]["consistencyProof"]["hashes"]
    raw = bytearray(base64.b64decode(hashes[0]))
    raw[0] ^= 1
    consistency.write_text("\n".join([base64.b64encode(bytes(raw)).decode(), *hashes[1:]]))
    refused = cli(capsys, "update", str(old), "--new", str(new), "--consistency",
                  str(consistency), *keys(ledger))
    assert refused.code == 1 and "does NOT keep the old one current" in refused.err
    other = tmp_path / "other.tlog-proof"
    other.write_text((await client.get(f"/entries/{story.cash}/receipt")).text)
    refused = cli(capsys, "update", str(old), "--new", str(other), "--consistency",
                  str(consistency), *keys(ledger))
    assert refused.code == 1 and "different entries" in refused.err


async def test_pages_link_to_receipts_and_the_receipt_page_has_no_inline_script(
        ledger: Ledger, client: httpx.AsyncClient) -> None:
    story = await food_story(ledger)
    plan, member = await share_setup(ledger)
    entry = (await client.get(f"/entries/{story.donation}")).text
    assert f'href="/entries/{story.donation}/receipt"' in entry
    donor = (await client.get(f"/members/{story.donor}")).text
    assert f'href="/entries/{story.donation}/receipt"' in donor
    lot = (await client.get(f"/lots/{story.lot}")).text
    assert lot.count('class="receipt-link"') >= 2
    period = (await client.get(f"/plans/{plan}/periods/1", params={"member": member})).text
    assert f"/plans/{plan}/periods/1/shares/{member}/receipt" in period
    for lang, title in (("zh", "核对凭证"), ("en", "Check a receipt")):
        page = (await client.get("/receipt", params={"lang": lang})).text
        assert f"<h1>{title}</h1>" in page
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
        for attributes, body in scripts:
            assert 'type="application/json"' in attributes or (
                "src=" in attributes and not body.strip()), attributes
        assert not re.search(r"\son[a-z]+=", page)
        found = re.search(r'id="hc-site-keys">(.*?)</script>', page, re.S)
        assert found
        keys = json.loads(found[1])
        assert keys["log"] == ledger.platform.verifier_key and keys["required"] == 2
        assert [w["key"] for w in keys["witnesses"]] == [w.verifier_key for w in WITNESSES]
