"""Receipts over HTTP and the drop-a-receipt page.

    GET /entries/<n>/receipt[?size=N]                             an entry's .tlog-proof
    GET /plans/<plan>/periods/<n>/shares/<member>/receipt[?size=N]  a member's share's .tlog-proof
    GET /receipt          drop a receipt file: verified in the browser (web/static/receipt.js)

The receipt format is heartchain/ledger/receipts.py.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from heartchain.errors import NotFound, ValidationError
from heartchain.ledger import witness_client
from heartchain.receipt_service import entry_receipt, receipt_filename, share_receipt
from web.i18n import add_messages
from web.render import platform_of, render

add_messages({
    "download_receipt": ("下载凭证", "Download receipt"),
    "download_share_receipt": ("下载我的分摊凭证", "Download my share's receipt"),
    "receipt_title": ("凭证", "Receipt"),
    "receipt_help": ("凭证是一个 C2SP tlog-proof 文件：条目本身、它在日志中的包含证明，以及日志签名"
                     "并经见证人联署的检查点。离线保存，日后无需本站即可核对。",
                     "A receipt is a C2SP tlog-proof file: the entry itself, its inclusion proof "
                     "in the log, and the checkpoint the log signed and the witnesses cosigned. "
                     "Keep it; it can be checked later without this website."),
    "receipt_check_link": ("核对凭证文件", "Check a receipt file"),
    "receipt_page_title": ("核对凭证", "Check a receipt"),
    "receipt_page_intro": ("把凭证文件（.tlog-proof）拖到下面或选择文件。"
                           "核对完全在您的浏览器中进行，不向任何服务器发送请求。",
                           "Drop a receipt file (.tlog-proof) below or choose it. It is checked "
                           "entirely in your browser; no request is sent to any server."),
    "receipt_drop": ("把凭证文件拖到这里", "Drop a receipt file here"),
    "receipt_choose": ("选择凭证文件", "Choose a receipt file"),
    "receipt_result": ("核对结果", "Result"),
    "receipt_entry": ("条目内容", "What the entry says"),
    "keys_title": ("您的浏览器信任的密钥", "Keys your browser trusts"),
    "keys_help": ("凭证用以下公钥核对。若只使用本站提供的密钥，核对结果只能证明这些密钥签过名；"
                  "请把它们与其他渠道（如见证机构）公布的指纹对照后固定，或粘贴别处公布的密钥。"
                  "固定后若本站提供的密钥改变，页面会显著警告。",
                  "Receipts are checked with these public keys. With the keys this site supplies, "
                  "a check proves only that those keys signed; compare their fingerprints with "
                  "ones published elsewhere (e.g. by the witnessing institutions) and pin them, or "
                  "paste keys published elsewhere. Once pinned, a change in the keys this site "
                  "supplies is a loud warning."),
    "keys_site": ("本站提供的密钥", "Keys this site supplies"),
    "keys_pinned": ("已固定的密钥", "Pinned keys"),
    "keys_log": ("日志", "Log"),
    "keys_witness": ("见证人", "Witness"),
    "keys_fingerprint": ("指纹", "Fingerprint"),
    "keys_required": ("至少需要的见证人联署数", "Witness cosignatures required"),
    "keys_pin_site": ("固定本站提供的密钥", "Pin the keys this site supplies"),
    "keys_unpin": ("取消固定", "Unpin"),
    "keys_paste": ("粘贴别处公布的密钥", "Paste keys published elsewhere"),
    "keys_paste_log": ("日志验证公钥", "Log verifier key"),
    "keys_paste_witnesses": ("见证人公钥（每行一个）", "Witness keys (one a line)"),
    "keys_use_pasted": ("使用并固定这些密钥", "Use and pin these keys"),
    "keys_none_pinned": ("尚未固定任何密钥。", "No keys are pinned."),
}, js={
    "step_keys_site": ("使用本站提供的日志公钥 {key}（指纹 {fp}）；"
                       "未固定，因此只证明本站的密钥签过名",
                       "Using the log key this site supplies, {key} (fingerprint {fp}); not "
                       "pinned, so this proves only what this site's keys signed"),
    "step_keys_pinned": ("使用您在本浏览器中固定的日志公钥 {key}（指纹 {fp}）",
                         "Using the log key you pinned in this browser, {key} (fingerprint {fp})"),
    "step_keys_pasted": ("使用您粘贴的日志公钥 {key}（指纹 {fp}）",
                         "Using the log key you pasted, {key} (fingerprint {fp})"),
    "step_cosigned": ("见证人 {name}（{key}）于 {time} 联署了该检查点（cosignature/v1，Ed25519）",
                      "Witness {name} ({key}) cosigned this checkpoint at {time} "
                      "(cosignature/v1, Ed25519)"),
    "step_no_witnesses": ("没有可信的见证人公钥：未核对任何联署",
                          "No trusted witness keys: no cosignature was checked"),
    "summary_witnessed": ("；见证人 {names} 已联署（要求 {m}/{n}）",
                          "; cosigned by {names} ({m} of {n} required)"),
    "summary_not_witnessed": ("；尚无可信见证人联署（要求 {m}/{n}）",
                              "; no trusted witness has cosigned it yet ({m} of {n} required)"),
    "summary_no_witnesses": ("；未核对见证人联署（没有见证人公钥）",
                             "; no witness cosignature checked (no witness keys)"),
    "receipt_verified": ("凭证已在您的浏览器中核对：条目 {i} 在检查点 {n} 中",
                         "Receipt checked in your browser: entry {i} is in checkpoint {n}"),
    "receipt_reading": ("正在读取文件…", "Reading the file…"),
    "not_yet_witnessed": ("。见证人尚未按要求联署该检查点，请稍后重新验证。",
                          ". The witnesses have not yet cosigned it as the policy requires: "
                          "verify again shortly."),
    "err_cosignature": ("见证人联署无效", "a witness cosignature is invalid"),
    "err_policy": ("见证人联署不足", "not enough witness cosignatures"),
    "err_keys_changed": ("本站提供的密钥与您固定的不同！", "the keys this site supplies differ "
                         "from the ones you pinned!"),
    "keys_changed_banner": ("警告：本站现在提供的日志或见证人公钥与您在本浏览器中固定的不同。"
                            "在确认原因之前，请不要相信本站页面上的验证结果。",
                            "WARNING: the log or witness keys this site now supplies differ "
                            "from the ones you pinned in this browser. Do not trust the "
                            "verification results on this site's pages until you know why."),
    "err_no_keys": ("没有可用的密钥：请固定或粘贴密钥", "no keys to check with: pin or paste "
                    "keys first"),
    "err_receipt": ("凭证格式错误", "the receipt is malformed"),
    "keys_pinned_at": ("已于 {at} 固定", "pinned at {at}"),
})

_MAX_SIZE_DIGITS = 16


def _size(request: Request) -> int | None:
    raw = request.query_params.get("size", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > _MAX_SIZE_DIGITS:
        raise ValidationError("size: expected a tree size", field="size")
    return int(raw)


def _download(text: str, filename: str) -> Response:
    # text/plain so a browser shows it when opened directly; the attachment name for the link.
    return PlainTextResponse(text, headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-cache"})


async def entry_receipt_file(request: Request) -> Response:
    index = request.path_params["index"]
    try:
        text = await entry_receipt(platform_of(request), index, _size(request))
    except NotFound as exc:
        return PlainTextResponse(f"{exc}\n", status_code=404)
    except ValidationError as exc:
        return PlainTextResponse(f"{exc}\n", status_code=400)
    return _download(text, receipt_filename(index))


async def share_receipt_file(request: Request) -> Response:
    from heartchain.mutualaid import services

    plan, number = request.path_params["plan"], request.path_params["number"]
    member = request.path_params["member"]
    period = await services.find_period(plan, number)
    if period is None:
        return PlainTextResponse("no such period\n", status_code=404)
    try:
        text = await share_receipt(platform_of(request), period.idx, member, _size(request))
    except NotFound as exc:
        return PlainTextResponse(f"{exc}\n", status_code=404)
    except ValidationError as exc:
        return PlainTextResponse(f"{exc}\n", status_code=400)
    return _download(text, receipt_filename(period.idx, member))


async def receipt_page(request: Request) -> Response:
    platform = platform_of(request)
    policy = witness_client.policy_for(platform.log)
    # The keys this site says it uses, offered for pinning; receipt.js says where keys came from.
    site_keys = {"log": platform.verifier_key, "required": policy.required,
                 "witnesses": [{"name": w.name, "label": w.label,
                                "key": w.verifier.verifier_key} for w in policy.witnesses]}
    return render(request, "receipt.html", {"site_keys": json.dumps(site_keys)})


routes = [
    Route("/entries/{index:int}/receipt", entry_receipt_file, name="entry_receipt"),
    Route("/plans/{plan}/periods/{number:int}/shares/{member}/receipt", share_receipt_file,
          name="share_receipt"),
    Route("/receipt", receipt_page, name="receipt"),
]
