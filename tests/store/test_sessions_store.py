"""Sessions, vehicles and charge attempts in both stores."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from chargemesh.domain.session import (
    Bill,
    ChargeAttempt,
    ChargeSession,
    InvalidTransition,
    SessionState,
    StartMethod,
    StopCode,
    Vehicle,
    stop_text,
)
from chargemesh.store import Store

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def session(sid: str = "s1", key: str | None = "k1", account: str = "alice") -> ChargeSession:
    return ChargeSession(
        id=sid, account_id=account, operator_id="313744932", protocol="tcec",
        connector_id="313744932:S1:E0:S1E0C0", station_id="313744932:S1",
        method=StartMethod.QR_SCAN, state=SessionState.REQUESTED, created_at=T0, updated_at=T0,
        idempotency_key=key, protocol_ref=f"MA01H3BQ2{sid:0>18}", deadline=T0 + timedelta(60),
    )  # fmt: skip


def test_an_idempotency_key_makes_one_session_per_account(store: Store) -> None:
    first, created = store.create_session(session("s1", "k1"))
    again, created_again = store.create_session(session("s2", "k1"))
    assert (created, created_again) == (True, False)
    assert again == first
    other, created_other = store.create_session(session("s3", "k1", account="bob"))
    assert created_other
    assert other.id == "s3"
    _no_key, _ = store.create_session(session("s4", None))
    no_key_again, created_no_key = store.create_session(session("s5", None))
    assert created_no_key
    assert no_key_again.id == "s5"
    assert store.session_by_key("alice", "k1") == first


def test_a_session_round_trips_through_its_states(store: Store) -> None:
    s, _ = store.create_session(session())
    starting = s.moved(SessionState.STARTING, T0 + timedelta(seconds=1))
    store.save_session(starting)
    charging = starting.moved(
        SessionState.CHARGING, T0 + timedelta(seconds=5), started_at=T0 + timedelta(seconds=5),
        kwh=3.25, kw=58.5, soc=41.0, cost=Decimal("4.23"), deadline=None,
    )  # fmt: skip
    store.save_session(charging)
    assert store.get_session("s1") == charging
    assert store.session_by_ref("313744932", s.protocol_ref or "") == charging
    assert [x.id for x in store.open_sessions()] == ["s1"]
    bill = Bill(kwh=3.4, total=Decimal("4.42"), energy_cost=Decimal("2.72"),
                service_cost=Decimal("1.70"), reference="seq")  # fmt: skip
    done = charging.moved(
        SessionState.COMPLETED, T0 + timedelta(minutes=9), bill=bill,
        ended_at=T0 + timedelta(minutes=9), remote_id="CPO-1", stop_code=StopCode.BATTERY_FULL,
        stop_reason=stop_text(StopCode.BATTERY_FULL), charged_s=512.0,
    )  # fmt: skip
    store.save_session(done)
    assert store.get_session("s1") == done
    assert store.session_by_remote_id("313744932", "CPO-1") == done
    assert store.open_sessions() == []
    assert [x.id for x in store.account_sessions("alice")] == ["s1"]


def test_the_state_machine_refuses_what_cannot_happen() -> None:
    s = session()
    with pytest.raises(InvalidTransition):
        s.moved(SessionState.CHARGING, T0)  # requested → charging skips the start
    failed = s.moved(SessionState.FAILED, T0, failure_reason="x")
    for state in SessionState:
        if state is not SessionState.FAILED:
            with pytest.raises(InvalidTransition):
                failed.moved(state, T0)
    assert SessionState.COMPLETED.final
    assert not SessionState.STOPPING.final


def test_vehicles_and_their_networks(store: Store) -> None:
    car = Vehicle("v1", "alice", "LSJA24U62MG123456", "Aurora S7", "CNCMHC12345678")
    store.save_vehicle(car)
    assert store.get_vehicle("v1") == car
    enabled = replace(car, networks=frozenset({"313744932", "CN-TLN"}))
    store.save_vehicle(enabled)
    assert store.vehicle_by_vin("lsja24u62mg123456") == enabled
    assert store.vehicle_by_emaid("CNCMHC12345678") == enabled
    assert store.vehicle_by_vin("LSJA24U62MG000000") is None


def test_attempts_are_kept_in_order(store: Store) -> None:
    attempts = [
        ChargeAttempt(f"a{i}", T0 + timedelta(minutes=i), "313744932", StartMethod.QR_SCAN,
                      "failure" if i == 1 else "success", vehicle_model="Aurora S7",
                      charger_manufacturer="Huaxin Power", charger_model="HX-120",
                      firmware="2.4.1", connector_standard="gbt_dc",
                      failure_reason="BMS handshake timeout" if i == 1 else None)
        for i in range(3)
    ]  # fmt: skip
    store.add_attempts(attempts)
    assert store.list_attempts() == attempts
    assert store.list_attempts(since=T0 + timedelta(minutes=1)) == attempts[1:]
