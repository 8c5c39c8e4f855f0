"""CSV exports that a spreadsheet opens as data, never as formulas (OWASP "CSV Injection").

A cell whose text starts with `=`, `+`, `-`, `@`, a tab, a carriage return or NUL is prefixed
with a single quote (Excel, LibreOffice and Sheets then show it as text), and every text cell
is quoted (RFC 4180 §2.6–2.7), so a separator, quote or line break inside a value cannot start
a new cell. Integers the code computed (amounts, indexes) stay bare numbers: `-2500` written
from an `int` is data, while the same characters from a string (a payee, a purpose) are escaped.

    >>> import io
    >>> out = io.StringIO()
    >>> writer(out).writerow(["=HYPERLINK(\\"x\\")", -2500])
    >>> out.getvalue()
    '"\\'=HYPERLINK(""x"")",-2500\\r\\n'
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Protocol

# The ASCII triggers OWASP and ASVS 1.2.10 list, and their full-width forms, which
# spreadsheets with East Asian input settings also read as the start of a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0", "＝", "＋", "－", "＠")


class _Writes(Protocol):
    def write(self, text: str, /) -> object: ...


def cell(value: object) -> str | int:
    """One cell: ints as they are, None as empty, any other value as escaped text."""
    if type(value) is int:
        return value
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


class SafeWriter:
    def __init__(self, out: _Writes, *, lineterminator: str = "\r\n") -> None:
        self._writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator=lineterminator)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([cell(value) for value in row])


def writer(out: _Writes, *, lineterminator: str = "\r\n") -> SafeWriter:
    return SafeWriter(out, lineterminator=lineterminator)
