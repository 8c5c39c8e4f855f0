"""The log app with witnesses attached, for `uvicorn --factory` in the process tests.

It does what the one hook line in heartchain/app.py's lifespan does
(`async with attach(app.state.platform):` around the `yield`); `attach` is idempotent, so this
stays correct once app.py has that line.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette

from heartchain.app import create_app as create_log_app
from heartchain.ledger.witness_client import attach


def create_app() -> Starlette:
    app = create_log_app()
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with inner(app), attach(app.state.platform):
            yield

    app.router.lifespan_context = lifespan
    return app
