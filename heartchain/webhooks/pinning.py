"""Where a delivery may connect: the endpoint's host resolved once, every address checked, the
connection pinned to one of them.

Checking the host at registration is not enough: a name can answer a public address then and
127.0.0.1 (or the cloud metadata address) a minute later (DNS rebinding), and a second lookup by
the HTTP client could answer differently from the one that was checked. So each delivery
resolves the host once (`resolve`), refuses it if ANY address it answers is not public
(`refusal`), and connects to the first address it checked, sending the host name as the Host
header and as the TLS server name, so the certificate is still verified against the name.

The one exception is explicit and off by default: with `webhook_allow_loopback_http` (tests and
local development) an `http://127.0.0.1`, `http://localhost` or `http://[::1]` endpoint is
delivered to, and then only if every address it resolves to is a loopback one.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from heartchain.webhooks.errors import EndpointRefused

# (host, port) -> the addresses it resolves to, as text
Resolver = Callable[[str, int], Awaitable[list[str]]]
RESOLVE_TIMEOUT_S = 5.0
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}

# Not public, though some Python versions' `is_global` lets them through: shared address space
# (CGNAT), NAT64 and 6to4 (they embed an IPv4 address that may be private), benchmarking.
_NOT_PUBLIC = [ipaddress.ip_network(n) for n in (
    "100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "64:ff9b::/96", "64:ff9b:1::/48",
    "2002::/16")]


def refusal(address: str) -> str | None:
    """Why deliveries may not go to `address`, or None when it is a public unicast address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return f"{ip} is not public (IPv4-mapped)"
    for name in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(ip, f"is_{name}"):
            return f"{ip} is not public ({name.replace('_', '-')})"
    if any(ip in network for network in _NOT_PUBLIC) or not ip.is_global:
        return f"{ip} is not public (shared, translated or special-purpose)"
    return None


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def check_addresses(host: str, addresses: list[str], *, loopback_http: bool = False) -> None:
    """`EndpointRefused` naming the first address of `host` deliveries may not go to."""
    for address in addresses:
        if loopback_http:
            reason = None if _is_loopback(address) else f"{address} is not a loopback address"
        else:
            reason = refusal(address)
        if reason is not None:
            raise EndpointRefused(f"url: {host} resolves to {address}: {reason}", field="url")


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    found = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


async def check_registered_name(url: str, *, resolver: Resolver,
                                allow_loopback_http: bool) -> None:
    """At registration, refuse a name that already resolves to an address deliveries may not go
    to. A name that does not resolve (yet) is accepted: each delivery resolves it again."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if allow_loopback_http and parts.scheme == "http" and host in LOOPBACK_NAMES:
        return
    try:
        addresses = await resolver(host, parts.port or 443)
    except (OSError, TimeoutError, UnicodeError):
        return
    check_addresses(host, addresses)


@dataclass(frozen=True)
class Pinned:
    """A checked request target: `url` names the address, `host` goes in Host and in TLS SNI."""

    url: str
    host: str  # the Host header: the name, with the port when the URL gave one
    server_name: str  # the name the TLS certificate must be valid for
    address: str


async def pin(url: str, *, resolver: Resolver, allow_loopback_http: bool) -> Pinned:
    """The URL rewritten to one address of its host, after every address was checked;
    `EndpointRefused` (with the reason) when any is not allowed or the name does not resolve."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    loopback_http = allow_loopback_http and parts.scheme == "http" and host in LOOPBACK_NAMES
    if parts.scheme != "https" and not loopback_http:
        raise EndpointRefused("url: deliveries go to https:// endpoints only", field="url")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = await resolver(host, port)
    except (OSError, TimeoutError, UnicodeError) as exc:
        raise EndpointRefused(f"url: {host} does not resolve ({exc})", field="url") from None
    if not addresses:
        raise EndpointRefused(f"url: {host} resolves to no address", field="url")
    check_addresses(host, addresses, loopback_http=loopback_http)
    chosen = addresses[0]
    shown = f"[{chosen}]" if ":" in chosen else chosen
    netloc = shown if parts.port is None else f"{shown}:{parts.port}"
    header = (f"[{host}]" if ":" in host else host) + (
        "" if parts.port is None else f":{parts.port}")
    return Pinned(urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")),
                  header, host, chosen)
