"""What a scanned code points at: (operator, connector), or a clear refusal — never a guess.

Formats operators print, and ours (docs/sessions.md lists them for drivers and operators):

* **T/CEC interconnection QR**: ``hlht://{ConnectorID}.{OperatorID}/`` (the 互联互通 format);
  URLs carrying ``connectorId``/``ConnectorID``/``connector_id`` (and optionally
  ``operatorId``) as query parameters; a bare ConnectorID (only if exactly one operator has it).
* **OCPI EVSE ids** (eMI3, ``CN*ABC*E12345*1``, with or without the ``*``), bare or as a URL's
  last path segment or ``evse_id``/``evseId`` parameter. An EVSE with several connectors
  resolves to its first available one (they cannot charge at once).
* **Ours**: ``chargemesh://c/{connector id}`` or any URL whose path is ``…/c/{connector id}``.

Anything else, a code that matches nothing, or one that matches connectors of several
operators, raises :class:`QrError` with a message for the driver.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote, urlsplit

from chargemesh.domain import Connector, ConnectorStatus, Evse, OperatorProtocol
from chargemesh.store import Store
from chargemesh.store.repository import ConnectorRef

_EVSE_ID = re.compile(r"^[A-Z]{2}\*?[A-Z0-9]{3}\*?E[A-Z0-9*]{1,40}$", re.IGNORECASE)
_CONNECTOR_ID = re.compile(r"^[A-Za-z0-9_-]{4,64}$")
_OPERATOR_ID = re.compile(r"^[A-Za-z0-9]{9}$")
_CONNECTOR_KEYS = ("connectorid", "connector_id", "connectorno", "gunno")
_OPERATOR_KEYS = ("operatorid", "operator_id")
_EVSE_KEYS = ("evse_id", "evseid")
MAX_LENGTH = 512


class QrError(ValueError):
    """A code we cannot honestly resolve; ``str()`` is the driver's message."""


@dataclass(frozen=True, slots=True)
class QrTarget:
    connector: ConnectorRef
    format: str  # "tcec", "tcec_url", "tcec_bare", "ocpi_evse", "chargemesh"
    code: str  # as scanned


def _one(found: list[ConnectorRef], what: str) -> ConnectorRef:
    if not found:
        raise QrError(f"no charger we know has {what}")
    operators = {c.operator_id for c in found}
    if len(operators) > 1:
        raise QrError(
            f"{what} belongs to chargers of {len(operators)} networks; scan the full code "
            "printed on the charger"
        )
    return found[0]


def _evse(store: Store, code: str) -> ConnectorRef:
    normalised = code.upper()
    found = store.connectors_by_evse_code(normalised)
    if not found and "*" not in normalised:  # printed without separators: CNABCE12345
        found = store.connectors_by_evse_code(
            f"{normalised[:2]}*{normalised[2:5]}*{normalised[5:]}"
        )
    chosen = _one(found, f"EVSE id {code}")
    same = [c for c in found if c.evse_id == chosen.evse_id]
    free = [c for c in same if c.status is ConnectorStatus.AVAILABLE]
    return (free or same)[0]


def _tcec(store: Store, connector: str, operator: str | None) -> ConnectorRef:
    if not _CONNECTOR_ID.match(connector):
        raise QrError(f"{connector!r} is not a ConnectorID")
    found = store.connectors_by_source_id(connector, operator)
    where = f" of operator {operator}" if operator else ""
    return _one(found, f"ConnectorID {connector}{where}")


def printed_code(
    protocol: OperatorProtocol | None, operator_id: str, evse: Evse, connector: Connector
) -> str:
    """The code printed on a connector, what its QR code carries: the inverse of
    :func:`resolve`. T/CEC piles carry the interconnection code of the connector; OCPI piles
    their EVSE id (one per EVSE: its connectors cannot charge at once); a pile without a
    printable id of its own gets ours, which names the connector."""
    if protocol is OperatorProtocol.TCEC and _CONNECTOR_ID.match(connector.source_id):
        return f"hlht://{connector.source_id}.{operator_id}/"
    if protocol is OperatorProtocol.OCPI and evse.evse_code and _EVSE_ID.match(evse.evse_code):
        return evse.evse_code
    return f"chargemesh://c/{quote(connector.id, safe='')}"


def resolve(store: Store, code: str) -> QrTarget:
    text = code.strip()
    if not text:
        raise QrError("the code is empty")
    if len(text) > MAX_LENGTH:
        raise QrError("the code is too long to be a charger's")
    lowered = text.lower()
    if lowered.startswith("chargemesh://c/"):
        return _ours(store, text, unquote(text[len("chargemesh://c/") :]))
    if lowered.startswith("hlht://"):
        body = text[len("hlht://") :].strip("/")
        connector, dot, operator = body.rpartition(".")
        if not dot or not _OPERATOR_ID.match(operator):
            raise QrError("a T/CEC code reads hlht://{ConnectorID}.{OperatorID}/")
        return QrTarget(_tcec(store, connector, operator.upper()), "tcec", text)
    if lowered.startswith(("http://", "https://")):
        return _url(store, text)
    if _EVSE_ID.match(text) and "*" in text:
        return QrTarget(_evse(store, text), "ocpi_evse", text)
    if _CONNECTOR_ID.match(text):
        found = store.connectors_by_source_id(text)
        if found:
            return QrTarget(_one(found, f"ConnectorID {text}"), "tcec_bare", text)
        if _EVSE_ID.match(text):
            return QrTarget(_evse(store, text), "ocpi_evse", text)
        raise QrError(f"no charger we know has the code {text}")
    raise QrError("this is not a charger code we can read")


def _ours(store: Store, text: str, connector_id: str) -> QrTarget:
    found = store.connector_ref(connector_id)
    if found is None:
        raise QrError(f"no charger {connector_id!r} on this platform")
    return QrTarget(found, "chargemesh", text)


def _url(store: Store, text: str) -> QrTarget:
    parts = urlsplit(text)
    query = {k.lower(): v[0] for k, v in parse_qs(parts.query).items() if v}
    connector = next((query[k] for k in _CONNECTOR_KEYS if k in query), None)
    if connector is not None:
        operator = next((query[k].upper() for k in _OPERATOR_KEYS if k in query), None)
        return QrTarget(_tcec(store, connector, operator), "tcec_url", text)
    evse = next((query[k] for k in _EVSE_KEYS if k in query), None)
    if evse is not None:
        return QrTarget(_evse(store, evse), "ocpi_evse", text)
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if len(segments) >= 2 and segments[-2] == "c":
        return _ours(store, text, segments[-1])
    if segments and _EVSE_ID.match(segments[-1]) and "*" in segments[-1]:
        return QrTarget(_evse(store, segments[-1]), "ocpi_evse", text)
    raise QrError(f"the link {parts.netloc}{parts.path} names no charger we can read")
