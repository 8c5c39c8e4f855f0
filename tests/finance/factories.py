"""Test data for charity finance: provider exports with bad rows seeded where a test says."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable
from dataclasses import dataclass

GENERIC_HEADER = ["time", "payer", "amount", "transaction_id", "campaign"]
ALIPAY_HEADER = ["支付宝交易号", "付款时间", "买家支付宝账号", "订单金额（元）", "交易状态", "备注"]

# Each way a row goes bad: (column it is reported under, how the good row is spoiled).
Spoil = Callable[[dict[str, str]], None]
SPOILERS: list[tuple[str, Spoil]] = [
    ("amount", lambda r: r.update(amount="12.345")),
    ("amount", lambda r: r.update(amount="1e3")),
    ("amount", lambda r: r.update(amount="-5")),
    ("amount", lambda r: r.update(amount="")),
    ("amount", lambda r: r.update(amount="12.3.4")),
    ("amount", lambda r: r.update(amount="12.300000000000001")),
    ("amount", lambda r: r.update(amount="0.00")),
    ("payer", lambda r: r.update(payer="138****0000")),
    ("payer", lambda r: r.update(payer="")),
    ("payer", lambda r: r.update(payer="not a payer!")),
    ("transaction_id", lambda r: r.update(transaction_id="")),
    ("transaction_id", lambda r: r.update(transaction_id="has space")),
    ("time", lambda r: r.update(time="yesterday")),
    ("time", lambda r: r.update(time="2999-01-01 00:00:00")),
    ("campaign", lambda r: r.update(campaign="Winter Fund")),
]


@dataclass
class Export:
    data: bytes
    rows: int
    bad: dict[int, str]  # row number (header = row 1) -> the column it is reported under
    fen: int  # the good rows' total
    payers: int  # distinct payers of the good rows


def generic_csv(rows: int, *, bad: int = 0, payers: int = 500, seed: int = 14,
                campaign: str = "winter-2026", duplicates: int = 0) -> Export:
    """A plain export (generic mapping): `bad` rows spoiled one way each, `duplicates` of them
    repeating an earlier row's transaction id."""
    rng = random.Random(seed)
    spoiled = set(rng.sample(range(rows), bad))
    repeats = set(rng.sample(sorted(set(range(1, rows)) - spoiled), duplicates))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(GENERIC_HEADER)
    marks: dict[int, str] = {}
    fen = 0
    good_payers: set[str] = set()
    for n in range(rows):
        row = {"time": f"2026-11-{1 + n % 28:02d} {n % 24:02d}:{n % 60:02d}:00",
               "payer": f"139{rng.randrange(payers):08d}",
               "amount": f"{1 + n % 500}.{n % 100:02d}", "transaction_id": f"T2026{n:09d}",
               "campaign": campaign}
        if n in spoiled:
            column, spoil = SPOILERS[len(marks) % len(SPOILERS)]
            spoil(row)
            marks[n + 2] = column
        elif n in repeats:
            row["transaction_id"] = f"T2026{n - 1:09d}"
            marks[n + 2] = "transaction_id"
        else:
            fen += (1 + n % 500) * 100 + n % 100
            good_payers.add(row["payer"])
        writer.writerow([row[h] for h in GENERIC_HEADER])
    return Export(out.getvalue().encode(), rows, marks, fen, len(good_payers))
