"""The console's finance routes; each needs a charity's API token (Authorization: Bearer).

    POST /console/import/check     dry run of the uploaded export (the body is the file):
                                   JSON report, writes nothing
    POST /console/import/run       the import: NDJSON lines {"done", "total"} as chunks land,
                                   then {"report": …} (or {"error": …})
    GET  /console/export.csv       donations, reversals and disbursements (streamed)
    GET  /console/export.xlsx      the same as an XLSX workbook

Query parameters: `mapping` (a kept or built-in mapping), `columns` (field=header,…: kept as
`mapping`, default "default"), `campaign` (for rows without one); exports: `campaign`, `from`,
`to` (YYYY-MM-DD, China time, `to` included). Uploads may be up to 32 MiB
(heartchain.limits.UPLOAD_PATHS).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from heartchain.accounts.services import authenticate
from heartchain.errors import HeartchainError, NotFound, PermissionDenied, ValidationError
from heartchain.finance import exports, importer, mappings
from heartchain.ledger.entries import format_time
from heartchain.platform import Platform

logger = logging.getLogger(__name__)
_RUNNING: set[asyncio.Task[None]] = set()  # imports carry on if the browser goes away


def _platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


async def _charity(request: Request) -> str:
    header = request.headers.get("authorization", "")
    account = None
    if header.lower().startswith("bearer "):
        account = await authenticate(_platform(request), header[7:].strip())
    if account is None:
        raise PermissionDenied("sign in with the charity's API token")
    if account.role != "charity":
        raise PermissionDenied("only a charity imports and exports donations")
    return str(account.address)


def _refused(exc: HeartchainError) -> Response:
    status = 403 if isinstance(exc, PermissionDenied) else 404 if isinstance(exc, NotFound) \
        else 400
    field = exc.field if isinstance(exc, ValidationError) else None
    return JSONResponse({"error": str(exc), "field": field}, status_code=status)


async def _options(request: Request, charity: str) -> dict[str, object]:
    params = request.query_params
    name = params.get("mapping") or None
    columns = None
    if params.get("columns"):
        columns = await mappings.save_mapping(
            charity, name or "default", mappings.parse_columns(params["columns"]),
            now=format_time(_platform(request).clock.now()))
    return {"mapping": None if columns else name, "columns": columns,
            "campaign": params.get("campaign") or None}


async def check(request: Request) -> Response:
    try:
        charity = await _charity(request)
        options = await _options(request, charity)
        report = await importer.dry_run(_platform(request), charity, await request.body(),
                                        **options)  # type: ignore[arg-type]
    except HeartchainError as exc:
        return _refused(exc)
    return JSONResponse(report.as_dict())


async def run(request: Request) -> Response:
    try:
        charity = await _charity(request)
        options = await _options(request, charity)
    except HeartchainError as exc:
        return _refused(exc)
    data = await request.body()
    platform = _platform(request)
    lines: asyncio.Queue[dict[str, object] | None] = asyncio.Queue()

    async def work() -> None:
        try:
            report = await importer.import_file(
                platform, charity, data,
                progress=lambda done, total: lines.put_nowait({"done": done, "total": total}),
                **options)  # type: ignore[arg-type]
            lines.put_nowait({"report": report.as_dict()})
        except HeartchainError as exc:
            lines.put_nowait({"error": str(exc)})
        except Exception as exc:  # the browser must hear of it; the chunks that landed stay
            logger.exception("bulk import failed")
            lines.put_nowait({"error": f"the import stopped ({type(exc).__name__}); the chunks "
                                       "before it landed: run it again to resume"})
        finally:
            lines.put_nowait(None)

    task = asyncio.create_task(work())
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)

    async def stream() -> AsyncIterator[bytes]:
        while (line := await lines.get()) is not None:
            yield (json.dumps(line, ensure_ascii=False) + "\n").encode()

    return StreamingResponse(stream(), media_type="application/x-ndjson",
                             headers={"Cache-Control": "no-store"})


async def _export(request: Request, extension: str) -> Response:
    params = request.query_params
    try:
        query = exports.Query(await _charity(request), params.get("campaign") or None,
                              exports.parse_date(params.get("from"), "from"),
                              exports.parse_date(params.get("to"), "to"))
    except HeartchainError as exc:
        return _refused(exc)
    chunks = exports.csv_chunks(query) if extension == "csv" else exports.xlsx_chunks(query)
    media = "text/csv; charset=utf-8" if extension == "csv" else exports.XLSX_TYPE
    return StreamingResponse(chunks, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{exports.filename(query, extension)}"',
        "Cache-Control": "no-store"})


async def export_csv(request: Request) -> Response:
    return await _export(request, "csv")


async def export_xlsx(request: Request) -> Response:
    return await _export(request, "xlsx")


routes = [
    Route("/console/import/check", check, methods=["POST"]),
    Route("/console/import/run", run, methods=["POST"]),
    Route("/console/export.csv", export_csv),
    Route("/console/export.xlsx", export_xlsx),
]
