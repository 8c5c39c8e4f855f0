"""The log over HTTP, exactly as C2SP tlog-tiles serves it, so any tlog client can mirror it.

    GET /log/checkpoint                 the latest signed checkpoint (text/plain; no caching)
    GET /log/tile/<L>/<N>[.p/<W>]       hash tiles; full tiles are immutable
    GET /log/tile/entries/<N>[.p/<W>]   entry bundles (uint16 length-prefixed leaf data)
    GET /log/verifier-key               the log's C2SP verifier key
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from heartchain.errors import NotFound
from heartchain.ledger.tiles import TilePathError, parse_tile_path
from heartchain.platform import Platform

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=5"


def _platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


async def checkpoint(request: Request) -> Response:
    signed = await _platform(request).log.latest_checkpoint()
    return PlainTextResponse(signed.note, headers={"Cache-Control": "no-cache"})


async def tile(request: Request) -> Response:
    path = request.path_params["path"]
    try:
        ref = parse_tile_path(path)
    except TilePathError as exc:
        return PlainTextResponse(f"bad tile path: {exc}\n", status_code=400)
    try:
        data = await _platform(request).log.read_tile(ref)
    except NotFound as exc:
        return PlainTextResponse(f"{exc}\n", status_code=404)
    return Response(data, media_type="application/octet-stream",
                    headers={"Cache-Control": IMMUTABLE if ref.is_full else SHORT})


async def verifier_key(request: Request) -> Response:
    return PlainTextResponse(_platform(request).verifier_key + "\n",
                             headers={"Cache-Control": SHORT})


routes = [
    Route("/log/checkpoint", checkpoint),
    Route("/log/verifier-key", verifier_key),
    Route("/log/{path:path}", tile),
]
