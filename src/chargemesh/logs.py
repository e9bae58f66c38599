"""How ``chargemesh serve`` logs: plain text (the default) or one JSON object per line
(``[log] format = "json"`` or ``--log-json``), and never a secret either way.

Every record goes through :class:`RedactSecrets` before it is written: an extra field whose
name says it holds a secret (token, password, secret, authorization, key…) is replaced, and in
the message and an exception's text the values after ``Bearer``/``Basic``/``Token``, JWTs, ops
keys (``cm_…``) and ``password=…``/``"token": "…"`` pairs are. What the platform logs is written
to name operators and stations, not to carry credentials; this is the net under it.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Final, TextIO

import orjson

REDACTED: Final = "[redacted]"

#: names of extra fields (and of JSON/form keys in a message) that carry secrets
SECRET_NAME: Final = re.compile(
    r"(?i)(token|password|passwd|secret|authorization|api[_-]?key|ops[_-]?key|signing[_-]?key"
    r"|credential|cookie|sig)"
)

_PATTERNS: Final = (
    # an Authorization header's credentials: Bearer/Basic/Token and what follows
    re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=:-]{6,}"),
    re.compile(r"(?i)\b(token)(\s+)[A-Za-z0-9._~+/=:-]{16,}"),
    # a JWT (header.payload.signature, Base64url)
    re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
    # an operations key
    re.compile(r"\bcm_[0-9a-f]{12}_[A-Za-z0-9_-]{8,}"),
)
#: key=value, key: value, "key": "value" where the key names a secret
_PAIR: Final = re.compile(
    r"""(?i)(["']?[\w-]*(?:token|password|passwd|secret|authorization|api[_-]?key|signing[_-]?key)"""
    r"""[\w-]*["']?\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&}]+)"""
)

#: a LogRecord's own attributes: anything else on it came as ``extra=``
_STANDARD: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


def redact(text: str) -> str:
    """``text`` with every secret this module recognises replaced by ``[redacted]``."""
    for pattern in _PATTERNS:
        if pattern.groups == 2:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
        else:
            text = pattern.sub(REDACTED, text)
    return _PAIR.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: REDACTED if SECRET_NAME.search(str(k)) else _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


class RedactSecrets(logging.Filter):
    """Rewrites a record so nothing secret reaches any handler it is attached to."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self._redact(record)
        except Exception:  # never break the code that logs; never let an unredacted line out
            record.msg, record.args, record.exc_info, record.exc_text = (
                "a log line could not be redacted and was dropped", None, None, None,
            )  # fmt: skip
        return True

    @staticmethod
    def _redact(record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what was given, redacted
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message), None
        for name in vars(record).keys() - _STANDARD:
            value = getattr(record, name)
            setattr(record, name, REDACTED if SECRET_NAME.search(name) else _clean(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)


class JsonLines(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the extra
    fields, and ``exception`` when there was one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in vars(record).keys() - _STANDARD:
            entry[name] = getattr(record, name)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return orjson.dumps(entry, default=str).decode()


TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(
    fmt: str = "text", level: str = "info", stream: TextIO | None = None
) -> logging.Handler:
    """The root logger writes to ``stream`` (stderr) in ``fmt`` ("text" or "json") from
    ``level`` up, through :class:`RedactSecrets`; uvicorn's loggers write through it too. The
    handler is returned (a second call replaces the first's)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLines() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "chargemesh", False)]:
        root.removeHandler(old)
    handler.chargemesh = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # one line per request or message would drown everything else (the metrics count them),
    # and the OCPP library's lines carry whole messages (a card's idTag among them)
    for name in ("uvicorn.access", "ocpp", "websockets", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return handler
