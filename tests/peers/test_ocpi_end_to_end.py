"""OCPI 2.2.1 end to end over loopback HTTP: the simulator's CPO (its own server and client) and
our platform (the /ocpi endpoints, the connections, the sync, the store), each on its own port.

Every exchange below crosses real sockets; nothing reaches into the other side's objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from chargemesh.bootstrap import OcpiSettings, Platform, assemble
from chargemesh.domain import (
    Capability,
    ConnectorStatus,
    Operator,
    OperatorProtocol,
    Token,
    TokenStanding,
    TokenType,
)
from chargemesh.protocols.address_guard import AddressPolicy
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.protocols.ocpi import mapping
from chargemesh.protocols.ocpi.client import OcpiClient, OcpiPeerError
from chargemesh.protocols.ocpi.enums import CommandResultType, CommandType
from chargemesh.protocols.ocpi.models import (
    Cdr,
    LocationReferences,
    ReserveNow,
    Session,
    StartSession,
    StopSession,
    UnlockConnector,
    dump,
    parse,
)
from chargemesh.protocols.ocpi.transport import encode_token, format_datetime
from chargemesh.services.charging.ocpi_commands import CommandOutcome
from chargemesh.services.feeds.ocpi_sync import OcpiSyncError, OcpiSyncReport, sync_ocpi_operator
from chargemesh.sim.peers.ocpi.data import CpoNetwork
from chargemesh.sim.peers.ocpi.server import OcpiCpoServer
from chargemesh.store import Store
from tests.helpers import free_port
from tests.peers.ocpi_samples import (
    CPO_PARTY,
    EMSP_PARTY,
    T0,
    TOKEN_A,
    location_id,
    location_json,
    locations,
    tariff,
)

PARTY = "CN-LTC"
OPERATOR = Operator(
    PARTY,
    "Lanting Charging",
    OperatorProtocol.OCPI,
    frozenset({Capability.REALTIME, Capability.SCAN}),
)
COUNT = 23  # locations: three pages of 10 and one of 3
PAGE = 10


@dataclass
class Peers:
    store: Store
    platform: Platform
    emsp: LoopbackServer
    network: CpoNetwork
    cpo: OcpiCpoServer
    cpo_server: LoopbackServer

    @property
    def our_versions(self) -> str:
        return f"{self.emsp.url}/ocpi/versions"

    @property
    def cpo_versions(self) -> str:
        return f"{self.cpo_server.url}/ocpi/versions"

    def register(self) -> None:
        """We register with the CPO using the token A it gave us."""
        self.emsp.call(
            self.platform.ocpi_connections.register_with(PARTY, self.cpo_versions, TOKEN_A)
        )

    def sync(self, **kwargs: Any) -> OcpiSyncReport:
        p = self.platform
        return self.emsp.call(
            sync_ocpi_operator(
                p.ocpi_connections, p.ocpi_locations, p.ocpi_objects, PARTY, **kwargs
            )
        )

    def our_token(self) -> str:
        party = self.store.get_ocpi_party(PARTY)
        assert party is not None
        assert party.token_in is not None
        return party.token_in

    def status(self, n: int, evse: str, connector: str = "1") -> ConnectorStatus:
        station = self.store.get_station(mapping.location_key(PARTY, location_id(n)))
        assert station is not None
        wanted = mapping.connector_key(PARTY, location_id(n), f"{location_id(n)}-{evse}", connector)
        return next(c.status for c in station.connectors if c.id == wanted)


@pytest.fixture
def peers(store: Store) -> Iterator[Peers]:
    port = free_port()
    settings = OcpiSettings(
        public_url=f"http://127.0.0.1:{port}",
        country_code=EMSP_PARTY[0],
        party_id=EMSP_PARTY[1],
        operators={PARTY: OPERATOR},
        command_min_wait_s=0.5,
        fetch_policy=AddressPolicy.of(allow_loopback=True),  # the CPO listens on loopback
    )
    platform = assemble(store, ocpi=settings)
    network = CpoNetwork(*CPO_PARTY, locations=locations(COUNT), tariffs=[tariff(1), tariff(2)])
    cpo = OcpiCpoServer(network, token_a=TOKEN_A, max_limit=PAGE, backoff_s=0.01)
    with LoopbackServer(platform.app(), port=port) as emsp, LoopbackServer(cpo.app) as cpo_server:
        cpo.set_base_url(cpo_server.url)
        yield Peers(store, platform, emsp, network, cpo, cpo_server)
        cpo_server.call(cpo.close())


def ocpi(peers: Peers, method: str, path: str, token: str | None, **kw: Any) -> httpx.Response:
    headers = dict(kw.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = encode_token(token)
    return httpx.request(method, f"{peers.emsp.url}/ocpi{path}", headers=headers, timeout=10, **kw)


# --------------------------------------------------------------------------- handshake


def test_we_register_with_the_cpo_and_both_sides_hold_the_others_token(peers: Peers) -> None:
    peers.register()
    party = peers.store.get_ocpi_party(PARTY)
    assert party is not None
    assert party.registered
    assert party.version == "2.2.1"
    assert party.endpoint("locations", "SENDER") == f"{peers.cpo_server.url}/ocpi/2.2.1/locations"
    assert party.token_out == peers.cpo.issued_token  # the CPO's token C is what we call with
    assert party.token_in == peers.cpo.peer_token  # our token B is what it calls us with
    # Token A is spent at the CPO: it no longer opens its versions.
    with pytest.raises(OcpiPeerError) as refused:
        peers.emsp.call(OcpiClient(httpx.AsyncClient(), TOKEN_A).get_versions(peers.cpo_versions))
    assert refused.value.unauthorized
    # The CPO uses our token B against our API: versions answer, credentials show ours.
    answer = ocpi(peers, "GET", "/2.2.1/credentials", party.token_in)
    assert answer.status_code == 200
    assert answer.json()["data"]["roles"][0]["party_id"] == EMSP_PARTY[1]


def test_a_cpo_registers_with_us_using_a_token_a_we_issued(peers: Peers) -> None:
    token_a = peers.emsp.call(peers.platform.ocpi_connections.invite(PARTY))
    # Token A opens versions and credentials only.
    assert ocpi(peers, "GET", "/versions", token_a).status_code == 200
    assert ocpi(peers, "GET", "/2.2.1/tokens", token_a).status_code == 401
    peers.cpo_server.call(peers.cpo.register_with(peers.our_versions, token_a))
    party = peers.store.get_ocpi_party(PARTY)
    assert party is not None
    assert party.registered
    assert party.token_out == peers.cpo.issued_token
    assert party.token_in == peers.cpo.peer_token
    assert {tuple(r.values()) for r in party.endpoints} >= {
        ("locations", "SENDER", f"{peers.cpo_server.url}/ocpi/2.2.1/locations")
    }
    assert ocpi(peers, "GET", "/versions", token_a).status_code == 401  # token A is discarded
    # A second POST with the new token is refused: already registered.
    again = ocpi(peers, "POST", "/2.2.1/credentials", party.token_in, json={})
    assert again.status_code == 405
    assert again.json()["status_code"] == 2000
    # And the connection works: we pull its locations.
    assert peers.sync().locations == COUNT


def test_credentials_update_rotates_our_token_and_unregister_ends_it(peers: Peers) -> None:
    token_a = peers.emsp.call(peers.platform.ocpi_connections.invite(PARTY))
    peers.cpo_server.call(peers.cpo.register_with(peers.our_versions, token_a))
    old = peers.our_token()
    body = dump(peers.cpo.own_credentials(peers.cpo.issued_token or ""))
    updated = ocpi(peers, "PUT", "/2.2.1/credentials", old, json=body)
    assert updated.status_code == 200
    new = updated.json()["data"]["token"]
    assert new != old
    assert peers.our_token() == new
    assert ocpi(peers, "GET", "/versions", old).status_code == 401
    assert ocpi(peers, "DELETE", "/2.2.1/credentials", new).status_code == 200
    assert ocpi(peers, "GET", "/versions", new).status_code == 401
    party = peers.store.get_ocpi_party(PARTY)
    assert party is not None
    assert not party.registered


def test_a_registration_whose_versions_cannot_be_read_is_refused_with_3001(peers: Peers) -> None:
    token_a = peers.emsp.call(peers.platform.ocpi_connections.invite(PARTY))
    body = {
        "token": "whatever",
        "url": "http://127.0.0.1:9/ocpi/versions",  # nothing listens there
        "roles": [
            {
                "role": "CPO",
                "business_details": {"name": "X"},
                "party_id": "LTC",
                "country_code": "CN",
            }
        ],
    }
    answer = ocpi(peers, "POST", "/2.2.1/credentials", token_a, json=body)
    assert answer.json()["status_code"] == 3001
    party = peers.store.get_ocpi_party(PARTY)
    assert party is not None
    assert party.stage == "invited"
    assert party.token_in == token_a


# --------------------------------------------------------------------------- locations pull


def test_a_multi_page_pull_fills_the_registry_with_every_location(peers: Peers) -> None:
    peers.register()
    report = peers.sync()
    assert report.pages == 3
    assert report.locations == COUNT
    assert report.evses == 2 * COUNT
    counts = peers.store.counts()
    assert (counts.stations, counts.evses, counts.connectors) == (COUNT, 2 * COUNT, 3 * COUNT)
    station = peers.store.get_station(mapping.location_key(PARTY, location_id(1)))
    assert station is not None
    assert station.county_adcode is not None
    assert station.county_adcode.startswith("11")  # location 1 is in Beijing
    assert peers.status(1, "DC") is ConnectorStatus.AVAILABLE
    # tariffs came along
    assert peers.store.get_tariff(f"{PARTY}:TARIFF01") is not None
    # three pages, then the catch-up of what changed while they were pulled (nothing)
    assert peers.cpo.requests["GET /ocpi/2.2.1/locations"] == 4


def test_an_incremental_pull_asks_only_for_what_changed_since_the_last(peers: Peers) -> None:
    peers.register()
    peers.sync()
    changed = location_json(5) | {
        "name": "兰亭充电 改名站",
        "last_updated": format_datetime(datetime.now(UTC) + timedelta(seconds=1)),
    }
    peers.network.put_location(parse(type(locations(1)[0]), changed))
    report = peers.sync()
    assert report.locations == 1
    assert report.location_ids == [location_id(5)]
    station = peers.store.get_station(mapping.location_key(PARTY, location_id(5)))
    assert station is not None
    assert station.name == "兰亭充电 改名站"


def test_a_page_that_fails_once_is_retried_at_its_offset_without_refetching(peers: Peers) -> None:
    peers.register()
    peers.cpo.fail_offsets_once.add(PAGE)
    report = peers.sync()
    assert report.locations == COUNT
    assert peers.store.counts().stations == COUNT
    # 3 pages + 1 failed attempt + the catch-up; page 0 was not fetched again
    assert peers.cpo.requests["GET /ocpi/2.2.1/locations"] == 5


def test_a_pull_that_keeps_failing_resumes_where_it_stopped(peers: Peers) -> None:
    peers.register()
    # The CPO fails the second page on every attempt, then recovers.
    peers.cpo.fail_offsets_once.add(PAGE)
    peers.platform.ocpi_connections.retries = 0
    with pytest.raises(OcpiSyncError) as stopped:
        peers.sync()
    assert stopped.value.report.locations == PAGE
    party = peers.store.get_ocpi_party(PARTY)
    assert party is not None
    assert party.sync_state["locations"]["resume"]["offset"] == PAGE
    report = peers.sync()
    assert report.resumed_at == PAGE
    assert report.locations == COUNT - PAGE
    assert peers.store.counts().stations == COUNT
    party = peers.store.get_ocpi_party(PARTY)
    assert party is not None
    assert "resume" not in party.sync_state["locations"]


def test_empty_and_foreign_link_headers_are_tolerated(peers: Peers) -> None:
    peers.register()
    peers.cpo.empty_link_on_last_page = True
    peers.cpo.foreign_link_host = True
    assert peers.sync().locations == COUNT


# --------------------------------------------------------------------------- pushes


def test_status_pushes_apply_in_order_and_a_stale_one_is_ignored(peers: Peers) -> None:
    peers.register()
    peers.sync()
    events: list[Any] = []
    from chargemesh.domain import StatusChanged

    peers.platform.bus.subscribe(StatusChanged, events.append)
    now = datetime.now(UTC)
    cpo, evse = peers.cpo, f"{location_id(3)}-DC"
    peers.cpo_server.call(cpo.push_evse_status(location_id(3), evse, "CHARGING", now))
    assert peers.status(3, "DC") is ConnectorStatus.CHARGING
    assert peers.status(3, "DC", "2") is ConnectorStatus.CHARGING
    peers.cpo_server.call(
        cpo.push_evse_status(location_id(3), evse, "OUTOFORDER", now + timedelta(seconds=1))
    )
    assert peers.status(3, "DC") is ConnectorStatus.FAULTED
    # A late push, older than what we hold: acknowledged, ignored.
    late = ocpi(
        peers,
        "PATCH",
        f"/2.2.1/locations/CN/LTC/{location_id(3)}/{evse}",
        peers.cpo.peer_token,
        json={"status": "AVAILABLE", "last_updated": format_datetime(now - timedelta(minutes=5))},
    )
    assert late.status_code == 200
    assert late.json()["status_code"] == 1000
    assert "ignored" in late.json()["status_message"]
    assert peers.status(3, "DC") is ConnectorStatus.FAULTED
    assert [e.status for e in events] == [ConnectorStatus.CHARGING] * 2 + [
        ConnectorStatus.FAULTED
    ] * 2
    # What we hold answers a GET (the CPO's recovery path after a failed PATCH).
    held = ocpi(
        peers,
        "GET",
        f"/2.2.1/locations/cn/ltc/{location_id(3).lower()}/{evse}",
        peers.cpo.peer_token,
    )
    assert held.json()["data"]["status"] == "OUTOFORDER"


def test_a_location_put_then_a_connector_patch_then_removal(peers: Peers) -> None:
    peers.register()
    new = location_json(99) | {"last_updated": format_datetime(datetime.now(UTC))}
    peers.cpo_server.call(peers.cpo.put_location(parse(type(locations(1)[0]), new)))
    assert peers.store.get_station(mapping.location_key(PARTY, location_id(99))) is not None
    token = peers.cpo.peer_token
    at = datetime.now(UTC) + timedelta(seconds=1)
    patched = ocpi(
        peers,
        "PATCH",
        f"/2.2.1/locations/CN/LTC/{location_id(99)}/{location_id(99)}-DC/2",
        token,
        json={"max_electric_power": 60000, "last_updated": format_datetime(at)},
    )
    assert patched.json()["status_code"] == 1000
    station = peers.store.get_station(mapping.location_key(PARTY, location_id(99)))
    assert station is not None
    powers = {c.source_id: c.max_power_kw for c in station.evses[0].connectors}
    assert powers == {"1": 120.0, "2": 60.0}
    held = ocpi(peers, "GET", f"/2.2.1/locations/CN/LTC/{location_id(99)}", token).json()["data"]
    assert held["last_updated"] == format_datetime(at)  # the cascade to the Location
    gone = ocpi(
        peers,
        "PATCH",
        f"/2.2.1/locations/CN/LTC/{location_id(99)}",
        token,
        json={"publish": False, "last_updated": format_datetime(at + timedelta(seconds=1))},
    )
    assert gone.json()["status_code"] == 1000
    assert peers.store.get_station(mapping.location_key(PARTY, location_id(99))) is None


# --------------------------------------------------------------------------- commands


def send(peers: Peers, command: CommandType, fields: dict[str, Any], model: Any) -> CommandOutcome:
    outcome: CommandOutcome = peers.emsp.call(
        peers.platform.ocpi_commands.send(PARTY, command, fields, model=model)
    )
    return outcome


def app_token() -> dict[str, Any]:
    return {
        "country_code": EMSP_PARTY[0],
        "party_id": EMSP_PARTY[1],
        "uid": "APP0001",
        "type": "APP_USER",
        "contract_id": "CN-CMS-C000001",
        "issuer": "chargemesh",
        "valid": True,
        "whitelist": "ALLOWED",
        "last_updated": format_datetime(T0),
    }


def test_a_start_session_command_gets_its_async_result(peers: Peers) -> None:
    peers.register()
    fields = {
        "token": app_token(),
        "location_id": location_id(2),
        "evse_uid": f"{location_id(2)}-DC",
        "connector_id": "1",
    }
    outcome = send(peers, CommandType.START_SESSION, fields, StartSession)
    assert outcome.response == "ACCEPTED"
    assert outcome.result == "ACCEPTED"
    assert outcome.accepted
    assert peers.cpo.received_commands[-1].command == CommandType.START_SESSION
    results = peers.store.inbox("ocpi", "command_result", PARTY)
    assert [r.payload["result"] for r in results] == ["ACCEPTED"]
    # every other command goes the same way; a STOP_SESSION names a session the CPO must know
    stop = send(peers, CommandType.STOP_SESSION, {"session_id": "S1"}, StopSession)
    unlock = send(
        peers,
        CommandType.UNLOCK_CONNECTOR,
        {"location_id": location_id(2), "evse_uid": f"{location_id(2)}-DC", "connector_id": "1"},
        UnlockConnector,
    )
    assert stop.response == "UNKNOWN_SESSION"
    assert unlock.accepted


def test_a_command_whose_result_never_comes_times_out(peers: Peers) -> None:
    peers.register()
    peers.cpo.command_outcomes[CommandType.RESERVE_NOW] = None
    peers.cpo.command_timeout_s = 0
    fields = {
        "token": app_token(),
        "expiry_date": format_datetime(datetime.now(UTC)),
        "reservation_id": "R1",
        "location_id": location_id(2),
    }
    outcome = send(peers, CommandType.RESERVE_NOW, fields, ReserveNow)
    assert outcome.response == "ACCEPTED"
    assert outcome.timed_out
    assert outcome.result is None


def test_a_rejected_command_and_a_failed_result_are_reported(peers: Peers) -> None:
    peers.register()
    fields = {"token": app_token(), "location_id": "NOWHERE"}
    assert send(peers, CommandType.START_SESSION, fields, StartSession).response == "REJECTED"
    peers.cpo.command_outcomes[CommandType.START_SESSION] = CommandResultType.EVSE_OCCUPIED
    fields["location_id"] = location_id(4)
    outcome = send(peers, CommandType.START_SESSION, fields, StartSession)
    assert outcome.result == "EVSE_OCCUPIED"
    assert not outcome.accepted


# --------------------------------------------------------------------------- sessions, CDRs


def session_json(kwh: float, status: str = "ACTIVE") -> dict[str, Any]:
    return {
        "country_code": "CN",
        "party_id": "LTC",
        "id": "SESS-1",
        "start_date_time": format_datetime(T0),
        "kwh": kwh,
        "cdr_token": {
            "country_code": "CN",
            "party_id": "CMS",
            "uid": "APP0001",
            "type": "APP_USER",
            "contract_id": "CN-CMS-C000001",
        },
        "auth_method": "COMMAND",
        "location_id": location_id(2),
        "evse_uid": f"{location_id(2)}-DC",
        "connector_id": "1",
        "currency": "CNY",
        "status": status,
        "last_updated": format_datetime(T0 + timedelta(minutes=1)),
    }


def test_a_session_put_and_patches_append_charging_periods(peers: Peers) -> None:
    peers.register()
    peers.cpo_server.call(peers.cpo.put_session(parse(Session, session_json(0.0))))
    period = {
        "start_date_time": format_datetime(T0 + timedelta(minutes=1)),
        "dimensions": [{"type": "ENERGY", "volume": 1.5}],
    }
    for n in (2, 3):
        peers.cpo_server.call(
            peers.cpo.patch_session(
                "SESS-1",
                {
                    "kwh": 1.5 * (n - 1),
                    "charging_periods": [period],
                    "last_updated": format_datetime(T0 + timedelta(minutes=n)),
                },
            )
        )
    held = peers.store.get_ocpi_object("sessions", "CN", "LTC", "sess-1")
    assert held is not None
    assert held.payload["kwh"] == 3.0
    assert len(held.payload["charging_periods"]) == 2


def cdr_json(total: float = 12.5) -> dict[str, Any]:
    return {
        "country_code": "CN",
        "party_id": "LTC",
        "id": "CDR-1",
        "start_date_time": format_datetime(T0),
        "end_date_time": format_datetime(T0 + timedelta(hours=1)),
        "session_id": "SESS-1",
        "cdr_token": {
            "country_code": "CN",
            "party_id": "CMS",
            "uid": "APP0001",
            "type": "APP_USER",
            "contract_id": "CN-CMS-C000001",
        },
        "auth_method": "COMMAND",
        "cdr_location": {
            "id": location_id(2),
            "address": "望京街10号",
            "city": "北京市",
            "country": "CHN",
            "coordinates": {"latitude": "39.990475", "longitude": "116.481499"},
            "evse_uid": f"{location_id(2)}-DC",
            "evse_id": "CN*LTC*E00021",
            "connector_id": "1",
            "connector_standard": "GBT_DC",
            "connector_format": "CABLE",
            "connector_power_type": "DC",
        },
        "currency": "CNY",
        "charging_periods": [
            {
                "start_date_time": format_datetime(T0),
                "dimensions": [{"type": "ENERGY", "volume": 10.0}],
            }
        ],
        "total_cost": {"excl_vat": total},
        "total_energy": 10.0,
        "total_time": 1.0,
        "last_updated": format_datetime(T0 + timedelta(hours=1)),
    }


def test_a_cdr_is_received_with_a_location_header_and_served_back(peers: Peers) -> None:
    peers.register()
    where = peers.cpo_server.call(peers.cpo.post_cdr(parse(Cdr, cdr_json())))
    assert where.endswith("/ocpi/2.2.1/cdrs/CN/LTC/CDR-1")
    got = httpx.get(where, headers={"Authorization": encode_token(peers.cpo.peer_token or "")})
    assert got.json()["data"]["total_cost"] == {"excl_vat": 12.5}
    # the same CDR again is fine; a different one under the same id is refused, nothing changes
    token = peers.cpo.peer_token
    assert ocpi(peers, "POST", "/2.2.1/cdrs/", token, json=cdr_json()).json()["status_code"] == 1000
    refused = ocpi(peers, "POST", "/2.2.1/cdrs/", token, json=cdr_json(99.0))
    assert refused.status_code == 400
    assert refused.json()["status_code"] == 2001
    held = peers.store.get_ocpi_object("cdrs", "CN", "LTC", "CDR-1")
    assert held is not None
    assert held.payload["total_cost"] == {"excl_vat": 12.5}


# --------------------------------------------------------------------------- tokens


def test_the_cpo_pulls_our_tokens_and_authorizes_in_real_time(peers: Peers) -> None:
    peers.register()
    now = datetime.now(UTC)
    peers.store.upsert_tokens(
        [
            Token(
                f"APP{n:04d}",
                TokenType.APP_USER,
                f"CN-CMS-C{n:06d}",
                "chargemesh",
                now + timedelta(seconds=n),
            )
            for n in range(1, 2501)
        ]
        + [
            Token(
                "CARD-BLOCKED",
                TokenType.RFID,
                "CN-CMS-C999999",
                "chargemesh",
                now,
                standing=TokenStanding.BLOCKED,
            )
        ]
    )
    pulled = peers.cpo_server.call(peers.cpo.pull_tokens())
    assert len(pulled) == 2501  # three pages of at most 1000
    assert {t.uid for t in pulled} >= {"APP0001", "APP2500", "CARD-BLOCKED"}
    refs = LocationReferences(location_id=location_id(2))
    ok = peers.cpo_server.call(peers.cpo.authorize("app0001", "APP_USER", refs))
    assert str(ok.allowed) == "ALLOWED"
    assert ok.authorization_reference
    assert ok.location is not None
    assert ok.location.location_id == location_id(2)
    blocked = peers.cpo_server.call(peers.cpo.authorize("CARD-BLOCKED", "RFID"))
    assert str(blocked.allowed) == "BLOCKED"
    assert blocked.authorization_reference is None
    with pytest.raises(OcpiPeerError) as unknown:
        peers.cpo_server.call(peers.cpo.authorize("NOBODY", "APP_USER"))
    assert unknown.value.http_status == 404
    assert unknown.value.status_code == 2004
    given = peers.store.inbox("ocpi", "authorization", PARTY)
    assert [g.payload["allowed"] for g in given] == ["ALLOWED", "BLOCKED"]


# --------------------------------------------------------------------------- refusals


def test_requests_without_a_valid_token_get_401_with_the_envelope(peers: Peers) -> None:
    peers.register()
    peers.sync()
    path = f"/2.2.1/locations/CN/LTC/{location_id(1)}"
    for token, headers in ((None, {}), ("not-a-token", {})):
        answer = ocpi(peers, "GET", path, token, headers=headers)
        assert answer.status_code == 401
        assert answer.json()["status_code"] == 2000
        assert "timestamp" in answer.json()
    # a raw (not Base64) token is accepted, as many peers send it
    raw = httpx.get(
        f"{peers.emsp.url}/ocpi{path}", headers={"Authorization": f"Token {peers.our_token()}"}
    )
    assert raw.status_code == 200
    assert raw.json()["data"]["id"] == location_id(1)


def test_request_ids_are_echoed(peers: Peers) -> None:
    peers.register()
    answer = ocpi(
        peers,
        "GET",
        "/versions",
        peers.our_token(),
        headers={"X-Request-ID": "req-1", "X-Correlation-ID": "corr-1"},
    )
    assert answer.headers["X-Request-ID"] == "req-1"
    assert answer.headers["X-Correlation-ID"] == "corr-1"


def test_malformed_pushes_are_refused_and_change_nothing(peers: Peers) -> None:
    peers.register()
    peers.sync()
    token = peers.our_token()
    loc = f"/2.2.1/locations/CN/LTC/{location_id(1)}"
    evse = f"{loc}/{location_id(1)}-DC"
    before = peers.store.get_ocpi_object("locations", "CN", "LTC", location_id(1))
    bad_location = location_json(1) | {"last_updated": format_datetime(datetime.now(UTC))}
    del bad_location["coordinates"]
    cases = [
        ("PUT", loc, {"content": b"{not json", "headers": {"Content-Type": "application/json"}}),
        ("PUT", loc, {"json": bad_location}),
        ("PUT", loc, {"json": location_json(1) | {"id": "OTHER"}}),
        ("PATCH", evse, {"json": {"status": "CHARGING"}}),  # no last_updated
        ("PATCH", evse, {"json": {"status": "CHARGING", "last_updated": "yesterday"}}),
        (
            "PATCH",
            evse,
            {"json": {"connectors": [], "last_updated": format_datetime(datetime.now(UTC))}},
        ),  # an EVSE needs ≥ 1 connector
        ("PATCH", evse, {"json": ["status", "CHARGING"]}),
    ]
    for method, path, kw in cases:
        answer = ocpi(peers, method, path, token, **kw)
        assert answer.status_code == 400, (method, path, kw)
        assert answer.json()["status_code"] == 2001
    missing = ocpi(
        peers,
        "PATCH",
        f"{loc}/NO-SUCH-EVSE",
        token,
        json={"status": "CHARGING", "last_updated": format_datetime(datetime.now(UTC))},
    )
    assert missing.status_code == 404
    assert missing.json()["status_code"] == 2003
    after = peers.store.get_ocpi_object("locations", "CN", "LTC", location_id(1))
    assert after == before
    assert peers.status(1, "DC") is ConnectorStatus.AVAILABLE


def test_nothing_from_one_party_touches_another_partys_objects(peers: Peers) -> None:
    peers.register()
    peers.sync()
    # A second CPO registers with us.
    token_a = peers.emsp.call(peers.platform.ocpi_connections.invite("CN-QYC"))
    other = OcpiCpoServer(CpoNetwork("CN", "QYC"), token_a="qyc-token-a")
    with LoopbackServer(other.app) as other_server:
        other.set_base_url(other_server.url)
        other_server.call(other.register_with(peers.our_versions, token_a))
        theirs = other.peer_token
        stolen = f"/2.2.1/locations/CN/LTC/{location_id(1)}"
        assert ocpi(peers, "GET", stolen, theirs).status_code == 404
        body = location_json(1) | {
            "name": "hijacked",
            "last_updated": format_datetime(datetime.now(UTC)),
        }
        assert ocpi(peers, "PUT", stolen, theirs, json=body).status_code == 404
        patch = {"status": "OUTOFORDER", "last_updated": format_datetime(datetime.now(UTC))}
        assert (
            ocpi(peers, "PATCH", f"{stolen}/{location_id(1)}-DC", theirs, json=patch).status_code
            == 404
        )
        # Claiming to be LTC in the routing headers does not help.
        spoof = {"OCPI-from-country-code": "CN", "OCPI-from-party-id": "LTC"}
        assert ocpi(peers, "GET", "/2.2.1/tokens", theirs, headers=spoof).status_code == 403
        # A CDR in LTC's name from QYC's connection is refused.
        assert ocpi(peers, "POST", "/2.2.1/cdrs/", theirs, json=cdr_json()).status_code == 400
        other_server.call(other.close())
    # OCPI-to-* naming someone else is not for us.
    wrong_to = {"OCPI-to-country-code": "DE", "OCPI-to-party-id": "XYZ"}
    assert ocpi(peers, "GET", stolen, peers.our_token(), headers=wrong_to).status_code == 404
    station = peers.store.get_station(mapping.location_key(PARTY, location_id(1)))
    assert station is not None
    assert station.name != "hijacked"
    assert peers.status(1, "DC") is ConnectorStatus.AVAILABLE
    assert peers.store.get_ocpi_object("cdrs", "CN", "LTC", "CDR-1") is None


def test_bad_command_results_and_unknown_commands_are_refused(peers: Peers) -> None:
    peers.register()
    token = peers.our_token()
    unknown = ocpi(
        peers, "POST", "/2.2.1/commands/START_SESSION/nope", token, json={"result": "ACCEPTED"}
    )
    assert unknown.status_code == 404
    assert ocpi(peers, "POST", "/2.2.1/commands/FLY/x", token, json={}).status_code == 404
    assert peers.store.inbox("ocpi", "command_result") == []


def test_a_connection_claiming_another_partys_id_cannot_touch_its_objects(peers: Peers) -> None:
    """A second connection whose credentials claim CN/LTC too (a misconfigured or hostile
    peer invited as CN/QYC): its registration is refused, it gets no token, and the objects
    LTC's own connection sent stay as they were."""
    peers.register()
    peers.sync()
    token_a = peers.emsp.call(peers.platform.ocpi_connections.invite("CN-QYC"))
    impostor = OcpiCpoServer(CpoNetwork(*CPO_PARTY), token_a="impostor-token-a")
    with LoopbackServer(impostor.app) as impostor_server:
        impostor.set_base_url(impostor_server.url)
        with pytest.raises(OcpiPeerError) as refused:
            impostor_server.call(impostor.register_with(peers.our_versions, token_a))
        assert refused.value.status_code == 2001
        assert impostor.peer_token is None
        target = f"/2.2.1/locations/CN/LTC/{location_id(1)}"
        body = location_json(1) | {
            "name": "hijacked",
            "last_updated": format_datetime(datetime.now(UTC)),
        }
        assert ocpi(peers, "PUT", target, token_a, json=body).status_code == 401
        impostor_server.call(impostor.close())
    held = peers.store.get_ocpi_party("CN-QYC")
    assert held is not None
    assert held.stage == "invited"
    station = peers.store.get_station(mapping.location_key(PARTY, location_id(1)))
    assert station is not None
    assert station.name != "hijacked"
    assert peers.status(1, "DC") is ConnectorStatus.AVAILABLE


def test_a_peer_that_reads_tokens_raw_is_found_out_and_remembered(peers: Peers) -> None:
    peers.cpo.raw_tokens_only = True
    peers.register()
    party = peers.store.get_ocpi_party(PARTY)
    assert party is not None
    assert party.registered
    assert party.raw_token
    assert peers.sync().locations == COUNT  # every later call goes raw too


def test_tariffs_are_received_by_put_and_delete(peers: Peers) -> None:
    peers.register()
    token = peers.cpo.peer_token
    body = dump(tariff(7)) | {"last_updated": format_datetime(datetime.now(UTC))}
    put = ocpi(peers, "PUT", "/2.2.1/tariffs/CN/LTC/TARIFF07", token, json=body)
    assert put.json()["status_code"] == 1000
    held = peers.store.get_tariff(f"{PARTY}:TARIFF07")
    assert held is not None
    assert held.currency == "CNY"
    assert [p.price_per_kwh for p in held.periods] == [Decimal("1.27")]
    got = ocpi(peers, "GET", "/2.2.1/tariffs/cn/ltc/tariff07", token)
    assert got.json()["data"]["elements"] == body["elements"]
    # an older copy does not replace it; a malformed one is refused
    older = body | {"last_updated": format_datetime(T0), "currency": "EUR"}
    assert (
        "ignored"
        in ocpi(peers, "PUT", "/2.2.1/tariffs/CN/LTC/TARIFF07", token, json=older).json()[
            "status_message"
        ]
    )
    bad = body | {"elements": "cheap"}
    assert ocpi(peers, "PUT", "/2.2.1/tariffs/CN/LTC/TARIFF07", token, json=bad).status_code == 400
    held = peers.store.get_tariff(f"{PARTY}:TARIFF07")
    assert held is not None
    assert held.currency == "CNY"
    assert ocpi(peers, "DELETE", "/2.2.1/tariffs/CN/LTC/TARIFF07", token).status_code == 200
    assert ocpi(peers, "GET", "/2.2.1/tariffs/CN/LTC/TARIFF07", token).status_code == 404


def test_we_rotate_our_credentials_and_then_unregister(peers: Peers) -> None:
    peers.register()
    connections = peers.platform.ocpi_connections
    party = peers.store.get_ocpi_party(PARTY)
    assert party is not None
    old_b, old_c = party.token_in, party.token_out
    rotated = peers.emsp.call(connections.rotate(party))
    assert rotated.token_in != old_b
    assert rotated.token_out != old_c  # the CPO answered our PUT with a new token C
    assert peers.cpo.peer_token == rotated.token_in
    assert ocpi(peers, "GET", "/versions", old_b).status_code == 401
    assert peers.sync().locations == COUNT  # the new token C works
    peers.emsp.call(connections.leave(rotated))
    assert not peers.cpo.registered
    left = peers.store.get_ocpi_party(PARTY)
    assert left is not None
    assert not left.registered
    assert ocpi(peers, "GET", "/versions", rotated.token_in).status_code == 401


def test_a_location_that_changes_during_a_full_pull_shifts_no_page(peers: Peers) -> None:
    """Changing LOC0001 after the first page moves it to the end of the CPO's (last_updated, id)
    order; an unbounded pull would then skip LOC0011. Bounded by its start and followed by a
    catch-up, the pull gets every location, and LOC0001's new status too."""
    peers.register()
    changed: list[int] = []

    def change_once(done: int, total: int | None) -> None:
        if not changed:
            changed.append(done)
            peers.network.set_evse_status(
                location_id(1), f"{location_id(1)}-DC", "CHARGING", datetime.now(UTC)
            )

    report = peers.sync(on_page=change_once)
    assert changed == [PAGE]
    assert sorted(set(report.location_ids)) == [location_id(n) for n in range(1, COUNT + 1)]
    assert peers.store.counts().stations == COUNT
    assert peers.status(1, "DC") is ConnectorStatus.CHARGING


def test_an_evse_patched_to_removed_leaves_the_station(peers: Peers) -> None:
    peers.register()
    peers.sync()
    at = format_datetime(datetime.now(UTC) + timedelta(seconds=1))
    evse = f"/2.2.1/locations/CN/LTC/{location_id(4)}/{location_id(4)}-AC"
    answer = ocpi(
        peers, "PATCH", evse, peers.our_token(), json={"status": "REMOVED", "last_updated": at}
    )
    assert answer.json()["status_code"] == 1000
    station = peers.store.get_station(mapping.location_key(PARTY, location_id(4)))
    assert station is not None
    assert [e.source_id for e in station.evses] == [f"{location_id(4)}-DC"]
