"""``GET /api/v1/coverage`` and ``GET /api/v1/compatibility`` over HTTP, against both stores."""

from __future__ import annotations

from datetime import UTC, datetime

from chargemesh.domain.session import ChargeAttempt, StartMethod
from chargemesh.geo.counties import county_table
from tests.api.test_search_api import OP, OTHER, Api
from tests.api.test_search_api import api as api


def test_coverage_counts_the_registry(api: Api) -> None:
    answer = api.get("/api/v1/coverage")
    assert answer.status_code == 200
    body = answer.json()
    # five stations: four with a 120 kW DC pile (2 guns) and a 7 kW AC pile (2 guns), one AC only
    assert body["totals"] == {"operators": 2, "stations": 5, "evses": 9, "connectors": 18,
                              "plug_and_charge_evses": 0}  # fmt: skip
    assert body["power_classes"] == {"supercharger": 0, "dc_fast": 4, "ac": 5}
    assert body["access_methods"]["scan"] == 9
    assert [o["id"] for o in body["operators"]] == [OP, OTHER]
    assert body["counties"]["total"] == len(county_table())
    assert body["counties"]["covered"] == len(body["counties"]["covered_adcodes"]) >= 1
    assert (
        len(body["counties"]["uncovered"])
        == body["counties"]["total"] - body["counties"]["covered"]
    )
    with_super = api.get("/api/v1/coverage", supercharger_kw=100).json()
    assert with_super["power_classes"] == {"supercharger": 4, "dc_fast": 0, "ac": 5}
    assert api.get("/api/v1/coverage", supercharger_kw=-1).status_code == 422


def test_compatibility_flags_what_fails(api: Api) -> None:
    now = datetime.now(UTC)
    api.store.add_attempts(
        [
            ChargeAttempt(f"a{i}", now, OP, StartMethod.APP, "failure" if i % 2 else "success",
                          vehicle_model="v1", charger_manufacturer="M", charger_model="X",
                          firmware="1", failure_reason="precharge failed" if i % 2 else None)
            for i in range(40)
        ]
    )  # fmt: skip
    body = api.get("/api/v1/compatibility").json()
    assert body["overall"]["attempts"] == 40
    assert body["overall"]["rate"] == 0.5
    [flagged] = body["flagged"]
    assert flagged["key"]["charger_model"] == "X"
    assert flagged["reasons"] == {"precharge failed": 20}
    few = api.get("/api/v1/compatibility", min_samples=50).json()
    assert few["flagged"] == []  # below the minimum sample: not judged
    assert api.get("/api/v1/compatibility", target=1.5).status_code == 422


def test_the_api_docs_work_offline(api: Api) -> None:
    page = api.get("/docs")
    assert page.status_code == 200
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    assert "https://" not in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        served = api.get(f"/static/vendor/swagger-ui/{asset}")
        assert served.status_code == 200
        assert len(served.content) > 100_000
