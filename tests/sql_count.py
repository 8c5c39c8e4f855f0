"""Count the SQL statements a block sends through Tortoise's default connection."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tortoise import connections


@contextmanager
def counted_queries() -> Iterator[list[str]]:
    """Every statement sent inside the block, in order."""
    seen: list[str] = []
    client_class = type(connections.get("default"))
    originals = {name: getattr(client_class, name) for name in
                 ("execute_query", "execute_query_dict", "execute_many", "execute_insert")}

    def counting(name: str) -> Any:
        async def run(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            seen.append(query)
            return await originals[name](self, query, *args, **kwargs)
        return run

    for name in originals:
        setattr(client_class, name, counting(name))
    try:
        yield seen
    finally:
        for name, original in originals.items():
            setattr(client_class, name, original)
