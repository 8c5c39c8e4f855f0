"""Chinese (the default) and English for the public pages.

The language comes from `?lang=zh|en` (which also sets a cookie, so it sticks as one browses),
else from the `lang` cookie, else the browser's Accept-Language, else Chinese. Templates call
`t("key", n=3)`; every key exists in both languages (a test checks), and a missing key raises
so a page never shows a raw key.

    >>> translator("en")("checkpoint_n", n=7)
    'Checkpoint 7'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600

Translate = Callable[..., str]

# key: (zh, en). Placeholders use str.format names.
MESSAGES: dict[str, tuple[str, str]] = {
    # layout
    "site_name": ("心链", "heartchain"),
    "tagline": ("每一份善意，都有据可查", "Every gift, on the record"),
    "skip_to_content": ("跳到正文", "Skip to content"),
    "nav_home": ("首页", "Home"),
    "nav_log": ("日志浏览", "Log explorer"),
    "nav_console": ("机构工作台", "Charity console"),
    "language": ("语言", "Language"),
    "switch_to_other": ("English", "中文"),
    "footer_note": ("所有数据都记录在可公开验证的透明日志中。",
                    "Everything here is recorded in a publicly verifiable transparency log."),
    "not_found_title": ("没有找到", "Not found"),
    "bad_request_title": ("请求有误", "Bad request"),
    "back_home": ("返回首页", "Back to home"),
    # home / search
    "home_title": ("查一查善款善物的去向", "See where the gifts went"),
    "home_intro": ("输入地址、物资批次码、案件编号或日志序号。",
                   "Enter an address, a lot code, a case number or an entry index."),
    "search_label": ("地址、批次码、案件编号或序号", "Address, lot code, case number or index"),
    "search_button": ("查询", "Search"),
    "search_nothing": ("没有找到与“{q}”匹配的内容。", "Nothing matches “{q}”."),
    "search_empty": ("请输入要查询的内容。", "Type something to search for."),
    "search_results": ("查询结果", "Search results"),
    "latest_checkpoint": ("最新检查点", "Latest checkpoint"),
    "checkpoint_n": ("检查点 {n}", "Checkpoint {n}"),
    "tree_size": ("日志条目数", "Entries in the log"),
    "root_hash": ("根哈希", "Root hash"),
    "signed_at": ("签署时间", "Signed at"),
    "signed_note": ("签名文本", "Signed note"),
    "verifier_key": ("日志验证公钥", "Log verifier key"),
    "cosignatures": ("见证人联署", "Witness cosignatures"),
    "cosigned_by": ("联署方", "Cosigned by"),
    "cosigned_at": ("联署时间", "Cosigned at"),
    "no_cosignatures": ("该检查点尚无见证人联署。", "No witness has cosigned this checkpoint yet."),
    "recent_entries": ("最新条目", "Latest entries"),
    "see_all_entries": ("查看全部条目", "See all entries"),
    # log explorer
    "log_title": ("日志浏览", "Log explorer"),
    "log_intro": ("日志只能追加：每个检查点都由日志签名，并包含之前的全部条目。",
                  "The log is append-only: every checkpoint is signed by the log and contains "
                  "every entry before it."),
    "checkpoints": ("检查点", "Checkpoints"),
    "previous": ("上一个", "Previous"),
    "none": ("无", "none"),
    "older": ("更早", "Older"),
    "newer": ("更新", "Newer"),
    "entries": ("条目", "Entries"),
    "index": ("序号", "Index"),
    "kind": ("类型", "Kind"),
    "all_kinds": ("全部类型", "All kinds"),
    "filter": ("筛选", "Filter"),
    "go_to_entry": ("跳转到序号", "Go to index"),
    "go": ("前往", "Go"),
    "time": ("时间", "Time"),
    "signers": ("签名方", "Signers"),
    "no_entries": ("没有条目。", "No entries."),
    "consistency": ("一致性证明", "Consistency proof"),
    "consistency_intro": ("证明较小的日志是较大日志的前缀：历史没有被改写。",
                          "Proves the smaller log is a prefix of the larger one: history was "
                          "not rewritten."),
    "from_size": ("起始大小", "From size"),
    "to_size": ("目标大小", "To size"),
    "prove": ("生成证明", "Prove"),
    "proof_hashes": ("证明哈希", "Proof hashes"),
    "consistency_empty": ("大小相同或从 0 开始时，证明为空。",
                          "The proof is empty when the sizes are equal or start at 0."),
    "no_checkpoint_at": ("大小为 {n} 时没有签名检查点，浏览器无法核对根哈希。",
                         "No checkpoint was signed at size {n}, so the browser cannot check "
                         "its root."),
    # entry page
    "entry_title": ("条目 {n}", "Entry {n}"),
    "log_entry": ("日志条目", "Log entry"),
    "entry_kind": ("条目类型", "Entry kind"),
    "signer_time": ("签名方时间", "Signer's time"),
    "integrated_at": ("写入日志时间", "Added to the log"),
    "leaf_hash": ("叶哈希", "Leaf hash"),
    "first_checkpoint": ("首个包含它的检查点", "First checkpoint that includes it"),
    "first_checkpoint_help": ("该条目最晚在此检查点签署时已存在。",
                              "The entry existed no later than this checkpoint was signed."),
    "body": ("内容", "Body"),
    "canonical_data": ("规范化数据（被哈希的原文）", "Canonical data (the bytes that were hashed)"),
    "raw_json": ("查看原始 JSON", "Show raw JSON"),
    "entry_missing": ("条目 {n} 不存在。", "Entry {n} does not exist."),
    "prev_entry": ("上一条", "Previous entry"),
    "next_entry": ("下一条", "Next entry"),
    # verification (server side labels; verify.js gets its strings from `js_messages`)
    "verification": ("浏览器验证", "Verification in your browser"),
    "verification_intro": ("您的浏览器会自行下载证明并用 SHA-256 与 Ed25519 计算核对，不采用本站"
                           "算出的结果；但所用的日志与见证人公钥来自本站，除非您已在“核对凭证”"
                           "页固定了它们。",
                           "Your browser downloads the proof and checks it itself with SHA-256 "
                           "and Ed25519, using no result this site computed; the log and witness "
                           "keys it checks with still come from this site unless you pinned them "
                           "on the Check a receipt page."),
    "verify_again": ("重新验证", "Verify again"),
    "js_needed": ("需要启用 JavaScript 才能在浏览器中验证。",
                  "JavaScript is needed to verify in your browser."),
    # account pages
    "role": ("角色", "Role"),
    "role_operator": ("运营方", "Operator"),
    "role_charity": ("公益机构", "Charity"),
    "role_partner": ("合作方", "Partner"),
    "role_investigator": ("调查机构", "Investigator"),
    "role_member": ("成员", "Member"),
    "role_witness": ("见证人", "Witness"),
    "account_title": ("账户", "Account"),
    "address": ("地址", "Address"),
    "registered_in": ("注册条目", "Registered in entry"),
    "unknown_account": ("该地址未在日志中注册。", "This address is not registered on the log."),
    "account_entries": ("签署的条目", "Entries it signed"),
}

# The strings verify.js and console.js show, by key; sent to the page as JSON.
JS_MESSAGES: dict[str, tuple[str, str]] = {
    "verifying": ("正在您的浏览器中验证…", "Verifying in your browser…"),
    "verified": ("已在您的浏览器中对照检查点 {n} 验证", "Verified in your browser against "
                 "checkpoint {n}"),
    "checkpoint_verified": ("检查点 {n} 的签名已在您的浏览器中验证",
                            "Signature of checkpoint {n} verified in your browser"),
    "consistency_verified": ("已在您的浏览器中验证：检查点 {a} 是检查点 {b} 的前缀",
                             "Verified in your browser: checkpoint {a} is a prefix of "
                             "checkpoint {b}"),
    "failed": ("验证失败：{reason}", "Verification FAILED: {reason}"),
    "unsupported": ("您的浏览器不支持 Ed25519 验证（WebCrypto），因此未能验证。",
                    "Your browser does not support Ed25519 in WebCrypto, so nothing was "
                    "verified."),
    "step_leaf": ("叶哈希 SHA-256(0x00‖数据) 与页面显示一致",
                  "Leaf hash SHA-256(0x00‖data) matches the page"),
    "step_inclusion": ("包含证明（{k} 个哈希）得出检查点 {n} 的根哈希",
                       "Inclusion proof ({k} hashes) leads to the root of checkpoint {n}"),
    "step_signature": ("检查点 {n} 由日志密钥 {key} 签名（Ed25519）",
                       "Checkpoint {n} is signed by log key {key} (Ed25519)"),
    "step_consistency": ("一致性证明（{k} 个哈希）连接两个根哈希",
                         "Consistency proof ({k} hashes) links both roots"),
    "err_network": ("无法获取证明", "could not fetch the proof"),
    "err_leaf": ("叶哈希与页面显示不一致", "the leaf hash does not match the page"),
    "err_root": ("根哈希不一致", "root mismatch"),
    "err_signature": ("检查点签名无效", "the checkpoint signature is invalid"),
    "err_note": ("检查点格式错误", "the checkpoint is malformed"),
    "err_key": ("验证公钥格式错误", "the verifier key is malformed"),
    "err_proof": ("证明格式错误", "the proof is malformed"),
    "err_size": ("检查点大小与证明不一致", "the checkpoint size does not match the proof"),
}


def choose_language(request: Request) -> tuple[str, bool]:
    """The page language, and whether to (re)set the cookie because `?lang=` chose it."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked, request.cookies.get(COOKIE) != asked
    cookie = request.cookies.get(COOKIE)
    if cookie in LANGUAGES:
        return cookie, False
    return from_accept_language(request.headers.get("accept-language", "")), False


def from_accept_language(header: str) -> str:
    """The best of our languages for an Accept-Language header (RFC 9110 §12.5.4), else zh.

    >>> from_accept_language("en-GB,en;q=0.9,zh;q=0.5")
    'en'
    >>> from_accept_language("fr, zh-CN;q=0.8, en;q=0.7")
    'zh'
    """
    best, best_q = DEFAULT_LANGUAGE, 0.0
    for position, part in enumerate(header.split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        # Earlier entries win ties: subtract a hair per position.
        q -= position * 1e-6
        if primary in LANGUAGES and q > best_q:
            best, best_q = primary, q
    return best


def translator(language: str) -> Translate:
    position = LANGUAGES.index(language)

    def translate(key: str, **values: Any) -> str:
        text = MESSAGES[key][position]
        return text.format(**values) if values else text

    return translate


def js_messages(language: str) -> dict[str, str]:
    position = LANGUAGES.index(language)
    return {key: texts[position] for key, texts in JS_MESSAGES.items()}


def add_messages(messages: dict[str, tuple[str, str]],
                 js: dict[str, tuple[str, str]] | None = None) -> None:
    """Let a page module bring its own strings (each page module keeps its words near it)."""
    for key, texts in messages.items():
        if key in MESSAGES and MESSAGES[key] != texts:
            raise RuntimeError(f"i18n key {key!r} defined twice with different texts")
        MESSAGES[key] = texts
    for key, texts in (js or {}).items():
        if key in JS_MESSAGES and JS_MESSAGES[key] != texts:
            raise RuntimeError(f"i18n js key {key!r} defined twice with different texts")
        JS_MESSAGES[key] = texts
