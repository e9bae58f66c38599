"""The search endpoints' query parameters, each declared once: FastAPI reads the declarations
for the documented routes (and the OpenAPI document), the lean nearby route reads a query
string with the very same declarations by hand (:func:`read_query`).

Reading by hand takes the spellings a map client sends (``lat=39.9``, ``limit=20``,
``available=true``, ``connector=gbt_dc``) with a few string operations; anything else — a
value out of range, another spelling such as ``+5`` or ``1_000``, garbage — is handed to
pydantic with the parameter's declaration, as FastAPI would, so a driver gets the same value
or the same 422 from either route, field by field (``query.lat``) and in FastAPI's order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Literal, get_args

import annotated_types
from fastapi import Query
from pydantic import TypeAdapter, ValidationError

from chargemesh.domain import AccessMethod, ConnectorStandard
from chargemesh.search.filters import SearchFilter

Coords = Literal["gcj02", "wgs84"]

# --- the declarations (FastAPI's signatures use these; so does read_query) --------------------
ConnectorParam = Annotated[
    list[ConnectorStandard] | None,
    Query(description="connector standard(s); a station matches if it has any of them"),
]
MinKw = Annotated[
    float, Query(ge=0, le=2000, description="minimum power of a matching connector, kW")
]
AvailableParam = Annotated[
    bool, Query(description="only stations with a matching connector available now")
]
OperatorParam = Annotated[list[str] | None, Query(description="operator id(s)")]
AccessParam = Annotated[
    list[AccessMethod] | None,
    Query(description="how a matching connector can be started (all of them)"),
]
CoordsQuery = Annotated[Coords, Query(description="coordinate system in and out")]
Lat = Annotated[float, Query(ge=-90, le=90, description="latitude, degrees")]
Lon = Annotated[float, Query(ge=-180, le=180, description="longitude, degrees")]
RadiusKm = Annotated[float, Query(gt=0, le=500)]
NearbyLimit = Annotated[int, Query(ge=1, le=500)]
Vehicle = Annotated[str | None, Query(max_length=64, description="the driver's vehicle model")]

# the defaults of the optional ones
MIN_KW: Final = 0.0
AVAILABLE: Final = False
COORDS: Final[Coords] = "gcj02"
RADIUS_KM: Final = 10.0
NEARBY_LIMIT: Final = 20


def to_filter(
    connector: Sequence[ConnectorStandard] | None,
    min_kw: float,
    available: bool,
    operator: Sequence[str] | None,
    access: Sequence[AccessMethod] | None,
) -> SearchFilter:
    """The filter a search takes, from its validated query parameters."""
    return SearchFilter(
        standards=frozenset(connector or ()),
        min_kw=min_kw,
        available=available,
        operators=frozenset(operator or ()),
        access=frozenset(access or ()),
    )


# --- reading a query string by hand -----------------------------------------------------------
class _Required:
    """The default of a parameter without one."""


REQUIRED: Final = _Required()
#: what a hand reader returns for a spelling it leaves to pydantic (the declaration decides)
LEFT_TO_PYDANTIC: Final = object()
#: the decimals of a map client (no exponent, sign only for minus, no leading zeros): on these
#: Python's float() and pydantic's number parsing agree to the bit
_DECIMAL: Final = re.compile(r"-?(?:0|[1-9][0-9]{0,8})(?:\.[0-9]{1,17})?")
_WHOLE: Final = re.compile(r"[1-9][0-9]{0,8}|0")
_BOOLEANS: Final[Mapping[str, bool]] = {"true": True, "false": False, "1": True, "0": False}

Reader = Callable[[str], Any]


def _constraints(annotation: Any) -> dict[str, Any]:
    """The bounds a declaration carries (``ge``, ``gt``, ``le``, ``max_length``)."""
    out: dict[str, Any] = {}
    for info in get_args(annotation)[1:]:
        for c in getattr(info, "metadata", ()):
            if isinstance(c, annotated_types.Ge):
                out["ge"] = c.ge
            elif isinstance(c, annotated_types.Gt):
                out["gt"] = c.gt
            elif isinstance(c, annotated_types.Le):
                out["le"] = c.le
            elif isinstance(c, annotated_types.MaxLen):
                out["max_length"] = c.max_length
    return out


def _within(value: float, bounds: Mapping[str, Any]) -> bool:
    return (
        ("ge" not in bounds or value >= bounds["ge"])
        and ("gt" not in bounds or value > bounds["gt"])
        and ("le" not in bounds or value <= bounds["le"])
    )


def _number_reader(annotation: Any, pattern: re.Pattern[str], kind: type) -> Reader:
    bounds = _constraints(annotation)

    def read(raw: str) -> Any:
        if pattern.fullmatch(raw) is None:
            return LEFT_TO_PYDANTIC
        value = kind(raw)
        return value if _within(value, bounds) else LEFT_TO_PYDANTIC

    return read


def _choice_reader(choices: Mapping[str, Any]) -> Reader:
    return lambda raw: choices.get(raw, LEFT_TO_PYDANTIC)


def _text_reader(annotation: Any) -> Reader:
    longest = _constraints(annotation).get("max_length")
    if longest is None:
        return lambda raw: raw
    return lambda raw: raw if len(raw) <= longest else LEFT_TO_PYDANTIC


@dataclass(frozen=True, slots=True)
class Param:
    """One query parameter: its name, its declaration (what pydantic validates with, as for
    FastAPI), its default, and how its usual spellings are read by hand."""

    name: str
    annotation: Any
    default: Any
    read: Reader
    many: bool = False  # repeated (``connector=a&connector=b``): a list
    adapter: TypeAdapter[Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "adapter", TypeAdapter(self.annotation))


def _float(name: str, annotation: Any, default: Any = REQUIRED) -> Param:
    return Param(name, annotation, default, _number_reader(annotation, _DECIMAL, float))


def _enums(name: str, annotation: Any, members: Sequence[Any]) -> Param:
    return Param(name, annotation, None, _choice_reader({m.value: m for m in members}), many=True)


#: the filters every search takes, in the order FastAPI reports their errors
FILTER_PARAMS: Final = (
    _enums("connector", ConnectorParam, list(ConnectorStandard)),
    _float("min_kw", MinKw, MIN_KW),
    Param("available", AvailableParam, AVAILABLE, _choice_reader(_BOOLEANS)),
    Param("operator", OperatorParam, None, lambda raw: raw, many=True),
    _enums("access", AccessParam, list(AccessMethod)),
)
#: the nearby search's own parameters, after the filters (FastAPI solves the filters first)
NEARBY_PARAMS: Final = (
    _float("lat", Lat),
    _float("lon", Lon),
    _float("radius_km", RadiusKm, RADIUS_KM),
    Param("limit", NearbyLimit, NEARBY_LIMIT, _number_reader(NearbyLimit, _WHOLE, int)),
    Param("coords", CoordsQuery, COORDS, _choice_reader({c: c for c in get_args(Coords)})),
    Param("vehicle", Vehicle, None, _text_reader(Vehicle)),
)


def _value(param: Param, raw: Any, errors: list[dict[str, Any]]) -> Any:
    """``raw`` (a string, or a list of them) validated; on a bad one, its errors are added
    with FastAPI's location (``("query", name, …)``) and None returned."""
    if param.many:
        values = [param.read(item) for item in raw]
        if LEFT_TO_PYDANTIC not in values:
            return values
    else:
        value = param.read(raw)
        if value is not LEFT_TO_PYDANTIC:
            return value
    try:
        return param.adapter.validate_python(raw)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            errors.append({**error, "loc": ("query", param.name, *error["loc"])})
        return None


def read_query(
    params: Sequence[Param], query: Mapping[str, list[str]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The values of ``params`` in ``query`` (every value of each name, in order), and the
    validation errors as FastAPI lists them: the last value of a name counts, a list takes
    them all, an absent one gets its default, unless it has none (``Field required``)."""
    values: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for param in params:
        given = query.get(param.name)
        if not given:
            if param.default is REQUIRED:
                errors.append(
                    {"type": "missing", "loc": ("query", param.name), "msg": "Field required",
                     "input": None}
                )  # fmt: skip
            else:
                values[param.name] = param.default
            continue
        values[param.name] = _value(param, given if param.many else given[-1], errors)
    return values, errors
