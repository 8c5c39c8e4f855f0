"""The public pages (DESIGN §5): home and search, log explorer, entries, and each domain's pages.

`routes` is what heartchain/app.py mounts. The domain page modules (donors, lots, cases, the
charity console) are added when their domain packages exist, so the core pages work on their own.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import re
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from heartchain.accounts.models import Account
from heartchain.errors import HeartchainError, NotFound
from heartchain.gql import MAX_INT64
from heartchain.platform import Platform
from web import checkpoint_pages, corrections, explorer, home_panels, hooks
from web.accounts import account_page
from web.i18n import translator
from web.render import STATIC_DIR, bad_request, not_found, platform_of, render, templates

logger = logging.getLogger(__name__)

_INDEX_RE = re.compile(r"#?([0-9]{1,16})")
_ADDRESS_RE = re.compile(r"hc1[02-9ac-hj-np-z]{20,100}")


async def home(request: Request) -> Response:
    return await _home(request)


async def _home(request: Request, *, query: str | None = None, message: str | None = None,
                status_code: int = 200) -> Response:
    platform = platform_of(request)
    log = platform.log
    checkpoint = await explorer.latest_checkpoint(log)
    recent = await explorer.entries_page(log, kind=None, before=None, limit=10)
    return render(request, "home.html", {
        "checkpoint": checkpoint,
        "cosignatures": await hooks.cosignatures(platform, checkpoint.size),
        "verifier_key": platform.verifier_key,
        "entries": recent.items,
        "query": query,
        "search_message": message,
        **await home_panels.panels(),
    }, status_code=status_code)


async def search(request: Request) -> Response:
    query = request.query_params.get("q", "").strip()
    t = translator(_language(request))
    if not query:
        return await _home(request, message=t("search_empty"), status_code=400)
    found = await hooks.resolve(platform_of(request), query)
    if found:
        return RedirectResponse(found, status_code=303)
    return await _home(request, query=query, message=t("search_nothing", q=query),
                       status_code=404)


def _language(request: Request) -> str:
    from web.i18n import choose_language

    return choose_language(request)[0]


@hooks.search_resolver
async def _find_entry(platform: Platform, query: str) -> str | None:
    match = _INDEX_RE.fullmatch(query)
    if match and int(match.group(1)) < await platform.log.size():
        return f"/entries/{int(match.group(1))}"
    return None


@hooks.search_resolver
async def _find_account(platform: Platform, query: str) -> str | None:
    address = query.lower()
    if _ADDRESS_RE.fullmatch(address) and await Account.exists(address=address):
        return f"/members/{address}"
    return None


def _optional_int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 16:  # "١٢".isdigit() too
        raise ValueError(name)
    return int(raw)


async def log_page(request: Request) -> Response:
    log = platform_of(request).log
    t = translator(_language(request))
    try:
        entries_before = _optional_int(request, "before")
        checkpoints_before = _optional_int(request, "cp_before")
        consistency_from = _optional_int(request, "consistency_from")
        consistency_to = _optional_int(request, "consistency_to")
    except ValueError as exc:
        return bad_request(request, f"{exc}: {t('bad_request_title')}")
    kind = request.query_params.get("kind", "").strip() or None
    kinds = await explorer.kinds_in_log(log)
    if kind is not None and kind not in kinds:
        kinds = [*kinds, kind]
    entry_page = await explorer.entries_page(log, kind=kind, before=entries_before)
    checkpoint_page = await explorer.checkpoints_page(log, checkpoints_before)
    latest = await explorer.latest_checkpoint(log)
    consistency = None
    consistency_error = None
    if consistency_from is not None and consistency_to is not None:
        try:
            consistency = await explorer.consistency(log, consistency_from, consistency_to)
        except HeartchainError as exc:
            consistency_error = str(exc)

    def entries_query(before: int) -> str:
        params: dict[str, str | int] = {}
        if kind:
            params["kind"] = kind
        if before >= 0:
            params["before"] = before
        if checkpoints_before is not None:
            params["cp_before"] = checkpoints_before
        return urlencode(params)

    def checkpoints_query(before: int) -> str:
        params: dict[str, str | int] = {}
        if kind:
            params["kind"] = kind
        if entries_before is not None:
            params["before"] = entries_before
        if before >= 0:
            params["cp_before"] = before
        return urlencode(params)

    platform = platform_of(request)
    cosigned = {c.size: await hooks.cosignatures(platform, c.size)
                for c in checkpoint_page.items}
    nearest = {}
    if consistency is not None:
        for size, found in ((consistency.from_size, consistency.from_checkpoint),
                            (consistency.to_size, consistency.to_checkpoint)):
            if found is None:
                nearest[size] = await checkpoint_pages.nearest_signed(size)

    return render(request, "log.html", {
        "cosigned": cosigned, "nearest": nearest,
        "kind": kind, "kinds": kinds, "entry_page": entry_page,
        "checkpoint_page": checkpoint_page, "consistency": consistency,
        "consistency_error": consistency_error,
        "default_from": latest.previous_size or 0, "default_to": latest.size,
        "entries_query": entries_query, "checkpoints_query": checkpoints_query,
    }, status_code=400 if consistency_error else 200)


async def entry_page(request: Request) -> Response:
    platform = platform_of(request)
    index = request.path_params["index"]
    t = translator(_language(request))
    try:
        if index > MAX_INT64:  # the path takes any digits; no entry is past 2^53 - 1
            raise NotFound(f"entry {index} does not exist")
        entry = await explorer.entry_view(platform.log, index)
    except NotFound:
        return not_found(request, t("entry_missing", n=index))
    return render(request, "entry.html", {
        "entry": entry,
        "first_checkpoint": await explorer.first_checkpoint(platform.log, index),
        "latest_size": await platform.log.size(),
        "related": hooks.links_for(entry, t),
        **await corrections.entry_context(index),
    })


core_routes: list[BaseRoute] = [
    Route("/", home, name="home"),
    Route("/search", search, name="search"),
    Route("/log", log_page, name="log"),
    Route("/entries/{index:int}", entry_page, name="entry"),
    Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
]

# (page module, the domain modules it needs). A page module that fails to import is left out
# with a logged error rather than taking the whole service down while a domain is in flux.
DOMAIN_PAGES: list[tuple[str, tuple[str, ...]]] = [
    ("web.donors", ("tokens.services",)),
    ("web.lots", ("tracing.services",)),
    ("web.campaign_ledger", ("tracing.services",)),
    ("web.disclosure", ("tracing.services",)),
    ("web.statements", ("tokens.services", "tracing.services")),
    ("web.campaigns", ("tracing.campaign_services",)),
    ("web.cases", ("heartchain.mutualaid.services",)),
    ("web.plans", ("heartchain.mutualaid.services",)),
    ("web.coverage", ("heartchain.mutualaid.services", "tokens.signin")),
    ("web.console", ("tokens.services", "tracing.services")),
    ("web.members", ("tokens.signin",)),
    ("web.witness", ("heartchain.ledger.witness_client",)),
    ("web.receipts", ("heartchain.ledger.witness_client",)),
]


def _available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def domain_routes() -> list[BaseRoute]:
    found: list[BaseRoute] = []
    for page_module, needs in DOMAIN_PAGES:
        if not all(_available(m) for m in needs) or not _available(page_module):
            continue
        try:
            module = importlib.import_module(page_module)
        except Exception:
            logger.exception("web: leaving out %s: it failed to import", page_module)
            continue
        found.extend(getattr(module, "routes", []))
    return found


routes: list[BaseRoute] = [*core_routes, *checkpoint_pages.routes, *domain_routes()]
# The account page is the fallback for /members/<address> when no donor page took it.
routes.append(Route("/members/{address}", account_page, name="account"))
templates.env.globals["console_available"] = any(
    getattr(r, "path", "") == "/console" for r in routes)
templates.env.globals["me_available"] = any(getattr(r, "path", "") == "/me" for r in routes)
templates.env.globals["coverage_available"] = any(
    getattr(r, "path", "") == "/me/plans" for r in routes)
templates.env.globals["plans_available"] = any(getattr(r, "path", "") == "/plans" for r in routes)
