"""Look-ups by client-given ids that no column could hold answer "not found" without a query.

Tortoise refuses to build a filter whose string is longer than the column's `max_length` (it
raises its own ValidationError, which surfaced as "Unexpected error." or a 500), and a database
integer column refuses a Python int beyond its range (SQLite: OverflowError; PostgreSQL:
DataError). No stored row can match either, so the caller answers NotFound at once.

    >>> from tracing.models import Lot  # its id is a CharField(max_length=24)
    >>> can_match(Lot, id="L" * 500), can_match(Lot, id="L" * 24)
    (False, True)
"""

from __future__ import annotations

from typing import Any

from tortoise.models import Model


def can_match(model: type[Model], **values: Any) -> bool:
    """Whether some row of `model` could hold every one of these field values."""
    fields = model._meta.fields_map
    for name, value in values.items():
        field = fields[name]
        if isinstance(value, str):
            max_length = getattr(field, "max_length", None)
            if max_length is not None and len(value) > max_length:
                return False
        elif type(value) is int:
            bounds = getattr(field, "constraints", {})
            if not bounds.get("ge", value) <= value <= bounds.get("le", value):
                return False
    return True
