"""Enabling plug-and-charge, on the in-memory unit of work (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chargemesh.domain import Capability, Operator, OperatorProtocol
from chargemesh.domain.session import Vehicle
from chargemesh.services.charging.vehicles import Refused, enable_plug_and_charge
from tests.fakes import FakeUnitOfWork

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PNC = frozenset({Capability.REALTIME, Capability.PLUG_AND_CHARGE})


def _uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    uow.data.operators["CN-OCP"] = Operator("CN-OCP", "Volt OCPI", OperatorProtocol.OCPI, PNC)
    uow.data.operators["313744932"] = Operator("313744932", "Lanting", OperatorProtocol.TCEC, PNC)
    uow.data.vehicles["v1"] = Vehicle("v1", "alice", "LRW3E7EK4NC000001", "Model Y",
                                      "CN-CMH-C12345678-X")  # fmt: skip
    return uow


def test_an_ocpi_network_gets_the_emaid_token_and_the_vehicle_the_network_together() -> None:
    uow = _uow()
    enabled = enable_plug_and_charge(uow, "alice", "v1", "CN-OCP", AT)
    assert enabled.networks == frozenset({"CN-OCP"})
    assert uow.data.vehicles["v1"].networks == frozenset({"CN-OCP"})
    assert uow.data.tokens["CN-CMH-C12345678-X"].contract_id == "CN-CMH-C12345678-X"
    assert len(uow.committed) == 1


def test_a_failed_second_write_takes_the_token_back_too() -> None:
    uow = _uow()
    uow.data.vehicles["v2"] = Vehicle(
        "v2", "bob", "LRW3E7EK4NC000002", "Model 3", "CN-CMH-C12345678-X"
    )  # fmt: skip  (the same EMAID)
    with pytest.raises(ValueError, match="another vehicle"):
        enable_plug_and_charge(uow, "alice", "v1", "CN-OCP", AT)
    assert uow.data.tokens == {}
    assert uow.data.vehicles["v1"].networks == frozenset()
    assert uow.committed == []


def test_refusals_write_nothing() -> None:
    uow = _uow()
    with pytest.raises(Refused) as other_account:
        enable_plug_and_charge(uow, "bob", "v1", "CN-OCP", AT)
    assert other_account.value.status == 404
    uow.data.vehicles["v1"] = Vehicle("v1", "alice", "LRW3E7EK4NC000001", "Model Y")
    with pytest.raises(Refused, match="EMAID"):
        enable_plug_and_charge(uow, "alice", "v1", "CN-OCP", AT)
    assert enable_plug_and_charge(uow, "alice", "v1", "313744932", AT).networks == {"313744932"}
    assert uow.data.tokens == {}
