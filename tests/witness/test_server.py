"""The witness's add-checkpoint answers, one per tlog-witness rule, in-process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from heartchain.ledger import merkle
from heartchain.ledger.notes import Note, NoteSignature, NoteSigner, sign_note
from heartchain.witness.config import WitnessConfig
from heartchain.witness.protocol import format_request
from heartchain.witness.store import WitnessStore
from tests.witness.factories import MemoryLog, witness_client, witness_config


@pytest.fixture
def log() -> MemoryLog:
    memory = MemoryLog()
    memory.grow(100)
    return memory


@pytest.fixture
def config(tmp_path: Path, log: MemoryLog) -> WitnessConfig:
    return witness_config(tmp_path / "w1", log)


@pytest.fixture
async def witness(config: WitnessConfig) -> AsyncIterator[httpx.AsyncClient]:
    store = WitnessStore(config.database)
    try:
        async with witness_client(config, store) as http:
            yield http
    finally:
        store.close()


async def post(http: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await http.post("/add-checkpoint", content=body)


def cosignature(config: WitnessConfig, note: str, response: httpx.Response) -> int:
    assert response.status_code == 200, response.text
    lines = response.text.splitlines(keepends=True)
    assert len(lines) == 1 and lines[0].startswith("— ")
    text = Note.from_text(note).text
    return config.signer().verifier.verify(text, NoteSignature.from_line(lines[0]))


async def test_first_checkpoint_then_consistent_growth(witness: httpx.AsyncClient,
                                                      config: WitnessConfig,
                                                      log: MemoryLog) -> None:
    first = await post(witness, log.request(0))
    assert cosignature(config, log.note(), first) > 0
    log.grow(57)
    second = await post(witness, log.request(100))
    cosignature(config, log.note(), second)
    state = (await witness.get("/logs")).json()
    assert [(item["origin"], item["size"]) for item in state["logs"]] == [(log.origin, 157)]
    assert state["verifier_key"] == config.signer().verifier_key
    # The same checkpoint again is cosigned again (a log refreshing its cosignatures).
    assert (await post(witness, log.request(157))).status_code == 200


async def test_stale_old_size_gets_409_with_the_witness_size(witness: httpx.AsyncClient,
                                                            log: MemoryLog) -> None:
    assert (await post(witness, log.request(0))).status_code == 200
    log.grow(10)
    for stale in (0, 50):
        response = await post(witness, log.request(stale))
        assert response.status_code == 409
        assert response.headers["content-type"] == "text/x.tlog.size"
        assert response.text == "100\n"
    assert (await post(witness, log.request(100))).status_code == 200


async def test_unknown_origin_is_404(witness: httpx.AsyncClient) -> None:
    stranger = MemoryLog(origin="elsewhere.example/log",
                         signer=NoteSigner.generate("elsewhere.example/log"))
    stranger.grow(3)
    assert (await post(witness, stranger.request(0))).status_code == 404


async def test_bad_or_foreign_signature_is_403(witness: httpx.AsyncClient,
                                               log: MemoryLog) -> None:
    impostor = NoteSigner.generate(log.origin)  # same name, another key: unknown, ignored
    assert (await post(witness, log.request(0, signer=impostor))).status_code == 403
    note = log.note()
    tampered = note.replace(note.split("\n")[1], "999", 1)  # size changed after signing
    body = format_request(0, [], tampered).encode()
    assert (await post(witness, body)).status_code == 403
    assert (await witness.get("/logs")).json()["logs"] == []


@pytest.mark.parametrize("body", [
    b"", b"old 0\n", b"new 0\n\nx\n", b"old 01\n\n", b"old -1\n\n", b"old 0\nnot base64!\n\n",
    b"old 0\nAAAA\n\n", b"old 0\n\nnot a note\n", b"\xff\xfe", b"old 0\n\norigin\nx\nroot\n\n",
])
async def test_malformed_is_400(witness: httpx.AsyncClient, body: bytes) -> None:
    assert (await post(witness, body)).status_code == 400


async def test_old_above_size_and_misplaced_proofs_are_400(witness: httpx.AsyncClient,
                                                         log: MemoryLog) -> None:
    assert (await post(witness, format_request(101, [], log.note()).encode())).status_code == 400
    with_proof = format_request(0, [bytes(32)], log.note()).encode()
    assert (await post(witness, with_proof)).status_code == 400
    too_long = b"old 1\n" + b"".join(b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
                                     for _ in range(64)) + b"\n" + log.note().encode()
    assert (await post(witness, too_long)).status_code == 400
    huge = await witness.post("/add-checkpoint", content=b"old 0\n" + b"A" * 200_000)
    assert huge.status_code == 413


async def test_failed_proof_is_422_and_kept_as_evidence(witness: httpx.AsyncClient,
                                                        log: MemoryLog) -> None:
    assert (await post(witness, log.request(0))).status_code == 200
    cosigned_note = log.note()
    # The log's administrator rewrites entry 7 and re-derives the tree; the key still signs.
    forged = MemoryLog(signer=log.signer)
    for i in range(120):
        data = b"rewritten" if i == 7 else i.to_bytes(8, "big")
        forged.nodes.update(forged.compact.append(merkle.leaf_hash(data)))
    response = await post(witness, forged.request(100))
    assert response.status_code == 422
    assert "consistency proof" in response.text
    evidence = (await witness.get("/evidence")).json()["evidence"]
    assert len(evidence) == 1
    item = evidence[0]
    assert item["kind"] == "inconsistent" and item["old_size"] == 100
    assert item["cosigned_note"] == cosigned_note
    assert item["submitted_note"] == forged.note()
    assert len(item["proof"]) == len(forged.proof(100, 120))
    # The witness did not move: the honest log still gets cosigned, and a retry of the same
    # forgery adds no second row.
    assert (await post(witness, forged.request(100))).status_code == 422
    assert len((await witness.get("/evidence")).json()["evidence"]) == 1
    log.grow(20)
    assert (await post(witness, log.request(100))).status_code == 200


async def test_same_size_other_root_is_a_fork(witness: httpx.AsyncClient, log: MemoryLog
                                              ) -> None:
    assert (await post(witness, log.request(0))).status_code == 200
    other = log.note(root=bytes(32))
    response = await post(witness, format_request(100, [], other).encode())
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("text/plain")
    # With a stale `old` the answer is the size, but the fork is recorded all the same.
    stale = await post(witness, format_request(0, [], other).encode())
    assert stale.status_code == 409 and stale.text == "100\n"
    evidence = (await witness.get("/evidence")).json()["evidence"]
    assert [e["kind"] for e in evidence] == ["fork"]


async def test_empty_checkpoint_must_have_the_empty_root(witness: httpx.AsyncClient,
                                                         log: MemoryLog) -> None:
    assert (await post(witness, format_request(0, [], log.note(0)).encode())).status_code == 200
    bogus = sign_note(f"{log.origin}\n0\n{'A' * 43}=\n", log.signer)
    assert (await post(witness, format_request(0, [], bogus).encode())).status_code == 422


async def test_state_survives_a_restart(config: WitnessConfig, log: MemoryLog) -> None:
    store = WitnessStore(config.database)
    async with witness_client(config, store) as http:
        assert (await post(http, log.request(0))).status_code == 200
    store.close()
    store = WitnessStore(config.database)
    try:
        async with witness_client(config, store) as http:
            response = await post(http, log.request(0))
            assert response.status_code == 409 and response.text == "100\n"
    finally:
        store.close()


async def test_racing_submissions_never_roll_back(witness: httpx.AsyncClient,
                                                  log: MemoryLog) -> None:
    assert (await post(witness, log.request(0))).status_code == 200
    bodies = []
    for _ in range(8):
        log.grow(5)
        bodies.append(log.request(100))
    responses = await asyncio.gather(*(post(witness, b) for b in bodies))
    assert sorted(r.status_code for r in responses) == [200] + [409] * 7
    winner = next(i for i, r in enumerate(responses) if r.status_code == 200)
    state = (await witness.get("/logs")).json()["logs"][0]
    assert state["size"] == 100 + 5 * (winner + 1)
    assert all(r.text == f"{state['size']}\n" for r in responses if r.status_code == 409)


async def test_checkpoint_read_returns_the_latest_with_its_cosignature(
        witness: httpx.AsyncClient, config: WitnessConfig, log: MemoryLog) -> None:
    assert (await witness.get("/checkpoint", params={"origin": log.origin})).status_code == 404
    assert (await witness.get("/checkpoint")).status_code == 400
    answer = await post(witness, log.request(0))
    served = await witness.get("/checkpoint", params={"origin": log.origin})
    assert served.status_code == 200 and served.headers["cache-control"] == "no-store"
    note = Note.from_text(served.text)
    assert note.text == Note.from_text(log.note()).text
    # The same cosignature line the log got from add-checkpoint, verifiable with the key.
    assert served.text.endswith(answer.text)
    assert cosignature(config, log.note(), answer) == config.signer().verifier.verify(
        note.text, note.signatures[-1])
