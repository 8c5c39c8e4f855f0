"""One row of a provider export checked into a gift, or the problems that stop it.

Times without a zone are China Standard Time (UTC+8, as Alipay and WeChat Pay export them) and
go on the log as UTC. The payer is a phone or e-mail (normalised as tokens.donors does) or the
provider's payer id; a masked one ("138****0000") names nobody and is refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from heartchain.errors import ValidationError
from heartchain.finance.mappings import COMPLETED, Resolved, normal_header
from heartchain.finance.sheets import NumberCell
from heartchain.ledger.entries import format_time
from heartchain.money import parse_yuan
from tokens.donors import normalise_contact

CHINA = timezone(timedelta(hours=8))
_SLUG = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,63}")
_PAYER_ID = re.compile(r"[A-Za-z0-9_\-.:@+]{4,128}")
_TRANSACTION = re.compile(r"[\x21-\x7e]{1,128}")
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M",
                 "%Y-%m-%d", "%Y/%m/%d")
EXCEL_DIGITS = 15  # a longer number kept as a number has lost its last digits


@dataclass(frozen=True)
class Gift:
    row: int
    paid_at: str | None
    contact: str  # normalised phone or e-mail, or "id:<payer id>"
    fen: int
    transaction: str
    campaign: str


@dataclass(frozen=True)
class Problem:
    row: int
    column: str  # the header as the file shows it, or the field when it has no column
    reason: str


def _cell(cells: Sequence[str], resolved: Resolved, field: str) -> str:
    where = resolved.columns.get(field)
    if where is None or where[0] >= len(cells):
        return ""
    value = cells[where[0]]
    text = value.strip().lstrip("`").strip()  # WeChat Pay prefixes every cell with a backtick
    return NumberCell(text) if isinstance(value, NumberCell) else text


_COMMON_TIME = re.compile(r"([0-9]{4})[-/]([0-9]{2})[-/]([0-9]{2}) "
                          r"([0-9]{2}):([0-9]{2}):([0-9]{2})")


def parse_time(text: str) -> datetime:
    common = _COMMON_TIME.fullmatch(text)  # what the providers export: read it without strptime
    if common:
        try:
            year, month, day, hour, minute, second = (int(g) for g in common.groups())
            return datetime(year, month, day, hour, minute, second, tzinfo=CHINA)
        except ValueError:
            raise ValueError(f"{text} is not a time") from None
    if "T" in text:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{text} is not a time") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=CHINA)
    for pattern in _TIME_FORMATS:
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=CHINA)
        except ValueError:
            continue
    raise ValueError(f"{text} is not a time (YYYY-MM-DD HH:MM:SS, China time, or ISO 8601)")


def payer_contact(text: str) -> str:
    if not text:
        raise ValueError("the payer is empty")
    if "*" in text:
        raise ValueError(f"{text} is masked: export the full payer ids")
    if "@" in text or re.fullmatch(r"\+?[0-9 ()-]{6,20}", text):
        try:
            return normalise_contact(text)
        except ValidationError:
            if "@" in text:
                raise ValueError(f"{text} is not an e-mail address") from None
    if not _PAYER_ID.fullmatch(text):
        raise ValueError(f"{text[:40]} is not a phone, e-mail or payer id")
    return "id:" + text


def check_row(number: int, cells: Sequence[str], resolved: Resolved, *,
              default_campaign: str | None, now: datetime) -> Gift | list[Problem]:
    """The gift in row `number`, or every problem with it (one per column)."""
    problems: list[Problem] = []

    def problem(field: str, reason: str) -> None:
        where = resolved.columns.get(field)
        problems.append(Problem(number, where[1] if where else field, reason))

    status = _cell(cells, resolved, "status")
    if "status" in resolved.columns and normal_header(status) not in COMPLETED:
        problem("status", f"{status or 'an empty status'} is not a completed payment")
    paid_at: str | None = None
    if "time" in resolved.columns:
        text = _cell(cells, resolved, "time")
        try:
            moment = parse_time(text) if text else None
            if moment is None:
                raise ValueError("the time is empty")
            if moment > now + timedelta(minutes=5):
                raise ValueError(f"{text} is in the future")
            paid_at = format_time(moment)
        except ValueError as exc:
            problem("time", str(exc))
    contact = ""
    payer = _cell(cells, resolved, "payer")
    try:
        if isinstance(payer, NumberCell) and len(payer) > EXCEL_DIGITS:
            raise ValueError(f"{payer} was stored as a number, which keeps only {EXCEL_DIGITS} "
                             "digits: format the column as text and export again")
        contact = payer_contact(payer)
    except ValueError as exc:
        problem("payer", str(exc))
    fen = 0
    try:
        fen = parse_yuan(_cell(cells, resolved, "amount"))
    except ValidationError as exc:
        problem("amount", str(exc))
    transaction = _cell(cells, resolved, "transaction")
    if not transaction:
        problem("transaction", "the transaction id is empty")
    elif isinstance(transaction, NumberCell) and len(transaction) > EXCEL_DIGITS:
        problem("transaction", f"{transaction} was stored as a number, which keeps only "
                f"{EXCEL_DIGITS} digits: format the column as text and export again")
    elif not _TRANSACTION.fullmatch(transaction):
        problem("transaction", f"{transaction[:40]} is not a transaction id (printable ASCII, "
                "no spaces, at most 128 characters)")
    campaign = _cell(cells, resolved, "campaign") or default_campaign or ""
    if not campaign:
        problem("campaign", "no campaign: map a campaign column or give a default campaign")
    elif not _SLUG.fullmatch(campaign):
        problem("campaign", f"{campaign[:64]} is not a campaign slug (lower-case letters, "
                "digits, - _ . :)")
    if problems:
        return problems
    return Gift(number, paid_at, contact, fen, transaction, campaign)


def check_rows(numbered: Sequence[tuple[int, Sequence[str]]], resolved: Resolved, *,
               default_campaign: str | None, now: datetime) -> list[Gift | list[Problem]]:
    """`check_row` of each (row number, cells), in order (a slice of a file, for the worker)."""
    return [check_row(number, cells, resolved, default_campaign=default_campaign, now=now)
            for number, cells in numbered]
