"""compgraph in the lecture's language: every message the code asks for is translated.

The catalogs are ``gates/locale/vi/LC_MESSAGES/*.po``, compiled into ``compgraph.mo``
by ``python -m gates.i18n compile``; the code asks with ``tr("...")``.
"""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from gates import i18n

ROOT = Path(__file__).resolve().parents[1]


def messages_in_code() -> dict:
    """msgid -> "file:line" of every ``tr("literal")`` call in the packages."""
    found = {}
    for package in ("gates", "graph", "experiments"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "tr" \
                        and node.args and isinstance(node.args[0], ast.Constant) \
                        and isinstance(node.args[0].value, str):
                    found.setdefault(node.args[0].value,
                                     f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def fields(text: str) -> set:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}


def test_the_compiled_catalog_is_the_po_files_compiled():
    entries = i18n.catalog_entries("vi")
    mo = i18n.LOCALE_DIR / "vi" / "LC_MESSAGES" / "compgraph.mo"
    assert mo.read_bytes() == i18n.compile_mo(entries), "run: python -m gates.i18n compile"


def test_every_message_has_both_languages_with_the_same_placeholders():
    entries = i18n.catalog_entries("vi")
    code = messages_in_code()
    missing = {m: where for m, where in code.items() if not entries.get(m)}
    assert not missing, f"not translated: {missing}"
    unused = sorted(set(entries) - set(code) - {""})
    assert not unused, f"in the .po files but asked for nowhere: {unused}"
    for msgid, msgstr in entries.items():
        if msgid:
            assert fields(msgid) == fields(msgstr), (msgid, msgstr)


def test_the_language_comes_from_the_option_then_the_environment(monkeypatch):
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(var, raising=False)
    assert i18n.language() == "en"
    monkeypatch.setenv("LANG", "vi_VN.UTF-8")
    assert i18n.language() == "vi"
    monkeypatch.setenv("LANGUAGE", "fr:en")
    assert i18n.language() == "en"
    i18n.set_language("vi")
    try:
        assert i18n.language() == "vi"
        assert i18n.tr("unknown language {lang!r}; compgraph speaks {languages}") \
            .startswith("ngôn ngữ")
    finally:
        i18n.set_language(None)
    with pytest.raises(ValueError, match="compgraph speaks en, vi"):
        i18n.set_language("fr")


def test_a_po_file_that_cannot_be_read_names_its_line(tmp_path):
    po = tmp_path / "x.po"
    po.write_text('msgid "a"\nmsgstr b\n', encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(f"{po}, line 2")):
        i18n.read_po(po)
