"""Rows out of a payment provider's export: CSV (UTF-8, with or without BOM, or GB18030, which
Alipay uses) or XLSX (its first sheet, read with openpyxl in read-only mode).

Every cell comes out as text. A number from an XLSX cell is its shortest decimal form (`repr`),
so 12.3 reads "12.3" and a float artefact such as 12.300000000000001 reads as such (and is then
refused as money, never rounded); such cells are `NumberCell`s, so a check can tell that a long
id was stored as a number (Excel keeps only 15 digits). Dates read as "YYYY-MM-DD HH:MM:SS".
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, time

from heartchain.errors import ValidationError

XLSX_MAGIC = b"PK\x03\x04"


class NumberCell(str):
    """Text of a cell the spreadsheet stored as a number."""

    __slots__ = ()


def is_xlsx(data: bytes) -> bool:
    return data.startswith(XLSX_MAGIC)


def read_rows(data: bytes) -> Iterator[list[str]]:
    """Each row of the file as text cells, header and preamble included."""
    return _xlsx_rows(data) if is_xlsx(data) else _csv_rows(data)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise ValidationError("file: neither UTF-8 nor GB18030 text, nor an XLSX workbook",
                              field="file") from None


def _csv_rows(data: bytes) -> Iterator[list[str]]:
    text = _decode(data)
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    try:
        yield from csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    except csv.Error as exc:
        raise ValidationError(f"file: not readable as CSV: {exc}", field="file") from None


def _xlsx_rows(data: bytes) -> Iterator[list[str]]:
    from openpyxl import load_workbook  # only XLSX needs it

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ValidationError(f"file: not a readable XLSX workbook: {exc}", field="file") from None
    try:
        sheet = book.worksheets[0]
        for values in sheet.iter_rows(values_only=True):
            yield [cell_text(v) for v in values]
    finally:
        book.close()


def cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return NumberCell(value)
    if isinstance(value, float):
        return NumberCell(int(value) if value.is_integer() else repr(value))
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    return str(value)
