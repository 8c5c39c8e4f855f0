"""Webhook endpoints: register, list, disable; which entries one is due; the payload it gets.

An endpoint belongs to the charity or partner that registered it. Its secret is random, shown
once, and kept sealed under the master key (the sender needs it back to sign). Its filters are
entry kinds and campaigns (`<slug>@<charity>`; a charity may write its own as `<slug>`); an
empty list matches anything, so kinds and campaigns together mean both must match.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from heartchain.accounts.models import Account
from heartchain.errors import Conflict, PermissionDenied, VerificationError
from heartchain.idempotency import idempotent_nonce
from heartchain.keys import is_address
from heartchain.ledger.entries import format_time
from heartchain.ledger.kinds import kind_names
from heartchain.ledger.reader import StoredEntry
from heartchain.ledger.store import fetch
from heartchain.platform import Platform
from heartchain.webhooks.errors import BadFilter, EndpointRefused, UnknownEndpoint
from heartchain.webhooks.models import WebhookEndpoint
from heartchain.webhooks.pinning import (
    LOOPBACK_NAMES,
    Resolver,
    check_registered_name,
    refusal,
    system_resolver,
)

OWNER_ROLES = ("charity", "partner")
SECRET_PREFIX = "whsec_"
MAX_URL = 500
MAX_FILTERS = 50
MAX_ENDPOINTS = 20  # per owner
_SLUG = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,63}")


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_url(url: str, *, allow_loopback_http: bool = False) -> str:
    """`url` if deliveries may go there: HTTPS, no credentials or fragment, a host name or a
    public address (never the operator's own network); http://127.0.0.1 only when allowed."""
    if len(url) > MAX_URL:
        raise EndpointRefused(f"url: longer than {MAX_URL} characters", field="url")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a port past 65535 raises here)
    except ValueError as exc:
        raise EndpointRefused(f"url: {exc}", field="url") from None
    host = (parts.hostname or "").lower()
    if not host:
        raise EndpointRefused("url: no host", field="url")
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise EndpointRefused("url: no user name, password or #fragment", field="url")
    if parts.scheme == "http" and allow_loopback_http and host in LOOPBACK_NAMES:
        return url
    if parts.scheme != "https":
        raise EndpointRefused("url: deliveries go to https:// endpoints only", field="url")
    # An address literal meets the rule each delivery applies to what a name resolves to.
    if host in LOOPBACK_NAMES or (_is_address(host) and refusal(host) is not None):
        raise EndpointRefused("url: not a public address", field="url")
    return url


def _kinds(kinds: list[str]) -> list[str]:
    known = set(kind_names())
    for kind in kinds:
        if kind not in known:
            raise BadFilter(f"kinds: {kind[:64]!r} is not an entry kind", field="kinds")
    return sorted(set(kinds))


def _campaigns(campaigns: list[str], owner: Account) -> list[str]:
    found = []
    for given in campaigns:
        slug, at, charity = given.partition("@")
        if not at:
            if owner.role != "charity":
                raise BadFilter(f"campaigns: {given[:64]!r}: name the charity, "
                                "<slug>@<charity address>", field="campaigns")
            charity = owner.address
        if not _SLUG.fullmatch(slug) or not is_address(charity):
            raise BadFilter(f"campaigns: {given[:150]!r} is not <slug>@<charity address>",
                            field="campaigns")
        found.append(f"{slug}@{charity}")
    return sorted(set(found))


@dataclass(frozen=True)
class Registered:
    endpoint: WebhookEndpoint
    secret: str  # shown once


async def register(platform: Platform, owner: Account, url: str, *, kinds: list[str],
                   campaigns: list[str], from_index: int | None = None,
                   resolver: Resolver = system_resolver) -> Registered:
    """A new endpoint, due every matching entry from `from_index` (default: the next one)."""
    if owner.role not in OWNER_ROLES:
        raise PermissionDenied(f"webhooks are for {' and '.join(OWNER_ROLES)} accounts")
    allow = platform.settings.webhook_allow_loopback_http
    check_url(url, allow_loopback_http=allow)
    await check_registered_name(url, resolver=resolver, allow_loopback_http=allow)
    if len(kinds) + len(campaigns) > MAX_FILTERS:
        raise BadFilter(f"at most {MAX_FILTERS} kinds and campaigns", field="kinds")
    chosen_kinds, chosen_campaigns = _kinds(kinds), _campaigns(campaigns, owner)
    if not chosen_kinds and not chosen_campaigns:
        raise BadFilter("give entry kinds, campaigns or both", field="kinds")
    if await WebhookEndpoint.filter(owner=owner.address, active=True).count() >= MAX_ENDPOINTS:
        raise BadFilter(f"at most {MAX_ENDPOINTS} active endpoints each", field="url")
    size = await platform.log.size()
    start = size if from_index is None else from_index
    if not 0 <= start <= size:
        raise BadFilter(f"fromIndex: must be 0..{size}", field="fromIndex")
    # A retry with the request's Idempotency-Key finds the endpoint its first attempt made.
    nonce = idempotent_nonce("webhook.register", owner.address)
    endpoint_id = "wh_" + (nonce.hex()[:24] if nonce is not None else secrets.token_hex(12))
    earlier = await WebhookEndpoint.get_or_none(id=endpoint_id)
    if earlier is not None:
        if (earlier.owner, earlier.url, kinds_of(earlier), campaigns_of(earlier)) != (
                owner.address, url, chosen_kinds, chosen_campaigns):
            raise Conflict("Idempotency-Key was already used for a different request")
        return Registered(earlier, secret_of(platform, earlier))
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    endpoint = await WebhookEndpoint.create(
        id=endpoint_id, owner=owner.address, url=url, kinds=json.dumps(chosen_kinds),
        campaigns=json.dumps(chosen_campaigns),
        secret_sealed=platform.vault.seal(f"{endpoint_id}\n{secret}".encode()),
        created_at=format_time(platform.clock.now()), start_index=start, next_index=start)
    return Registered(endpoint, secret)


def secret_of(platform: Platform, endpoint: WebhookEndpoint) -> str:
    """The endpoint's secret; a sealed secret copied from another endpoint's row is refused."""
    endpoint_id, _, secret = platform.vault.open(bytes(endpoint.secret_sealed)).decode() \
        .partition("\n")
    if endpoint_id != endpoint.id:
        raise VerificationError(f"webhook {endpoint.id}: its secret is sealed for another")
    return secret


async def endpoints_of(owner: str) -> list[WebhookEndpoint]:
    return await WebhookEndpoint.filter(owner=owner).order_by("created_at", "id")


async def endpoint_of(owner: str, endpoint_id: str) -> WebhookEndpoint:
    found = await WebhookEndpoint.get_or_none(id=endpoint_id[:32], owner=owner)
    if found is None:
        raise UnknownEndpoint(f"no webhook {endpoint_id[:40]!r} of yours")
    return found


async def disable(owner: str, endpoint_id: str) -> WebhookEndpoint:
    """Stop deliveries to an endpoint (its history stays)."""
    endpoint = await endpoint_of(owner, endpoint_id)
    await WebhookEndpoint.filter(id=endpoint.id).update(active=False)
    endpoint.active = False
    return endpoint


# ---------------------------------------------------------------------------------------------
# What is due, and what is sent


def kinds_of(endpoint: WebhookEndpoint) -> list[str]:
    return list(json.loads(endpoint.kinds))


def campaigns_of(endpoint: WebhookEndpoint) -> list[str]:
    return list(json.loads(endpoint.campaigns))


async def campaign_of(platform: Platform, stored: StoredEntry,
                      body: dict[str, Any]) -> tuple[str, str] | None:
    """The (slug, charity) an entry is about, if any: from its body, or for a reversal from
    the donation it reverses."""
    slug = body.get("campaign")
    if slug is None and stored.kind.startswith("campaign."):
        slug = body.get("slug")
    charity = body.get("charity")
    if isinstance(slug, str) and isinstance(charity, str):
        return slug, charity
    if stored.kind == "donation.reverse" and isinstance(body.get("donation"), int):
        rows = await fetch(platform.log.reader.connection(),
                           "SELECT campaign, charity FROM tracing_donation WHERE idx = ?",
                           [body["donation"]])
        if rows:
            return str(rows[0]["campaign"]), str(rows[0]["charity"])
    return None


async def due_entries(platform: Platform, endpoint: WebhookEndpoint, *, limit: int = 100
                      ) -> tuple[list[tuple[StoredEntry, tuple[str, str] | None]], int]:
    """The next entries at or after the endpoint's cursor that match its filters (at most
    `limit`), and the index the cursor may move to once they are delivered: past every entry
    read, matching or not."""
    kinds, campaigns = kinds_of(endpoint), set(campaigns_of(endpoint))
    conn = platform.log.reader.connection()
    # The head first: an entry appended while this reads is left for the next pass, not skipped.
    head = await platform.log.size()
    conditions, values = ["idx >= ?", "idx < ?"], [endpoint.next_index, head]
    if kinds:
        conditions.append(f"kind IN ({', '.join('?' * len(kinds))})")
        values.extend(kinds)
    rows = await fetch(conn, "SELECT idx, leaf_hash, data, kind, at, integrated_at FROM "
                       f"log_entry WHERE {' AND '.join(conditions)} ORDER BY idx "
                       f"LIMIT {int(limit)}", values)
    found = []
    scanned_to = endpoint.next_index
    for row in rows:
        stored = StoredEntry(int(row["idx"]), bytes(row["leaf_hash"]), bytes(row["data"]),
                             str(row["kind"]), str(row["at"]), str(row["integrated_at"]))
        scanned_to = stored.index + 1
        body = json.loads(stored.data)["body"]
        campaign = await campaign_of(platform, stored, body)
        if campaigns and (campaign is None or f"{campaign[0]}@{campaign[1]}" not in campaigns):
            continue
        found.append((stored, campaign))
    if len(rows) < limit:  # nothing else matches below the head: skip to it
        scanned_to = max(scanned_to, head)
    return found, scanned_to


def delivery_id(endpoint: WebhookEndpoint, index: int) -> str:
    return f"{endpoint.id}:{index}"


def payload(platform: Platform, endpoint: WebhookEndpoint, stored: StoredEntry,
            campaign: tuple[str, str] | None) -> bytes:
    """What a delivery carries: where the entry is and how to check it, never its body (no
    donor address, no personal data): the receiver fetches the entry by its links."""
    base = platform.settings.public_url.rstrip("/")
    document = {
        "id": delivery_id(endpoint, stored.index),
        "endpoint": endpoint.id,
        "index": stored.index,
        "kind": stored.kind,
        "campaign": None if campaign is None else {"slug": campaign[0], "charity": campaign[1]},
        "integrated_at": stored.integrated_at,
        "leaf_hash": stored.leaf_hash.hex(),
        "links": {"entry": f"{base}/entries/{stored.index}",
                  "receipt": f"{base}/entries/{stored.index}/receipt",
                  "graphql": f"{base}/graphql"},
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
