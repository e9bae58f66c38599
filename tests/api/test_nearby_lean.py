"""The lean nearby route answers as its documented FastAPI twin does, byte for byte: the same
stations for the same query, the same 422 for the same mistake (every field, in FastAPI's
order), the same 405 for another method. Both served over loopback from one index; the twin
alone in an app of its own, as FastAPI would serve it without the lean route."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.datastructures import QueryParams
from starlette.routing import Match, Route

from chargemesh.api import errors
from chargemesh.api import nearby as nearby_module
from chargemesh.api.nearby import PATH, NearbyEndpoint, query_values
from chargemesh.api.search import search_router
from chargemesh.api.search_params import FILTER_PARAMS, LEFT_TO_PYDANTIC, NEARBY_PARAMS, Param
from chargemesh.bootstrap import assemble
from chargemesh.domain import ConnectorStatus
from chargemesh.metrics import REGISTRY
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.store import StatusUpdate, open_store
from tests.factories import make_operator, make_station

OP, OTHER = "313744932", "MA7QYEV02"
LON, LAT = 116.4039, 39.9101

QUERIES = [
    # answers
    f"lat={LAT}&lon={LON}",
    f"lat={LAT}&lon={LON}&radius_km=20&limit=3",
    f"lat={LAT}&lon={LON}&radius_km=20&connector=gbt_dc&connector=gbt_ac&min_kw=60",
    f"lat={LAT}&lon={LON}&radius_km=20&available=true&operator={OP}&operator={OTHER}",
    f"lat={LAT}&lon={LON}&radius_km=20&access=scan&access=app_start&coords=wgs84",
    f"lat={LAT}&lon={LON}&vehicle=aurora-s7&available=0",
    # other spellings pydantic takes: the same values either way
    f"lat=+{LAT}&lon=%20{LON}&radius_km=1_0&limit=020&available=TRUE",
    f"lat={LAT}&lon={LON}&limit=5.0&available=yes&min_kw=6e1&radius_km=.5e2",
    f"lat=1&lat={LAT}&lon={LON}&coords=bd09&coords=gcj02",  # the last value counts
    f"lat={LAT}&lon={LON}&min_kw=-0&vehicle=" + "v" * 64,
    f"lat={LAT}&lon={LON}&vehicle=%E6%B1%BD%E8%BD%A6&vehicle=",
    f"lat={LAT}&lon={LON}&connector=&operator=",  # an empty value is a value
    f"lat={LAT}&lon={LON}&unknown=1&&=&x",
    # refusals
    "",
    "lon=116",
    "lat=north&lon=116",
    "lat=&lon",
    "lat=91&lon=181&radius_km=0&limit=0&coords=bd09&vehicle=" + "v" * 65,
    "lat=nan&lon=inf&radius_km=-inf&limit=1e2&min_kw=2000.0000001",
    "lat=39&lon=116&radius_km=501&limit=501&min_kw=-1&available=2",
    "lat=39&lon=116&connector=gbt_dc&connector=tesla_v1&access=magic&access=scan",
    "lat=39&lon=116&operator=NOPE&operator=ALSO",
    "lat=39&lon=116&limit=1.5&radius_km=1,5&available=%20true",
    "lat=%FF&lon=%C3%28",  # not UTF-8: replaced, as Starlette decodes it
    "connector=x&lat=1e400",
]


@dataclass
class Twins:
    app: FastAPI
    lean: str  # the platform's app: the lean route first
    documented: str  # the FastAPI route alone


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twins]:
    path: Path = tmp_path_factory.mktemp("lean") / "chargemesh.db"
    store = open_store(f"sqlite:///{path}")
    store.upsert_operator(make_operator(OP))
    store.upsert_operator(make_operator(OTHER, "Qiyuan Charging"))
    now = datetime.now(UTC)
    stations = [make_station(OP, f"S{i}", lon=LON + 0.01 * i, lat=LAT) for i in range(6)]
    stations.append(make_station(OTHER, "T0", lon=LON, lat=LAT + 0.02))
    store.upsert_stations(stations, at=now)
    fresh = stations[1].evses[0].connectors[0]
    store.apply_status_updates([StatusUpdate(fresh.id, ConnectorStatus.AVAILABLE, now, "test")])
    platform = assemble(store)
    app = platform.app()
    documented = FastAPI()
    errors.install(documented)
    documented.include_router(search_router(platform.index), responses=errors.RESPONSES)
    try:
        with LoopbackServer(app) as lean, LoopbackServer(documented) as twin:
            yield Twins(app, lean.url, twin.url)
    finally:
        store.close()


def test_the_platform_serves_nearby_from_the_lean_route(twins: Twins) -> None:
    scope = {"type": "http", "method": "GET", "path": PATH, "root_path": "",
             "query_string": b"", "headers": []}  # fmt: skip
    first = next(
        r for r in twins.app.router.routes if r.matches(scope)[0] is not Match.NONE
    )  # the route the router hands the request to
    assert isinstance(first, Route)
    assert isinstance(first.app, NearbyEndpoint)
    schema = httpx.get(f"{twins.lean}/openapi.json", timeout=10).json()
    assert "get" in schema["paths"][PATH]  # the twin still documents it


def _same(twins: Twins, method: str, query: str) -> httpx.Response:
    lean = httpx.request(method, f"{twins.lean}{PATH}?{query}", timeout=10)
    twin = httpx.request(method, f"{twins.documented}{PATH}?{query}", timeout=10)
    assert (lean.status_code, lean.content) == (twin.status_code, twin.content), query
    for header in ("content-type", "content-length", "allow"):
        assert lean.headers.get(header) == twin.headers.get(header), header
    return lean


@pytest.mark.parametrize("query", QUERIES)
def test_the_lean_route_answers_as_its_documented_twin(twins: Twins, query: str) -> None:
    answer = _same(twins, "GET", query)
    assert answer.status_code in (200, 422)


def test_the_queries_cover_answers_and_refusals(twins: Twins) -> None:
    answers = [httpx.get(f"{twins.lean}{PATH}?{q}", timeout=10) for q in QUERIES]
    assert sum(a.status_code == 200 and a.json()["count"] > 0 for a in answers) >= 8
    refused = [a.json()["detail"] for a in answers if a.status_code == 422]
    fields = {e["field"] for d in refused for e in d["errors"]}
    assert {"query.lat", "query.lon", "query.radius_km", "query.limit", "query.coords",
            "query.vehicle", "query.min_kw", "query.available", "query.connector.1",
            "query.access.0"} <= fields  # fmt: skip
    assert any(d["reason"] == "unknown operator 'ALSO', 'NOPE'" for d in refused)


def test_a_body_sent_with_the_search_is_left_unread_as_the_stack_leaves_it(
    twins: Twins,
) -> None:
    """The body limits let a GET pass unread (no route reads it); the lane does the same: a
    search sent with a body over our API's limit answers as one without."""
    query = f"{PATH}?lat={LAT}&lon={LON}"
    plain = httpx.get(f"{twins.lean}{query}", timeout=10)
    with_body = httpx.request("GET", f"{twins.lean}{query}", timeout=10,
                              content=b"x" * (1024 * 1024))  # fmt: skip
    assert (with_body.status_code, with_body.content) == (200, plain.content)
    assert with_body.json()["count"] > 0


def test_a_failure_in_the_lane_is_a_500_in_our_json_and_counted(
    twins: Twins, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any) -> bytes:
        raise RuntimeError("the index is broken")

    def failures() -> float:
        value = REGISTRY.get_sample_value(
            "chargemesh_http_request_duration_seconds_count",
            {"route": PATH, "method": "GET", "status": "5xx"},
        )
        return value or 0.0

    before = failures()
    monkeypatch.setattr(nearby_module, "nearby_answer", broken)
    answer = httpx.get(f"{twins.lean}{PATH}?lat={LAT}&lon={LON}", timeout=10)
    assert answer.status_code == 500
    assert answer.json()["detail"]["code"] == "error"
    assert "broken" not in answer.text  # what failed goes to the log, not to the caller
    assert failures() == before + 1


@pytest.mark.parametrize("method", ["HEAD", "POST", "DELETE"])
def test_other_methods_are_refused_alike(twins: Twins, method: str) -> None:
    answer = _same(twins, method, f"lat={LAT}&lon={LON}")
    assert answer.status_code == 405


_SPELLINGS = st.one_of(
    st.text(max_size=12),
    st.from_regex(r"[-+ ]?[0-9_]{0,12}(\.[0-9]{0,20})?([eE][-+]?[0-9]{1,3})?", fullmatch=True),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**12, 10**12).map(str),
    st.sampled_from(["true", "false", "True", "yes", "off", "0", "1", "gbt_dc", "scan",
                     "wgs84", "gcj02", "-0", "0.0", "500", "500.0", "2000", "-90", "90"]),
)  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(param=st.sampled_from(FILTER_PARAMS + NEARBY_PARAMS), raw=_SPELLINGS)
def test_what_is_read_by_hand_is_what_pydantic_reads(param: Param, raw: str) -> None:
    """The hand reader either leaves a spelling to pydantic or reads the value pydantic
    would, to the type and the bit."""
    value = param.read(raw)
    if param.many:
        raw_value: Any = [raw]
        value = [value]
        if value[0] is LEFT_TO_PYDANTIC:
            return
    else:
        raw_value = raw
        if value is LEFT_TO_PYDANTIC:
            return
    expected = param.adapter.validate_python(raw_value)
    assert type(value) is type(expected)
    assert repr(value) == repr(expected)


@settings(max_examples=400, deadline=None)
@given(query=st.text(alphabet="ab=&;.+%2F0x\u00e9", max_size=24))
def test_the_query_string_is_read_as_starlette_reads_it(query: str) -> None:
    raw = query.encode()
    expected: dict[str, list[str]] = {}
    for name, value in QueryParams(raw).multi_items():
        expected.setdefault(name, []).append(value)
    assert query_values(raw) == expected
