"""Read gettext catalogues, .po (source) and .mo (compiled), with the standard library alone.

The tests compare what a translator wrote with what ships: the .po files under
``jwtauth/locale`` against a fresh ``makemessages`` extraction and against their compiled .mo
files. A message is keyed by ``(context, msgid, msgid_plural)`` and maps to its translations
(one per plural form), so that the two formats compare as plain dictionaries.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

Key = tuple[str | None, str, str | None]

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+"(.*)"$')
# The .mo magic number, as read little- and big-endian (GNU gettext manual, "MO Files").
_MO_MAGIC = {0x950412DE: "<", 0xDE120495: ">"}
# A Python %-format directive, as xgettext's python-format understands it.
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]")


@dataclass
class Entry:
    """One message of a .po file."""

    msgid: str = ""
    msgid_plural: str | None = None
    context: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False

    @property
    def key(self) -> Key:
        """Return ``(context, msgid, msgid_plural)``, the message's identity."""
        return (self.context, self.msgid, self.msgid_plural)

    @property
    def forms(self) -> tuple[str, ...]:
        """Return the translations, in plural-form order."""
        return tuple(self.msgstr[i] for i in sorted(self.msgstr))


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), text)


def read_po(path: Path) -> list[Entry]:
    """Return every entry of the .po file at ``path``, the header (msgid "") first."""
    entries: list[Entry] = []
    entry, target = Entry(), None
    started = False

    def finish() -> None:
        nonlocal entry, started
        if started:
            entries.append(entry)
        entry, started = Entry(), False

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            finish()
            continue
        if line.startswith("#~"):
            entry.obsolete = True
            continue
        if line.startswith("#,"):
            if started:
                finish()
            entry.flags.update(f.strip() for f in line[2:].split(","))
            continue
        if line.startswith("#"):
            continue
        if line.startswith('"'):
            _append(entry, target, _unquote(line[1:-1]))
            continue
        match = _KEYWORD.match(line)
        if match is None:
            raise ValueError(f"{path}: cannot read {raw!r}")
        keyword, index, text = match.groups()
        if keyword in ("msgctxt", "msgid") and started and entry.msgstr:
            finish()
        started = True
        target = (keyword, int(index or 0))
        _append(entry, target, _unquote(text), new=True)
    finish()
    return entries


def _append(entry: Entry, target: tuple[str, int] | None, text: str, new: bool = False) -> None:
    if target is None:
        raise ValueError("a continuation line before any keyword")
    keyword, index = target
    if keyword == "msgctxt":
        entry.context = text if new else (entry.context or "") + text
    elif keyword == "msgid":
        entry.msgid = text if new else entry.msgid + text
    elif keyword == "msgid_plural":
        entry.msgid_plural = text if new else (entry.msgid_plural or "") + text
    else:
        entry.msgstr[index] = text if new else entry.msgstr.get(index, "") + text


def read_mo(path: Path) -> dict[Key, tuple[str, ...]]:
    """Return every message of the .mo file at ``path``: key to translations (header included)."""
    data = path.read_bytes()
    (magic,) = struct.unpack("<I", data[:4])
    order = _MO_MAGIC[magic]
    _, count, originals, translations = struct.unpack(order + "4I", data[4:20])
    catalogue: dict[Key, tuple[str, ...]] = {}
    for i in range(count):
        original = _mo_string(data, order, originals + 8 * i)
        translated = _mo_string(data, order, translations + 8 * i)
        context: str | None = None
        if "\x04" in original:  # msgctxt, EOT, msgid
            context, _, original = original.partition("\x04")
        msgid, _, plural = original.partition("\x00")
        key = (context, msgid, plural if "\x00" in original else None)
        catalogue[key] = tuple(translated.split("\x00"))
    return _undated(catalogue)


def _mo_string(data: bytes, order: str, at: int) -> str:
    length, offset = struct.unpack(order + "2I", data[at : at + 8])
    return data[offset : offset + length].decode("utf-8")


def compiled(entries: list[Entry]) -> dict[Key, tuple[str, ...]]:
    """Return what msgfmt compiles from ``entries``: every translated, non-fuzzy message."""
    return _undated(
        {
            e.key: e.forms
            for e in entries
            if not e.obsolete and "fuzzy" not in e.flags and e.forms and all(e.forms)
        }
    )


def _undated(catalogue: dict[Key, tuple[str, ...]]) -> dict[Key, tuple[str, ...]]:
    # The extraction date changes on every makemessages run and msgfmt leaves it out of the
    # .mo (reproducible builds): it says nothing about the messages, so neither side keeps it.
    head = (None, "", None)
    if head in catalogue:
        lines = catalogue[head][0].splitlines(keepends=True)
        kept = "".join(line for line in lines if not line.startswith("POT-Creation-Date:"))
        catalogue[head] = (kept,)
    return catalogue


def placeholders(text: str) -> list[str]:
    """Return the %-format directives of ``text`` (``%%`` left out), sorted."""
    return sorted(m.group(0) for m in PLACEHOLDER.finditer(text) if m.group(0) != "%%")
