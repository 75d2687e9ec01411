"""PostgreSQL's COPY text format, both ways: the scoring writes send results and ledger rows by
COPY ... FROM STDIN and read interactions by COPY ... TO STDOUT.

In that format a field is its text with backslash, tab, line feed and carriage return written as
``\\\\``, ``\\t``, ``\\n`` and ``\\r`` (COPY also prints ``\\b``, ``\\f`` and ``\\v``), and ``\\N`` is NULL.
"""

from __future__ import annotations

import re

NULL = "\\N"

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_ESCAPED = re.compile(r"\\(.)")
_CODES = {"t": "\t", "n": "\n", "r": "\r", "b": "\b", "f": "\f", "v": "\v"}


def escape(value: str) -> str:
    """Any text as a field (a label may hold a tab or a line break)."""
    return value.translate(_ESCAPES)


def escape_json(value: str) -> str:
    """JSON text as a field. JSON never holds a raw tab, newline or carriage return (the encoder
    escapes them), so its backslashes are all there is to escape, and ``replace`` is faster than
    ``escape`` on the million explanations of a full rescore."""
    return value.replace("\\", "\\\\")


def unescape(value: str) -> str:
    """A field as COPY printed it, back to its text (not NULL: compare with ``NULL`` first)."""
    if "\\" not in value:
        return value
    return _ESCAPED.sub(lambda m: _CODES.get(m.group(1), m.group(1)), value)
