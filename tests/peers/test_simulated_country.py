"""The whole simulated country synced end to end: every feed through its real protocol (T/CEC
102 and OCPI 2.2.1 on loopback) into the real platform, checked against the ground truth the
simulator's manifest comes with, then the feeds made to fail (a page that keeps failing, an empty
listing, a station that really disappears, a malformed record).

Nothing is read from the simulator's internals except the ground truth (``sim.truth.json``
beside the manifest); the faults are set through the servers' own knobs (``fail_offsets_once``,
``fail_page_once``, the data a server serves) and the fault injector.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chargemesh.bootstrap import OcpiSettings, assemble, tcec_peers
from chargemesh.config import SyncConfig, load_config
from chargemesh.domain import StationRemoved, station_id
from chargemesh.domain.charger import CurrentType, Station
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.protocols.ocpi import mapping
from chargemesh.protocols.ocpi.enums import ModuleID
from chargemesh.protocols.tcec.interfaces import Interface
from chargemesh.protocols.tcec.stations import QueryStationsInfoRequest
from chargemesh.services.analytics.coverage import coverage_report
from chargemesh.services.feeds.delisting import DelistingRules
from chargemesh.services.feeds.ingest import FeedResult, OcpiSide, sync_all
from chargemesh.sim.country import Country, generate
from chargemesh.sim.faults import FaultConfig
from chargemesh.sim.runner import Simulator
from chargemesh.store import Store, open_store
from chargemesh.store.repository import OperatorCounts
from tests.helpers import free_port
from tests.sim.conftest import SCALE, SEED, World

NOW = DelistingRules(min_missing=timedelta(0))  # two full syncs in a row delist, at once
PAGE = 10  # the servers' page size: every feed of more than 10 stations has several pages
OCPI_OP = "CN-TLN"  # 18 stations at this scale: 2 pages
TCEC_OP = "MA2YLN028"  # 80 stations: 8 pages
EMPTY_OP = "MA1QQC017"  # 102 stations


@pytest.fixture(scope="module")
def country() -> Country:
    return generate(SCALE, SEED)


@dataclass
class Run:
    """A running world and the ground truth from its manifest."""

    world: World
    truth: dict[str, Any]

    @property
    def store(self) -> Store:
        return self.world.store

    def sync(self, **kwargs: Any) -> dict[str, FeedResult]:
        p = self.world.platform
        side = OcpiSide(p.ocpi_connections, p.ocpi_locations, p.ocpi_objects)
        results = self.world.server.call(
            sync_all(self.world.config, self.world.store, p.relay, ocpi=side, **kwargs)
        )
        return {r.operator_id: r for r in results}

    def expected(self, op_id: str) -> OperatorCounts:
        op = self.truth["operators"][op_id]
        return OperatorCounts(op["stations"], op["evses"], op["connectors"])

    def registry_id(self, op_id: str, source_id: str) -> str:
        if self.truth["operators"][op_id]["protocol"] == "ocpi":
            return mapping.location_key(op_id, source_id)
        return station_id(op_id, source_id)


@contextmanager
def simulated(
    country: Country,
    tmp_path: Path,
    store_url: str | None = None,
    *,
    faults: float | FaultConfig = 0.0,
    page_size: int = PAGE,
) -> Iterator[Run]:
    """``tests.sim.conftest.running_world`` with a choice of store and of page size."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with Simulator(
        country, platform_url=url, churn_rate=0, faults=faults, max_page_size=page_size
    ) as sim:
        manifest = sim.write_manifest(tmp_path / "sim.toml")
        truth = json.loads(Simulator.truth_path(manifest).read_text(encoding="utf-8"))
        config = load_config(manifest)
        store = open_store(store_url or f"sqlite:///{tmp_path / 'registry.db'}")
        try:
            platform = assemble(store, tcec_peers(config), ocpi=OcpiSettings.from_config(config))
            with LoopbackServer(platform.app(), port=port) as server:
                yield Run(World(sim, config, store, platform, server), truth)
        finally:
            store.close()


def all_ok(results: dict[str, FeedResult], truth: dict[str, Any], only: Sequence[str] = ()) -> None:
    assert set(results) == set(only or truth["operators"])
    failed = {op: r.error for op, r in results.items() if not r.ok}
    assert failed == {}


def power_class(evse: Any) -> str:
    if evse.power_kw >= 250:
        return "supercharger_evses"
    dc = any(c.current_type is CurrentType.DC for c in evse.connectors)
    return "dc_fast_evses" if dc else "ac_evses"


# =============================================================================== ground truth


def test_the_synced_registry_matches_the_ground_truth(
    country: Country, tmp_path: Path, store_url: str
) -> None:
    with simulated(country, tmp_path, store_url, page_size=100) as run:
        truth, store = run.truth, run.store
        all_ok(run.sync(), truth)

        # every feed's listing, whole
        assert store.counts_by_operator() == {op: run.expected(op) for op in truth["operators"]}
        counts = store.counts()
        listed, distinct = truth["listed"], truth["distinct"]
        assert counts.listings == listed["stations"]  # every feed's listings, copies included
        assert (counts.stations, counts.evses, counts.connectors) == (  # one physical count
            distinct["stations"],
            distinct["evses"],
            distinct["connectors"],
        )
        assert (
            sum(c.stations for c in store.station_counts_by_operator().values())
            == (distinct["stations"])
        )
        stations: list[Station] = list(store.iter_stations())
        by_id = {s.id: s for s in stations}
        assert len(by_id) == listed["stations"]

        # highway service areas, per operator
        highway = Counter(s.operator_id for s in stations if s.highway_service_area)
        for op, facts in truth["operators"].items():
            assert highway[op] == facts["highway_stations"], op
        assert sum(highway.values()) == sum(
            f["highway_stations"] for f in truth["operators"].values()
        )

        # merged duplicates: each aggregator copy is shown as its partner's station
        copies: set[str] = set()
        for partner_op, partner_sid, agg_op, agg_sid in truth["duplicates"]:
            partner = run.registry_id(partner_op, partner_sid)
            copy = run.registry_id(agg_op, agg_sid)
            assert partner in by_id
            assert copy in by_id
            canonical = store.canonical_of([partner, copy])
            assert canonical[copy] == canonical[partner], (partner, copy)
            assert canonical[partner] == partner  # the network, not the reseller, is shown
            copies.add(copy)
        resold = sum(f["resold_stations"] for f in truth["operators"].values())
        assert len(copies) == len(truth["duplicates"]) == resold
        assert store.count_physical_stations() == truth["distinct"]["stations"]

        # counties: the physical stations (copies left out) by county, with their EVSEs
        physical = [s for s in stations if s.id not in copies]
        assert len(physical) == truth["distinct"]["stations"]
        found: dict[str, Counter[str]] = {}
        for s in physical:
            assert s.county_adcode is not None, s.id
            row = found.setdefault(s.county_adcode, Counter())
            row["stations"] += 1
            row["evses"] += len(s.evses)
            row["highway_stations"] += int(s.highway_service_area)
            for evse in s.evses:
                row[power_class(evse)] += 1
        keys = ("stations", "evses", "highway_stations")
        classes = ("supercharger_evses", "dc_fast_evses", "ac_evses")
        assert {c: {k: row[k] for k in keys + classes} for c, row in found.items()} == {
            c: {k: facts[k] for k in keys + classes} for c, facts in truth["counties"].items()
        }
        assert len(found) == truth["distinct"]["counties_covered"]

        # coverage, as the report computes it, equals the truth; the sync left a snapshot
        report = coverage_report(store).to_json()
        distinct = truth["distinct"]
        assert report["totals"]["stations"] == distinct["stations"]
        assert report["totals"]["evses"] == distinct["evses"]
        assert report["totals"]["connectors"] == distinct["connectors"]
        assert report["power_classes"] == truth["power_classes"]
        assert report["highway"]["service_areas"] == distinct["highway_stations"]
        assert report["counties"]["covered"] == distinct["counties_covered"]
        assert report["counties"]["total"] == truth["counties_total"]
        assert set(report["counties"]["covered_adcodes"]) == set(truth["counties"])
        assert len(report["counties"]["uncovered"]) == truth["counties_total"] - len(found)
        per_op = {o["id"]: o for o in report["operators"]}
        for op, facts in truth["operators"].items():
            if facts["resold_stations"] == 0:  # a reseller's copies are not counted twice
                assert per_op[op]["evses"] == facts["evses"], op
                assert per_op[op]["supercharger"] == facts["supercharger_evses"], op
            if facts["protocol"] == "tcec":  # which piles take part: our PlugAndCharge field
                assert per_op[op]["plug_and_charge"] == facts["pnc_evses"], op
        [point] = report["timeline"]
        assert (point["evses"], point["counties"]) == (distinct["evses"], len(found))

        # every feed healthy, nothing missing
        health = store.feed_health()
        assert set(health) == set(truth["operators"])
        for op, h in health.items():
            assert (h.state, h.errors, h.last_error) == ("ok", 0, None), op
            assert h.listed == truth["operators"][op]["stations"], op
            assert store.missing_stations(op) == [], op


# =============================================================================== faults


def fail_page_always(run: Run, op_id: str, page_no: int) -> Callable[[], None]:
    """Make ``op_id``'s T/CEC listing answer HTTP 500 at ``page_no`` on every try (retries
    included), through the server's ``fail_page_once`` knob; returns what heals it."""
    server = run.world.sim.tcec_servers[op_id]
    served = server.handlers[Interface.QUERY_STATIONS_INFO]

    def failing(caller: str, request: QueryStationsInfoRequest) -> Any:
        if request.page_no == page_no:
            server.fail_page_once.add(page_no)
        return served(caller, request)

    def heal() -> None:
        server.handlers[Interface.QUERY_STATIONS_INFO] = served
        server.fail_page_once.clear()

    server.handlers[Interface.QUERY_STATIONS_INFO] = failing
    return heal


def test_a_feed_failing_mid_pagination_resumes_without_loss_and_spares_the_others(
    country: Country, tmp_path: Path
) -> None:
    with simulated(country, tmp_path) as run:
        truth, store = run.truth, run.store
        run.world.platform.ocpi_connections.retries = 0  # a failing page stops the pull
        ocpi_stations = truth["operators"][OCPI_OP]["stations"]
        assert ocpi_stations > PAGE  # the failure is mid-pagination
        run.world.sim.ocpi_servers[OCPI_OP].fail_offsets_once.add(PAGE)  # the second page
        heal = fail_page_always(run, TCEC_OP, 3)
        broken = {OCPI_OP, TCEC_OP}

        first = run.sync()
        assert {op for op, r in first.items() if not r.ok} == broken
        assert "500" in (first[OCPI_OP].error or "")
        assert "failed 4 times" in (first[TCEC_OP].error or "")  # retried, then given up
        held = store.counts_by_operator()
        for op in truth["operators"]:
            if op not in broken:
                assert first[op].records == truth["operators"][op]["stations"], op
                assert held[op] == run.expected(op), op
        assert held[OCPI_OP].stations == PAGE  # the first page is kept
        assert held.get(TCEC_OP, OperatorCounts(0, 0, 0)).stations == 2 * PAGE
        health = store.feed_health()
        for op in broken:
            assert (health[op].state, health[op].errors) == ("failed", 1), op
            assert health[op].last_error
        assert all(h.state == "ok" for op, h in health.items() if op not in broken)

        heal()
        second = run.sync(delisting_rules=NOW)
        all_ok(second, truth)
        # the OCPI pull went on from the page it stopped at, not from the start
        assert second[OCPI_OP].records == ocpi_stations - PAGE
        assert second[TCEC_OP].records == truth["operators"][TCEC_OP]["stations"]
        assert store.counts_by_operator() == {op: run.expected(op) for op in truth["operators"]}
        assert len(store.station_ids(OCPI_OP)) == ocpi_stations
        assert store.count_physical_stations() == truth["distinct"]["stations"]
        health = store.feed_health()
        for op in broken:
            assert (health[op].state, health[op].errors, health[op].last_error) == (
                "ok",
                0,
                None,
            )
        assert health[TCEC_OP].listed == truth["operators"][TCEC_OP]["stations"]
        assert store.missing_stations(TCEC_OP) == []

        # a T/CEC feed failing after a good sync loses nothing either
        fail_page_always(run, TCEC_OP, 5)
        third = run.sync(operators=[TCEC_OP, OCPI_OP], delisting_rules=NOW)
        assert {op for op, r in third.items() if not r.ok} == {TCEC_OP}
        assert store.counts_by_operator()[TCEC_OP] == run.expected(TCEC_OP)
        assert store.missing_stations(TCEC_OP) == []
        assert store.feed_health()[TCEC_OP].errors == 1


def test_a_resumed_ocpi_pull_marks_no_station_missing(country: Country, tmp_path: Path) -> None:
    with simulated(country, tmp_path) as run:
        run.world.platform.ocpi_connections.retries = 0
        run.world.sim.ocpi_servers[OCPI_OP].fail_offsets_once.add(PAGE)
        assert not run.sync(operators=[OCPI_OP])[OCPI_OP].ok
        assert run.sync(operators=[OCPI_OP], delisting_rules=NOW)[OCPI_OP].ok
        assert len(run.store.station_ids(OCPI_OP)) == run.truth["operators"][OCPI_OP]["stations"]
        # a resumed pull lists only the pages after the resume point: it is not a full
        # listing, so the stations of the first page are not "missing"
        assert run.store.missing_stations(OCPI_OP) == []
        assert run.store.feed_health()[OCPI_OP].listed is None


class Listing:
    """A T/CEC operator's data with its station listing replaced (everything else served as
    the operator serves it)."""

    def __init__(self, data: Any, keep: Any) -> None:
        self._data = data
        self._keep = keep

    def stations_changed_since(self, since: datetime | None) -> Sequence[Any]:
        return [s for s in self._data.stations_changed_since(since) if self._keep(s)]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._data, name)


class NoLocations:
    """An OCPI CPO's data whose locations list is empty."""

    def __init__(self, data: Any) -> None:
        self._data = data

    def changed(self, module: Any, date_from: Any = None, date_to: Any = None) -> Sequence[Any]:
        if ModuleID(module) is ModuleID.LOCATIONS:
            return []
        return self._data.changed(module, date_from, date_to)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._data, name)


def test_an_empty_listing_wipes_nothing_and_a_vanished_station_is_delisted(
    country: Country, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with simulated(country, tmp_path, page_size=100) as run:
        truth, store = run.truth, run.store
        all_ok(run.sync(delisting_rules=NOW), truth)
        before = store.station_ids(EMPTY_OP)
        assert len(before) == truth["operators"][EMPTY_OP]["stations"]
        tcec = run.world.sim.tcec_servers[EMPTY_OP]
        cpo = run.world.sim.ocpi_servers[OCPI_OP]
        tcec_data, cpo_data = tcec.network, cpo.network
        these = [EMPTY_OP, OCPI_OP]  # the other feeds are not concerned from here on

        # the operators list nothing: twice, so that a miss would have delisted
        tcec.network = Listing(tcec_data, lambda s: False)
        cpo.network = NoLocations(cpo_data)
        for _ in range(2):
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="chargemesh"):
                results = run.sync(operators=these, delisting_rules=NOW)
            all_ok(results, truth, these)  # an empty answer is not an error
            assert results[EMPTY_OP].records == 0
            assert f"{EMPTY_OP}: a full sync listed no stations" in caplog.text
            assert store.station_ids(EMPTY_OP) == before
            assert store.counts_by_operator() == {op: run.expected(op) for op in truth["operators"]}
            health = store.feed_health()[EMPTY_OP]
            assert (health.state, health.records, health.listed) == ("ok", 0, 0)
            # recorded as missing, to be looked at, but no sync counted against them
            missing = store.missing_stations(EMPTY_OP)
            assert {m.station_id for m in missing} == before
            assert {m.misses for m in missing} == {0}

        # the next normal full listing clears it
        tcec.network, cpo.network = tcec_data, cpo_data
        all_ok(run.sync(operators=these, delisting_rules=NOW), truth, these)
        assert store.missing_stations(EMPTY_OP) == []
        assert store.feed_health()[EMPTY_OP].listed == len(before)
        assert store.counts_by_operator() == {op: run.expected(op) for op in truth["operators"]}

        # a station that really disappears goes after two full listings without it
        gone_source = sorted(before)[0].split(":", 1)[1]
        gone = station_id(EMPTY_OP, gone_source)
        removed: list[StationRemoved] = []
        run.world.platform.bus.subscribe(StationRemoved, removed.append)
        tcec.network = Listing(tcec_data, lambda s: s.station_id != gone_source)
        all_ok(run.sync(operators=these, delisting_rules=NOW), truth, these)
        (missed,) = store.missing_stations(EMPTY_OP)
        assert (missed.station_id, missed.misses) == (gone, 1)
        assert gone in store.station_ids(EMPTY_OP)
        assert removed == []
        all_ok(run.sync(operators=these, delisting_rules=NOW), truth, these)
        assert store.station_ids(EMPTY_OP) == before - {gone}
        assert store.missing_stations(EMPTY_OP) == []
        assert [e.station_id for e in removed] == [gone]
        assert store.counts_by_operator()[EMPTY_OP].stations == len(before) - 1
        assert store.feed_health()[EMPTY_OP].listed == len(before) - 1


def test_a_malformed_record_costs_that_record_only(
    country: Country, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    malformed = FaultConfig(probability=1.0, kinds={"malformed": 1.0})
    with simulated(country, tmp_path, faults=malformed) as run:
        truth, store = run.truth, run.store
        for op_id, injector in run.world.sim.injectors.items():
            # (caller, LastQueryTime, PageNo, PageSize): one bad record on TCEC_OP's first page
            def draw(key: Any, op_id: str = op_id) -> str | None:
                return "malformed" if op_id == TCEC_OP and key[2] == 1 else None

            monkeypatch.setattr(injector, "draw", draw)

        results = run.sync()
        all_ok(results, truth)
        (event,) = run.world.sim.injectors[TCEC_OP].events
        assert event.kind == "malformed"
        assert event.where.startswith("page 1: ")
        assert event.record is not None
        bad = station_id(TCEC_OP, event.record)
        stations = truth["operators"][TCEC_OP]["stations"]
        assert store.get_station(bad) is None
        assert len(store.station_ids(TCEC_OP)) == stations - 1  # the page's 9 others, and all
        assert results[TCEC_OP].records == stations - 1
        held = store.counts_by_operator()
        assert {op: c for op, c in held.items() if op != TCEC_OP} == {
            op: run.expected(op) for op in truth["operators"] if op != TCEC_OP
        }
        health = store.feed_health()[TCEC_OP]
        assert (health.state, health.errors) == ("ok", 0)

        # served whole again, the record comes in
        monkeypatch.undo()
        for injector in run.world.sim.injectors.values():
            injector.close()
        all_ok(run.sync(operators=[TCEC_OP]), truth, [TCEC_OP])
        assert store.get_station(bad) is not None
        assert store.counts_by_operator()[TCEC_OP] == run.expected(TCEC_OP)


def test_ocpi_full_listings_let_the_delisting_rule_see_what_a_cpo_dropped(
    country: Country, tmp_path: Path
) -> None:
    """With ``sync.full_every_s = 0`` every OCPI pull is a full listing: an empty one wipes
    nothing (suspect), and a location the CPO silently stops listing is delisted after two."""
    with simulated(country, tmp_path) as run:
        run.world.config = run.world.config.model_copy(update={"sync": SyncConfig(full_every_s=0)})
        store = run.store
        assert run.sync(operators=[OCPI_OP], delisting_rules=NOW)[OCPI_OP].ok
        before = store.station_ids(OCPI_OP)
        cpo = run.world.sim.ocpi_servers[OCPI_OP]
        data = cpo.network
        cpo.network = NoLocations(data)
        for _ in range(2):
            assert run.sync(operators=[OCPI_OP], delisting_rules=NOW)[OCPI_OP].ok
            assert store.station_ids(OCPI_OP) == before  # suspect: nothing delisted
        gone = sorted(before)[0]

        class AllBut:
            def __init__(self, inner: Any) -> None:
                self._inner = inner

            def changed(self, module: Any, date_from: Any = None, date_to: Any = None) -> Any:
                found = self._inner.changed(module, date_from, date_to)
                if ModuleID(module) is not ModuleID.LOCATIONS:
                    return found
                return [loc for loc in found if run.registry_id(OCPI_OP, loc.id) != gone]

            def __getattr__(self, name: str) -> Any:
                return getattr(self._inner, name)

        cpo.network = AllBut(data)
        assert run.sync(operators=[OCPI_OP], delisting_rules=NOW)[OCPI_OP].ok
        assert gone in store.station_ids(OCPI_OP)  # missed once
        assert run.sync(operators=[OCPI_OP], delisting_rules=NOW)[OCPI_OP].ok
        assert store.station_ids(OCPI_OP) == before - {gone}  # missed twice: delisted
