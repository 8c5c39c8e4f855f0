"""A /graphql request body decoded once: the rate limiter prices it, the GraphQL view runs it.

Both read the same bytes (the limiter replays what it read), so the limiter remembers its
decoding for the request's context and the view takes it when it is handed those bytes.

    >>> body = b'{"query": "{ __typename }"}'
    >>> with decoded_for_request(body) as payload:
    ...     decode(body) is payload
    True
    >>> decode(body) is payload  # outside the request: decoded afresh
    False
"""

from __future__ import annotations

import contextlib
import contextvars
import json
from collections.abc import Iterator

import msgspec

_DECODED: contextvars.ContextVar[tuple[bytes, object] | None] = contextvars.ContextVar(
    "heartchain_request_json", default=None)


def parse(data: str | bytes) -> object:
    """JSON as the view reads it. msgspec first (a fifth of json's cost); what it refuses json
    may still read (a BOM, UTF-16, NaN, an integer past 64 bits), so json decides those. A
    ValueError (json.JSONDecodeError) when neither reads it."""
    try:
        return msgspec.json.decode(data)
    except msgspec.MsgspecError:
        pass
    try:
        return json.loads(data)
    except ValueError as exc:
        # An integer past Python's 4,300-digit limit is a plain ValueError: one error type.
        raise json.JSONDecodeError(str(exc)[:100], "", 0) from exc


@contextlib.contextmanager
def decoded_for_request(body: bytes | None) -> Iterator[object | None]:
    """`body` decoded (None if it is not JSON, or there is no body), remembered for `decode`
    inside the block."""
    payload: object | None = None
    if body is not None:
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            payload = parse(body)
    token = _DECODED.set((body, payload) if payload is not None else None)
    try:
        yield payload
    finally:
        _DECODED.reset(token)


def decode(data: str | bytes) -> object:
    """`parse(data)`, or the request's remembered decoding when `data` is its body. A fresh
    object each time otherwise; the remembered one is only read (priced, then executed)."""
    remembered = _DECODED.get()
    if remembered is not None and isinstance(data, bytes) and remembered[0] == data:
        return remembered[1]
    return parse(data)
