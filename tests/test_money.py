"""Money parsing: exact Decimal -> fen, every refusal named, never a rounding (properties)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heartchain.money import MAX_FEN, MoneyError, format_fen, parse_yuan


@pytest.mark.parametrize(("text", "fen"), [
    ("12.3", 1230), ("¥1,200.00", 120000), ("1200", 120000), ("￥12.30", 1230),
    (" 12.30 ", 1230), ("0.01", 1), ("¥ 5", 500), ("1,234,567.89", 123456789),
    ("12.300", 1230),  # trailing zeros are still exact
])
def test_accepted(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen


@pytest.mark.parametrize(("text", "reason"), [
    ("12.345", "more than two decimal places"),
    ("12.300000000000001", "floating-point"),
    ("1e3", "exponent"),
    ("-5", "no sign"),
    ("+5", "no sign"),
    ("", "empty"),
    ("   ", "empty"),
    ("12.3.4", "more than one decimal point"),
    ("12.", "digits after it"),
    ("0", "zero"),
    ("0.00", "zero"),
    ("1,2,00", "groups of three"),
    ("12,00", "groups of three"),
    ("abc", "not an amount"),
    (".5", "not an amount"),
    ("１２", "not an amount"),  # full-width digits are not read as digits
    ("12 30", "not an amount"),
    (str(MAX_FEN // 100 + 1), f"more than {MAX_FEN} fen"),
])
def test_refused_with_its_reason(text: str, reason: str) -> None:
    with pytest.raises(MoneyError, match=reason):
        parse_yuan(text)


def test_error_names_the_amount_field() -> None:
    with pytest.raises(MoneyError) as caught:
        parse_yuan("12.345")
    assert caught.value.field == "amount"


def test_format() -> None:
    assert format_fen(1) == "0.01"
    assert format_fen(120000, grouped=True) == "1,200.00"
    assert format_fen(-250) == "-2.50"


fens = st.integers(1, MAX_FEN)


@settings(max_examples=300)
@given(fens, st.booleans(), st.sampled_from(["", "¥", "￥", "¥ "]), st.sampled_from(["", " "]))
def test_round_trip(fen: int, grouped: bool, sign: str, pad: str) -> None:
    text = pad + sign + format_fen(fen, grouped=grouped) + pad
    assert parse_yuan(text) == fen


amount_like = st.from_regex(r"\A[¥￥]?[0-9,]{0,12}(\.[0-9]{0,5})?(e[0-9])?\Z", fullmatch=True)


def test_an_amount_past_decimals_precision_is_refused_as_too_large() -> None:
    """31 significant digits: Decimal's default 28 rounded the exactness check's product, and
    the parse raised RuntimeError (a 500) instead of the typed refusal (hypothesis found it)."""
    with pytest.raises(MoneyError, match="more than"):
        parse_yuan("141112056352422911955980779.5200")


@settings(max_examples=500)
@given(st.one_of(amount_like, st.text(max_size=12),
                 st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str),
                 st.floats(0.01, 1e9).map(repr)))
def test_no_accepted_text_ever_rounds(text: str) -> None:
    try:
        fen = parse_yuan(text)
    except MoneyError:
        return
    cleaned = text.strip().lstrip("¥￥").strip().replace(",", "")
    assert Decimal(cleaned) * 100 == fen
    assert 1 <= fen <= MAX_FEN
