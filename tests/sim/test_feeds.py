"""The lazy feeds: what the simulated operators serve, built on demand from the country's arrays,
checked directly and through the real servers and our real clients."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pytest

from chargemesh.protocols.ocpi import mapping as ocpi_mapping
from chargemesh.protocols.ocpi.enums import ModuleID
from chargemesh.protocols.ocpi.mapping import connector_status as from_ocpi
from chargemesh.protocols.ocpi.models import Location
from chargemesh.protocols.tcec.client import TcecClient, client_from_config
from chargemesh.protocols.tcec.codec import CHINA_TZ, Secrets
from chargemesh.protocols.tcec.stations import StationInfo
from chargemesh.services.feeds.ocpi_sync import ensure_registered, sync_ocpi_operator
from chargemesh.sim.churn import OCPI_OF_CODE, Churn
from chargemesh.sim.country import (
    Country,
    connector_ids,
    ground_truth,
    ocpi_location,
    station_id,
    station_indices,
    tcec_station,
)
from chargemesh.sim.feeds import (
    LazySequence,
    OcpiCpoFeed,
    TcecOperatorFeed,
    build_feeds,
)
from chargemesh.sim.manifest import PLATFORM_OPERATOR_ID, operator_secrets
from chargemesh.sim.peers.ocpi.data import CpoData, CpoNetwork
from chargemesh.sim.peers.tcec.network import OperatorData
from chargemesh.sim.runner import Simulator
from tests.sim.conftest import World

CEC = "MA1QQC017"  # the largest network, CEC dialect
XIAOJU = "MA2YLN028"
AGGREGATOR = "MA4JDH041"  # resells part of CN-LHA's stations
OCPI = "CN-TLN"
PARTNER = "CN-LHA"


@pytest.fixture(scope="module")
def sim(country: Country) -> Iterator[Simulator]:
    with Simulator(country, churn_rate=0) as running:
        yield running


def tcec_client(sim: Simulator, op_id: str, http: httpx.AsyncClient) -> TcecClient:
    op = next(o for o in sim.operators if o.id == op_id)
    outbound, _ = operator_secrets(sim.country.seed, op)
    return TcecClient(
        base_url=sim.urls[op_id],
        operator_id=op_id,
        platform_operator_id=PLATFORM_OPERATOR_ID,
        secrets=Secrets(**outbound),
        dialect=op.dialect or "cec",
        http=http,
        backoff_s=0.01,
    )


async def all_stations(client: TcecClient, page_size: int) -> tuple[int, list[StationInfo]]:
    pages, stations = 0, []
    async for page in client.station_pages(page_size=page_size):
        pages += 1
        stations.extend(page.station_infos)
    return pages, stations


# --------------------------------------------------------------------------- the lazy sequence


def test_a_lazy_sequence_builds_only_what_is_asked() -> None:
    built: list[int] = []

    def build(i: int) -> str:
        built.append(i)
        return f"item {i}"

    seq = LazySequence(np.arange(100, 1100, dtype=np.int64), build)
    assert len(seq) == 1000
    assert built == []
    assert seq[5:8] == ["item 105", "item 106", "item 107"]
    assert seq[-1] == "item 1099"
    assert seq[2000:2010] == []
    assert built == [105, 106, 107, 1099]


# --------------------------------------------------------------------------- T/CEC


def test_a_tcec_feed_is_operator_data_over_the_country(country: Country) -> None:
    feed = TcecOperatorFeed(country, CEC)
    data: OperatorData = feed  # the protocol the operator server reads
    truth = ground_truth(country)["operators"][CEC]
    everything = data.stations_changed_since(None)
    assert len(everything) == feed.station_count == truth["stations"]
    assert feed.connector_count == truth["connectors"]
    first = int(station_indices(country, CEC)[0])
    assert everything[0] == tcec_station(country, first)
    # LastQueryTime keeps the stations changed at or after it.
    changed = country.station_changed[station_indices(country, CEC)]
    middle = datetime.fromtimestamp(float(np.median(changed)), tz=UTC)
    since = data.stations_changed_since(middle)
    assert len(since) == int((changed >= middle.timestamp()).sum())
    assert all(s.station_id in {station_id(country, int(i)) for i in since.indices} for s in since)


def test_tcec_status_lookups_follow_the_status_array(country: Country) -> None:
    feed = TcecOperatorFeed(country, XIAOJU)
    i = int(station_indices(country, XIAOJU)[3])
    sid = station_id(country, i)
    cids = connector_ids(country, i)
    status = feed.station_status(sid)
    assert status is not None
    assert [c.connector_id for c in status.connector_status_infos] == cids
    unit = feed.unit_of(cids[-1])
    assert unit is not None
    assert feed.connector_id(unit) == cids[-1]
    feed.set_status(cids[-1], 3)
    answer = feed.connector_status(cids[-1])
    assert answer is not None
    assert answer.status == 3
    assert feed.station_status("NOPE0000000") is None
    assert feed.connector_status(cids[-1] + "9") is None
    assert feed.connector_status(station_id(country, int(station_indices(country, CEC)[0]))) is None
    with pytest.raises(KeyError):
        feed.set_status("XX", 1)
    # Every connector id round-trips through its unit.
    for unit in range(0, feed.units, max(1, feed.units // 50)):
        assert feed.unit_of(feed.connector_id(unit)) == unit


@pytest.mark.parametrize("op_id", [CEC, XIAOJU])
def test_tcec_pages_through_the_real_server_and_client(
    sim: Simulator, country: Country, op_id: str
) -> None:
    truth = ground_truth(country)["operators"][op_id]

    async def run() -> tuple[int, list[StationInfo], dict[str, int]]:
        async with httpx.AsyncClient(timeout=10) as http:
            client = tcec_client(sim, op_id, http)
            pages, stations = await all_stations(client, page_size=7)
            answers = await client.station_status([s.station_id for s in stations])
        polled = {
            c.connector_id: c.status
            for answer in answers
            for station in answer.station_status_infos
            for c in station.connector_status_infos
        }
        return pages, stations, polled

    pages, stations, polled = asyncio.run(run())
    assert pages == -(-truth["stations"] // 7)
    assert len(stations) == len({s.station_id for s in stations}) == truth["stations"]
    assert (
        sum(len(e.connector_infos) for s in stations for e in s.equipment_infos)
        == (truth["connectors"])
    )
    assert sum(len(s.equipment_infos) for s in stations) == truth["evses"]
    feed = sim.feeds[op_id]
    assert isinstance(feed, TcecOperatorFeed)
    assert len(polled) == truth["connectors"]
    assert polled == {feed.connector_id(u): int(feed.status[u]) for u in range(feed.units)}


def test_tcec_incremental_pages_carry_only_what_changed_since(
    sim: Simulator, country: Country
) -> None:
    changed = country.station_changed[station_indices(country, CEC)]
    cut = datetime.fromtimestamp(float(np.quantile(changed, 0.8)), tz=UTC).replace(microsecond=0)

    async def run() -> list[StationInfo]:
        async with httpx.AsyncClient(timeout=10) as http:
            client = tcec_client(sim, CEC, http)
            return [
                s
                async for page in client.station_pages(cut.astimezone(CHINA_TZ), page_size=10)
                for s in page.station_infos
            ]

    got = asyncio.run(run())
    assert 0 < len(got) == int((changed >= cut.timestamp()).sum()) < len(changed)


# --------------------------------------------------------------------------- OCPI


def test_an_ocpi_feed_is_cpo_data_ordered_by_last_updated(country: Country) -> None:
    feed = OcpiCpoFeed(country, OCPI)
    data: CpoData = feed
    truth = ground_truth(country)["operators"][OCPI]
    listed = data.changed(ModuleID.LOCATIONS)
    assert len(listed) == truth["stations"]
    stamps = [(loc.last_updated, loc.id) for loc in listed]
    assert stamps == sorted(stamps)
    assert sum(len(loc.evses or []) for loc in listed) == truth["evses"]
    # The same order and objects as the in-memory network would give.
    network = CpoNetwork(*feed.party, locations=list(listed))
    assert [loc.id for loc in network.changed(ModuleID.LOCATIONS)] == [loc.id for loc in listed]

    # A status change stamps the EVSE and its Location, which moves to the end.
    at = datetime.now(UTC).replace(microsecond=0)
    location_id, evse_uid = feed.evse_of(4)
    updated = data.set_evse_status(location_id, evse_uid, "OUTOFORDER", at)
    evse = next(e for e in updated.evses or [] if e.uid == evse_uid)
    assert (evse.status, evse.last_updated, updated.last_updated) == ("OUTOFORDER", at, at)
    assert feed.status[4] == 255
    again = data.changed(ModuleID.LOCATIONS)
    assert again[-1].id == location_id
    assert [loc.id for loc in data.changed(ModuleID.LOCATIONS, date_from=at)] == [location_id]
    assert location_id not in {loc.id for loc in data.changed("locations", date_to=at)}
    assert data.location(location_id.lower()) == again[-1]
    assert data.location("TLN9999999") is None
    with pytest.raises(KeyError):
        data.set_evse_status(location_id, "TLN0000000-99", "AVAILABLE", at)


def test_ocpi_statuses_show_as_ocpi_evse_statuses(country: Country) -> None:
    feed = OcpiCpoFeed(country, OCPI)
    i = int(station_indices(country, OCPI)[0])
    n = int(country.station_first_evse[i + 1] - country.station_first_evse[i])
    for unit, code in zip(range(n), [1, 2, 3, 4, 255, 0], strict=False):
        feed.status[unit] = code
    expected = ["AVAILABLE", "BLOCKED", "CHARGING", "RESERVED", "OUTOFORDER", "INOPERATIVE"][:n]
    location = feed.location(station_id(country, i))
    assert location is not None
    assert [str(e.status) for e in location.evses or []] == expected
    assert location == ocpi_location(country, i, expected)


def test_a_replaced_location_is_served_in_its_new_place(country: Country) -> None:
    feed = OcpiCpoFeed(country, OCPI)
    original = feed.changed(ModuleID.LOCATIONS)[0]
    renamed = original.model_copy(
        update={"name": "renamed", "last_updated": datetime.now(UTC) + timedelta(days=1)}
    )
    feed.put_location(renamed)
    assert feed.location(original.id) == renamed
    assert feed.changed(ModuleID.LOCATIONS)[-1] == renamed
    foreign = renamed.model_copy(update={"id": "TLN0999999"})
    with pytest.raises(ValueError, match="not one of"):
        feed.put_location(foreign)


def test_ocpi_pagination_through_the_real_cpo_and_platform(world: World, country: Country) -> None:
    truth = ground_truth(country)["operators"][OCPI]
    op = world.config.operator(OCPI)
    connections = world.platform.ocpi_connections
    # We register with the CPO using the token A of the manifest, then pull every page.
    party = world.server.call(ensure_registered(connections, op))
    assert party.registered
    assert world.sim.ocpi_servers[OCPI].registered
    report = world.server.call(
        sync_ocpi_operator(
            connections,
            world.platform.ocpi_locations,
            world.platform.ocpi_objects,
            OCPI,
            limit=5,
        )
    )
    assert (report.locations, report.evses, report.rejected) == (
        truth["stations"],
        truth["evses"],
        0,
    )
    assert report.pages == -(-truth["stations"] // 5)
    # And page by page with our OCPI client: X-Total-Count, Link, the last short page.
    client = connections.client_for(party)

    async def pages() -> list[tuple[int, int | None, int | None]]:
        url = f"{world.sim.origins[OCPI]}/ocpi/2.2.1/locations"
        return [
            (len(p.items), p.total, p.next_offset)
            async for p in client.pages(url, Location, limit=8, to_party=("CN", "TLN"))
        ]

    seen = world.server.call(pages())
    n = truth["stations"]
    assert [count for count, _, _ in seen] == [8] * (n // 8) + ([n % 8] if n % 8 else [])
    assert {total for _, total, _ in seen} == {n}
    assert seen[-1][2] is None
    # What the platform stored is the feed's live status of every EVSE.
    feed = world.sim.feeds[OCPI]
    assert isinstance(feed, OcpiCpoFeed)
    for unit in range(feed.units):
        location_id, evse_uid = feed.evse_of(unit)
        station = world.store.get_station(ocpi_mapping.location_key(OCPI, location_id))
        assert station is not None
        key = ocpi_mapping.connector_key(OCPI, location_id, evse_uid, "1")
        stored = next(c.status for c in station.connectors if c.id == key)
        assert stored is from_ocpi(OCPI_OF_CODE[int(feed.status[unit])].value)


def test_the_platform_syncs_a_tcec_operator_from_the_manifest_as_it_is(world: World) -> None:
    from chargemesh.services.feeds.tcec_sync import sync_tcec_operator

    config = world.config
    op = config.operator(XIAOJU)

    async def run() -> int:
        async with httpx.AsyncClient(timeout=10) as http:
            client = client_from_config(config, XIAOJU, http)
            report = await sync_tcec_operator(
                client, op.to_operator(), world.store, world.platform.relay
            )
            return report.stations

    stations = world.server.call(run())
    assert stations == world.sim.feeds[XIAOJU].station_count


# --------------------------------------------------------------------------- duplicates


def test_an_aggregators_copies_follow_the_partners_status(country: Country) -> None:
    feeds = build_feeds(country, seed=3)
    partner, aggregator = feeds[PARTNER], feeds[AGGREGATOR]
    assert isinstance(partner, OcpiCpoFeed)
    assert isinstance(aggregator, TcecOperatorFeed)
    pairs = country.duplicates.tolist()
    assert pairs, "the tiny country has duplicates"
    assert int(aggregator.followers.sum()) > 0

    def copies_agree() -> bool:
        for original, copy in pairs:
            o_first = int(country.station_first_evse[original])
            c_first = int(country.station_first_evse[copy])
            for k in range(int(country.station_first_evse[original + 1]) - o_first):
                code = partner.status[partner.units_of_evse(o_first + k)[0]]
                guns = aggregator.units_of_evse(c_first + k)
                if any(aggregator.status[g] != code for g in guns):
                    return False
        return True

    assert copies_agree()
    churn = Churn(list(feeds.values()), rate=0, seed=3)
    changes = churn.step(3000)
    assert copies_agree()
    followers = {
        u for u in range(aggregator.units) if aggregator.followers[u]
    }  # changed only as mirrors
    mirrored = [c for c in changes if c.operator_id == AGGREGATOR and c.unit in followers]
    assert len(mirrored) == churn.stats["mirrored"] > 0
