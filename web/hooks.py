"""Where the domain page modules plug into the core pages.

- search resolvers: given the home page's query, a URL to go to (or None);
- entry links: given an entry, links to the pages that show what it did (a lot, a case);
- cosignatures: the witness cosignatures of a checkpoint (None when no witness module exists).

Each domain page module registers its own at import, so the core pages know no domain.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from heartchain.platform import Platform
from web.explorer import EntryView


@dataclass(frozen=True)
class Link:
    url: str
    label: str


@dataclass(frozen=True)
class Cosignature:
    name: str
    key_id_hex: str
    time: str  # ISO 8601 UTC


SearchResolver = Callable[[Platform, str], Awaitable[str | None]]
EntryLinks = Callable[[EntryView, Callable[..., str]], list[Link]]
CosignatureSource = Callable[[Platform, int], Awaitable[list[Cosignature]]]

SEARCH: list[SearchResolver] = []
ENTRY_LINKS: list[EntryLinks] = []
COSIGNATURES: list[CosignatureSource] = []


def search_resolver(function: SearchResolver) -> SearchResolver:
    if function not in SEARCH:
        SEARCH.append(function)
    return function


def entry_links(function: EntryLinks) -> EntryLinks:
    if function not in ENTRY_LINKS:
        ENTRY_LINKS.append(function)
    return function


def cosignature_source(function: CosignatureSource) -> CosignatureSource:
    if function not in COSIGNATURES:
        COSIGNATURES.append(function)
    return function


async def resolve(platform: Platform, query: str) -> str | None:
    for function in SEARCH:
        found = await function(platform, query)
        if found:
            return found
    return None


def links_for(entry: EntryView, t: Callable[..., Any]) -> list[Link]:
    return [link for function in ENTRY_LINKS for link in function(entry, t)]


async def cosignatures(platform: Platform, size: int) -> list[Cosignature] | None:
    if not COSIGNATURES:
        return None
    return [c for source in COSIGNATURES for c in await source(platform, size)]
