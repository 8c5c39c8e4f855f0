"""Strict readers for entry bodies: exact keys, integer units, addresses, hashes.

    >>> r = BodyReader({"quantity": 5, "donor": "hc1..."}, "donation.record")
    >>> r.integer("quantity", minimum=1)   # raises ValidationError naming `quantity` otherwise
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from heartchain.errors import ValidationError
from heartchain.keys import Address, verify_key_of

MAX_QUANTITY = 2**53 - 1
_HEX32 = re.compile(r"[0-9a-f]{64}")
_SLUG = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,63}")


class BodyReader:
    def __init__(self, body: Mapping[str, Any], kind: str) -> None:
        if not isinstance(body, Mapping):
            raise ValidationError(f"{kind}: body must be an object", field="body")
        self._body = body
        self._kind = kind
        self._read: set[str] = set()

    def _error(self, name: str, message: str) -> ValidationError:
        return ValidationError(f"{self._kind}: {name}: {message}", field=name)

    def _get(self, name: str, optional: bool) -> Any:
        self._read.add(name)
        if name not in self._body or self._body[name] is None:
            if optional:
                return None
            raise self._error(name, "is required")
        return self._body[name]

    def integer(self, name: str, *, minimum: int = 1, maximum: int = MAX_QUANTITY) -> int:
        value = self._get(name, False)
        if type(value) is not int:
            raise self._error(name, f"must be an integer, got {type(value).__name__}")
        if not minimum <= value <= maximum:
            raise self._error(name, f"{value} is outside {minimum}..{maximum}")
        return value

    def optional_integer(self, name: str, *, minimum: int = 0,
                         maximum: int = MAX_QUANTITY) -> int | None:
        if self._body.get(name) is None:
            self._read.add(name)
            return None
        return self.integer(name, minimum=minimum, maximum=maximum)

    def text(self, name: str, *, max_length: int = 200, min_length: int = 1,
             pattern: re.Pattern[str] | None = None) -> str:
        value = self._get(name, False)
        if not isinstance(value, str):
            raise self._error(name, "must be a string")
        if not min_length <= len(value) <= max_length:
            raise self._error(name, f"length must be {min_length}..{max_length}")
        # fullmatch, not match with `$`: `$` also matches before a trailing newline ("x\n").
        if pattern is not None and not pattern.fullmatch(value):
            raise self._error(name, f"{value!r} is not of the form {pattern.pattern}")
        return value

    def optional_text(self, name: str, *, max_length: int = 200) -> str | None:
        if self._body.get(name) is None:
            self._read.add(name)
            return None
        return self.text(name, max_length=max_length)

    def slug(self, name: str) -> str:
        return self.text(name, max_length=64, pattern=_SLUG)

    def choice(self, name: str, choices: Iterable[str]) -> str:
        allowed = tuple(choices)
        value = self._get(name, False)
        if value not in allowed:
            raise self._error(name, f"{value!r} is not one of {', '.join(allowed)}")
        return str(value)

    def address(self, name: str) -> Address:
        value = self._get(name, False)
        if not isinstance(value, str):
            raise self._error(name, "must be an hc address")
        try:
            verify_key_of(value)
        except ValidationError as exc:
            raise self._error(name, str(exc)) from None
        return Address(value)

    def optional_address(self, name: str) -> Address | None:
        if self._body.get(name) is None:
            self._read.add(name)
            return None
        return self.address(name)

    def hash_hex(self, name: str) -> str:
        return self.text(name, min_length=64, max_length=64, pattern=_HEX32)

    def optional_hash_hex(self, name: str) -> str | None:
        if self._body.get(name) is None:
            self._read.add(name)
            return None
        return self.hash_hex(name)

    def boolean(self, name: str) -> bool:
        value = self._get(name, False)
        if not isinstance(value, bool):
            raise self._error(name, "must be true or false")
        return value

    def raw(self, name: str, *, optional: bool = False) -> Any:
        return self._get(name, optional)

    def finish(self) -> None:
        """Refuse keys the kind does not define: an entry means exactly what its kind says."""
        extra = sorted(set(self._body) - self._read)
        if extra:
            raise ValidationError(f"{self._kind}: unknown field(s) {', '.join(extra)}",
                                  field=extra[0])
