"""Any address on the log: its role and the entries it signed (the fallback member page)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from heartchain.accounts.models import Account
from heartchain.lookups import can_match
from web import explorer
from web.i18n import choose_language, translator
from web.render import not_found, platform_of, render


async def signed_entries(request: Request, address: str, limit: int = 50
                         ) -> list[explorer.EntryView]:
    log = platform_of(request).log
    indexes = await log.reader.entry_indexes(signer=address, limit=limit)
    return await explorer.entry_views(log, indexes)


async def account_page(request: Request) -> Response:
    """Any address: its role and the entries it signed (the donor page adds hearts and gifts)."""
    address = request.path_params["address"]
    t = translator(choose_language(request)[0])
    if not can_match(Account, address=address):
        return not_found(request, t("unknown_account"))
    account = await Account.get_or_none(address=address)
    entries = await signed_entries(request, address)
    if account is None and not entries:
        return not_found(request, t("unknown_account"))
    return render(request, "account.html", {"address": address, "account": account,
                                            "entries": entries})
