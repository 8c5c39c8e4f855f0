"""Money as text, exactly: yuan amounts in, integer fen out, never a float and never a rounding.

    >>> parse_yuan("¥1,200.00"), parse_yuan("12.3"), parse_yuan(" 1200 ")
    (120000, 1230, 120000)
    >>> format_fen(120000), format_fen(120000, grouped=True)
    ('1200.00', '1,200.00')
    >>> parse_yuan("12.345")
    Traceback (most recent call last):
    ...
    heartchain.money.MoneyError: 12.345 has more than two decimal places: a fen cannot be ...

Accepted: ASCII digits, an optional ¥ or ￥ in front, thousands separated by commas in groups of
three, up to two decimal places (further places only if they are zeros, which is still exact).
Refused, each with its reason: an empty cell, a sign, exponent notation, a second decimal point,
more than two significant decimal places (what a float written out by a spreadsheet looks like:
"12.300000000000001"), zero, and amounts beyond 2^53 - 1 fen.
"""

from __future__ import annotations

import re
from decimal import Decimal

from heartchain.errors import ValidationError

MAX_FEN = 2**53 - 1
_CURRENCY = ("¥", "￥")
_NUMBER = re.compile(r"(?P<whole>[0-9]+)(?:\.(?P<frac>[0-9]*))?")
_GROUPED = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+")


class MoneyError(ValidationError):
    """A text that is not an exact, positive amount of yuan."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="amount")


def parse_yuan(text: str) -> int:
    """`text` in yuan as integer fen (see the module docstring for what is accepted)."""
    raw = text.strip()
    if not raw:
        raise MoneyError("the amount is empty")
    shown = raw if len(raw) <= 40 else raw[:40] + "…"
    body = raw[1:].lstrip() if raw.startswith(_CURRENCY) else raw
    if body.startswith(("-", "+", "−")):
        raise MoneyError(f"{shown}: an amount has no sign (a refund is a reversal, not a "
                         "negative gift)")
    if "e" in body.lower():
        raise MoneyError(f"{shown}: exponent notation is not an amount of money")
    whole_text, dot, frac_text = body.partition(".")
    if "," in whole_text:
        if not _GROUPED.fullmatch(whole_text):
            raise MoneyError(f"{shown}: thousands are separated by commas in groups of three")
        whole_text = whole_text.replace(",", "")
    match = _NUMBER.fullmatch(whole_text + dot + frac_text)
    if match is None:
        if body.count(".") > 1:
            raise MoneyError(f"{shown} has more than one decimal point")
        raise MoneyError(f"{shown} is not an amount in yuan (digits, an optional decimal point "
                         "and up to two decimal places)")
    frac = match.group("frac")
    if dot and not frac:
        raise MoneyError(f"{shown}: a decimal point needs digits after it")
    frac = frac or ""
    if len(frac) > 2 and frac[2:].strip("0"):
        hint = " (it looks like a floating-point value)" if len(frac) > 6 else ""
        raise MoneyError(f"{shown} has more than two decimal places{hint}: a fen cannot be "
                         "split, and amounts are never rounded")
    fen = int(match.group("whole")) * 100 + int((frac[:2] or "0").ljust(2, "0"))
    if fen == 0:
        raise MoneyError(f"{shown}: the amount is zero")
    # Refused before the check below: Decimal's 28 digits would round a larger product, and
    # the check would then call an exact parse inexact (a 500 instead of this answer).
    if fen > MAX_FEN:
        raise MoneyError(f"{shown}: more than {MAX_FEN} fen")
    if Decimal(match.group(0)) * 100 != fen:  # the whole point: never a rounding
        raise RuntimeError(f"money: {shown} parsed inexactly as {fen} fen")
    return fen


def format_fen(fen: int, *, grouped: bool = False) -> str:
    """Integer fen as yuan with two decimals ("1200.00", or "1,200.00" grouped)."""
    if fen < 0:
        return "-" + format_fen(-fen, grouped=grouped)
    whole, part = divmod(fen, 100)
    return f"{whole:,}.{part:02d}" if grouped else f"{whole}.{part:02d}"
