"""How a failure is told in one line: feed health, a session's failure reason, logs."""

from __future__ import annotations


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of the error's text (its type's name if it has none), at most ``limit``
    characters."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:limit]
