"""Structured logs: one JSON object per line (time, level, logger, message, and any extra fields).

    configure_logging("info")                      # this process, JSON lines on stderr
    uvicorn.run(..., log_config=logging_config("info"), access_log=False)   # every worker
    Starlette(..., middleware=[Middleware(AccessLog), ...])
    log_checkpoints(platform.log)                  # one line per checkpoint this process signs

A line looks like

    {"time": "2026-11-21T08:00:00.123Z", "level": "info", "logger": "heartchain.access",
     "message": "POST /graphql 200", "method": "POST", "path": "/graphql", "status": 200,
     "duration_ms": 12.4, "client": "127.0.0.1", "pid": 4242}

Extra fields are whatever the caller passed in `extra={...}`. The access log records the path
but never the query string or headers: tokens and personal data stay out of the logs. uvicorn's
own access log is off in both formats, and its other lines lose any query string
(StripQueryStrings).
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
import re
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from heartchain.ledger.log import Log, SignedCheckpoint

ACCESS_LOGGER = "heartchain.access"
# Attributes every LogRecord has: anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName", "color_message"}


class JSONFormatter(logging.Formatter):
    """Render a record as one line of JSON; extra fields become keys."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in document:
                document[key] = value
        document["pid"] = record.process
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            document["exception"] = record.exc_text
        return json.dumps(document, ensure_ascii=False, default=str)


def logging_config(level: str | int = "info", *, json: bool = True) -> dict[str, Any]:
    """A `logging.config.dictConfig` dict: heartchain, uvicorn and the root logger to stderr.

    Pass it to `uvicorn.run(log_config=...)` so every worker process applies it.
    """
    name = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JSONFormatter"} if json
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"})
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "filters": {"no_query_strings": {"()": f"{__name__}.StripQueryStrings"}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "default",
                                 "filters": ["no_query_strings"], "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["default"], "level": name},
        # uvicorn's loggers come with their own handlers; route them through ours instead.
        "loggers": {logger: {"handlers": [], "propagate": True, "level": name}
                    for logger in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }


def configure_logging(level: str | int = "info", *, json: bool = True,
                      stream: IO[str] | None = None) -> None:
    """Configure this process's logging (root, heartchain, uvicorn) for JSON lines."""
    config = logging_config(level, json=json)
    logging.config.dictConfig(config)
    if stream is not None:
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(stream)


_QUERY_STRING = re.compile(r"\?[^\s\"']*")


class StripQueryStrings(logging.Filter):
    """Drop the query string from every URL uvicorn logs (its WebSocket lines name the path
    with it, and a query string may carry a token or personal data)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("uvicorn"):
            message = record.getMessage()
            cleaned = _QUERY_STRING.sub("", message)
            if cleaned != message:
                record.msg, record.args = cleaned, ()
        return True


class AccessLog:
    """ASGI middleware: one log line per HTTP request with method, path, status and duration."""

    def __init__(self, app: ASGIApp, *, logger: str = ACCESS_LOGGER) -> None:
        self.app = app
        self.logger = logging.getLogger(logger)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app raises before starting a response
        size = 0

        async def sending(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            method, path = scope.get("method", ""), scope.get("path", "")
            client = scope.get("client")
            level = logging.ERROR if status >= 500 else logging.INFO
            self.logger.log(level, "%s %s %d", method, path, status, extra={
                "method": method, "path": path, "status": status, "bytes": size,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "client": client[0] if client else None})


def log_checkpoints(log: Log, *, logger: str = "heartchain.ledger") -> None:
    """Log each checkpoint this process signs (size, root, entries since its previous one)."""
    out = logging.getLogger(logger)
    previous: dict[str, int] = {}

    async def listener(signed: SignedCheckpoint) -> None:
        extra: dict[str, object] = {"size": signed.size, "root": signed.root_hash.hex(),
                                    "signed_at": signed.signed_at}
        if "size" in previous:  # other processes may have appended in between
            extra["since_previous"] = signed.size - previous["size"]
        previous["size"] = signed.size
        out.info("checkpoint %d signed", signed.size, extra=extra)

    log.add_checkpoint_listener(listener)


def log_format_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """True when HEARTCHAIN_LOG_FORMAT asks for JSON lines (the default is uvicorn's text)."""
    env = os.environ if environ is None else environ
    value = env.get("HEARTCHAIN_LOG_FORMAT", "text").strip().lower()
    if value not in ("json", "text"):
        print(f"HEARTCHAIN_LOG_FORMAT={value!r}: expected json or text; using text",
              file=sys.stderr)
    return value == "json"
