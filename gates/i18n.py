"""compgraph in the lecture's language: English by default, Vietnamese on request.

Messages are looked up with the standard library's :mod:`gettext`, in the catalogs
``gates/locale/<lang>/LC_MESSAGES/compgraph.mo``. Each is compiled from the ``.po``
files beside it (one per part of compgraph: ``explain.po``, ``grade.po``,
``page.po``, ...), which translators edit; ``python -m gates.i18n compile`` rebuilds
the ``.mo`` and a test checks it is up to date, that every message the code asks for
has a translation, and that each keeps its ``{placeholders}``.

The language is, in this order: the one :func:`set_language` was given (the
``--lang`` option of the commands), else the first of ``LANGUAGE``, ``LC_ALL``,
``LC_MESSAGES`` and ``LANG`` that is set, as gettext reads them (``vi_VN.UTF-8`` is
Vietnamese), else English. In code::

    from gates.i18n import tr
    tr("forward raised {kind}: {message}").format(kind=..., message=...)

Messages keep ``str.format`` placeholders, never f-strings, so that a translation can
put the words in its own order.
"""

from __future__ import annotations

import ast
import contextlib
import gettext
import os
import struct
import sys
from pathlib import Path

__all__ = ["tr", "set_language", "speaking", "language", "LANGUAGES"]

#: Languages compgraph speaks.
LANGUAGES = ("en", "vi")
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "compgraph"

_chosen: str | None = None
_catalogs: dict = {}


def set_language(lang: str | None) -> None:
    """Use ``lang`` ("en" or "vi"; None: back to the environment's). ValueError for
    another language."""
    global _chosen
    if lang is not None and lang not in LANGUAGES:
        raise ValueError(tr("unknown language {lang!r}; compgraph speaks {languages}")
                         .format(lang=lang, languages=", ".join(LANGUAGES)))
    _chosen = lang


@contextlib.contextmanager
def speaking(lang: str | None):
    """Messages in ``lang`` inside the ``with`` block (None: as they were), and the
    language as it was afterwards, whatever happens inside (a command's ``--lang``)."""
    previous = _chosen
    try:
        if lang is not None:
            set_language(lang)
        yield
    finally:
        set_language(previous)


def language() -> str:
    """The language messages are in now (see the module docstring)."""
    if _chosen:
        return _chosen
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:
            for part in value.split(":"):
                code = part.split(".")[0].split("_")[0].split("@")[0].lower()
                if code in LANGUAGES:
                    return code
            return "en"
    return "en"


def _catalog(lang: str):
    if lang not in _catalogs:
        _catalogs[lang] = gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang],
                                              fallback=True)
    return _catalogs[lang]


def tr(message: str, lang: str | None = None) -> str:
    """``message`` in ``lang`` (default: :func:`language`); itself in English or when
    no translation exists."""
    lang = lang or language()
    if lang == "en":
        return message
    return _catalog(lang).gettext(message)


# -- the catalogs -------------------------------------------------------------------------

def read_po(path) -> dict:
    """msgid -> msgstr of a ``.po`` file (the header entry with the empty msgid too)."""
    entries, key, field, current = {}, None, None, {"msgid": "", "msgstr": ""}

    def flush():
        if field is not None:
            entries[current["msgid"]] = current["msgstr"]

    for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("msgid ", "msgstr ")):
            key, _, rest = line.partition(" ")
            if key == "msgid":
                flush()
                current = {"msgid": "", "msgstr": ""}
            field = key
            current[key] = _unquote(rest, path, number)
        elif line.startswith('"') and field:
            current[field] += _unquote(line, path, number)
        else:
            raise ValueError(f"{path}, line {number}: cannot read {raw!r}")
    flush()
    return entries


def _unquote(text: str, path, number) -> str:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = None
    if not isinstance(value, str):
        raise ValueError(f"{path}, line {number}: expected a quoted string, got {text!r}")
    return value


def compile_mo(entries: dict) -> bytes:
    """The GNU ``.mo`` file of ``entries`` (msgid -> msgstr), as msgfmt writes it."""
    keys = sorted(entries)
    ids = [k.encode("utf-8") for k in keys]
    strs = [entries[k].encode("utf-8") for k in keys]
    start = 7 * 4 + 16 * len(keys)
    offsets, blob = [], b""
    for data in ids:
        offsets.append((len(data), start + len(blob)))
        blob += data + b"\0"
    id_table = offsets
    offsets = []
    for data in strs:
        offsets.append((len(data), start + len(blob)))
        blob += data + b"\0"
    header = struct.pack("<7I", 0x950412DE, 0, len(keys), 7 * 4, 7 * 4 + 8 * len(keys), 0, 0)
    tables = b"".join(struct.pack("<2I", *o) for o in id_table + offsets)
    return header + tables + blob


def catalog_entries(lang: str) -> dict:
    """Every entry of ``lang``'s ``.po`` files, merged (a msgid in two files: error)."""
    merged = {"": f"Content-Type: text/plain; charset=UTF-8\nLanguage: {lang}\n"}
    folder = LOCALE_DIR / lang / "LC_MESSAGES"
    for po in sorted(folder.glob("*.po")):
        for msgid, msgstr in read_po(po).items():
            if msgid and msgid in merged:
                raise ValueError(f"{po}: {msgid!r} is in another .po file of {lang} too")
            if msgid:
                merged[msgid] = msgstr
    return merged


def compile_all() -> list[Path]:
    """Rebuild every language's ``compgraph.mo`` from its ``.po`` files."""
    written = []
    for lang in LANGUAGES[1:]:
        target = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
        target.write_bytes(compile_mo(catalog_entries(lang)))
        written.append(target)
    _catalogs.clear()
    return written


if __name__ == "__main__":
    if sys.argv[1:] != ["compile"]:
        sys.exit("usage: python -m gates.i18n compile")
    for path in compile_all():
        print(f"wrote {path}")
