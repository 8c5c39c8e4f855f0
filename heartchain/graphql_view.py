"""The /graphql view: strawberry's ASGI view with the platform's context, JSON, 503 answers,
and a direct path for the request almost every client sends (one JSON POST, no streaming)."""

from __future__ import annotations

import logging
from typing import Any, cast

import msgspec
from cross_web import HTTPException  # strawberry's own: GraphQL.__call__ answers it
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from graphql import GraphQLError
from heartchain import request_json, unavailable
from heartchain.accounts.services import authenticate
from heartchain.gql import Context
from heartchain.platform import Platform, set_idempotency_key
from heartchain.ratelimit import bearer_token, connection_token
from heartchain.unavailable import is_unavailable

logger = logging.getLogger(__name__)


class _SubResponse(Response):
    """The response resolvers may add to (status, headers): strawberry builds a full Response and
    then deletes its content-length header for every request; this starts empty."""

    def __init__(self) -> None:
        self.status_code = None  # type: ignore[assignment]  # strawberry: None keeps 200
        self.background = None
        self.raw_headers = []


_READ_HEADERS = frozenset((b"content-type", b"accept", b"idempotency-key"))


def _header(request: Request | WebSocket, name: bytes) -> str:
    """The first `name` header of the request, as Starlette's `headers.get` answers it, from one
    scan of the raw headers for the three this view reads (a scan per lookup was 2 % of a
    write)."""
    scope = request.scope
    found: dict[bytes, bytes] | None = scope.get("heartchain.headers")
    if found is None:
        found = {}
        for key, value in scope["headers"]:  # names lowercased by the server (ASGI)
            if key in _READ_HEADERS and key not in found:
                found[key] = value
        scope["heartchain.headers"] = found
    value = found.get(name)
    return "" if value is None else value.decode("latin-1")


def _is_plain_json_post(request: Request | WebSocket) -> bool:
    """A POST of one JSON document that asks for no streamed answer (multipart or SSE): what
    `run` can answer without strawberry's general dispatch."""
    if not isinstance(request, Request) or request.method != "POST":
        return False
    media_type = _header(request, b"content-type").partition(";")[0].strip().lower()
    accept = _header(request, b"accept").lower()
    return (media_type == "application/json"
            and "multipart" not in accept and "event-stream" not in accept)


# strawberry's own answers to a body of the wrong shape (AsyncBaseHTTPView.parse_http_body).
_MUST_BE = {"query": ((str, type(None)), "a string or null"),
            "variables": ((dict, type(None)), "an object or null"),
            "extensions": ((dict, type(None)), "an object or null")}


class HeartchainGraphQL(GraphQL[Context, None]):
    async def run(self, request: Request | WebSocket, context: Any = UNSET,
                  root_value: Any = UNSET) -> Any:
        """strawberry's `run`, straight through for a plain JSON POST: its general dispatch
        (content-type parsing, stream transports, a runtime-Protocol isinstance on the result)
        was about 5 % of a write's server CPU. Every other request, a batch (a JSON array)
        included, takes strawberry's path; tests/test_graphql_view.py holds both paths to the
        same answers."""
        if context is not UNSET or root_value is not UNSET or not _is_plain_json_post(request):
            return await super().run(request, context, root_value)
        request = cast(Request, request)
        request_adapter = self.request_adapter_class(request)
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, response=sub_response)
        data = self.parse_json(await request.body())
        if not isinstance(data, dict):
            return await super().run(request, context, root_value)  # a batch, or refused there
        for name, (types, shown) in _MUST_BE.items():
            if not isinstance(data.get(name), types):
                raise HTTPException(
                    400, f"The GraphQL operation's `{name}` must be {shown}, if provided.")
        request_data = GraphQLRequestData(
            query=data.get("query"), variables=data.get("variables"),
            operation_name=data.get("operationName"), extensions=data.get("extensions"),
            protocol="http")
        result = await self.execute_single(request, request_adapter, sub_response, context,
                                           None, request_data)
        response_data = await self.process_result(request=request, result=result)
        if result.errors:
            self._handle_errors(result.errors, response_data)
        return self.create_response(response_data=response_data, sub_response=sub_response)

    async def parse_http_body(self, request: Any) -> Any:
        """strawberry's, but a JSON body that is neither an operation nor a batch (`3`, `"x"`,
        `null`) is a 400, not an AttributeError deep in strawberry (a 500)."""
        if (request.method == "POST" and "json" in (request.content_type or "").lower()
                and not isinstance(self.parse_json(await request.get_body()), (dict, list))):
            raise HTTPException(400, "The GraphQL request must be a JSON object (one "
                                     "operation) or an array of them.")
        return await super().parse_http_body(request)

    async def execute_single(self, request: Any, request_adapter: Any, sub_response: Any,
                             context: Context, root_value: None, request_data: Any
                             ) -> ExecutionResult:
        """A resolver that found the database unavailable (locked, down, the sequencer's wait
        over) makes the whole answer a 503 with Retry-After, as for every other route."""
        result: ExecutionResult = await super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data)
        if result.errors and any(is_unavailable(e.original_error) for e in result.errors):
            logger.warning("database unavailable: GraphQL %s", request_data.operation_name or "")
            result.errors = [GraphQLError(unavailable.MESSAGE, extensions={
                "code": unavailable.CODE})]
            result.data = None
            sub_response.status_code = 503
            sub_response.headers["Retry-After"] = str(unavailable.RETRY_AFTER_SECONDS)
        return result

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        return _SubResponse()

    def decode_json(self, data: str | bytes) -> object:
        """strawberry answers a JSONDecodeError with 400 (HTTP) or closes the socket (ws); an
        integer past Python's 4,300-digit limit is a plain ValueError, and was a 500
        (request_json.parse makes it a JSONDecodeError). The rate limiter's decoding of this
        very body when it has one."""
        return request_json.decode(data)

    def encode_json(self, data: object) -> str:
        # A str, not bytes: strawberry sends bytes over a WebSocket as binary frames.
        return msgspec.json.encode(data).decode()

    @property
    def graphql_ide_html(self) -> str:
        # The vendored GraphiQL (no CDN, no inline script): web/graphiql.py.
        from web.graphiql import GRAPHIQL_HTML

        return GRAPHIQL_HTML

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        platform: Platform = request.app.state.platform
        # Per HTTP request only: one WebSocket carries many operations, which must not share one.
        set_idempotency_key(None if isinstance(request, WebSocket)
                            else _header(request, b"idempotency-key") or None)
        # The rate limiter's reading of the same header, so both charge and serve one caller.
        token = bearer_token(request.scope)
        account = None if token is None else await authenticate(platform, token)
        # Browsers cannot set headers on a WebSocket: they send the token in connection_init
        # (on_ws_connect). Never in the URL: URLs end up in access logs and proxies.
        return Context(request=request, platform=platform, account=account)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """graphql-transport-ws `connection_init` with {"authorization": "Bearer …"} or
        {"token": "…"}: a token that does not authenticate closes the socket (4403)."""
        token = connection_token(context.connection_params)
        if token is not None:
            account = await authenticate(context.platform, token)
            if account is None:
                raise ConnectionRejectionError
            context.account = account
        unset: UnsetType = UNSET
        return unset
