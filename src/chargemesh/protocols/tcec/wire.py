"""The base of the T/CEC wire models: PascalCase aliases, lenient parsing, dialect-strict output.

Every message model subclasses :class:`WireModel`. Fields are declared with :func:`wire` inside
``Annotated`` so that Python code (and mypy) uses the snake_case attribute names while the JSON
uses the protocol's names::

    station_id: Annotated[str, wire("StationID")]

Parsing is lenient: unknown fields are ignored, numbers are accepted where the protocol says
string (ids sent as JSON numbers), numeric strings where it says number, and enum codes stay
plain ``int`` so that private codes (21501 …) never fail validation. Money is ``Decimal``.
Sizes are strict (:mod:`.sizes`): an oversized or mistyped field fails validation.

Partners spell some fields differently (the *dialects*): the CEC text has ``SevicePrice``,
``SeviceMoney``, ``TotalSeviceMoney``, ``DetailSeviceMoney``, 小桔/Xiaoju ``Service…``. Both
spellings are accepted on input whatever the partner; :func:`dump` writes the chosen dialect's.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Final, Literal, TypeVar, get_args

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
)
from pydantic.fields import FieldInfo

from chargemesh.protocols.tcec.codec import Ret, TcecError

__all__ = [
    "DEFAULT_DIALECT",
    "DIALECTS",
    "MAX_MONEY",
    "Dialect",
    "Money",
    "WireModel",
    "describe_error",
    "dialect_of",
    "dump",
    "parse",
    "service_wire",
    "wire",
]

Dialect = Literal["cec", "xiaoju"]
DIALECTS: Final[tuple[Dialect, ...]] = get_args(Dialect)
DEFAULT_DIALECT: Final[Dialect] = "cec"

#: The largest amount of money a T/CEC message may carry, in yuan: far beyond any bill or day of
#: bills, and it keeps ``1e999999`` (a finite Decimal) from reaching the books.
MAX_MONEY: Final = Decimal(10) ** 9

#: A monetary amount or price: exact ``Decimal`` in Python, a JSON number on the wire.
Money = Annotated[
    Decimal,
    Field(ge=-MAX_MONEY, le=MAX_MONEY),
    PlainSerializer(float, return_type=float, when_used="json"),
]

# CEC spelling → Xiaoju spelling, for the fields declared with service_wire().
_XIAOJU_SPELLING: dict[str, str] = {}

M = TypeVar("M", bound="WireModel")


def wire(name: str, *also: str) -> FieldInfo:
    """The field's wire name; ``also`` lists other spellings accepted on input."""
    accepted: str | AliasChoices = AliasChoices(name, *also) if also else name
    return Field(validation_alias=accepted, serialization_alias=name)  # type: ignore[no-any-return]


def service_wire(cec_name: str) -> FieldInfo:
    """A field the CEC text spells ``…Sevice…`` and Xiaoju ``…Service…``: both are accepted."""
    xiaoju_name = cec_name.replace("Sevice", "Service")
    _XIAOJU_SPELLING[cec_name] = xiaoju_name
    return wire(cec_name, xiaoju_name)


def dialect_of(value: str | None) -> Dialect:
    """A configured dialect name (``None`` means the CEC text) checked against the known ones."""
    if value is None:
        return DEFAULT_DIALECT
    for dialect in DIALECTS:
        if value == dialect:
            return dialect
    raise ValueError(f"unknown T/CEC dialect {value!r}; known: {', '.join(DIALECTS)}")


class WireModel(BaseModel):
    """A T/CEC business payload (the decrypted ``Data``) or a part of one."""

    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        validate_by_alias=True,
        validate_by_name=True,
        serialize_by_alias=True,
        coerce_numbers_to_str=True,
        allow_inf_nan=False,  # a reading or a price is a finite number
    )

    @model_serializer(mode="wrap")
    def _dialect_spelling(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> Any:
        data = handler(self)
        context = info.context
        if (
            isinstance(data, dict)
            and isinstance(context, Mapping)
            and context.get("dialect") == "xiaoju"
        ):
            return {_XIAOJU_SPELLING.get(key, key): value for key, value in data.items()}
        return data


def dump(model: WireModel, dialect: Dialect = DEFAULT_DIALECT) -> dict[str, Any]:
    """The JSON object for ``model`` in ``dialect``'s spelling; ``None`` fields are left out.

    Ready for :func:`~chargemesh.protocols.tcec.codec.seal_request` / ``seal_response``.
    """
    dialect = dialect_of(dialect)
    data = model.model_dump(
        mode="json", by_alias=True, exclude_none=True, context={"dialect": dialect}
    )
    assert isinstance(data, dict)
    return data


def describe_error(exc: ValidationError) -> str:
    """One line naming the wire field(s) at fault, without echoing any input values."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        where = ".".join(str(step) for step in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg']}")
    shown = "; ".join(parts[:3])
    return shown + (f" (and {len(parts) - 3} more)" if len(parts) > 3 else "")


def parse(model: type[M], payload: Mapping[str, Any]) -> M:
    """Validate a decrypted payload as ``model``.

    Raises :class:`TcecError` ready to answer: ``MALFORMED`` (4003) when a required field is
    missing, ``INVALID_PARAMETER`` (4004) for any other invalid value; the message names the
    wire fields (``StationIDs: List should have at most 50 items …``).
    """
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        missing = any(err["type"] == "missing" for err in exc.errors())
        ret = Ret.MALFORMED if missing else Ret.INVALID_PARAMETER
        raise TcecError(ret, describe_error(exc), reason="invalid_payload") from None
