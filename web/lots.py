"""A lot's public page (the QR landing): a phone-first timeline of every step, and its label.

    GET /lots/{id}           the journey; `?c=CODE` (from the QR label) is checked against the lot
    GET /lots/{id}/label     a printable label at label size, the QR code inline (SVG)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from heartchain.corrections.queries import corrections_of
from heartchain.errors import HeartchainError
from heartchain.platform import Platform
from tracing import labels, services
from tracing.entries import CreateBody, MergeBody
from tracing.errors import LabelMismatch, LotNotFound
from tracing.models import Lot, LotEvent
from web import corrections, explorer, hooks  # noqa: F401  (corrections: its messages)
from web.i18n import add_messages, choose_language, translator
from web.render import not_found, platform_of, render

add_messages({
    "lot_title": ("物资批次 {id}", "Lot {id}"),
    "lot_missing": ("批次 {id} 不存在。", "Lot {id} does not exist."),
    "lot_label_ok": ("标签码 {code} 与此批次相符。", "Label code {code} matches this lot."),
    "lot_label_mismatch": ("警告：标签码 {code} 不属于批次 {id}。"
                           "此标签可能是从其他批次复制或伪造的，请勿轻信，并联系发放机构。",
                           "Warning: label code {code} does not belong to lot {id}. This label "
                           "may have been copied from another lot or forged; do not trust it and "
                           "tell the charity."),
    "lot_goods": ("物资", "Goods"),
    "lot_quantity": ("现有数量", "Quantity now"),
    "lot_initial": ("初始数量", "Initial quantity"),
    "lot_status": ("状态", "Status"),
    "lot_custodian": ("当前保管方", "Custodian now"),
    "lot_custodian_at_step": ("此步的保管人", "Custodian at this step"),
    "lot_charity": ("发起机构", "Charity"),
    "lot_origin": ("来源", "Origin"),
    "lot_code": ("标签码", "Label code"),
    "lot_journey": ("流转记录", "Journey"),
    "lot_parents": ("来自批次", "Came from lots"),
    "lot_children": ("分出批次", "Went into lots"),
    "lot_print_label": ("打印二维码标签", "Print the QR label"),
    "lot_epcis": ("导出 EPCIS 2.0", "Export EPCIS 2.0"),
    "lot_place": ("地点", "Place"),
    "lot_moved": ("数量", "Quantity"),
    "lot_after": ("之后剩余", "Left after"),
    "lot_from_to": ("{a} → {b}", "{a} → {b}"),
    "lot_by": ("经手", "By"),
    "lot_reason": ("原因", "Reason"),
    "lot_beneficiary": ("受益人承诺值", "Beneficiary commitment"),
    "lot_beneficiary_help": ("受益人的身份不上链，只记录加盐承诺值。",
                             "The beneficiary's identity stays off the log; only a salted "
                             "commitment is recorded."),
    "lot_evidence": ("凭证哈希", "Evidence hash"),
    "lot_from_donation": ("捐赠 #{n}", "donation #{n}"),
    "lot_purchase": ("采购", "purchase"),
    "status_held": ("保管中", "held"),
    "status_delivered": ("已发放", "delivered"),
    "status_lost": ("已损耗", "lost"),
    "status_split": ("已拆分", "split"),
    "status_merged": ("已合并", "merged"),
    "origin_donation": ("捐赠", "donation"),
    "origin_purchase": ("采购", "purchase"),
    "origin_split": ("拆分", "split"),
    "origin_merge": ("合并", "merge"),
    "action_create": ("建立批次", "Lot created"),
    "action_handover": ("交接", "Handed over"),
    "action_split": ("拆分", "Split"),
    "action_split_from": ("由拆分产生", "Split off"),
    "action_merge": ("合并入", "Merged"),
    "action_merge_from": ("由合并产生", "Made by merging"),
    "action_loss": ("损耗", "Loss"),
    "action_deliver": ("发放给受益人", "Delivered to a beneficiary"),
    "label_scan": ("扫码查看去向", "Scan to see where it went"),
    "label_print": ("打印", "Print"),
    "label_back": ("返回批次页面", "Back to the lot"),
})

_LOT_ID = re.compile(r"[Ll][0-9]{1,16}(-[0-9]{1,4})?")
_LOT_URL = re.compile(r"/lots/([Ll][0-9]{1,16}(?:-[0-9]{1,4})?)(?:\?c=([A-Za-z2-7]{1,16}))?")


@dataclass(frozen=True)
class Step:
    event: LotEvent
    leaf_hex: str
    giver_label: str | None
    custodian_label: str | None
    related: list[str]


async def _labels(addresses: list[str]) -> dict[str, str | None]:
    accounts = await explorer.accounts_by_address(a for a in addresses if a)
    return {a: (accounts[a].label if a in accounts else None) for a in addresses if a}


async def steps_of(platform: Platform, events: list[LotEvent]) -> list[Step]:
    stored = await platform.log.get_entries([e.idx for e in events])
    names = await _labels([e.custodian for e in events] + [e.giver or "" for e in events])
    return [Step(e, stored[e.idx].leaf_hash.hex() if e.idx in stored else "",
                 names.get(e.giver or ""), names.get(e.custodian),
                 e.related.split(",") if e.related else []) for e in events]


async def lot_page(request: Request) -> Response:
    platform = platform_of(request)
    lot_id = request.path_params["lot_id"]
    t = translator(choose_language(request)[0])
    try:
        lot = await services.get_lot(lot_id)
    except LotNotFound:
        return not_found(request, t("lot_missing", id=lot_id))
    code = request.query_params.get("c")
    label_ok: bool | None = None
    if code is not None:
        try:
            labels.check_code(lot.id, lot.code, code)
            label_ok = True
        except LabelMismatch:
            label_ok = False
    steps = await steps_of(platform, await services.timeline(lot.id))
    parents, children = await services.lineage(lot.id)
    names = await _labels([lot.custodian, lot.charity])
    corrected = await corrections_of(s.event.idx for s in steps if s.event.action == "handover")
    return render(request, "lot.html", {
        "corrected": corrected,
        "lot": lot, "code": code, "label_ok": label_ok, "steps": steps,
        "parents": parents, "children": children,
        "custodian_label": names.get(lot.custodian), "charity_label": names.get(lot.charity),
        "trace_url": services.lot_trace_url(platform, lot),
    })


def qr_svg(url: str) -> Markup:
    """The QR code as inline SVG (no XML declaration), sized by CSS."""
    svg = labels.label_svg(url).decode()
    svg = re.sub(r"^<\?xml[^>]*\?>\s*", "", svg)
    # Generated by qrcode from our own trace URL: no user HTML in it.
    return Markup(svg)


async def label_page(request: Request) -> Response:
    platform = platform_of(request)
    lot_id = request.path_params["lot_id"]
    t = translator(choose_language(request)[0])
    try:
        lot = await services.get_lot(lot_id)
    except HeartchainError:
        return not_found(request, t("lot_missing", id=lot_id))
    url = services.lot_trace_url(platform, lot)
    return render(request, "label.html", {"lot": lot, "trace_url": url, "qr": qr_svg(url)})


@hooks.search_resolver
async def _find_lot(platform: Platform, query: str) -> str | None:
    found = _LOT_URL.search(query)
    lot_id, code = (found.group(1), found.group(2)) if found else (query, None)
    if not _LOT_ID.fullmatch(lot_id):
        return None
    lot_id = "L" + lot_id[1:]
    if not await Lot.exists(id=lot_id):
        return None
    return f"/lots/{lot_id}" + (f"?c={code}" if code else "")


@hooks.entry_links
def _lot_links(entry: explorer.EntryView, t: Any) -> list[hooks.Link]:
    body = entry.body
    if entry.kind == CreateBody.KIND:
        return [hooks.Link(f"/lots/L{entry.index}", t("lot_title", id=f"L{entry.index}"))]
    lots: list[str] = []
    if isinstance(body.get("lot"), str):
        lots.append(body["lot"])
    for item in body.get("inputs", []) if isinstance(body.get("inputs"), list) else []:
        if isinstance(item, dict) and isinstance(item.get("lot"), str):
            lots.append(item["lot"])
    if entry.kind == MergeBody.KIND:
        lots.append(f"L{entry.index}")
    return [hooks.Link(f"/lots/{lot}", t("lot_title", id=lot)) for lot in lots
            if _LOT_ID.fullmatch(lot)]


routes = [
    Route("/lots/{lot_id}", lot_page, name="lot"),
    Route("/lots/{lot_id}/label", label_page, name="lot_label"),
]
