"""The hot paths are the router's first tries: a nearby search, a T/CEC push and an OCPI
location push reach their plain routes before the router walks FastAPI's included routers
(each of which a request passing by pays for)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.routing import BaseRoute, Match, Route

from chargemesh.bootstrap import assemble
from chargemesh.store import open_store


def _scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "",
            "query_string": b"", "headers": []}  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/stations/nearby"),
        ("POST", "/tcec/v1/notification_stationStatus"),
        ("PUT", "/ocpi/2.2.1/locations/CN/ABC/L1"),
    ],
)
def test_a_hot_path_is_matched_before_any_included_router(
    tmp_path: Path, method: str, path: str
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    routes: list[BaseRoute] = assemble(store).app().router.routes
    scope = _scope(method, path)
    tried = 0
    for route in routes:
        tried += 1
        if route.matches(scope)[0] is Match.FULL:
            break
    assert isinstance(route, Route), route  # a plain route…
    assert all(type(r) is Route for r in routes[:tried])  # …with only plain routes before it
    store.close()
