"""What every domain's GraphQL types share: the typed context, scalars, error results, cursors.

Expected failures are union members (`ValidationError | PermissionDenied | NotFound | Conflict`).
A mutation declared with `mutation(roles=…)` gets its role check and that mapping from the
`Guarded` extension, so its body is "call one service, build the success type"; lists are
`Connection[Node]` built by `connection()`. Services never import this module.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, NewType, TypeVar

import strawberry
from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader
from strawberry.extensions.field_extension import (
    AsyncExtensionResolver,
    FieldExtension,
    SyncExtensionResolver,
)

from graphql import IntValueNode, ValueNode, print_ast, value_from_ast_untyped
from heartchain import errors
from heartchain.accounts.models import Account
from heartchain.idempotency import mutation_field
from heartchain.platform import Platform

if TYPE_CHECKING:
    from heartchain.ledger.log import StoredEntry

Int64 = NewType("Int64", int)
JSON = NewType("JSON", object)

MAX_INT64 = 2**53 - 1
# Beyond 16 digits a literal is out of range anyway; the bound also keeps int() away from
# Python's 4,300-digit parsing limit (a ValueError, which would be masked as unexpected).
_MAX_INT64_DIGITS = 16


def _parse_int64(value: Any) -> int:
    # A ValidationError, not a ValueError: graphql-core keeps it as the error's original, and
    # only unexpected exceptions are masked.
    if type(value) is not int or abs(value) > MAX_INT64:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "…"
        raise errors.ValidationError(f"Int64 must be an integer within ±(2^53 - 1), got {shown}")
    return value


def _parse_int64_literal(node: ValueNode, variables: Any = None) -> int:
    if not isinstance(node, IntValueNode):
        raise errors.ValidationError(
            f"Int64 must be an integer literal, got {print_ast(node)[:40]}")
    if len(node.value.lstrip("-")) > _MAX_INT64_DIGITS:
        raise errors.ValidationError(f"Int64 must be within ±(2^53 - 1): {len(node.value)} digits")
    return _parse_int64(int(node.value))


def _parse_json_literal(node: ValueNode, variables: Any = None) -> Any:
    try:
        return value_from_ast_untyped(node, variables)
    except ValueError as exc:  # an integer past Python's 4,300-digit parsing limit
        raise errors.ValidationError(f"JSON: {exc}") from None


SCALARS: dict[object, Any] = {
    Int64: strawberry.scalar(
        name="Int64",
        description="A whole number up to ±(2^53 - 1): quantities in fen, grams or items; "
                    "indexes.",
        serialize=int,
        parse_value=lambda value: _parse_int64(value),
        parse_literal=_parse_int64_literal,
    ),
    JSON: strawberry.scalar(
        name="JSON",
        description="A JSON value (an entry's body, exactly as signed).",
        serialize=lambda value: value,
        parse_value=lambda value: value,
        parse_literal=_parse_json_literal,
    ),
}


@dataclass
class Context:
    request: Request | WebSocket
    platform: Platform
    account: Account | None
    # A WebSocket's connection_init payload (strawberry sets it; see app.on_ws_connect).
    connection_params: Any = None
    # Entries this request's writes just integrated: read by `load_entry` before the loader.
    written_entries: dict[int, StoredEntry] = field(default_factory=dict)

    @functools.cached_property
    def entry_loader(self) -> DataLoader[int, StoredEntry]:
        """Made for a request that loads an entry (most writes only answer their own)."""
        log = self.platform.log

        async def load(indexes: list[int]) -> list[StoredEntry | errors.NotFound]:
            found = await log.get_entries(indexes)
            return [found.get(i) or errors.NotFound(f"entry {i} does not exist")
                    for i in indexes]

        return DataLoader(load_fn=load)  # type: ignore[arg-type]

    @property
    def caller(self) -> Account:
        """The signed-in account (a `mutation(roles=…)` resolver runs only when there is one)."""
        return self.require_account()

    def require_account(self, *roles: str) -> Account:
        if self.account is None:
            raise errors.PermissionDenied("sign in: send Authorization: Bearer <token>")
        if roles and self.account.role not in roles:
            raise errors.PermissionDenied(
                f"this needs a {' or '.join(roles)} account; yours is a {self.account.role}")
        return self.account


Info = strawberry.Info[Context, None]


@strawberry.type(name="ValidationError", description="The input broke a rule; nothing was written.")
class ValidationErrorResult:
    message: str
    field: str | None = None


@strawberry.type(name="PermissionDenied", description="The caller or signer may not do this.")
class PermissionDeniedResult:
    message: str


@strawberry.type(name="NotFound", description="Something the request names does not exist.")
class NotFoundResult:
    message: str


@strawberry.type(name="Conflict", description="The request clashes with the current state.")
class ConflictResult:
    message: str


ErrorResult = ValidationErrorResult | PermissionDeniedResult | NotFoundResult | ConflictResult


def error_result(exc: errors.HeartchainError) -> ErrorResult:
    if isinstance(exc, errors.PermissionDenied):
        return PermissionDeniedResult(message=str(exc))
    if isinstance(exc, errors.NotFound):
        return NotFoundResult(message=str(exc))
    if isinstance(exc, errors.Conflict):
        return ConflictResult(message=str(exc))
    field_name = exc.field if isinstance(exc, errors.ValidationError) else None
    return ValidationErrorResult(message=str(exc), field=field_name)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# The longest id a list hands out as its cursor (lot ids: CharField(max_length=24)).
_MAX_CURSOR_TEXT = 24


def encode_cursor(kind: str, value: int | str) -> str:
    return base64.urlsafe_b64encode(json.dumps([kind, value]).encode()).decode()


def decode_cursor(kind: str, cursor: str | None, *, text: bool = False) -> Any:
    """The position a cursor from `encode_cursor(kind, …)` holds: an index, or (`text`) an id."""
    if cursor is None:
        return None
    try:
        found_kind, value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError) as exc:
        raise errors.ValidationError("after: not a cursor this list gave out",
                                     field="after") from exc
    if found_kind != kind:
        raise errors.ValidationError("after: a cursor from another list", field="after")
    # A cursor is client input: only the shapes encode_cursor writes (an index, or a short id)
    # get through to a query, never 10^30 (out of a BIGINT) or a list.
    if not ((not text and type(value) is int and 0 <= value <= MAX_INT64)
            or (text and type(value) is str and 0 < len(value) <= _MAX_CURSOR_TEXT)):
        raise errors.ValidationError("after: not a cursor this list gave out", field="after")
    return value


def page_size(first: int, limit: int = 100) -> int:
    if not 1 <= first <= limit:
        raise errors.ValidationError(f"first: must be 1..{limit}", field="first")
    return first


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


T = TypeVar("T")
Row = TypeVar("Row")


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    """A page of a list; strawberry names it after its node (`Connection[Lot]` is
    `LotConnection`, its edges `LotEdge`)."""

    edges: list[Edge[T]]
    page_info: PageInfo


def connection(rows: Sequence[Row], limit: int, *, cursor: Callable[[Row], str],
               node: Callable[[Row], T]) -> Connection[T]:
    """The page of `rows` fetched with `limit + 1` (the extra row only says there is more)."""
    edges = [Edge(cursor=cursor(row), node=node(row)) for row in rows[:limit]]
    return Connection(edges=edges, page_info=PageInfo(
        has_next_page=len(rows) > limit, end_cursor=edges[-1].cursor if edges else None))


class Guarded(FieldExtension):
    """The one resolver path of a mutation: check the caller's role, then run the resolver
    with its writes scoped to the field's response key (Idempotency-Key nonces,
    heartchain.idempotency), and answer its expected failure (a HeartchainError) as the
    union's error member, not a GraphQL error."""

    def __init__(self, roles: Sequence[str] = (), *, signed_in: bool = False) -> None:
        super().__init__()
        self.roles = tuple(roles)
        self.signed_in = signed_in or bool(roles)

    def _admit(self, info: strawberry.Info) -> None:
        if self.signed_in:
            info.context.require_account(*self.roles)

    def resolve(self, next_: SyncExtensionResolver, source: Any, info: strawberry.Info,
                **kwargs: Any) -> Any:
        try:
            self._admit(info)
            with mutation_field(str(info.path.key)):
                return next_(source, info, **kwargs)
        except errors.HeartchainError as exc:
            return error_result(exc)

    async def resolve_async(self, next_: AsyncExtensionResolver, source: Any,
                            info: strawberry.Info, **kwargs: Any) -> Any:
        try:
            self._admit(info)
            with mutation_field(str(info.path.key)):
                return await next_(source, info, **kwargs)
        except errors.HeartchainError as exc:
            return error_result(exc)


def mutation(*, roles: Sequence[str] = (), signed_in: bool = False,
             **kwargs: Any) -> Any:
    """`strawberry.mutation` for a field returning `Success | ErrorResult`: `roles` (any one
    of them) or `signed_in` is checked first; a HeartchainError becomes its error member."""
    return strawberry.mutation(extensions=[Guarded(roles, signed_in=signed_in)], **kwargs)
