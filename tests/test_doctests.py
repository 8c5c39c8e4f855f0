"""The docstring examples of the pure modules (no database or I/O at import) run as tests.

Run by name, not by `--doctest-modules`, which would import every module of the tree (and
`graphql/`, which is not a Python package).
"""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PURE_MODULES = [
    "heartchain.csvsafe",
    "heartchain.idempotency",
    "heartchain.keys",
    "heartchain.ledger.batches",
    "heartchain.ledger.body",
    "heartchain.ledger.merkle",
    "heartchain.ledger.notes",
    "heartchain.ledger.receipts",
    "heartchain.ledger.tiles",
    "heartchain.lookups",
    "heartchain.money",
    "heartchain.mutualaid.apportion",
    "heartchain.request_json",
    "heartchain.witness.protocol",
    "heartchain.webhooks.delivery",
    "heartchain.webhooks.signing",
    "tracing.fifo",
    "tracing.labels",
    "web.i18n",
    "web.units",
]

# Examples that are not run, with why.
NOT_RUN: dict[str, str] = {}


@pytest.mark.parametrize("name", PURE_MODULES)
def test_docstring_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS,
                             verbose=False, report=True)
    assert result.attempted > 0, f"{name} lists no examples: drop it from PURE_MODULES"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} fail"


def test_every_module_with_examples_is_run() -> None:
    with_examples = set()
    for package in ("heartchain", "tokens", "tracing", "web"):
        for path in (ROOT / package).rglob("*.py"):
            if re.search(r"^\s*>>> ", path.read_text(encoding="utf-8"), re.MULTILINE):
                with_examples.add(".".join(path.relative_to(ROOT).with_suffix("").parts))
    assert with_examples - set(NOT_RUN) == set(PURE_MODULES)
