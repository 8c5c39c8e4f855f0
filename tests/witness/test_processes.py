"""Three processes on loopback: a log (uvicorn, witnesses attached) and two witnesses."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from heartchain.keys import address_of, new_signing_key
from heartchain.ledger import merkle
from heartchain.ledger.entries import new_entry
from heartchain.ledger.notes import (
    CosignatureVerifier,
    Note,
    NoteSigner,
    NoteVerifier,
    open_note,
    sign_note,
)
from heartchain.witness.protocol import format_request
from tests.servers import run_cli
from tests.witness.factories import rederive_tiles
from tests.witness.processes import Process, eventually, log_process, run, witness_process

pytestmark = pytest.mark.slow

SUBMIT = ("mutation($e: String!) { submitEntry(entry: $e) { __typename "
          "... on EntryAccepted { entry { index } } } }")


@dataclass
class Cluster:
    data_dir: Path
    log: Process
    witnesses: list[Process]
    log_key: str
    cosigners: dict[str, CosignatureVerifier]
    http: httpx.AsyncClient

    async def write(self, count: int = 1) -> int:
        now = datetime.now(UTC)
        for _ in range(count):
            key = new_signing_key()
            entry = new_entry("account.register", {"address": address_of(key), "role": "member",
                                                   "registrar": address_of(key)}, at=now)
            response = await self.http.post(f"{self.log.url}/graphql", json={
                "query": SUBMIT, "variables": {"e": entry.signed_by(key).leaf_data.decode()}})
            assert response.json()["data"]["submitEntry"]["__typename"] == "EntryAccepted"
        return int((await self.http.get(f"{self.log.url}/healthz")).json()["size"])

    async def report(self) -> dict[str, Any]:
        response = await self.http.get(f"{self.log.url}/log/witnesses")
        found: dict[str, Any] = response.json()
        return found

    async def witnessed(self, size: int) -> None:
        async def check() -> bool:
            return bool((await self.report())["witnessed_size"] == size)

        await eventually(check, what=f"size {size} to be witnessed")

    def database(self) -> sqlite3.Connection:
        return sqlite3.connect(self.data_dir / "log" / "heartchain.sqlite3")


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    env = {**os.environ, "HEARTCHAIN_DATA_DIR": str(tmp_path / "log"),
           "HEARTCHAIN_BATCH_PERIOD_MS": "5"}
    env.pop("HEARTCHAIN_DB_URL", None)
    out = run(["-m", "heartchain.cli", "init"], env)
    log_key = next(line.split(": ", 1)[1].strip() for line in out.splitlines()
                   if line.startswith("log verifier key"))
    witnesses = [witness_process(tmp_path / f"w{i}", f"witness.test/w{i}", log_key)
                 for i in (1, 2)]
    log = None
    try:
        for witness in witnesses:
            await witness.start()
        async with httpx.AsyncClient(timeout=30) as http:
            cosigners = {}
            items = []
            for i, witness in enumerate(witnesses, 1):
                key = (await http.get(f"{witness.url}/verifier-key")).text.strip()
                cosigners[f"witness.test/w{i}"] = CosignatureVerifier.from_verifier_key(key)
                items.append(f"w{i}={witness.url}|{key}")
            env["HEARTCHAIN_WITNESSES"] = ",".join(items)
            log = log_process(env)
            await log.start()
            yield Cluster(tmp_path, log, witnesses, log_key, cosigners, http)
    finally:
        if log is not None:
            log.stop()
        for witness in witnesses:
            witness.stop()


def check_note(cluster: Cluster, note: str, size: int) -> None:
    opened = open_note(note, [NoteVerifier.from_verifier_key(cluster.log_key)])
    assert opened.text.split("\n")[1] == str(size)
    cosigs = [s for s in Note.from_text(note).signatures if s.name in cluster.cosigners]
    assert sorted(s.name for s in cosigs) == sorted(cluster.cosigners)
    for sig in cosigs:
        cluster.cosigners[sig.name].verify(opened.text, sig)


async def test_cosigning_restart_and_stale_size(cluster: Cluster) -> None:
    size = await cluster.write(3)
    await cluster.witnessed(size)
    check_note(cluster, (await cluster.http.get(f"{cluster.log.url}/log/checkpoint")).text, size)

    # A witness restarts: it remembers what it cosigned, so a stale `old` gets 409.
    first = cluster.witnesses[0]
    first.stop()
    await first.start()
    state = (await cluster.http.get(f"{first.url}/logs")).json()["logs"]
    assert [s["size"] for s in state] == [size]
    note = (await cluster.http.get(f"{cluster.log.url}/log/checkpoint")).text
    stale = await cluster.http.post(f"{first.url}/add-checkpoint",
                                    content=format_request(0, [], note).encode())
    assert stale.status_code == 409
    assert stale.headers["content-type"] == "text/x.tlog.size" and stale.text == f"{size}\n"

    # The log forgets what its witnesses cosigned; on restart it sends `old 0`, gets 409 with
    # their size, and recovers with a proof from there.
    cluster.log.stop()
    with cluster.database() as db:
        db.execute("DELETE FROM witness_cosignature")
    db.close()
    await cluster.log.start()
    size = await cluster.write(2)
    await cluster.witnessed(size)
    report = await cluster.report()
    assert report["refusals"] == []
    check_note(cluster, (await cluster.http.get(f"{cluster.log.url}/log/checkpoint")).text, size)


async def test_a_rewritten_database_is_refused_by_both_witnesses(cluster: Cluster) -> None:
    honest = await cluster.write(4)
    await cluster.witnessed(honest)
    cluster.log.stop()
    # The administrator changes entry 2 and re-derives tiles and head: the log's own checks
    # pass, and its key (in the data dir) would sign whatever comes next.
    with cluster.database() as db:
        rows = db.execute("SELECT idx, data FROM log_entry ORDER BY idx").fetchall()
        forged = bytes(rows[2][1]).replace(b'"member"', b'"partner"')
        leaves = [merkle.leaf_hash(forged if idx == 2 else bytes(data)) for idx, data in rows]
        db.execute("UPDATE log_entry SET data = ?, leaf_hash = ? WHERE idx = 2",
                   (forged, leaves[2]))
        found, root = rederive_tiles(leaves)
        db.execute("DELETE FROM log_tile")
        db.executemany("INSERT INTO log_tile (level, idx, data) VALUES (?, ?, ?)",
                       [(level, idx, data) for (level, idx), data in found.items()])
        db.execute("UPDATE log_head SET root_hash = ? WHERE id = 1", (root,))
    db.close()
    await cluster.log.start()
    size = await cluster.write(1)
    assert size == honest + 1

    async def refused() -> bool:
        return len((await cluster.report())["refusals"]) == 2

    await eventually(refused, what="both witnesses to refuse")
    report = await cluster.report()
    assert sorted((r["witness"], r["status"], r["size"], r["old_size"])
                  for r in report["refusals"]) == [
        (name, 422, size, honest) for name in sorted(cluster.cosigners)]
    assert report["witnessed_size"] == honest and report["latest_size"] == size
    for witness in cluster.witnesses:
        evidence = (await cluster.http.get(f"{witness.url}/evidence")).json()["evidence"]
        assert [e["kind"] for e in evidence] == ["inconsistent"]
        kept = [Note.from_text(evidence[0][k]).text.split("\n")[1]
                for k in ("cosigned_note", "submitted_note")]
        assert kept == [str(honest), str(size)]
    served = (await cluster.http.get(f"{cluster.log.url}/log/checkpoint")).text
    check_note(cluster, served, honest)


@pytest.fixture
async def witness(tmp_path: Path) -> AsyncIterator[tuple[Process, NoteSigner]]:
    signer = NoteSigner.generate("heartchain.test/log")
    process = witness_process(tmp_path / "w", "witness.test/solo", signer.verifier_key)
    try:
        await process.start()
        yield process, signer
    finally:
        process.stop()


async def test_bad_signature_403_and_unknown_origin_404(
        witness: tuple[Process, NoteSigner]) -> None:
    process, signer = witness
    text = f"heartchain.test/log\n1\n{'A' * 43}=\n"
    async with httpx.AsyncClient() as http:
        async def post(note: str) -> httpx.Response:
            return await http.post(f"{process.url}/add-checkpoint",
                                   content=format_request(0, [], note).encode())

        impostor = NoteSigner.generate("heartchain.test/log")
        assert (await post(sign_note(text, impostor))).status_code == 403
        stranger = NoteSigner.generate("elsewhere.test/log")
        foreign = sign_note(text.replace("heartchain.test", "elsewhere.test"), stranger)
        assert (await post(foreign)).status_code == 404
        assert (await post(sign_note(text, signer))).status_code == 200


async def test_a_database_restored_from_an_older_copy_is_found_by_audit(
        cluster: Cluster) -> None:
    """verify cannot see a whole store put back as it was; the witnesses can."""
    env = cluster.log.env
    kept = await cluster.write(2)
    await cluster.witnessed(kept)
    cluster.log.stop()
    backup = cluster.data_dir / "backup.sqlite3"
    with cluster.database() as db, sqlite3.connect(backup) as copy:
        db.backup(copy)
    db.close()
    copy.close()
    ok = run_cli(env, "audit", "--ask-witnesses")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.count(f"checkpoint {kept} ") == 2
    # An edited witness row is named by verify (and put back).
    with cluster.database() as db:
        db.execute("UPDATE witness_cosignature SET timestamp = timestamp + 1 WHERE size = ?",
                   (kept,))
    edited = run_cli(env, "verify")
    assert edited.returncode == 1 and "verify FAILED: witness_cosignature.mac" in edited.stderr
    with cluster.database() as db:
        db.execute("UPDATE witness_cosignature SET timestamp = timestamp - 1 WHERE size = ?",
                   (kept,))
    db.close()
    await cluster.log.start()
    size = await cluster.write(3)
    await cluster.witnessed(size)
    cluster.log.stop()
    with cluster.database() as db, sqlite3.connect(backup) as copy:
        copy.backup(db)
    db.close()
    copy.close()
    verified = run_cli(env, "verify")
    assert verified.returncode == 0, verified.stderr
    assert f"verified {kept} entries" in verified.stdout
    audited = run_cli(env, "audit", "--ask-witnesses")
    assert audited.returncode == 1
    assert f"holds {kept} entries but the checkpoint commits to {size}" in audited.stderr
