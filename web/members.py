"""A donor's own page, signed in with a one-time code, and the partner's verification page.

    GET  /me                         sign in (phone or e-mail, then the code); my hearts,
                                     receipts, consents (revoke) and checks; ask for a credential
    POST /me/code, /me/verify        the one-time code flow (tokens/signin.py)
    POST /me/credential              a "hearts ≥ N" credential for a named partner: QR code + link
    POST /me/consents/{n}/revoke     withdraw a consent
    POST /me/sign-out
    GET  /partner/verify             paste, upload or open (QR link) a credential; verified in the
                                     browser (web/static/partner.js: JCS + WebCrypto Ed25519)

The session is a random token in an HttpOnly, SameSite=Strict cookie (scripts cannot read it,
other sites cannot send it); every POST of a signed-in donor also carries the session's CSRF
token from a hidden form field. The pages are plain forms: no script is needed to sign in.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs

import qrcode
import qrcode.image.svg
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from heartchain.accounts.models import Account
from heartchain.errors import HeartchainError, ValidationError
from tokens import services as hearts
from tokens import signin
from tokens.attest import attestation_key, did_key
from web.i18n import add_messages, choose_language, translator
from web.render import platform_of, render

COOKIE = "hc_member"
_MAX_FORM = 16 * 1024

add_messages({
    "me_title": ("我的爱心", "My hearts"),
    "nav_me": ("我的爱心", "My hearts"),
    "me_intro": ("用登记捐赠时留下的手机号或邮箱登录，查看您的爱心值、收据、授权和查询记录。",
                 "Sign in with the phone or e-mail you gave when donating to see your hearts, "
                 "receipts, consents and the checks made on them."),
    "me_contact": ("手机号或邮箱", "Phone or e-mail"),
    "me_send_code": ("发送验证码", "Send me a code"),
    "me_code_sent": ("如果该联系方式登记过捐赠，验证码已发出，10 分钟内有效。",
                     "If that contact has given, a code is on its way; it is valid for 10 "
                     "minutes."),
    "me_code": ("验证码", "Code"),
    "me_sign_in": ("登录", "Sign in"),
    "me_sign_out": ("退出", "Sign out"),
    "me_address": ("地址", "Address"),
    "me_receipts": ("我的捐赠收据", "My receipts"),
    "me_consents": ("我的授权", "My consents"),
    "me_no_consents": ("没有授权。", "No consents."),
    "me_revoke": ("撤销", "Revoke"),
    "me_revoked": ("已撤销", "revoked"),
    "me_active": ("有效至 {t}", "active until {t}"),
    "me_checks": ("查询记录", "Checks made on me"),
    "me_no_checks": ("还没有查询记录。", "No checks yet."),
    "me_check_row": ("{p}：爱心 ≥ {n}？{r}（检查点 {s}）",
                     "{p}: hearts ≥ {n}? {r} (checkpoint {s})"),
    "me_presented": ("我出示的", "presented by me"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "me_credential": ("给合作方出示爱心证明", "Show a partner my hearts"),
    "me_credential_help": ("合作方无需知道您的地址：凭证只含针对该合作方的化名。"
                           "日志只记录一次查询发生过，不记录是谁。",
                           "The partner needs no address of yours: the credential carries a "
                           "pseudonym for that partner only. The log records that a check "
                           "happened, not who."),
    "me_partner": ("合作方", "Partner"),
    "me_threshold": ("爱心值不少于", "Hearts at least"),
    "me_make": ("生成凭证", "Make the credential"),
    "me_bad_form": ("请求无效，请刷新页面后重试。", "That request was not valid: reload the page "
                    "and try again."),
    "cred_title": ("爱心证明", "Hearts credential"),
    "cred_show": ("请合作方扫描二维码，或把链接/文件发给对方。", "Let the partner scan the QR "
                  "code, or send them the link or the file."),
    "cred_link": ("验证链接", "Verification link"),
    "cred_download": ("下载凭证文件", "Download the credential"),
    "cred_claim": ("内容：{c}，有效至 {t}", "Says: {c}, valid until {t}"),
    "pv_title": ("验证爱心证明", "Verify a hearts credential"),
    "pv_intro": ("粘贴或上传会员出示的凭证；验证在您的浏览器中完成（JCS + Ed25519），"
                 "不需要会员地址。",
                 "Paste or upload the credential a member shows you; your browser verifies it "
                 "(JCS + Ed25519), with no member address needed."),
    "pv_issuer": ("信任的签发方密钥（did:key）", "Issuer key you trust (did:key)"),
    "pv_credential": ("凭证（JSON）", "Credential (JSON)"),
    "pv_file": ("或选择文件", "Or choose a file"),
    "pv_verify": ("验证", "Verify"),
}, js={
    "pv_valid": ("有效：{claim}，对象 {subject}，截至检查点 {size}，有效至 {until}",
                 "Valid: {claim} for {subject}, as of checkpoint {size}, valid until {until}"),
    "pv_invalid": ("无效：{reason}", "Not valid: {reason}"),
    "pv_unsupported": ("此浏览器不支持 Ed25519 验证。", "This browser cannot verify Ed25519."),
})


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > _MAX_FORM:
        raise ValidationError("form: too large", field="form")
    return {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()}


async def _session(request: Request) -> signin.Session | None:
    return await signin.session_of(platform_of(request), request.cookies.get(COOKIE))


def _t(request: Request) -> Any:
    return translator(choose_language(request)[0])


async def _member_view(request: Request, session: signin.Session) -> list[dict[str, Any]]:
    platform = platform_of(request)
    views = []
    for address in session.addresses:
        account = await Account.get_or_none(address=address)
        views.append({
            "address": address,
            "score": await hearts.score(address),
            "donations": await hearts.donations_of(address, first=50),
            "consents": await hearts.consents_of(address, viewer=account),
            "checks": await hearts.checks_on(platform, address, viewer=account, first=50),
        })
    return views


async def _partners() -> list[Account]:
    return await Account.filter(role="partner").order_by("label")


async def me_page(request: Request, *, message: str | None = None, contact: str | None = None,
                  status_code: int = 200) -> Response:
    session = await _session(request)
    context: dict[str, Any] = {"session": session, "message": message, "contact": contact}
    if session is not None:
        context.update(members=await _member_view(request, session),
                       partners=await _partners(), csrf=session.csrf)
    return render(request, "me.html", context, status_code=status_code)


async def me_get(request: Request) -> Response:
    return await me_page(request)


async def me_code(request: Request) -> Response:
    t = _t(request)
    try:
        form = await _form(request)
        contact = form.get("contact", "")
        await signin.request_code(platform_of(request), contact)
    except HeartchainError as exc:
        return await me_page(request, message=str(exc), status_code=400)
    return await me_page(request, message=t("me_code_sent"), contact=contact)


async def me_verify(request: Request) -> Response:
    platform = platform_of(request)
    try:
        form = await _form(request)
        session = await signin.verify_code(platform, form.get("contact", ""),
                                           form.get("code", ""))
    except HeartchainError as exc:
        return await me_page(request, message=str(exc), contact=None, status_code=403)
    response = RedirectResponse("/me", status_code=303)
    response.set_cookie(COOKIE, session.token, max_age=int(signin.SESSION_LIFETIME
                                                           .total_seconds()),
                        httponly=True, samesite="strict", path="/",
                        secure=platform.settings.public_url.startswith("https://"))
    return response


async def _signed_in_form(request: Request) -> tuple[signin.Session, dict[str, str]] | None:
    session = await _session(request)
    if session is None:
        return None
    try:
        form = await _form(request)
    except HeartchainError:
        return None
    if not signin.csrf_ok(session, form.get("csrf")):
        return None
    return session, form


async def me_sign_out(request: Request) -> Response:
    found = await _signed_in_form(request)
    if found is None:
        return await me_page(request, message=_t(request)("me_bad_form"), status_code=403)
    await signin.end_session(platform_of(request), found[0].token)
    response = RedirectResponse("/me", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


async def me_revoke(request: Request) -> Response:
    found = await _signed_in_form(request)
    if found is None:
        return await me_page(request, message=_t(request)("me_bad_form"), status_code=403)
    session, _ = found
    index = int(request.path_params["index"])
    errors = []
    for address in session.addresses:  # the consent belongs to one of the donor's addresses
        try:
            await hearts.revoke_consent(platform_of(request), member=address, consent=index)
            return RedirectResponse("/me", status_code=303)
        except HeartchainError as exc:
            errors.append(str(exc))
    return await me_page(request, message="; ".join(errors), status_code=400)


def _qr_svg(text: str) -> Markup:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_L, box_size=4, border=4)
    code.add_data(text)
    code.make(fit=True)
    image = code.make_image(image_factory=qrcode.image.svg.SvgPathImage)
    svg: str = image.to_string(encoding="unicode")
    return Markup(svg[svg.index("<svg"):])  # our own SVG: no user markup


def credential_link(public_url: str, credential: dict[str, Any]) -> str:
    packed = base64.urlsafe_b64encode(json.dumps(credential, separators=(",", ":"),
                                                 ensure_ascii=False).encode()).decode()
    return f"{public_url.rstrip('/')}/partner/verify#c={packed.rstrip('=')}"


async def me_credential(request: Request) -> Response:
    found = await _signed_in_form(request)
    t = _t(request)
    if found is None:
        return await me_page(request, message=t("me_bad_form"), status_code=403)
    session, form = found
    platform = platform_of(request)
    address = form.get("address") or (session.addresses[0] if session.addresses else "")
    if address not in session.addresses:
        return await me_page(request, message=t("me_bad_form"), status_code=403)
    try:
        threshold_text = form.get("threshold", "").strip()
        if not threshold_text.isdigit() or len(threshold_text) > 15:
            raise ValidationError("threshold: a whole number of hearts", field="threshold")
        presented = await hearts.present_hearts(platform, member=address,
                                                partner=form.get("partner", ""),
                                                threshold=int(threshold_text))
    except HeartchainError as exc:
        return await me_page(request, message=str(exc), status_code=400)
    credential = presented.attestation
    link = credential_link(platform.settings.public_url, credential)
    text = json.dumps(credential, ensure_ascii=False, indent=2)
    return render(request, "me_credential.html", {
        "credential": credential, "credential_json": text, "link": link, "qr": _qr_svg(link),
        "download": "data:application/json;base64," + base64.b64encode(text.encode()).decode(),
    })


async def partner_verify(request: Request) -> Response:
    key = attestation_key(platform_of(request))
    return render(request, "partner_verify.html", {"issuer": did_key(bytes(key.verify_key))})


routes = [
    Route("/me", me_get, name="me"),
    Route("/me/code", me_code, methods=["POST"]),
    Route("/me/verify", me_verify, methods=["POST"]),
    Route("/me/sign-out", me_sign_out, methods=["POST"]),
    Route("/me/credential", me_credential, methods=["POST"]),
    Route("/me/consents/{index:int}/revoke", me_revoke, methods=["POST"]),
    Route("/partner/verify", partner_verify, name="partner_verify"),
]
