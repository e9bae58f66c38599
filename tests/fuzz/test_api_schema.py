"""The API answers as its published schema says: schemathesis reads ``/openapi.json`` from a
real server over loopback (a small seeded registry: one operator, a few stations, a driver's
account, an ops key) and sends what the schema allows and what it does not. Each
answer must be no 5xx, a documented status code, a documented content type and a body of the
documented schema. Bounded: a few examples per route, the whole run well under two minutes.

Left out: the live event stream (``/api/v1/events`` never ends by itself) and the protocol
endpoints, which are not in the schema (OCPI and T/CEC keep their own wire formats)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chargemesh.bootstrap import assemble
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.store import open_store
from tests.drivers import bearer
from tests.factories import T0, make_operator, make_station

STREAM = "/api/v1/events"  # the live event stream answers until the client leaves
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass(frozen=True)
class Api:
    url: str
    driver: dict[str, str]  # a signed-in driver's Authorization header
    ops: dict[str, str]  # an operations key's


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    db = tmp_path_factory.mktemp("fuzz") / "chargemesh.db"
    store = open_store(f"sqlite:///{db}")
    store.upsert_operator(make_operator())
    stations = [make_station(source_id=f"S{n}", lon=116.40 + n / 100) for n in range(3)]
    store.upsert_stations(stations, at=T0)
    platform = assemble(store, owns_store=True)
    with platform, LoopbackServer(platform.app()) as server:
        _, key = platform.ops_keys.create("fuzz")
        yield Api(server.url, bearer(platform, "fuzz"), {"Authorization": f"Bearer {key}"})


#: each route is fuzzed so: (valid or invalid requests, with whose credentials, examples);
#: "wrong" is a driver's token on an ops route and none elsewhere (the 401/403 answers);
#: about 1,200 requests in all
RUNS: Final = (
    (GenerationMode.POSITIVE, "own", 12),
    (GenerationMode.NEGATIVE, "own", 12),
    (GenerationMode.POSITIVE, "wrong", 3),
)


Operation = APIOperation[Any, Any, Any, Any]


def _fuzzed(
    operation: Operation,
    run_as: tuple[GenerationMode, str, int],
    api: Api,
    seen: Counter[tuple[str, int]],
) -> str | None:
    """What went wrong with ``operation`` fuzzed as ``run_as`` says (None: every answer as
    documented); ``seen`` counts the answers by route and status."""
    mode, who, examples = run_as
    ops = operation.path.startswith("/api/v1/ops/")
    credentials = {("own", True): api.ops, ("own", False): api.driver, ("wrong", True): api.driver}
    headers = credentials.get((who, ops), {})

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,  # the same requests on every run: CI fails only for a change
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report the first failure
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Case[Any]) -> None:
        answer = case.call_and_validate(
            base_url=api.url, headers=headers, checks=CHECKS, timeout=10
        )
        seen[operation.label, answer.status_code] += 1

    try:
        run()
    except Unsatisfiable:  # nothing to get wrong: a route without parameters or a body
        assert mode is GenerationMode.NEGATIVE, operation.label
    except Exception as exc:  # schemathesis' failure groups, or anything unexpected
        return f"{mode.value} ({who} credentials) {operation.label}: {exc}"
    return None


def test_every_answer_is_as_the_schema_says(api: Api) -> None:
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    loaded = list(schema.exclude(path=STREAM).get_all_operations())
    operations = [found.ok() for found in loaded if isinstance(found, Ok)]
    assert len(operations) == len(loaded), "every operation of the schema can be fuzzed"
    assert len(operations) > 40  # the driver, search and ops routes are all there
    assert all(op.path.startswith("/api/") for op in operations)
    seen: Counter[tuple[str, int]] = Counter()
    found = [
        failure
        for operation in operations
        for run_as in RUNS
        if (failure := _fuzzed(operation, run_as, api, seen)) is not None
    ]
    assert not found, "\n\n".join(found)
    # the keys were taken: the driver's and the operations team's routes answered, not 401
    assert seen["GET /api/v1/me", 200] > 0, seen
    assert seen["GET /api/v1/sessions", 200] > 0, seen
    assert seen["GET /api/v1/ops/feeds", 200] > 0, seen
    assert seen["GET /api/v1/stations/nearby", 200] > 0, seen
    # and without them, refused in the documented shape
    assert seen["GET /api/v1/me", 401] > 0, seen
    assert seen["GET /api/v1/ops/feeds", 403] > 0, seen
