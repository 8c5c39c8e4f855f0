"""What `heartchain demo` prints to open: pages found in the seeded store, not fixed ids.

Each line is (what, URL). Every page is looked up in the store, so the list is the same whether
the demo was seeded just now or earlier; a domain that is missing simply adds no line.
"""

from __future__ import annotations

import importlib.util

from heartchain.platform import Platform


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


async def demo_pages(platform: Platform) -> list[tuple[str, str]]:
    base = platform.settings.public_url
    pages = [("home: look up a gift, the latest signed checkpoint", f"{base}/")]
    if _has("tracing.models") and _has("tokens.models"):
        from tokens.models import HeartDonation
        from tracing.models import Lot

        # The first lot made from a gift: the demo's featured donor's rice, traced through a
        # driver, a split and deliveries to schools; their other gifts are traced too.
        lot = await Lot.filter(origin="donation").order_by("created_idx").first()
        if lot is not None and lot.donation_idx is not None:
            gift = await HeartDonation.get_or_none(idx=lot.donation_idx)
            if gift is not None:
                pages.append(("a donor whose gifts are traced end to end",
                              f"{base}/members/{gift.donor}"))
            pages.append((f"a lot ({lot.goods}), as its QR label opens it",
                          f"{base}/lots/{lot.id}"))
            pages.append(("its printable QR label", f"{base}/lots/{lot.id}/label"))
    if _has("heartchain.mutualaid.models"):
        from heartchain.mutualaid.models import Case, Period

        case = await Case.filter(status="approved").order_by("opened_idx").first()
        if case is None:
            case = await Case.all().order_by("opened_idx").first()
        if case is not None:
            pages.append(("a mutual-aid case and its public notice", f"{base}/cases/{case.id}"))
        period = await Period.all().order_by("idx").first()
        if period is not None:
            pages.append(("a period: each member's share, with its proof",
                          f"{base}/plans/{period.plan}/periods/{period.number}"))
    pages.append(("the log explorer: entries, checkpoints, consistency", f"{base}/log"))
    pages.append(("GraphiQL (runs offline)", f"{base}/graphql"))
    pages.append(("the signed checkpoint (C2SP)", f"{base}/log/checkpoint"))
    return pages
