"""Rendering: the Jinja2 environment, language, and the page response every route returns."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import pass_context
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from heartchain.platform import Platform
from web import i18n, units

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATE_DIR = HERE / "templates"


def _static_versions() -> dict[str, str]:
    # A content hash in each static URL: browsers may cache the files forever, and a new
    # version of a file gets a new URL.
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:10]
            for path in STATIC_DIR.iterdir() if path.is_file()}


_VERSIONS = _static_versions()


def static_url(name: str) -> str:
    return f"/static/{name}?v={_VERSIONS.get(name, '0')}"


def short_hash(value: str | bytes, length: int = 12) -> str:
    text = value.hex() if isinstance(value, bytes) else value
    return text if len(text) <= length else text[:length] + "…"


def b64_to_hex(value: str) -> str:
    return base64.b64decode(value).hex()


def short_address(address: str) -> str:
    return address if len(address) <= 20 else f"{address[:10]}…{address[-6:]}"


def show_time(at: str) -> str:
    """`2026-11-21T08:00:00.000Z` -> `2026-11-21 08:00 UTC` (times on the log are UTC)."""
    if len(at) >= 16 and at[10:11] == "T":
        return f"{at[:10]} {at[11:16]} UTC"
    return at


def grouped(number: int) -> str:
    return f"{number:,}"


def signed(number: int) -> str:
    """A change, grouped and always signed: `+1,700`, `-25`."""
    return f"{number:+,}"


@pass_context
def quantity_filter(context: Any, value: int, unit: str) -> str:
    """`{{ d.quantity | quantity(d.kind) }}`: 10,298.75 kg, ¥1,234.56, 12 棵 / 12 trees."""
    return units.quantity(value, unit, context.get("lang", i18n.DEFAULT_LANGUAGE))


templates = Jinja2Templates(directory=str(TEMPLATE_DIR))
templates.env.filters.update(short_hash=short_hash, b64_to_hex=b64_to_hex,
                             short_address=short_address, show_time=show_time, grouped=grouped,
                             signed=signed, quantity=quantity_filter, money=units.money)
templates.env.globals.update(static_url=static_url)


def platform_of(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def language_url(request: Request, language: str) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    params.append(("lang", language))
    return f"{request.url.path}?{urlencode(params)}"


def render(request: Request, template: str, context: dict[str, Any] | None = None, *,
           status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    language, set_cookie = i18n.choose_language(request)
    other = "en" if language == "zh" else "zh"
    values: dict[str, Any] = {
        "lang": language,
        "t": i18n.translator(language),
        "other_lang": other,
        "other_lang_url": language_url(request, other),
        "js_messages": json.dumps(i18n.js_messages(language), ensure_ascii=False),
        "path": request.url.path,
        "qty": lambda value, unit: units.quantity(value, unit, language),
        "money": units.money,
        **(context or {}),
    }
    response = templates.TemplateResponse(request, template, values, status_code=status_code,
                                          headers=headers)
    response.headers.setdefault("Cache-Control", "no-cache")
    response.headers["Content-Language"] = "zh-CN" if language == "zh" else "en"
    response.headers["Vary"] = "Cookie, Accept-Language"
    if set_cookie:
        response.set_cookie(i18n.COOKIE, language, max_age=i18n.COOKIE_MAX_AGE, samesite="lax")
    return response


def not_found(request: Request, message: str) -> Response:
    return render(request, "error.html", {"title_key": "not_found_title", "message": message},
                  status_code=404)


def bad_request(request: Request, message: str) -> Response:
    return render(request, "error.html", {"title_key": "bad_request_title", "message": message},
                  status_code=400)
