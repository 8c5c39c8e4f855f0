"""What a donor can print or keep: a donation receipt and a year-end statement.

    GET /donations/{n}/receipt              a printable receipt (print CSS) with the offline
                                            receipt (tlog-proof, heartchain/ledger/receipts.py)
                                            as a QR code
    GET /donations/{n}/receipt.pdf          the same page as PDF (WeasyPrint; Chinese through the
                                            system's CJK fonts, e.g. Debian fonts-noto-cjk)
    GET /members/{address}/statement[?from=2026-04-01]   every gift of the fiscal year that
                                            starts on that date (default: 1 January of this year)
                                            with its status, printable

The QR code holds the whole tlog-proof text when it fits one code (error correction L, at most
2,953 bytes), so the paper alone proves the gift offline; otherwise the receipt's download URL.
"""

from __future__ import annotations

import importlib.util
import re
from datetime import date

import qrcode
import qrcode.image.svg
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from heartchain.accounts.models import Account
from heartchain.corrections.queries import entry_corrections
from heartchain.errors import HeartchainError
from heartchain.keys import is_address
from heartchain.receipt_service import entry_receipt
from tokens.models import HeartDonation
from tracing.disclosure import CST
from tracing.statements import donor_statement, fiscal_year, year_containing
from web import corrections  # noqa: F401  (its messages)
from web.i18n import add_messages, choose_language, translator
from web.render import STATIC_DIR, bad_request, not_found, platform_of, render

add_messages({
    "dr_title": ("捐赠收据 #{n}", "Donation receipt #{n}"),
    "dr_charity": ("受赠机构", "Received by"),
    "dr_donor": ("捐赠人地址", "Donor address"),
    "dr_entry": ("日志条目", "Log entry"),
    "dr_time": ("时间", "Time"),
    "dr_amount": ("捐赠内容", "Gift"),
    "dr_hearts": ("爱心值", "Hearts"),
    "dr_leaf": ("条目哈希", "Entry hash"),
    "dr_status": ("状态", "Status"),
    "dr_qr_proof": ("二维码即离线凭证（tlog-proof，检查点 {n}）：无需本站即可用 heartchain receipt "
                    "verify 或 /receipt 页面核对。",
                    "The QR code is the offline receipt itself (tlog-proof against checkpoint "
                    "{n}): check it without this site with `heartchain receipt verify` or the "
                    "/receipt page."),
    "dr_qr_url": ("凭证太大，无法放入一个二维码：扫码下载凭证文件。",
                  "The receipt is too large for one QR code: scan to download the receipt "
                  "file."),
    "dr_print": ("打印", "Print"),
    "dr_pdf": ("下载 PDF", "Download PDF"),
    "dr_printable": ("可打印收据", "Printable receipt"),
    "dr_not_donation": ("条目 {n} 不是捐赠记录。", "Entry {n} is not a donation."),
    "st_title": ("年度捐赠明细", "Year-end statement"),
    "st_link": ("年度捐赠明细", "Year-end statement"),
    "st_year": ("{a} 至 {b}（不含，北京时间）", "{a} to {b} (exclusive, China Standard Time)"),
    "st_from": ("财年起始日", "Fiscal year starts"),
    "st_show": ("查看", "Show"),
    "st_bad_from": ("日期格式应为 2026-04-01", "a date is written like 2026-04-01"),
    "st_totals": ("合计", "Totals"),
    "st_total_line": ("{kind}：{n} 笔，净额 {q}，爱心值 {h}",
                      "{kind}: {n} gifts, net {q}, {h} hearts"),
    "st_none": ("这一年没有捐赠记录。", "No gifts in this year."),
    "status_recorded": ("已记录", "recorded"),
    "status_corrected": ("已更正（条目 #{n}）", "corrected (entry #{n})"),
    "status_reversed": ("已退款（条目 #{n}）", "reversed (entry #{n})"),
    "status_refunded": ("未达成效，按比例退回 {a}（条目 #{n}）",
                        "{a} refunded pro rata (entry #{n})"),
    "status_disbursed": ("{a} 已支付给 {p}，用于 {u}（条目 #{n}）",
                         "{a} disbursed to {p} for {u} (entry #{n})"),
    "status_dispatched": ("已放入物资批次 {a}", "dispatched into lots: {a}"),
    "status_delivered_n": ("已发放 {a}", "delivered: {a}"),
})

QR_CAPACITY = 2953  # bytes in one QR code, version 40, error correction L
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def proof_qr(text: str) -> Markup:
    """`text` as an inline SVG QR code (error correction L: the most data per code)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_L, box_size=4,
                         border=4)
    code.add_data(text.encode(), optimize=0)
    code.make(fit=True)
    svg = code.make_image(image_factory=qrcode.image.svg.SvgPathImage).to_string(
        encoding="unicode")
    # Made by qrcode from our own receipt text: no user HTML in it.
    return Markup(re.sub(r"^<\?xml[^>]*\?>\s*", "", svg))


def pdf_available() -> bool:
    return importlib.util.find_spec("weasyprint") is not None


async def _receipt_context(request: Request) -> dict[str, object] | Response:
    platform = platform_of(request)
    index = request.path_params["index"]
    t = translator(choose_language(request)[0])
    donation = await HeartDonation.get_or_none(idx=index) if index < 2**53 else None
    if donation is None:
        return not_found(request, t("dr_not_donation", n=index))
    stored = await platform.log.get_entry(index)
    url = f"{platform.settings.public_url.rstrip('/')}/entries/{index}/receipt"
    try:
        proof: str | None = await entry_receipt(platform, index)
    except HeartchainError:
        proof = None
    fits = proof is not None and len(proof.encode()) <= QR_CAPACITY
    size = None
    if proof is not None:
        size = next((int(line) for line in proof.split("\n\n", 1)[1].splitlines()[1:2]), None)
    charity = await Account.get_or_none(address=donation.charity)
    return {"d": donation, "leaf_hex": stored.leaf_hash.hex(), "proof_fits": fits,
            "qr": proof_qr(proof if fits and proof is not None else url), "proof_size": size,
            "charity_label": charity.label if charity else None,
            "c": await entry_corrections(index), "pdf": pdf_available()}


async def receipt_page(request: Request) -> Response:
    context = await _receipt_context(request)
    if isinstance(context, Response):
        return context
    return render(request, "donation_receipt.html", context)


async def receipt_pdf(request: Request) -> Response:
    if not pdf_available():
        return not_found(request, "PDF receipts need WeasyPrint")
    context = await _receipt_context(request)
    if isinstance(context, Response):
        return context
    from weasyprint import CSS, HTML  # imported when asked: it loads Pango

    page = render(request, "donation_receipt.html", {**context, "for_pdf": True})
    # The page's own stylesheet, print rules included (the PDF is what a printer would get).
    document = HTML(string=bytes(page.body).decode()).write_pdf(
        stylesheets=[CSS(filename=str(STATIC_DIR / "style.css"))])
    index = request.path_params["index"]
    return Response(document, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="heartchain-donation-{index}.pdf"',
        "Cache-Control": "no-cache"})


async def statement_page(request: Request) -> Response:
    address = request.path_params["address"]
    t = translator(choose_language(request)[0])
    if not is_address(address):
        return not_found(request, address[:100])
    raw = request.query_params.get("from", "").strip()
    try:
        if raw and not _DATE.fullmatch(raw):
            raise ValueError(raw)
        start = date.fromisoformat(raw) if raw else None
    except ValueError:
        return bad_request(request, t("st_bad_from"))
    today = platform_of(request).clock.now().astimezone(CST).date()
    year = fiscal_year(start) if start is not None else year_containing(today)
    statement = await donor_statement(address, year)
    return render(request, "statement.html", {"statement": statement, "address": address,
                                              "from": year.start.isoformat()})


routes = [
    Route("/donations/{index:int}/receipt", receipt_page, name="donation_receipt"),
    Route("/donations/{index:int}/receipt.pdf", receipt_pdf, name="donation_receipt_pdf"),
    Route("/members/{address}/statement", statement_page, name="statement"),
]
