from __future__ import annotations

from tests.tracing.conftest import cast  # noqa: F401  (the people of a tracing scenario)
