"""The console's file endpoints (the writes to the log stay GraphQL mutations):

    POST /console/receipts?name=<file name>    body: the file; Authorization: Bearer <token>;
                                               X-Content-SHA256: the hash the browser computed
    GET  /console/receipts/<sha256>            the file, to the charity that uploaded it
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from heartchain.accounts.models import Account
from heartchain.accounts.services import authenticate
from heartchain.console import services
from heartchain.errors import HeartchainError, NotFound
from heartchain.platform import Platform


async def _charity(request: Request) -> Account | Response:
    platform: Platform = request.app.state.platform
    header = request.headers.get("authorization", "")
    account = None
    if header.lower().startswith("bearer "):
        account = await authenticate(platform, header[7:].strip())
    if account is None:
        return PlainTextResponse("sign in: Authorization: Bearer <token>\n", status_code=401)
    if account.role != "charity":
        return PlainTextResponse("receipts are a charity's\n", status_code=403)
    return account


async def upload_receipt(request: Request) -> Response:
    account = await _charity(request)
    if isinstance(account, Response):
        return account
    data = await request.body()
    try:
        row = await services.keep_receipt(
            request.app.state.platform, account.address, data,
            filename=request.query_params.get("name", "receipt"),
            content_type=request.headers.get("content-type", ""),
            sha256=request.headers.get("x-content-sha256"))
    except HeartchainError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse({"sha256": row.sha256, "size": row.size, "filename": row.filename})


async def download_receipt(request: Request) -> Response:
    account = await _charity(request)
    if isinstance(account, Response):
        return account
    try:
        row, data = await services.receipt_of(request.app.state.platform, account.address,
                                               request.path_params["sha256"])
    except NotFound as exc:
        return PlainTextResponse(f"{exc}\n", status_code=404)
    return Response(data, media_type=row.content_type, headers={
        "Content-Disposition": f'attachment; filename="{row.filename}"',
        "Cache-Control": "private, no-store"})


routes = [
    Route("/console/receipts", upload_receipt, methods=["POST"]),
    Route("/console/receipts/{sha256}", download_receipt, methods=["GET"]),
]
