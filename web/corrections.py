"""How pages show corrections (heartchain.corrections): the original struck through, the
corrected value beside it, and the correction entries that made the change.

Templates import the macros in `_corrections.html`; page modules fetch `corrections_of(...)`
for the entries they show. The entry page (web/routes.py) shows both sides: a corrected entry
lists its corrections, a correction entry the entry it corrects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from heartchain.corrections.models import Correction
from heartchain.corrections.queries import (
    EntryCorrections,
    changes_of,
    correction_at,
    entry_corrections,
)
from web.i18n import add_messages

add_messages({
    "corrected_title": ("更正记录", "Corrections"),
    "corrected_help": ("记录从不修改：更正是由原条目的签名方签署的新条目。原值划去，更正值在旁。",
                       "Nothing on the log is ever edited: a correction is a new entry signed by "
                       "the original entry's signers. The original is struck through, the "
                       "correction beside it."),
    "corrected_by": ("已由条目 #{n} 更正", "Corrected by entry #{n}"),
    "corrected_field": ("字段", "Field"),
    "corrected_original": ("原值", "Original"),
    "corrected_now": ("现值", "Now"),
    "corrected_reason": ("原因", "Reason"),
    "correction_of": ("更正条目 #{n}（{kind}）", "Corrects entry #{n} ({kind})"),
    "correction_before": ("更正前", "Before"),
    "correction_after": ("更正后", "After"),
    "reason_typo": ("笔误", "typo"),
    "reason_wrong_amount": ("金额有误", "wrong amount"),
    "reason_wrong_campaign": ("项目有误", "wrong campaign"),
    "reason_wrong_party": ("对象有误", "wrong party"),
    "reason_wrong_document": ("凭证有误", "wrong document"),
    "reason_wrong_place": ("地点有误", "wrong place"),
    "reason_other": ("其他", "other"),
})


@dataclass(frozen=True)
class CorrectionView:
    """A correction entry as its page shows it: what it corrects, each field before and after."""

    row: Correction
    changes: list[tuple[str, Any, Any]]


async def correction_view(index: int) -> CorrectionView | None:
    row = await correction_at(index)
    if row is None:
        return None
    return CorrectionView(row, [(name, before, after)
                                for name, (before, after) in changes_of(row).items()])


async def entry_context(index: int) -> dict[str, EntryCorrections | CorrectionView | None]:
    """What the entry page adds: the corrections of entry `index`, or what it corrects."""
    return {"corrections": await entry_corrections(index),
            "correction": await correction_view(index)}
