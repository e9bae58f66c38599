"""The T/CEC 102 envelope: AES-128-CBC for ``Data``, HMAC-MD5 for ``Sig``, and the ``Ret`` codes.

Request envelope::

    {"OperatorID": "...", "Data": "<base64>", "TimeStamp": "yyyyMMddHHmmss", "Seq": "0001",
     "Sig": "<32 upper-case hex>"}

Response envelope::

    {"Ret": 0, "Msg": "", "Data": "<base64>", "Sig": "..."}

``Data`` is ``base64(AES-128-CBC(key=DataSecret, iv=DataSecretIV, PKCS#7, UTF-8 JSON))``. ``Sig`` is
``upper(hex(HMAC-MD5(SigSecret, OperatorID + Data + TimeStamp + Seq)))`` for a request and
``HMAC-MD5(SigSecret, str(Ret) + Msg + Data)`` for a response, both over the *encrypted* ``Data``
string. The signature is always checked (in constant time) before anything is decrypted.

Time stamps are China Standard Time (UTC+8, no daylight saving since 1991): the protocol carries no
zone. We write 14 digits (``yyyyMMddHHmmss``) and accept 12 (``yyyyMMddHHmm``, sent by some test
harnesses) on input; parsed time stamps are timezone-aware.

An unknown ``OperatorID`` is answered with ``Ret.BAD_SIGNATURE`` (4001): without that operator's
secrets the request cannot be authenticated, and answering it exactly like a wrong signature does
not tell a prober which operator ids exist. ``TcecError.reason`` keeps the distinction for logs.

Everything here is pure: no I/O, no clock. The HTTP layer reads the body, calls
:func:`open_request` / :func:`open_response`, and turns a :class:`TcecError` into a response with
:func:`seal_response` (``Ret`` = ``error.ret``, ``Msg`` = ``str(error)``).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Final

import orjson
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from chargemesh.protocols.json_input import JsonTooDeep, loads

if TYPE_CHECKING:
    from chargemesh.config import TcecSecrets

__all__ = [
    "CHINA_TZ",
    "OpenedRequest",
    "Ret",
    "Secrets",
    "SeqCounter",
    "TcecError",
    "decrypt_data",
    "encrypt_data",
    "format_timestamp",
    "open_request",
    "open_response",
    "parse_timestamp",
    "request_sig",
    "response_sig",
    "seal_request",
    "seal_response",
]

#: The protocol's implicit time zone: China Standard Time, UTC+8 all year.
CHINA_TZ: Final = timezone(timedelta(hours=8))

_AES_BLOCK: Final = 16
_TIMESTAMP_DIGITS: Final = frozenset({14, 12})  # yyyyMMddHHmmss, or yyyyMMddHHmm
#: The longest a request envelope's fields may be: OperatorID is 9 characters, TimeStamp 14, Seq
#: 4 and Sig 32 in T/CEC 102; a generous bound beyond that, since the replay guard stores the Seq
#: of every request it accepts (``Data`` is bounded by the request body's limit).
_ENVELOPE_FIELD_MAX: Final = {"OperatorID": 32, "TimeStamp": 32, "Seq": 32, "Sig": 64}


class Ret(IntEnum):
    """The response envelope's ``Ret``."""

    OK = 0
    BUSY = -1  # retry later; some operators send 1 (read as BUSY by open_response)
    BAD_SIGNATURE = 4001
    BAD_TOKEN = 4002  # missing, invalid or expired AccessToken: get a new one and retry
    MALFORMED = 4003  # malformed POST body or a missing parameter
    INVALID_PARAMETER = 4004  # a business parameter is invalid
    SYSTEM_ERROR = 500


class TcecError(Exception):
    """A T/CEC failure with the ``Ret`` to answer or that the peer answered.

    ``str(error)`` is safe to send back as ``Msg`` and to log: it never contains a secret or
    decrypted data. ``reason`` is a short fixed tag for logs and metrics (``"unknown_operator"``,
    ``"bad_signature"``, ``"bad_json"``, …; ``"peer"`` when the peer answered a non-zero ``Ret``).
    ``code`` is the raw ``Ret`` from the wire, which differs from ``ret`` only for codes this
    module does not know (those become ``SYSTEM_ERROR``).
    """

    def __init__(self, ret: Ret, message: str, *, reason: str = "", code: int | None = None):
        super().__init__(ret, message)  # both in args, so the error survives pickling
        self.ret = ret
        self.message = message
        self.reason = reason or ret.name.lower()
        self.code = int(ret) if code is None else code

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"TcecError({self.ret.name}, {self.message!r}, reason={self.reason!r})"


@dataclass(frozen=True, slots=True, repr=False)
class Secrets:
    """The four secrets of one direction of one operator link. The repr never shows them."""

    operator_secret: str
    data_secret: str  # AES-128 key, 16 bytes in UTF-8
    data_secret_iv: str  # AES-CBC IV, 16 bytes in UTF-8
    sig_secret: str  # HMAC-MD5 key

    def __post_init__(self) -> None:
        for name in ("data_secret", "data_secret_iv"):
            if len(getattr(self, name).encode("utf-8")) != _AES_BLOCK:
                raise ValueError(f"{name} must be exactly 16 bytes")
        if not self.sig_secret:
            raise ValueError("sig_secret must not be empty")

    def __repr__(self) -> str:
        return "Secrets(<redacted>)"

    @classmethod
    def from_config(cls, secrets: TcecSecrets) -> Secrets:
        """From a validated ``[operators.outbound]`` / ``[operators.inbound]`` table."""
        return cls(
            operator_secret=secrets.operator_secret.get_secret_value(),
            data_secret=secrets.data_secret.get_secret_value(),
            data_secret_iv=secrets.data_secret_iv.get_secret_value(),
            sig_secret=secrets.sig_secret.get_secret_value(),
        )


@dataclass(frozen=True, slots=True)
class OpenedRequest:
    """An authenticated, decrypted request. ``payload`` is the business JSON object."""

    operator_id: str
    payload: dict[str, Any]
    timestamp: datetime  # aware, UTC+8
    seq: str


class SeqCounter:
    """Rolling 4-digit ``Seq`` values: ``"0001"`` … ``"9999"``, then ``"0001"`` again."""

    def __init__(self, start: int = 1) -> None:
        if not 1 <= start <= 9999:
            raise ValueError("start must be in 1..9999")
        self._next = start
        self._lock = threading.Lock()

    @classmethod
    def random_start(cls) -> SeqCounter:
        """A counter starting anywhere: a restarted sender then rarely repeats the Seq it used
        within the same second, which the receiver's replay guard would refuse."""
        return cls(secrets.randbelow(9999) + 1)

    def next(self) -> str:
        with self._lock:
            value = self._next
            self._next = value % 9999 + 1
        return f"{value:04d}"


# ----------------------------------------------------------------------------- time stamps


def format_timestamp(at: datetime) -> str:
    """``yyyyMMddHHmmss`` in China time. ``at`` must be timezone-aware."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("timestamp must be timezone-aware")
    return at.astimezone(CHINA_TZ).strftime("%Y%m%d%H%M%S")


def parse_timestamp(text: str) -> datetime:
    """An aware datetime (UTC+8) from 14 (``yyyyMMddHHmmss``) or 12 (``yyyyMMddHHmm``) digits."""
    if len(text) not in _TIMESTAMP_DIGITS or not (text.isascii() and text.isdigit()):
        raise ValueError("TimeStamp must be 14 digits yyyyMMddHHmmss (or 12, yyyyMMddHHmm)")
    # each field at its place (strptime's regular expressions cost every push ~10 µs)
    year, month, day = int(text[:4]), int(text[4:6]), int(text[6:8])
    hour, minute, second = int(text[8:10]), int(text[10:12]), int(text[12:14] or 0)
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=CHINA_TZ)
    except ValueError:
        raise ValueError("TimeStamp is not a valid date and time") from None


# ----------------------------------------------------------------------------- crypto


def _cipher(secrets: Secrets) -> Cipher[modes.CBC]:
    return _cipher_of(secrets.data_secret, secrets.data_secret_iv)


@functools.lru_cache(maxsize=1024)
def _cipher_of(key: str, iv: str) -> Cipher[modes.CBC]:
    """One operator link's cipher, made once (reusable: each push takes its own encryptor or
    decryptor from it); making it anew checked its key and mode each time, ~10 µs a push."""
    return Cipher(algorithms.AES(key.encode("utf-8")), modes.CBC(iv.encode("utf-8")))


def encrypt_data(plaintext: bytes | str, secrets: Secrets) -> str:
    """``Data``: base64 of AES-128-CBC/PKCS#7 of the plaintext (UTF-8 when given as ``str``)."""
    raw = plaintext.encode("utf-8") if isinstance(plaintext, str) else plaintext
    padder = padding.PKCS7(algorithms.AES.block_size).padder()
    padded = padder.update(raw) + padder.finalize()
    encryptor = _cipher(secrets).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")


def decrypt_data(data: str, secrets: Secrets) -> bytes:
    """The plaintext bytes of ``Data``; ``TcecError(MALFORMED)`` for bad base64 or padding."""
    compact = "".join(data.split())  # some Java encoders wrap base64 lines
    try:
        ciphertext = base64.b64decode(compact.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise TcecError(Ret.MALFORMED, "Data is not valid base64", reason="bad_base64") from None
    if not ciphertext or len(ciphertext) % _AES_BLOCK:
        raise TcecError(
            Ret.MALFORMED, "Data is not a whole number of AES blocks", reason="bad_ciphertext"
        )
    decryptor = _cipher(secrets).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(algorithms.AES.block_size).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise TcecError(
            Ret.MALFORMED, "Data does not decrypt with the agreed key", reason="bad_padding"
        ) from None


def _sign(message: str, secrets: Secrets) -> str:
    key = secrets.sig_secret.encode("utf-8")
    return hmac.new(key, message.encode("utf-8"), hashlib.md5).hexdigest().upper()


def request_sig(operator_id: str, data: str, timestamp: str, seq: str, secrets: Secrets) -> str:
    """``Sig`` of a request: HMAC-MD5 over ``OperatorID + Data + TimeStamp + Seq``."""
    return _sign(operator_id + data + timestamp + seq, secrets)


def response_sig(ret: int | str, msg: str, data: str, secrets: Secrets) -> str:
    """``Sig`` of a response: HMAC-MD5 over ``str(Ret) + Msg + Data``."""
    return _sign(str(ret) + msg + data, secrets)


def _same_sig(expected: str, received: str) -> bool:
    return hmac.compare_digest(expected.encode("ascii"), received.strip().upper().encode("utf-8"))


# ----------------------------------------------------------------------------- JSON


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _encode_payload(payload: Mapping[str, Any]) -> str:
    try:
        return orjson.dumps(dict(payload), default=_json_default).decode("utf-8")
    except TypeError:  # what orjson does not take (e.g. ints beyond 64 bits): the slow way
        return json.dumps(
            dict(payload), ensure_ascii=False, separators=(",", ":"), default=_json_default
        )


def _loads(text: bytes | str) -> Any:
    """JSON text → Python (orjson; the standard library for what orjson refuses but JSON
    allows, e.g. integers beyond 64 bits). Nesting deeper than any T/CEC message is refused
    first (:class:`~chargemesh.protocols.json_input.JsonTooDeep`, a ``ValueError``): the
    standard library would recurse on it until a ``RecursionError``."""
    try:
        return loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _load_envelope(body: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    try:
        envelope = _loads(body)
    except JsonTooDeep as exc:
        raise TcecError(Ret.MALFORMED, f"body is {exc}", reason="too_deep") from None
    except (ValueError, UnicodeDecodeError):
        raise TcecError(Ret.MALFORMED, "body is not JSON", reason="bad_json") from None
    if not isinstance(envelope, dict):
        raise TcecError(Ret.MALFORMED, "body is not a JSON object", reason="bad_json")
    return envelope


def _text_field(envelope: Mapping[str, Any], name: str, *, default: str | None = None) -> str:
    """An envelope field as text; numbers are taken as their decimal text."""
    value = envelope.get(name)
    if value is None and default is not None:
        return default
    if value is None:
        raise TcecError(Ret.MALFORMED, f"missing envelope field {name}", reason="missing_field")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TcecError(
            Ret.MALFORMED, f"envelope field {name} must be a string", reason="bad_field"
        )
    return str(value)


def _decode_payload(data: str, secrets: Secrets) -> dict[str, Any]:
    if not data.strip():
        return {}
    plaintext = decrypt_data(data, secrets)
    try:
        payload = _loads(plaintext.decode("utf-8"))
    except JsonTooDeep as exc:
        raise TcecError(Ret.MALFORMED, f"decrypted Data is {exc}", reason="too_deep") from None
    except (ValueError, UnicodeDecodeError):
        raise TcecError(
            Ret.MALFORMED, "decrypted Data is not JSON", reason="bad_plaintext"
        ) from None
    if not isinstance(payload, dict):
        raise TcecError(
            Ret.MALFORMED, "decrypted Data is not a JSON object", reason="bad_plaintext"
        )
    return payload


# ----------------------------------------------------------------------------- requests


def seal_request(
    operator_id: str,
    payload: Mapping[str, Any],
    secrets: Secrets,
    *,
    seq: str,
    timestamp: datetime | str,
) -> dict[str, str]:
    """The request envelope for ``payload``, encrypted and signed with the secrets the receiver
    issued (``outbound`` in our config when we call an operator; its answer uses the same ones).

    ``operator_id`` is the sender's OperatorID. ``timestamp`` is an aware datetime (converted to
    China time) or ready-made 14-digit text. ``Decimal`` values in ``payload`` become JSON numbers.
    """
    if isinstance(timestamp, datetime):
        stamp = format_timestamp(timestamp)
    else:
        if len(timestamp) != 14:
            raise ValueError("TimeStamp must be 14 digits yyyyMMddHHmmss")
        parse_timestamp(timestamp)  # validates the digits and the date
        stamp = timestamp
    data = encrypt_data(_encode_payload(payload), secrets)
    return {
        "OperatorID": operator_id,
        "Data": data,
        "TimeStamp": stamp,
        "Seq": seq,
        "Sig": request_sig(operator_id, data, stamp, seq, secrets),
    }


def open_request(
    body: bytes | str | Mapping[str, Any],
    secrets_for: Callable[[str], Secrets | None],
) -> OpenedRequest:
    """Authenticate and decrypt a request envelope.

    ``secrets_for`` returns the secrets this side agreed with the sending OperatorID, or ``None``
    for an operator we do not know. Raises :class:`TcecError` with ``MALFORMED`` (not JSON, a
    missing, mistyped or oversized envelope field, a bad TimeStamp, bad base64 or padding, a
    plaintext that is not a JSON object) or ``BAD_SIGNATURE`` (wrong ``Sig``, or an unknown
    OperatorID).
    An empty ``Data`` opens as ``{}``. Replay and clock-skew checks on ``timestamp``/``seq`` are
    left to the caller.
    """
    envelope = _load_envelope(body)
    operator_id = _text_field(envelope, "OperatorID")
    data = _text_field(envelope, "Data")
    stamp = _text_field(envelope, "TimeStamp")
    seq = _text_field(envelope, "Seq")
    sig = _text_field(envelope, "Sig")
    bounded = {"OperatorID": operator_id, "TimeStamp": stamp, "Seq": seq, "Sig": sig}
    for name, value in bounded.items():
        if len(value) > _ENVELOPE_FIELD_MAX[name]:
            raise TcecError(
                Ret.MALFORMED,
                f"envelope field {name}: at most {_ENVELOPE_FIELD_MAX[name]} characters",
                reason="bad_field",
            )
    try:
        timestamp = parse_timestamp(stamp)
    except ValueError as exc:
        raise TcecError(Ret.MALFORMED, str(exc), reason="bad_timestamp") from None
    secrets = secrets_for(operator_id)
    if secrets is None:
        raise TcecError(Ret.BAD_SIGNATURE, "Sig verification failed", reason="unknown_operator")
    if not _same_sig(request_sig(operator_id, data, stamp, seq, secrets), sig):
        raise TcecError(Ret.BAD_SIGNATURE, "Sig verification failed", reason="bad_signature")
    return OpenedRequest(operator_id, _decode_payload(data, secrets), timestamp, seq)


# ----------------------------------------------------------------------------- responses


def seal_response(
    ret: Ret | int,
    msg: str,
    payload: Mapping[str, Any] | None,
    secrets: Secrets,
) -> dict[str, Any]:
    """The response envelope; ``payload=None`` sends an empty ``Data`` (usual with errors)."""
    code = int(ret)
    data = "" if payload is None else encrypt_data(_encode_payload(payload), secrets)
    return {"Ret": code, "Msg": msg, "Data": data, "Sig": response_sig(code, msg, data, secrets)}


def _ret_of(code: int) -> Ret:
    if code == 1:  # "busy" in operators that do not use -1
        return Ret.BUSY
    try:
        return Ret(code)
    except ValueError:
        return Ret.SYSTEM_ERROR


def open_response(body: bytes | str | Mapping[str, Any], secrets: Secrets) -> dict[str, Any]:
    """The decrypted business payload of a successful response.

    A non-zero ``Ret`` raises ``TcecError(ret)`` carrying the peer's ``Msg``, whatever the
    signature: an error carries no data to trust, and operators often leave error responses
    unsigned, so checking it would hide e.g. a 4002 that must trigger a token refresh. With
    ``Ret`` 0 the ``Sig`` is required and verified before ``Data`` is decrypted.
    """
    envelope = _load_envelope(body)
    ret_text = _text_field(envelope, "Ret")
    try:
        code = int(ret_text)
    except ValueError:
        raise TcecError(
            Ret.MALFORMED, "envelope field Ret is not a number", reason="bad_field"
        ) from None
    msg = _text_field(envelope, "Msg", default="")
    if code != Ret.OK:
        ret = _ret_of(code)
        text = msg[:200] or f"operator answered Ret {code}"
        raise TcecError(ret, text, reason="peer", code=code)
    data = _text_field(envelope, "Data", default="")
    sig = _text_field(envelope, "Sig")
    if not _same_sig(response_sig(ret_text, msg, data, secrets), sig):
        raise TcecError(
            Ret.BAD_SIGNATURE, "response Sig verification failed", reason="bad_signature"
        )
    return _decode_payload(data, secrets)
