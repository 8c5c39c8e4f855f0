"""The witness process: C2SP tlog-witness `POST /add-checkpoint`, plus read-only views.

    POST /add-checkpoint   old size, consistency proof, signed checkpoint -> cosignature line
    GET  /logs             the latest checkpoint cosigned for each log (JSON)
    GET  /checkpoint?origin=O   that checkpoint for log O as a note, with this witness's
                           cosignature: what a log's operator or auditor compares a store with
    GET  /evidence         pairs of inconsistent signed checkpoints it was shown (JSON)
    GET  /verifier-key     this witness's cosignature/v1 verifier key
    GET  /healthz

Answers follow tlog-witness "add-checkpoint", checked in this order: 400 malformed, 404
unknown origin, 403 no trusted log signature verifies, 400 old size above the checkpoint size
(or a proof where none belongs), 409 + `text/x.tlog.size` when `old` is not the size it last
cosigned, 422 when the consistency proof fails, 409 when the size is the same but the root is
not; otherwise it records the checkpoint, commits, and answers 200 with a cosignature/v1 line.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from heartchain.errors import VerificationError
from heartchain.ledger import merkle
from heartchain.ledger.notes import Checkpoint, CosignatureSigner, Note, NoteVerifier, open_note
from heartchain.witness.config import WitnessConfig, load_config
from heartchain.witness.protocol import (
    MAX_BODY_SIZE,
    SIZE_CONTENT_TYPE,
    MalformedRequest,
    format_size,
    parse_request,
)
from heartchain.witness.store import Latest, WitnessStore


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


def _refuse(status: int, message: str) -> Reply:
    return Reply(status, message.rstrip("\n") + "\n")


class Witness:
    """The decision of tlog-witness add-checkpoint, over a store, a key and trusted log keys."""

    def __init__(self, store: WitnessStore, signer: CosignatureSigner,
                 logs: dict[str, tuple[NoteVerifier, ...]],
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.signer = signer
        self.logs = logs
        self.clock = clock

    def add_checkpoint(self, body: bytes) -> Reply:
        try:
            request = parse_request(body)
            parsed = Note.from_text(request.note)
            checkpoint = Checkpoint.from_text(parsed.text)
        except (MalformedRequest, VerificationError) as exc:  # NoteFormatError included
            return _refuse(400, str(exc))
        verifiers = self.logs.get(checkpoint.origin)
        if verifiers is None:
            return _refuse(404, f"unknown log origin {checkpoint.origin!r}")
        try:
            note = open_note(request.note, verifiers)
        except VerificationError as exc:
            return _refuse(403, f"the log's signature does not verify: {exc}")
        if request.old_size > checkpoint.size:
            return _refuse(400, f"old size {request.old_size} is above the checkpoint size "
                                f"{checkpoint.size}")
        if request.proof and request.old_size in (0, checkpoint.size):
            return _refuse(400, "a consistency proof from size 0, or to the same size, is empty")
        if checkpoint.size == 0 and checkpoint.root_hash != merkle.EMPTY_ROOT:
            return _refuse(422, "a checkpoint of size 0 must carry the empty tree's root")
        signed = note.to_text()  # only the trusted signatures: evidence anyone can check
        now = int(self.clock())
        with self.store.transaction() as tx:
            latest = tx.latest(checkpoint.origin)
            proof_text = "".join(base64.b64encode(h).decode() + "\n" for h in request.proof)

            def evidence(kind: str, detail: str) -> None:
                if latest is not None:
                    tx.add_evidence(origin=checkpoint.origin, kind=kind, observed_at=now,
                                    old_size=request.old_size, cosigned_note=latest.note,
                                    submitted_note=signed, proof=proof_text, detail=detail)

            if (latest is not None and latest.size == checkpoint.size
                    and latest.root != checkpoint.root_hash):
                # Two signed roots for one size: a fork, whatever `old` says.
                evidence("fork", f"two roots for size {checkpoint.size}")
                if request.old_size == latest.size:
                    return _refuse(409, f"size {checkpoint.size} was cosigned with another root")
            current = latest.size if latest is not None else 0
            if request.old_size != current:
                return Reply(409, format_size(current), SIZE_CONTENT_TYPE)
            if latest is not None and 0 < current < checkpoint.size:
                try:
                    merkle.verify_consistency(current, checkpoint.size, request.proof,
                                              latest.root, checkpoint.root_hash)
                except VerificationError as exc:
                    evidence("inconsistent", str(exc))
                    return _refuse(422, f"consistency proof from {current} to "
                                        f"{checkpoint.size} failed: {exc}")
            # A later cosignature never carries an earlier time, even if the clock steps back.
            timestamp = max(now, latest.cosigned_at if latest is not None else 0)
            tx.set_latest(Latest(checkpoint.origin, checkpoint.size, checkpoint.root_hash,
                                 signed, timestamp))
        return Reply(200, self.signer.cosign(parsed.text, timestamp).to_line())


def _latest_json(latest: Latest) -> dict[str, Any]:
    return {"origin": latest.origin, "size": latest.size,
            "root_hash": base64.b64encode(latest.root).decode(), "cosigned_at": latest.cosigned_at,
            "note": latest.note}


def create_app(config: WitnessConfig, *, store: WitnessStore | None = None,
               clock: Callable[[], float] = time.time) -> Starlette:
    the_store = store or WitnessStore(config.database)
    witness = Witness(the_store, config.signer(), dict(config.logs), clock)

    async def add_checkpoint(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if (declared is not None and declared.isascii() and declared.isdigit()
                and int(declared) > MAX_BODY_SIZE):
            return PlainTextResponse("request body too large\n", status_code=413)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_SIZE:
                return PlainTextResponse("request body too large\n", status_code=413)
        # Signature checks and the durable commit block: keep them off the event loop.
        reply = await run_in_threadpool(witness.add_checkpoint, body)
        # Set the content type verbatim: clients compare it with "text/x.tlog.size".
        return Response(reply.body, status_code=reply.status,
                        headers={"content-type": reply.content_type})

    async def logs(request: Request) -> Response:
        found = await run_in_threadpool(the_store.latest)
        return JSONResponse({"witness": config.name, "verifier_key": witness.signer.verifier_key,
                             "logs": [_latest_json(item) for item in found]})

    async def checkpoint(request: Request) -> Response:
        # Not in tlog-witness (its monitor retrieval is still "TBD"): a read-only view that
        # lets `heartchain audit --ask-witnesses` find a store rolled back behind this witness.
        origin = request.query_params.get("origin")
        if not origin:
            return PlainTextResponse("the origin query parameter is required\n", status_code=400)
        found = next((item for item in await run_in_threadpool(the_store.latest)
                      if item.origin == origin), None)
        if found is None:
            return PlainTextResponse(f"no checkpoint of {origin!r} was cosigned here\n",
                                     status_code=404)
        # Ed25519 is deterministic: this is the very cosignature line the log was given.
        line = witness.signer.cosign(Note.from_text(found.note).text, found.cosigned_at)
        return PlainTextResponse(found.note + line.to_line(),
                                 headers={"cache-control": "no-store"})

    async def evidence(request: Request) -> Response:
        origin = request.query_params.get("origin")
        found = await run_in_threadpool(the_store.evidence, origin)
        return JSONResponse({"witness": config.name, "evidence": [
            {"id": e.id, "origin": e.origin, "kind": e.kind, "observed_at": e.observed_at,
             "old_size": e.old_size, "cosigned_note": e.cosigned_note,
             "submitted_note": e.submitted_note, "proof": e.proof.split(), "detail": e.detail}
            for e in found]})

    async def verifier_key(request: Request) -> Response:
        return PlainTextResponse(witness.signer.verifier_key + "\n")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "witness": config.name})

    return Starlette(routes=[
        Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
        Route("/logs", logs),
        Route("/checkpoint", checkpoint),
        Route("/evidence", evidence),
        Route("/verifier-key", verifier_key),
        Route("/healthz", health),
    ])


def app_from_env() -> Starlette:
    """uvicorn factory: the witness whose data directory is $HEARTCHAIN_WITNESS_DIR."""
    import os

    return create_app(load_config(Path(os.environ.get("HEARTCHAIN_WITNESS_DIR", "witness"))))
