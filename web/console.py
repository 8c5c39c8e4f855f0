"""The charity console: a charity (or any custodian) signs in with its API token and acts from a
phone. The page is a shell; web/static/console.js calls the same GraphQL mutations as any other
client and shows each resulting entry, verified in the browser.

    GET /console         sign in; record a donation; create a lot; accept handovers; my lots
                         (merge them); donations I recorded (search, refund); disburse
                         campaign cash with a receipt file; pay for success (the validator
                         attests, refund after the deadline); webhooks; register
                         organisations (operator)
    GET /console/import  bulk import of a provider export (dry-run report, then the import
                         with its progress) and the accounting exports (heartchain/finance)

The lot page (web/lots.py) carries the custodian's actions: hand over, split, deliver, loss.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from web.i18n import add_messages
from web.render import render

add_messages({
    "console_title": ("机构工作台", "Charity console"),
    "console_intro": ("用机构的 API 令牌登录。"
                      "每个操作都会写入一条签名的日志条目，并在您的浏览器中验证。",
                      "Sign in with your organisation's API token. Every action writes a signed "
                      "log entry, which your browser then verifies."),
    "console_token": ("API 令牌", "API token"),
    "console_token_help": ("令牌只保存在本标签页中，退出或关闭标签页即清除。",
                           "The token stays in this tab only; signing out or closing the tab "
                           "clears it."),
    "console_sign_in": ("登录", "Sign in"),
    "console_sign_out": ("退出", "Sign out"),
    "console_pending": ("待我确认的交接", "Handovers waiting for me"),
    "console_pending_none": ("没有待确认的交接。", "No handovers are waiting for you."),
    "console_donation": ("登记捐赠", "Record a donation"),
    "console_donor": ("捐赠人地址", "Donor address"),
    "console_contact": ("或：捐赠人手机号或邮箱", "Or: the donor's phone or e-mail"),
    "console_contact_help": ("手机号/邮箱不上链，只加密保存在平台。",
                             "The phone or e-mail stays off the log, sealed by the platform."),
    "console_kind": ("类型", "Kind"),
    "console_amount": ("数量", "Amount"),
    "console_campaign": ("项目", "Campaign"),
    "console_campaign_new": ("新项目…", "New campaign…"),
    "console_campaign_slug": ("新项目标识（小写字母、数字、连字符）",
                              "New campaign's slug (lower-case letters, digits, hyphens)"),
    "console_receipt": ("收据文件（可选，只记录其哈希）", "Receipt file (optional; only its hash "
                        "is recorded)"),
    "console_record": ("登记", "Record"),
    "console_lot": ("建立物资批次", "Create a lot"),
    "cc_title": ("募捐项目", "Campaigns"),
    "cc_which": ("要编辑的项目", "Campaign to edit"),
    "cc_new": ("声明新项目…", "Declare a new campaign…"),
    "cc_slug": ("项目标识（小写字母、数字、连字符）", "Slug (lower-case letters, digits, hyphens)"),
    "cc_title_zh": ("中文名称", "Title in Chinese"),
    "cc_title_en": ("英文名称", "Title in English"),
    "cc_purpose": ("宗旨", "Purpose"),
    "cc_category": ("类别", "Category"),
    "cc_goal": ("目标", "Goal"),
    "cc_unit": ("目标单位", "Goal unit"),
    "cc_starts": ("开始日期", "Starts"),
    "cc_ends": ("结束日期（可不填）", "Ends (optional)"),
    "cc_beneficiary": ("受益对象（描述，不填姓名、电话等个人信息）",
                       "Who it serves (a description: no names, phones or other personal data)"),
    "cc_goods": ("可购买的物资（不选则不限）", "Goods it may buy (none ticked: any)"),
    "cc_payees": ("可付款的对象（不选则不限）", "Payees it may pay (none ticked: any)"),
    "cc_save": ("保存项目", "Save campaign"),
    "cc_unit_fen": ("元", "yuan"), "cc_unit_grams": ("克", "grams"),
    "cc_unit_trees": ("棵", "trees"), "cc_unit_items": ("件", "items"),
    "cc_fixed": ("标识、类别、单位和开始日期在声明后不可更改。",
                 "The slug, category, unit and start date are fixed once declared."),
    "console_goods": ("物资名称", "Goods"),
    "console_unit": ("单位", "Unit"),
    "unit_grams": ("克", "grams"),
    "unit_items": ("件", "items"),
    "unit_trees": ("棵", "trees"),
    "console_donation_index": ("来源捐赠条目序号", "From donation (entry index)"),
    "console_place": ("地点", "Place"),
    "console_create": ("建立并生成标签", "Create and make the label"),
    "console_my_lots": ("我保管的批次", "Lots I hold"),
    "console_signed_in_as": ("当前登录", "Signed in as"),
    "actions_title": ("保管方操作", "Custodian actions"),
    "actions_accept": ("确认接收此批次", "Accept this lot"),
    "actions_handover": ("交接给他人", "Hand over"),
    "actions_to": ("接收方地址", "Taker's address"),
    "actions_evidence": ("照片或凭证（可选，只记录其哈希）",
                         "Photo or document (optional; only its hash is recorded)"),
    "actions_offer": ("签名并发起交接", "Sign and offer"),
    "actions_split": ("拆分", "Split"),
    "actions_outputs": ("拆分数量（用逗号分隔）", "Output quantities (comma-separated)"),
    "actions_loss_part": ("其中损耗（可选）", "Lost in the split (optional)"),
    "actions_reason": ("原因", "Reason"),
    "actions_deliver": ("发放", "Deliver"),
    "actions_beneficiary": ("受益人（姓名或电话；不上链）", "Beneficiary (name or phone; stays off "
                            "the log)"),
    "actions_loss": ("登记损耗", "Record a loss"),
    "actions_note": ("备注（可选）", "Note (optional)"),
    "actions_submit": ("提交", "Submit"),
    "reason_spoiled": ("变质", "spoiled"),
    "reason_damaged": ("损坏", "damaged"),
    "reason_stolen": ("被盗", "stolen"),
    "reason_expired": ("过期", "expired"),
    "reason_other": ("其他", "other"),
    "console_recorded": ("我登记的捐赠", "Donations I recorded"),
    "console_since": ("起始日期", "From date"),
    "console_until": ("截止日期", "To date"),
    "console_entry_index": ("条目序号", "Entry index"),
    "console_search": ("查找", "Search"),
    "console_more": ("更多", "More"),
    "console_disburse": ("支出项目善款", "Spend campaign cash"),
    "console_amount_yuan": ("支出金额（元）", "Amount spent (yuan)"),
    "console_payee": ("收款方", "Payee"),
    "console_purpose": ("这笔钱用于", "What the money paid for"),
    "console_receipt_file": ("收据或发票文件", "Receipt or invoice file"),
    "console_receipt_help": ("文件只保存在平台（不公开），日志上只记录其 SHA-256。",
                             "The file stays with the platform (not public); only its SHA-256 "
                             "goes on the log."),
    "console_disburse_submit": ("签名并支出", "Sign and spend"),
    "console_spend_goods": ("所购物资类别（项目规定时填写）",
                            "What it bought (when the campaign lists what it may buy)"),
    "console_payee_kind": ("收款方类别（项目规定时填写）", "Payee type (when the campaign lists "
                           "them)"),
    "console_merge_help": ("勾选两个或更多同单位的批次合并为一个。",
                           "Tick two or more lots of one unit to merge them into one."),
    "console_merge_goods": ("合并后的名称（可选）", "Name of the merged lot (optional)"),
    "console_merge_place": ("合并地点（可选）", "Where merged (optional)"),
    "console_by_campaign": ("按项目", "By campaign"),
    "console_by_donor": ("按捐赠人地址", "By donor address"),
    "console_spend_from": ("从哪个项目支出", "Campaign to spend from"),
    "console_merge": ("合并所选批次", "Merge the ticked lots"),
    "console_webhooks": ("Webhook 通知", "Webhooks"),
    "console_webhooks_help": ("新条目写入日志后，平台向您的 HTTPS 地址发送签名通知（失败会重试）。",
                              "When matching entries reach the log, the platform POSTs a signed "
                              "notice to your HTTPS endpoint (retried until it answers)."),
    "console_webhook_url": ("接收地址（https://）", "Endpoint URL (https://)"),
    "console_webhook_kinds": ("发送哪些条目（逗号分隔，可选）", "Entries to send, by type "
                              "(comma-separated; optional)"),
    "console_webhook_campaigns": ("项目（逗号分隔，可选）", "Campaigns (comma-separated; "
                                  "optional)"),
    "console_webhook_add": ("添加", "Add"),
    "console_register": ("登记机构、志愿者或仓库", "Register an organisation, volunteer or depot"),
    "console_register_help": ("仅运营方。名称公开在日志上：请只填写机构名称，不要填写个人信息。",
                              "Operator only. The name is public on the log: an organisation's "
                              "name, never a person's details."),
    "console_role": ("角色", "Role"),
    "cc_escrow": ("按成效付款（可选）", "Pay for success (optional)"),
    "cc_escrow_help": ("指定一家其他机构作为核验方：善款先冻结，核验方证实成效后才能支出；"
                       "截止时仍未证实的，剩余善款按比例退回捐赠人。声明后不能更改。",
                       "Name another organisation as the validator: the cash is held until it "
                       "attests the outcome, and whatever is not released by the deadline goes "
                       "back to the donors pro rata. Fixed once declared."),
    "cc_validator": ("核验方（按名称选择已登记的机构）", "Validator (a registered organisation, "
                     "by name)"),
    "cc_deadline": ("成效截止时间（本地时间）", "Outcome deadline (your local time)"),
    "console_escrow": ("按成效付款", "Pay for success"),
    "console_escrow_help": ("由您核验或由您募集的按成效付款项目。核验方凭证据文件证实成效并释放善款"
                            "（只记录文件的哈希，文件由您保存）；截止后未释放的部分可由机构、"
                            "核验方或平台退回捐赠人。",
                            "Pay-for-success campaigns you validate or run. The validator attests "
                            "the outcome on an evidence file and releases cash (only the file's "
                            "hash is recorded; you keep the file); after the deadline, what was "
                            "not released can be refunded to the donors by the charity, the "
                            "validator or the operator."),
    "role_depot": ("合作方（仓库、志愿者队伍）", "Partner (depot, volunteer team)"),
    "console_org_name": ("公开名称", "Public name"),
    "console_register_submit": ("签名并登记", "Sign and register"),
}, js={
    "c_signed_in": ("已登录：{who}（{role}）", "Signed in: {who} ({role})"),
    "c_offer_detail": ("{who} 向您移交 {goods}，{q}，地点：{place}。",
                       "{who} is handing you {goods}, {q}, at {place}."),
    "c_bad_campaign": ("项目标识只能包含小写字母、数字和连字符。",
                       "A campaign slug has lower-case letters, digits and hyphens only."),
    "c_bad_token": ("令牌无效或已撤销。", "That token is not valid or was revoked."),
    "c_working": ("正在提交并等待写入日志…", "Submitting and waiting for the log…"),
    "c_error": ("未完成：{message}", "Not done: {message}"),
    "c_entry": ("已写入日志条目 #{n}", "Written to the log as entry #{n}"),
    "c_donation_done": ("已登记捐赠 #{n}：{q}，爱心 +{h}", "Donation #{n} recorded: {q}, +{h} "
                        "hearts"),
    "c_new_donor": ("已为该联系方式新建捐赠人地址。", "A new donor address was created for that "
                    "contact."),
    "c_lot_done": ("已建立批次 {id}", "Lot {id} created"),
    "c_campaign_done": ("已保存项目 {slug}", "Campaign {slug} saved"),
    "c_campaign_open": ("查看项目页面", "Open its page"),
    "c_print_label": ("打印二维码标签", "Print the QR label"),
    "c_open_lot": ("打开批次页面", "Open the lot page"),
    "c_offer_done": ("已签名交接。请接收方在 {m} 分钟内用自己的手机登录工作台确认。",
                     "Handover signed. The taker must confirm on their own phone within {m} "
                     "minutes, signed in to the console."),
    "c_accept": ("确认接收", "Accept"),
    "c_accepted": ("已确认接收批次 {id}", "You accepted lot {id}"),
    "c_changed": ("批次 {id} 已更新", "Lot {id} updated"),
    "c_split_done": ("已拆分为：{ids}", "Split into: {ids}"),
    "c_reload": ("刷新页面查看", "Reload to see it"),
    "c_amount_cash": ("金额（元）", "Amount (yuan)"),
    "c_amount_food": ("重量（克）", "Weight (grams)"),
    "c_amount_tree": ("数量（棵）", "Number of trees"),
    "c_bad_number": ("请输入正确的数量。", "Enter a valid amount."),
    "c_none": ("暂无。", "None yet."),
    "c_from": ("来自 {who}", "from {who}"),
    "c_refund": ("退款", "Refund"),
    "c_refunded": ("已退款（条目 #{n}）", "refunded (entry #{n})"),
    "c_refund_done": ("已退回捐赠 #{n}", "Donation #{n} reversed"),
    "c_confirm_refund": ("确定退回捐赠 #{n}？此操作写入日志，不能撤销。",
                         "Reverse donation #{n}? This is written to the log and cannot be "
                         "undone."),
    "c_no_results": ("没有符合条件的捐赠。", "No donations match."),
    "c_merge_pick": ("请勾选至少两个批次。", "Tick at least two lots."),
    "c_merge_done": ("已合并为批次 {id}", "Merged into lot {id}"),
    "c_uploading": ("正在上传收据…", "Uploading the receipt…"),
    "c_upload_failed": ("收据上传失败：{message}", "The receipt upload failed: {message}"),
    "c_disburse_done": ("已支出 {q}，收款方 {payee}；项目余额 {left}",
                        "Spent {q} to {payee}; the campaign now holds {left}"),
    "c_receipt_hash": ("收据 SHA-256：{h}", "Receipt SHA-256: {h}"),
    "c_download_receipt": ("下载收据文件", "Download the receipt file"),
    "c_webhook_done": ("已添加。签名密钥只显示这一次，请立即保存：",
                       "Added. The signing secret is shown this once; keep it now:"),
    "c_webhook_disable": ("停用", "Disable"),
    "c_webhook_state": ("{url} · 已投递 {n} · 下一条 #{next}{failing}",
                        "{url} · {n} delivered · next #{next}{failing}"),
    "c_webhook_failing": (" · 连续失败 {f} 次", " · {f} failures in a row"),
    "c_webhook_off": ("（已停用）", " (disabled)"),
    "c_escrow_state": ("{title} · {charity} · 截止 {deadline} · 已释放 {released} · "
                       "已退回 {refunded}",
                       "{title} · {charity} · deadline {deadline} · {released} released · "
                       "{refunded} refunded"),
    "c_escrow_closed": ("已全部释放。", "All of it was released."),
    "c_escrow_refunded": ("已退回捐赠人（条目 #{n}）。", "Refunded to the donors (entry #{n})."),
    "c_escrow_wait": ("截止前可由核验方证实成效；截止后可退款。",
                      "Until the deadline the validator may attest; after it, refund."),
    "c_evidence": ("证据文件（只记录其 SHA-256）", "Evidence file (only its SHA-256 is recorded)"),
    "c_release": ("释放金额（元，留空为全部）", "Amount to release (yuan; empty: all of it)"),
    "c_attest": ("签名证实成效", "Sign the attestation"),
    "c_attest_done": ("已证实成效：共释放 {q}", "Outcome attested: {q} released in all"),
    "c_evidence_hash": ("证据 SHA-256：{h}", "Evidence SHA-256: {h}"),
    "c_refund_donors": ("按比例退回捐赠人", "Refund the donors pro rata"),
    "c_confirm_refund_donors": ("确定把项目 {slug} 剩余的善款按比例退回捐赠人？"
                                "此操作写入日志，不能撤销。",
                                "Refund what campaign {slug} still holds to its donors, pro "
                                "rata? This is written to the log and cannot be undone."),
    "c_refund_donors_done": ("已退回捐赠人 {q}", "{q} refunded to the donors"),
    "c_need_evidence": ("请选择证据文件。", "Choose the evidence file."),
    "c_registered": ("已登记 {label}（{role}）。令牌只显示这一次：",
                     "Registered {label} ({role}). Its token is shown this once:"),
})


async def _campaigns_by_charity() -> dict[str, list[str]]:
    """Each charity's declared campaigns (public on the log), for the console's campaign
    picker: a donation may name only one of these."""
    from tracing.campaign_models import DeclaredCampaign

    found: dict[str, list[str]] = {}
    for charity, slug in await DeclaredCampaign.all().order_by("slug").values_list("charity",
                                                                                    "slug"):
        found.setdefault(str(charity), []).append(str(slug))
    return found


add_messages({
    "console_import_link": ("批量导入渠道明细、财务导出…", "Bulk import a provider export, "
                            "accounting exports…"),
    "import_title": ("批量导入与财务导出", "Bulk import and accounting exports"),
    "import_intro": ("上传支付宝、微信支付等渠道导出的捐赠明细（CSV 或 XLSX）。"
                     "先检查：每一行都会校验，问题行列在下方，此时不写入任何内容；"
                     "再导入其余行。每笔渠道交易只记录一次，"
                     "重新上传不会重复写入。付款人手机号/账号不上链。",
                     "Upload a payment provider's export (CSV or XLSX, e.g. from Alipay or WeChat "
                     "Pay). Check it first: every row is validated and the bad ones listed below, "
                     "and nothing is written; then import the rest. Each provider transaction is "
                     "recorded once, so uploading a file again writes nothing twice. Payers' "
                     "phones and ids stay off the log."),
    "import_sign_in": ("请先在工作台用机构令牌登录。", "Sign in on the console with the charity's "
                       "token first."),
    "import_file": ("导出文件（CSV 或 XLSX）", "Export file (CSV or XLSX)"),
    "import_mapping": ("列对应", "Column mapping"),
    "import_mapping_auto": ("自动识别", "Recognise automatically"),
    "import_mapping_alipay": ("支付宝", "Alipay"),
    "import_mapping_wechat": ("微信支付", "WeChat Pay"),
    "import_mapping_generic": ("通用（英文或中文列名）", "Generic (English or Chinese headers)"),
    "import_columns": ("自定义列（可选，保存为本机构的对应）：字段=列名，用逗号分隔",
                       "Own columns (optional; kept as this charity's mapping): field=header, "
                       "comma-separated"),
    "import_campaign": ("默认项目（文件无项目列时）", "Default campaign (when the file has no "
                        "campaign column)"),
    "import_check": ("检查（不写入）", "Check (writes nothing)"),
    "import_run": ("导入", "Import"),
    "import_row": ("行", "Row"),
    "import_column": ("列", "Column"),
    "import_reason": ("原因", "Reason"),
    "export_title": ("财务导出", "Accounting export"),
    "export_intro": ("捐赠、退款与支出，按项目和日期（北京时间，含结束日）；列固定，不限行数。",
                     "Donations, reversals and disbursements per campaign and date range (China "
                     "time, last day included); stable columns, no row cap."),
    "export_campaign": ("项目（留空为全部）", "Campaign (empty: all)"),
    "export_from": ("开始日期", "From"),
    "export_to": ("结束日期", "To"),
}, js={
    "i_summary": ("共 {rows} 行：{valid} 行有效，{bad} 行有问题，{already} 行此前已导入，"
                  "待导入 {todo} 行（¥{yuan}）。",
                  "{rows} rows: {valid} good, {bad} bad, {already} imported before, {todo} to "
                  "import (¥{yuan})."),
    "i_mapping": ("列对应：{name}（表头在第 {row} 行）", "Mapping: {name} (header in row {row})"),
    "i_no_problems": ("没有问题行。", "No bad rows."),
    "i_dry_run": ("检查完成，未写入任何内容。", "Checked; nothing was written."),
    "i_importing": ("正在导入：{done}/{total}", "Importing: {done}/{total}"),
    "i_chunk_ok": ("第 {n} 块（第 {first}–{last} 行）已写入：条目 #{a}–#{b}",
                   "Chunk {n} (rows {first}–{last}) landed: entries #{a}–#{b}"),
    "i_chunk_bad": ("第 {n} 块（第 {first}–{last} 行）被拒绝，未写入：{reason}",
                    "Chunk {n} (rows {first}–{last}) refused, nothing of it written: {reason}"),
    "i_done": ("已导入 {n} 笔捐赠，新建捐赠人 {d} 位。", "Imported {n} gifts; {d} new donors."),
    "i_nothing": ("没有需要导入的行。", "Nothing to import."),
    "i_pick_file": ("请选择文件。", "Choose a file."),
    "i_cut_off": ("导入中断：已写入的块保留，请重新导入以继续。", "The import was cut off: the "
                  "chunks that landed stay; import again to resume."),
})


async def import_page(request: Request) -> Response:
    return render(request, "console_import.html", {})


async def console_page(request: Request) -> Response:
    from tracing.campaigns import CATEGORIES, GOAL_UNITS, GOODS_KINDS, PAYEE_KINDS

    return render(request, "console.html", {
        "prefill_donation": request.query_params.get("donation", ""),
        "campaigns_json": json.dumps(await _campaigns_by_charity()),
        "categories": CATEGORIES, "goal_units": GOAL_UNITS, "goods_kinds": GOODS_KINDS,
        "payee_kinds": PAYEE_KINDS})


routes = [Route("/console", console_page, name="console"),
          Route("/console/import", import_page, name="console_import")]
