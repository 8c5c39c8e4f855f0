"""Both languages say everything, and every key a template uses exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from web import i18n

TEMPLATES = Path(i18n.__file__).resolve().parent / "templates"


def test_every_message_has_both_languages() -> None:
    for key, texts in {**i18n.MESSAGES, **i18n.JS_MESSAGES}.items():
        assert len(texts) == 2 and all(t.strip() for t in texts), key
        zh, en = texts
        assert set(re.findall(r"{(\w+)}", zh)) == set(re.findall(r"{(\w+)}", en)), key


def test_templates_use_only_known_keys() -> None:
    import web.routes  # noqa: F401  (page modules add their own keys at import)

    used = {m for path in TEMPLATES.glob("*.html")
            for m in re.findall(r"""\bt\(\s*['"]([a-z0-9_]+)['"]\s*[,)]""", path.read_text())}
    assert used, "no t('...') calls found"
    assert sorted(used - set(i18n.MESSAGES)) == []


def test_translate_and_missing_key() -> None:
    assert i18n.translator("zh")("checkpoint_n", n=5) == "检查点 5"
    assert i18n.translator("en")("checkpoint_n", n=5) == "Checkpoint 5"
    with pytest.raises(KeyError):
        i18n.translator("en")("no_such_key")


def test_verified_message_wording() -> None:
    zh = i18n.js_messages("zh")["verified"].format(n=12)
    en = i18n.js_messages("en")["verified"].format(n=12)
    assert zh == "已在您的浏览器中对照检查点 12 验证"
    assert en == "Verified in your browser against checkpoint 12"
