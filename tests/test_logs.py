from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from heartchain.logs import (
    ACCESS_LOGGER,
    AccessLog,
    JSONFormatter,
    configure_logging,
    log_checkpoints,
    log_format_from_env,
)
from tests.conftest import Ledger
from tests.factories import self_registration


def line(record: logging.LogRecord) -> dict[str, object]:
    text = JSONFormatter().format(record)
    assert "\n" not in text
    document: dict[str, object] = json.loads(text)
    return document


def test_formatter_writes_one_json_object_with_extra_fields() -> None:
    record = logging.LogRecord("heartchain.ledger", logging.INFO, __file__, 1,
                               "integrated %d entries", (3,), None)
    record.kind = "donation.record"
    record.batch = 3
    document = line(record)
    assert document["level"] == "info"
    assert document["logger"] == "heartchain.ledger"
    assert document["message"] == "integrated 3 entries"
    assert (document["kind"], document["batch"]) == ("donation.record", 3)
    assert str(document["time"]).endswith("Z")


def test_formatter_keeps_the_exception() -> None:
    try:
        raise RuntimeError("database is down")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None,
                                   sys.exc_info())
    document = line(record)
    assert "RuntimeError: database is down" in str(document["exception"])


def app() -> Starlette:
    async def ok(request: Request) -> Response:
        return PlainTextResponse("hello")

    async def boom(request: Request) -> Response:
        raise RuntimeError("boom")

    return Starlette(routes=[Route("/ok", ok), Route("/boom", boom)],
                     middleware=[Middleware(AccessLog)])


async def test_access_log_has_path_status_and_duration_but_no_query(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    transport = httpx.ASGITransport(app=app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/ok?token=secret")).status_code == 200
        assert (await client.get("/boom")).status_code == 500
    ok, boom = (line(r) for r in caplog.records if r.name == ACCESS_LOGGER)
    assert (ok["method"], ok["path"], ok["status"], ok["bytes"]) == ("GET", "/ok", 200, 5)
    assert isinstance(ok["duration_ms"], float)
    assert "secret" not in json.dumps(ok)
    assert (boom["status"], boom["level"]) == (500, "error")


async def test_checkpoints_are_logged_with_their_size(ledger: Ledger,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="heartchain.ledger")
    log = ledger.platform.log
    log_checkpoints(log)
    await log.append(self_registration(ledger))
    await asyncio.gather(*[log.append(self_registration(ledger)) for _ in range(4)])
    for _ in range(50):
        lines = [line(r) for r in caplog.records if r.getMessage().startswith("checkpoint")]
        if lines and lines[-1]["size"] == 6:
            break
        await asyncio.sleep(0.01)
    assert lines[0]["size"] == 2
    assert lines[-1]["size"] == 6
    assert lines[-1]["since_previous"] == 4


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.NOTSET)


def test_configure_logging_routes_uvicorn_through_json(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("info", stream=stream)
    logging.getLogger("uvicorn.error").info("Application startup complete.")
    logging.getLogger("heartchain.witness").debug("not at info")
    lines = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert [(d["logger"], d["message"]) for d in lines] == [
        ("uvicorn.error", "Application startup complete.")]


def test_log_format_from_env() -> None:
    assert log_format_from_env({"HEARTCHAIN_LOG_FORMAT": "json"})
    assert not log_format_from_env({})
