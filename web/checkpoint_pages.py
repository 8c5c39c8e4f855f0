"""A page per signed checkpoint, and the signed sizes nearest a size no checkpoint was signed at.

    GET /checkpoints/{size}     the checkpoint, its note and witness cosignatures, verified in the
                                browser like the home page's; links to the ones before and after
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from heartchain.ledger.store import CheckpointRecord
from web import explorer, hooks
from web.i18n import add_messages, choose_language, translator
from web.render import not_found, platform_of, render

add_messages({
    "checkpoint_page_title": ("检查点 {n}", "Checkpoint {n}"),
    "next_checkpoint": ("下一个检查点", "Next checkpoint"),
    "prev_checkpoint": ("上一个检查点", "Previous checkpoint"),
    "consistency_with_latest": ("与最新检查点 {n} 的一致性", "Consistency with the latest, {n}"),
    "checkpoint_missing": ("没有大小为 {n} 的签名检查点。",
                           "No checkpoint was signed at size {n}."),
    "nearest_signed": ("最接近的已签名大小：", "The nearest signed sizes:"),
    "cosigned_count": ("见证", "Witnesses"),
})


async def nearest_signed(size: int) -> tuple[int | None, int | None]:
    """The signed checkpoint sizes just below and just above `size`."""
    below = await CheckpointRecord.filter(size__lt=size).order_by("-size").first()
    above = await CheckpointRecord.filter(size__gt=size).order_by("size").first()
    return (below.size if below else None), (above.size if above else None)


async def checkpoint_page(request: Request) -> Response:
    platform = platform_of(request)
    size = request.path_params["size"]
    t = translator(choose_language(request)[0])
    view = await explorer.checkpoint_at(platform.log, size)
    if view is None:
        below, above = await nearest_signed(size)
        nearest = ", ".join(str(n) for n in (below, above) if n is not None)
        return not_found(request, t("checkpoint_missing", n=size)
                         + (f" {t('nearest_signed')} {nearest}" if nearest else ""))
    after = await CheckpointRecord.filter(size__gt=size).order_by("size").first()
    latest = await explorer.latest_checkpoint(platform.log)
    return render(request, "checkpoint.html", {
        "checkpoint": view,
        "checkpoint_heading": t("checkpoint_page_title", n=size),
        "cosignatures": await hooks.cosignatures(platform, size),
        "verifier_key": platform.verifier_key,
        "next_size": after.size if after else None,
        "latest_size": latest.size,
    })


routes = [Route("/checkpoints/{size:int}", checkpoint_page, name="checkpoint")]
