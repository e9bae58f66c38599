"""How a failure is told: in one line for feed health and logs, and to a driver without what
only operations may see."""

from __future__ import annotations

import re


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of the error's text (its type's name if it has none), at most ``limit``
    characters."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:limit]


_HTTP_STATUS = re.compile(r"\bHTTP (\d{3})\b")


def for_driver(exc: BaseException) -> str:
    """What a driver may be told of a failed call to an operator: the kind of failure, never
    the URL, host or message it carried (those go to the log)."""
    text = str(exc)
    if isinstance(exc, TimeoutError) or "timeout" in text.lower() or "timed out" in text.lower():
        return "its system did not answer in time"
    status = getattr(exc, "http_status", None)
    if status is None and (found := _HTTP_STATUS.search(text)) is not None:
        status = int(found.group(1))
    if status is not None:
        return f"its system answered with an error (HTTP {status})"
    return "its system could not be reached"
