"""Pushes for connectors not yet cached share their store lookups: a first wave after a start
(every connector once) costs one query per operator, not one per push, and each push still
gets its own connector (or None for a ConnectorID the operator does not have)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chargemesh.api.tcec import ConnectorLookups
from chargemesh.store import open_store
from tests.factories import make_operator, make_station

OP = "313744932"


def test_concurrent_misses_share_one_store_query(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    store.upsert_operator(make_operator(OP))
    stations = [make_station(OP, f"S{i}") for i in range(10)]
    store.upsert_stations(stations, at=datetime.now(UTC))
    connectors = [c for s in stations for e in s.evses for c in e.connectors]
    queries: list[list[str]] = []
    read = store.connector_ids_by_source

    def counted(operator_id: str, source_ids: Sequence[str]) -> dict[str, str]:
        queries.append(list(source_ids))
        return read(operator_id, source_ids)

    store.connector_ids_by_source = counted  # type: ignore[method-assign]
    lookups = ConnectorLookups(store)

    async def wave() -> list[str | None]:
        asked = [c.source_id for c in connectors] + [connectors[0].source_id, "NO-SUCH-GUN"]
        return await asyncio.gather(*(lookups.find(OP, source) for source in asked))

    found = asyncio.run(wave())
    assert found == [c.id for c in connectors] + [connectors[0].id, None]
    assert len(queries) == 1  # 42 pushes, one query
    assert len(queries[0]) == len(connectors) + 1  # each ConnectorID asked once
    store.close()


def test_a_failed_lookup_fails_every_push_waiting_on_it(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}")

    def broken(operator_id: str, source_ids: Sequence[str]) -> dict[str, str]:
        raise RuntimeError("the store is away")

    store.connector_ids_by_source = broken  # type: ignore[method-assign]
    lookups = ConnectorLookups(store)

    async def wave() -> list[object]:
        return await asyncio.gather(
            *(lookups.find(OP, f"G{i}") for i in range(3)), return_exceptions=True
        )

    outcomes = asyncio.run(wave())
    assert [type(o) for o in outcomes] == [RuntimeError] * 3
    with pytest.raises(RuntimeError):
        asyncio.run(lookups.find(OP, "G9"))
    store.close()
