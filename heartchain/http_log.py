"""The log over HTTP, exactly as C2SP tlog-tiles serves it, so any tlog client can mirror it.

    GET /log/checkpoint                 the newest checkpoint the witness policy is met for,
                                        with its cosignatures (text/plain; no caching)
    GET /log/tile/<L>/<N>[.p/<W>]       hash tiles; full tiles are immutable (and read from
                                        HEARTCHAIN_STATIC_TILES_DIR when it is set: see
                                        heartchain/ledger/static_tiles.py)
    GET /log/tile/entries/<N>[.p/<W>]   entry bundles (uint16 length-prefixed leaf data)
    GET /log/verifier-key               the log's C2SP verifier key
    GET /log/witnesses                  witnesses, policy, cosigned sizes and refusals (JSON)

With no witness configured /log/checkpoint is simply the latest checkpoint; with witnesses, see
heartchain/ledger/witnessed.py for which checkpoint is served and why. Its header
`Heartchain-Witness-Policy: met | unmet | none` says whether the served checkpoint meets the
witness policy (`unmet`: none does yet, so the newest is served with what cosignatures it has).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from heartchain.errors import NotFound
from heartchain.ledger.static_tiles import static_tiles_of
from heartchain.ledger.tiles import TilePathError, parse_tile_path
from heartchain.ledger.witness_client import policy_for
from heartchain.ledger.witness_status import served_checkpoint, witnesses_report
from heartchain.platform import Platform

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=5"


def _platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


POLICY_HEADER = "Heartchain-Witness-Policy"


async def checkpoint(request: Request) -> Response:
    """The checkpoint, always 200 as C2SP clients expect; the header says whether it meets the
    witness policy (`met`), is only the newest one with what cosignatures it has (`unmet`:
    a client enforcing the policy will refuse it), or no witness is configured (`none`)."""
    log = _platform(request).log
    policy = policy_for(log)
    served = await served_checkpoint(log, policy)
    state = "none" if not policy.witnesses else "met" if served.witnessed else "unmet"
    return PlainTextResponse(served.note, headers={"Cache-Control": "no-cache",
                                                   POLICY_HEADER: state})


async def tile(request: Request) -> Response:
    path = request.path_params["path"]
    try:
        ref = parse_tile_path(path)
    except TilePathError as exc:
        return PlainTextResponse(f"bad tile path: {exc}\n", status_code=400)
    log = _platform(request).log
    published = static_tiles_of(log)
    # A full tile's file is its final bytes: no database read. Missing (not yet written, or
    # never for partial tiles): the database answers.
    data = published.read(ref) if published is not None else None
    if data is None:
        try:
            data = await log.read_tile(ref)
        except NotFound as exc:
            return PlainTextResponse(f"{exc}\n", status_code=404)
    return Response(data, media_type="application/octet-stream",
                    headers={"Cache-Control": IMMUTABLE if ref.is_full else SHORT})


async def verifier_key(request: Request) -> Response:
    return PlainTextResponse(_platform(request).verifier_key + "\n",
                             headers={"Cache-Control": SHORT})


async def witnesses(request: Request) -> Response:
    return JSONResponse(await witnesses_report(_platform(request).log),
                        headers={"Cache-Control": "no-cache"})


routes = [
    Route("/log/checkpoint", checkpoint),
    Route("/log/verifier-key", verifier_key),
    Route("/log/witnesses", witnesses),
    Route("/log/{path:path}", tile),
]
