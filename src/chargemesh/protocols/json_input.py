"""JSON as it comes in from outside (an operator's push, a CPO's location, a partner's answer, a
driver's request), parsed with a nesting limit.

No protocol we speak nests deeper than a handful of levels (an OCPI CDR: envelope, tariffs,
elements, price components — seven), but a hostile body can nest 100,000 arrays. orjson refuses
beyond 1,024 levels on its own, yet the standard library's parser recurses until Python's
recursion limit (a ``RecursionError``, which no ``except ValueError`` catches: an HTTP 500), and
what parses at 1,000 levels still breaks code that walks it later (orjson writes at most 255).
So nesting beyond :data:`MAX_DEPTH` is refused before any parser sees the text, with
:class:`JsonTooDeep` — a ``ValueError``, so every "not JSON" answer already in place gives it.

The check is cheap: a body with no more opening brackets than the limit cannot nest deeper (two
``count`` calls, the usual case of a status push); otherwise the brackets outside strings are
kept and the innermost pairs removed level by level, at C speed.
"""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

__all__ = ["MAX_DEPTH", "JsonTooDeep", "check_depth", "loads"]

#: the deepest nesting of arrays and objects we accept, ten times what any protocol needs
MAX_DEPTH: Final = 64

_STRING: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_QUOTE_OR_BRACKET: Final = bytes(set(range(256)) - set(b'"[]{}'))
_NOT_BRACKET: Final = bytes(set(range(256)) - set(b"[]{}"))
_OPEN_AS_SQUARE: Final = bytes.maketrans(b"{}", b"[]")


class JsonTooDeep(ValueError):
    """The text nests arrays and objects deeper than the limit: refused unparsed."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"JSON nested deeper than {max_depth} levels")
        self.max_depth = max_depth


def _outside_strings(raw: bytes) -> bytes:
    """``raw`` without its strings (what is left of it that matters: quotes and brackets)."""
    if b"\\" in raw:  # escapes (a quote may be one): the exact, slower way
        return _STRING.sub(b"", raw)
    return b"".join(raw.translate(None, _NOT_QUOTE_OR_BRACKET).split(b'"')[::2])


def _deeper_than(raw: bytes, max_depth: int) -> bool:
    """Whether the brackets outside strings nest deeper than ``max_depth``; ``ValueError`` when
    they do not pair up (not JSON, and a parser would descend into every unclosed one)."""
    skeleton = _outside_strings(raw).translate(_OPEN_AS_SQUARE, _NOT_BRACKET)
    for _ in range(max_depth):
        if not skeleton:
            return False
        innermost_gone = skeleton.replace(b"[]", b"")
        if len(innermost_gone) == len(skeleton):
            raise ValueError("brackets that do not pair up: not JSON")
        skeleton = innermost_gone
    return bool(skeleton)


def check_depth(text: bytes | str, max_depth: int = MAX_DEPTH) -> None:
    """Raise :class:`JsonTooDeep` when ``text`` nests deeper than ``max_depth`` (and
    ``ValueError`` when, having more brackets than that, they do not pair up)."""
    if isinstance(text, str):
        if text.count("[") + text.count("{") <= max_depth:
            return
        raw = text.encode("utf-8", "surrogatepass")
    else:
        if text.count(b"[") + text.count(b"{") <= max_depth:
            return
        raw = text
    if _deeper_than(raw, max_depth):
        raise JsonTooDeep(max_depth)


def loads(text: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """``text`` parsed (orjson), after :func:`check_depth`. Raises ``ValueError`` for what is
    not JSON: :class:`JsonTooDeep`, or ``orjson.JSONDecodeError`` (itself a ``ValueError``)."""
    check_depth(text, max_depth)
    return orjson.loads(text)
