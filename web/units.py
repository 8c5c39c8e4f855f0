"""Quantities as people read them: fen as yuan, grams as kilograms, items and trees counted.

All arithmetic stays in integers; only the displayed text has a decimal point.

    >>> money(123456)
    '¥1,234.56'
    >>> quantity(12500, "grams", "en")
    '12.5 kg'
    >>> quantity(3, "trees", "zh")
    '3 棵'
"""

from __future__ import annotations

_UNIT_WORDS = {
    "items": ("件", "items"),
    "trees": ("棵", "trees"),
    "fen": ("分", "fen"),
}


def money(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}¥{yuan:,}.{cents:02d}"


def _decimal(value: int, scale: int) -> str:
    whole, rest = divmod(abs(value), scale)
    digits = len(str(scale)) - 1
    fraction = f"{rest:0{digits}d}".rstrip("0")
    sign = "-" if value < 0 else ""
    return f"{sign}{whole:,}" + (f".{fraction}" if fraction else "")


def quantity(value: int, unit: str, language: str = "zh") -> str:
    """`value` in its stored unit (grams, items, trees, fen; or a donation kind)."""
    if unit in ("grams", "gram", "food"):
        return f"{_decimal(value, 1000)} kg" if abs(value) >= 1000 else f"{value:,} g"
    if unit in ("fen", "cash"):
        return money(value)
    if unit == "tree":
        unit = "trees"
    words = _UNIT_WORDS.get(unit)
    if words is None:
        return f"{value:,} {unit}"
    return f"{value:,} {words[0] if language == 'zh' else words[1]}"
