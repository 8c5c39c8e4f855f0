"""QR labels for lots: the public trace URL plus a short code bound to the lot's creating entry.

The code is the first 8 base32 characters of SHA-256("heartchain/lot-label\\n" || leaf hash of
the entry that created the lot || lot id). A label copied from another lot (or printed with an
invented code) names a lot whose code differs, which the scan reports. Rendered labels never change,
so they are cached.

    >>> trace_url("https://hc.example", "L42", "ABCDEFGH")
    'https://hc.example/lots/L42?c=ABCDEFGH'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
from functools import lru_cache

import qrcode
import qrcode.image.svg

from tracing.errors import LabelMismatch

CODE_LENGTH = 8
_DOMAIN = b"heartchain/lot-label\n"


def label_code(leaf_hash: bytes, lot_id: str) -> str:
    digest = hashlib.sha256(_DOMAIN + leaf_hash + lot_id.encode()).digest()
    return base64.b32encode(digest).decode()[:CODE_LENGTH]


def trace_url(public_url: str, lot_id: str, code: str) -> str:
    return f"{public_url.rstrip('/')}/lots/{lot_id}?c={code}"


def check_code(lot_id: str, expected: str, scanned: str) -> None:
    """Raise LabelMismatch unless the scanned code is the lot's own code."""
    if not hmac.compare_digest(expected.encode(), scanned.strip().upper().encode()):
        raise LabelMismatch(f"label: code {scanned!r} does not belong to lot {lot_id}: "
                            "this label was copied from another lot or forged")


def _qr(url: str) -> qrcode.QRCode:  # type: ignore[type-arg]
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=4)
    code.add_data(url)
    code.make(fit=True)
    return code


@lru_cache(maxsize=4096)
def label_svg(url: str) -> bytes:
    image = _qr(url).make_image(image_factory=qrcode.image.svg.SvgPathImage)
    return image.to_string(encoding="unicode").encode()  # type: ignore[no-any-return]


@lru_cache(maxsize=1024)
def label_png(url: str) -> bytes:
    image = _qr(url).make_image()
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()
