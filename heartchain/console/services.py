"""The console's reads and files: a charity's donations (searched, paged), the address book of
registered organisations, and receipt files kept off the log.

A disbursement's receipt: the console hashes the file in the browser, uploads it here (the
server hashes it again and keeps it as `<data dir>/receipts/<sha256>`, 0600), then calls
`disburseFunds(receipt: <sha256>)`: the hash is on the log, the file is not, and only the
charity that uploaded it is served it back.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from heartchain.accounts.entries import ROLES
from heartchain.accounts.models import Account
from heartchain.console.models import ReceiptFile
from heartchain.errors import NotFound, ValidationError
from heartchain.files import PRIVATE_FILE, private_dir
from heartchain.keys import is_address
from heartchain.ledger.entries import format_time
from heartchain.platform import Platform
from tracing.models import TracedDonation

RECEIPT_MAX_BYTES = 4 * 1024 * 1024
RECEIPTS_DIR = "receipts"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SLUG = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,63}")


@dataclass(frozen=True)
class DonationFilter:
    campaign: str | None = None
    since: str | None = None  # YYYY-MM-DD, inclusive
    until: str | None = None  # YYYY-MM-DD, inclusive
    donor: str | None = None
    index: int | None = None

    def check(self) -> None:
        if self.campaign is not None and not _SLUG.fullmatch(self.campaign):
            raise ValidationError("campaign: not a campaign slug", field="campaign")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and not _DATE.fullmatch(value):
                raise ValidationError(f"{name}: a date, YYYY-MM-DD", field=name)
        if self.donor is not None and not is_address(self.donor):
            raise ValidationError("donor: not an address", field="donor")


async def donations_of(charity: str, found: DonationFilter, *, before: int | None,
                       limit: int) -> list[TracedDonation]:
    """The charity's donations matching `found`, newest first, below index `before`."""
    found.check()
    query = TracedDonation.filter(charity=charity)
    if found.campaign is not None:
        query = query.filter(campaign=found.campaign)
    if found.since is not None:
        query = query.filter(at__gte=found.since)
    if found.until is not None:
        query = query.filter(at__lt=found.until + "T99")  # every time on that day
    if found.donor is not None:
        query = query.filter(donor=found.donor)
    if found.index is not None:
        query = query.filter(idx=found.index)
    if before is not None:
        query = query.filter(idx__lt=before)
    return await query.order_by("-idx").limit(limit)


async def organisations(role: str | None, limit: int = 500) -> list[Account]:
    """Registered organisations by name (members carry no label and are never listed)."""
    if role is not None and role not in ROLES:
        return []  # names no role (and never reaches the column, 16 characters wide)
    query = Account.filter(label__isnull=False).exclude(role="member")
    if role is not None:
        query = query.filter(role=role)
    return await query.order_by("label").limit(limit)


# ---------------------------------------------------------------------------------------------
# Receipt files


def _receipts_dir(platform: Platform) -> Path:
    path = Path(platform.settings.data_dir) / RECEIPTS_DIR
    private_dir(path)
    return path


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^\w.\- ]", "_", os.path.basename(name or "receipt"))[:200]
    return cleaned or "receipt"


async def keep_receipt(platform: Platform, charity: str, data: bytes, *, filename: str,
                       content_type: str, sha256: str | None = None) -> ReceiptFile:
    """Keep an uploaded receipt; `sha256`, when the browser sent its own, must be the file's."""
    if not data:
        raise ValidationError("receipt: the file is empty", field="file")
    if len(data) > RECEIPT_MAX_BYTES:
        raise ValidationError(f"receipt: larger than {RECEIPT_MAX_BYTES} bytes", field="file")
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and sha256.lower() != digest:
        raise ValidationError("receipt: the file's SHA-256 is not the one given", field="sha256")
    path = _receipts_dir(platform) / digest
    if not path.exists():
        temporary = path.with_name(f".{digest}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)
    row, _ = await ReceiptFile.get_or_create(id=f"{digest}@{charity}", defaults={
        "sha256": digest, "charity": charity, "filename": _safe_name(filename),
        "content_type": (content_type or "application/octet-stream")[:100],
        "size": len(data), "uploaded_at": format_time(platform.clock.now())})
    return row


async def receipt_of(platform: Platform, charity: str, sha256: str) -> tuple[ReceiptFile, bytes]:
    """A receipt file the charity uploaded, and its bytes."""
    if not _HEX64.fullmatch(sha256):
        raise NotFound("no such receipt")
    row = await ReceiptFile.get_or_none(id=f"{sha256}@{charity}")
    path = _receipts_dir(platform) / sha256
    if row is None or not path.exists():
        raise NotFound("no such receipt of yours")
    return row, path.read_bytes()
