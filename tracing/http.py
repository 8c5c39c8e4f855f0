"""HTTP endpoints of tracing that are not GraphQL: QR labels, EPCIS export, campaign CSV.

    GET /lots/{id}/label.svg               QR label (SVG) carrying the lot's public trace URL
    GET /lots/{id}/label.png               the same label as PNG
    GET /lots/{id}/epcis                   GS1 EPCIS 2.0 JSON-LD document of the lot's history
    GET /campaigns/{slug}/ledger.csv       the campaign's cash ledger (?charity=hc1... when two
                                           charities use the slug)

Add them to the app with `*tracing.http.routes` in heartchain/app.py's route list.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from heartchain.errors import HeartchainError, NotFound
from heartchain.platform import Platform
from tracing import epcis, labels, services

IMMUTABLE = "public, max-age=31536000, immutable"


def _platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def _error(exc: HeartchainError) -> Response:
    return PlainTextResponse(f"{exc}\n", status_code=404 if isinstance(exc, NotFound) else 400)


async def _label(request: Request) -> str | Response:
    try:
        lot = await services.get_lot(request.path_params["lot_id"])
    except HeartchainError as exc:
        return _error(exc)
    return services.lot_trace_url(_platform(request), lot)


async def label_svg(request: Request) -> Response:
    url = await _label(request)
    if isinstance(url, Response):
        return url
    return Response(labels.label_svg(url), media_type="image/svg+xml",
                    headers={"Cache-Control": IMMUTABLE})


async def label_png(request: Request) -> Response:
    url = await _label(request)
    if isinstance(url, Response):
        return url
    return Response(labels.label_png(url), media_type="image/png",
                    headers={"Cache-Control": IMMUTABLE})


async def lot_epcis(request: Request) -> Response:
    try:
        document = await epcis.lot_document(_platform(request), request.path_params["lot_id"])
    except HeartchainError as exc:
        return _error(exc)
    return Response(json.dumps(document, ensure_ascii=False, indent=1),
                    media_type="application/ld+json", headers={"Cache-Control": "no-cache"})


async def campaign_csv(request: Request) -> Response:
    slug = request.path_params["slug"]
    try:
        text = await services.campaign_ledger_csv(slug, request.query_params.get("charity"))
    except HeartchainError as exc:
        return _error(exc)
    return Response(text, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{_filename(slug)}-ledger.csv"',
        "Cache-Control": "no-cache"})


def _filename(slug: str) -> str:
    """The slug as a header-safe file name: a stored slug is already of this form, but the
    header must not depend on that (a line break in it would split the response)."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "_.-") else "_" for c in slug)


routes = [
    Route("/lots/{lot_id}/label.svg", label_svg),
    Route("/lots/{lot_id}/label.png", label_png),
    Route("/lots/{lot_id}/epcis", lot_epcis),
    Route("/campaigns/{slug}/ledger.csv", campaign_csv),
]
