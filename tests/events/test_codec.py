"""The outbox codec: every event comes back equal from its row (kind, JSON payload, the row's id
as its ``event_id``) — times with their zone and microseconds, enums, decimals exactly, tuples,
and a whole session with its bill."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from chargemesh.domain import ConnectorStatus, StationAdded, StatusChanged
from chargemesh.domain.events import SessionUpdated, StatusConfirmed
from chargemesh.domain.session import Bill, SessionState, StopCode, stop_text
from chargemesh.events.codec import KINDS, decode, encode
from tests.store.test_sessions_store import session

T = datetime(2026, 12, 6, 5, 40, 12, 345678, tzinfo=UTC)


def _events() -> list[object]:
    bill = Bill(kwh=3.4, total=Decimal("4.42"), energy_cost=Decimal("2.72"),
                service_cost=Decimal("1.70"), reference="seq")  # fmt: skip
    charging = dataclasses.replace(
        session(),
        state=SessionState.COMPLETED,
        updated_at=T,
        started_at=T - timedelta(minutes=9),
        kwh=3.25,
        kw=58.5,
        soc=41.0,
        cost=Decimal("4.23"),
        ended_at=T,
        stop_code=StopCode.BATTERY_FULL,
        stop_reason=stop_text(StopCode.BATTERY_FULL),
        charged_s=512.0,
        bill=bill,
    )
    return [
        StationAdded("313744932:S1", "313744932", T),
        StatusChanged(
            "313744932:S1:E0:C0",
            "313744932:S1",
            "313744932",
            ConnectorStatus.AVAILABLE,
            ConnectorStatus.CHARGING,
            T,
            "tcec:push",
            "3",
        ),
        StatusConfirmed((("313744932:S1:E0:C0", "313744932:S1", T),)),
        SessionUpdated(charging),
    ]


def test_every_event_comes_back_equal_from_its_row() -> None:
    for n, event in enumerate(_events(), start=1):
        kind, payload = encode(event)  # type: ignore[arg-type]
        assert kind in KINDS
        assert isinstance(json.loads(payload), dict)  # plain JSON in the row
        back = decode(kind, payload, n)
        assert back == event
        assert back.event_id == n
        for f in fields(event):
            assert type(getattr(back, f.name)) is type(getattr(event, f.name)) or f.name == (
                "event_id"
            )
    money = json.loads(encode(_events()[3])[1])["session"]["bill"]["total"]  # type: ignore[arg-type]
    assert money == "4.42"  # a decimal stays exact text, never a float
