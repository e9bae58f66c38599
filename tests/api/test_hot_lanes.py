"""The hot paths' lanes ahead of the middleware stack (``api/lanes.py``): a T/CEC call whose
declared body fits is answered by the lane, one sent chunked goes through the stack and its
body limits, and both answer alike and are counted under the route's template; a failure in
the lane is a 500 in the caller's protocol, counted and logged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chargemesh.api.lanes import TCEC_TEMPLATE
from chargemesh.api.tcec import TcecPeer
from chargemesh.bootstrap import Platform, assemble
from chargemesh.metrics import REGISTRY
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.protocols.tcec.codec import Ret, Secrets
from chargemesh.store import open_store

OP = "MA6LTCD01"
SECRETS = Secrets("cm-op-secret-001", "cm-data-key-0001", "cm-data-iv-00001", "cm-sig-01")
PUSH = "/tcec/v1/notification_stationStatus"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Platform, str]]:
    store = open_store(f"sqlite:///{tmp_path / 'lanes.db'}")
    platform = assemble(store, {OP: TcecPeer(OP, SECRETS, "cec")})
    try:
        with LoopbackServer(platform.app()) as server:
            yield platform, server.url
    finally:
        store.close()


def counted(status: str) -> float:
    value = REGISTRY.get_sample_value(
        "chargemesh_http_request_duration_seconds_count",
        {"route": TCEC_TEMPLATE, "method": "POST", "status": status},
    )
    return value or 0.0


def test_a_call_in_the_lane_and_one_sent_chunked_through_the_stack_answer_alike(
    served: tuple[Platform, str],
) -> None:
    _, url = served
    body = b'{"OperatorID": "MA6LTCD01", "Data": "not sealed", "Seq": "0001"}'
    before = counted("2xx")
    in_lane = httpx.post(f"{url}{PUSH}", content=body, timeout=10)
    chunked = httpx.post(f"{url}{PUSH}", content=iter([body[:10], body[10:]]), timeout=10)
    assert "content-length" not in chunked.request.headers  # sent chunked: the stack's
    assert (in_lane.status_code, in_lane.content) == (chunked.status_code, chunked.content)
    assert in_lane.json()["Ret"] != Ret.OK  # neither signed nor sealed: refused in T/CEC
    assert counted("2xx") == before + 2
    assert httpx.post(f"{url}/tcec/v1/a/b", content=body, timeout=10).status_code == 404


def test_a_failure_in_the_lane_is_a_500_envelope(
    served: tuple[Platform, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    platform, url = served

    async def broken(*_: object) -> tuple[dict[str, object], int]:
        raise RuntimeError("the writer is broken")

    monkeypatch.setattr(platform.tcec, "answer", broken)
    before = counted("5xx")
    answer = httpx.post(f"{url}{PUSH}", content=b"{}", timeout=10)
    assert answer.status_code == 500
    assert answer.json()["Ret"] == Ret.SYSTEM_ERROR
    assert "broken" not in answer.text
    assert counted("5xx") == before + 1
