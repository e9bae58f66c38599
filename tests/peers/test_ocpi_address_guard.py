"""The OCPI handshake cannot be turned against what the platform can reach (SSRF): a party that
holds a registration token names a versions URL, and the platform calls it only where the
address guard allows, answering every failure with the same words whatever was there.

Real servers on loopback: our platform, the simulator's CPO, a web server that is not OCPI, a
port that speaks something else, a closed port. The private and link-local addresses are
refused before any packet leaves (nothing listens there, and nothing is sent)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from chargemesh.bootstrap import OcpiSettings, Platform, assemble
from chargemesh.config import ConfigError, parse_config
from chargemesh.protocols import address_guard
from chargemesh.protocols.address_guard import AddressPolicy, AddressRefused, guarded_client
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.protocols.ocpi.client import OcpiPeerError
from chargemesh.protocols.ocpi.transport import encode_token
from chargemesh.services.feeds.ocpi_connections import UNREADABLE
from chargemesh.sim.peers.ocpi.data import CpoNetwork
from chargemesh.sim.peers.ocpi.server import OcpiCpoServer
from chargemesh.store import Store
from tests.helpers import free_port
from tests.peers.misbehaving import misbehaving_app, not_http_port
from tests.peers.ocpi_samples import CPO_PARTY, EMSP_PARTY, TOKEN_A, locations

PARTY = f"{CPO_PARTY[0]}-{CPO_PARTY[1]}"
LOOPBACK = AddressPolicy.of(allow_loopback=True)


@dataclass
class Emsp:
    store: Store
    platform: Platform
    server: LoopbackServer

    def credentials_post(self, versions_url: str) -> httpx.Response:
        """A party invited as PARTY POSTs credentials naming ``versions_url``."""
        token_a = self.server.call(self.platform.ocpi_connections.invite(PARTY))
        body = {
            "token": "their-token-c-0123456789",
            "url": versions_url,
            "roles": [
                {
                    "role": "CPO",
                    "business_details": {"name": "Probe"},
                    "country_code": CPO_PARTY[0],
                    "party_id": CPO_PARTY[1],
                }
            ],
        }
        return httpx.post(
            f"{self.server.url}/ocpi/2.2.1/credentials",
            json=body,
            headers={"Authorization": encode_token(token_a)},
            timeout=30,
        )

    def nothing_stored(self) -> None:
        party = self.store.get_ocpi_party(PARTY)
        assert party is not None
        assert party.stage == "invited"  # still only invited: no token kept, no URL, no version
        assert party.token_out is None
        assert party.versions_url is None
        assert party.endpoints == ()


def _emsp(store: Store, policy: AddressPolicy | None) -> Iterator[Emsp]:
    port = free_port()
    settings = OcpiSettings(
        public_url=f"http://127.0.0.1:{port}", country_code=EMSP_PARTY[0], party_id=EMSP_PARTY[1]
    )
    if policy is not None:
        settings = OcpiSettings(
            public_url=settings.public_url,
            country_code=EMSP_PARTY[0],
            party_id=EMSP_PARTY[1],
            fetch_policy=policy,
        )
    platform = assemble(store, ocpi=settings)
    with LoopbackServer(platform.app(), port=port) as server:
        yield Emsp(store, platform, server)


@pytest.fixture
def guarded(store: Store) -> Iterator[Emsp]:
    """The platform as configured by default: loopback and private ranges refused."""
    yield from _emsp(store, None)


@pytest.fixture
def open_to_loopback(store: Store) -> Iterator[Emsp]:
    """The platform as the simulator configures it: loopback allowed."""
    yield from _emsp(store, LOOPBACK)


@pytest.fixture
def targets() -> Iterator[dict[str, str]]:
    """Versions URLs a prober would try: a closed port, an open port that is not HTTP, a web
    server that is not OCPI."""
    with not_http_port() as banner, LoopbackServer(misbehaving_app) as web:
        yield {
            "closed port": f"http://127.0.0.1:{free_port()}/ocpi/versions",
            "open non-HTTP port": f"http://127.0.0.1:{banner}/ocpi/versions",
            "web server, not OCPI": f"{web.url}/html/ocpi/versions",
            "web server by name": f"{web.url.replace('127.0.0.1', 'localhost')}/html/versions",
        }


def _answer(response: httpx.Response) -> tuple[int, Any, Any]:
    body = response.json()
    return response.status_code, body["status_code"], body["status_message"]


REFUSED_WITHOUT_CONNECTING = {
    "cloud metadata": "http://169.254.169.254/latest/meta-data/",
    "private network": "http://10.1.2.3:8080/ocpi/versions",
    "file scheme": "file:///etc/passwd",
}


def test_versions_urls_on_loopback_or_private_ranges_get_one_answer_and_nothing_is_stored(
    guarded: Emsp, targets: dict[str, str]
) -> None:
    answers = {
        name: _answer(guarded.credentials_post(url))
        for name, url in {**targets, **REFUSED_WITHOUT_CONNECTING}.items()
    }
    assert set(answers.values()) == {(400, 3001, UNREADABLE)}, answers
    guarded.nothing_stored()


def test_with_loopback_allowed_what_is_there_is_still_not_told_apart(
    open_to_loopback: Emsp, targets: dict[str, str]
) -> None:
    emsp = open_to_loopback
    answers = {name: _answer(emsp.credentials_post(url)) for name, url in targets.items()}
    assert set(answers.values()) == {(400, 3001, UNREADABLE)}, answers
    open_to_loopback.nothing_stored()
    # private ranges stay refused when only loopback is allowed
    private = open_to_loopback.credentials_post(REFUSED_WITHOUT_CONNECTING["cloud metadata"])
    assert _answer(private) == (400, 3001, UNREADABLE)


def _cpo() -> OcpiCpoServer:
    return OcpiCpoServer(CpoNetwork(*CPO_PARTY, locations=locations(3)), token_a=TOKEN_A)


def test_the_simulated_cpo_registers_when_loopback_is_allowed(open_to_loopback: Emsp) -> None:
    cpo = _cpo()
    with LoopbackServer(cpo.app) as cpo_server:
        cpo.set_base_url(cpo_server.url)
        token_a = open_to_loopback.server.call(
            open_to_loopback.platform.ocpi_connections.invite(PARTY)
        )
        cpo_server.call(cpo.register_with(f"{open_to_loopback.server.url}/ocpi/versions", token_a))
        cpo_server.call(cpo.close())
    party = open_to_loopback.store.get_ocpi_party(PARTY)
    assert party is not None
    assert party.registered
    assert party.versions_url == f"{cpo_server.url}/ocpi/versions"


def test_the_same_cpo_is_refused_by_the_default_policy(guarded: Emsp) -> None:
    cpo = _cpo()
    with LoopbackServer(cpo.app) as cpo_server:
        cpo.set_base_url(cpo_server.url)
        token_a = guarded.server.call(guarded.platform.ocpi_connections.invite(PARTY))
        with pytest.raises(OcpiPeerError) as refused:
            cpo_server.call(cpo.register_with(f"{guarded.server.url}/ocpi/versions", token_a))
        cpo_server.call(cpo.close())
    assert refused.value.status_code == 3001
    assert UNREADABLE in str(refused.value)
    guarded.nothing_stored()


# --------------------------------------------------------------------------- the guard itself


def test_the_policy_refuses_every_range_that_is_not_the_internet() -> None:
    default = AddressPolicy()
    refused = ["127.0.0.1", "::1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1",
               "169.254.169.254", "fe80::1", "fd00::1", "224.0.0.1", "0.0.0.0", "::",  # noqa: S104
               "::ffff:127.0.0.1", "64:ff9b::a9fe:a9fe", "240.0.0.1"]  # fmt: skip
    for text in refused:
        assert default.refusal(ipaddress.ip_address(text)) is not None, text
    assert default.refusal(ipaddress.ip_address("8.8.8.8")) is None
    assert default.refusal(ipaddress.ip_address("2001:4860:4860::8888")) is None
    configured = AddressPolicy.of(allow=["10.20.0.0/16"], deny=["8.8.0.0/16"], allow_loopback=True)
    assert configured.refusal(ipaddress.ip_address("10.20.1.1")) is None
    assert configured.refusal(ipaddress.ip_address("10.21.1.1")) is not None
    assert configured.refusal(ipaddress.ip_address("8.8.8.8")) is not None
    assert configured.refusal(ipaddress.ip_address("127.0.0.1")) is None
    denied_loopback = AddressPolicy.of(deny=["127.0.0.0/8"], allow_loopback=True)
    assert denied_loopback.refusal(ipaddress.ip_address("127.0.0.1")) is not None


def test_a_name_is_refused_if_any_address_it_resolves_to_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def rebinding(host: str, port: int) -> list[address_guard.IPAddress]:
        return [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(address_guard, "lookup", rebinding)

    async def call() -> None:
        async with guarded_client(AddressPolicy(), httpx.Timeout(5.0)) as http:
            await http.get("http://partner.invalid/ocpi/versions")

    with LoopbackServer(misbehaving_app) as web, pytest.raises(httpx.ConnectError) as refused:
        web.call(call())
    assert "127.0.0.1 is loopback" in str(refused.value)


def test_the_connection_goes_to_the_address_that_was_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The name is resolved once, by the guard, and the socket opened to that address: a name
    no resolver knows reaches the loopback server the guard resolved it to, with its Host."""
    seen: list[str] = []

    async def once(host: str, port: int) -> list[address_guard.IPAddress]:
        seen.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(address_guard, "lookup", once)

    async def call(port: int) -> httpx.Response:
        async with guarded_client(LOOPBACK, httpx.Timeout(5.0)) as http:
            return await http.get(f"http://partner.invalid:{port}/html/")

    with LoopbackServer(misbehaving_app) as web:
        port = int(web.url.rsplit(":", 1)[1])
        answer = web.call(call(port))
    assert answer.status_code == 200
    assert b"It works" in answer.content
    assert answer.request.headers["Host"] == f"partner.invalid:{port}"
    assert seen == ["partner.invalid"]


def test_unix_sockets_and_other_schemes_are_refused() -> None:
    backend = address_guard.GuardedBackend(LOOPBACK)

    async def unix() -> None:
        await backend.connect_unix_socket("/run/docker.sock")

    with LoopbackServer(misbehaving_app) as web, pytest.raises(AddressRefused):
        web.call(unix())
    with pytest.raises(AddressRefused):
        LOOPBACK.check_scheme("gopher://127.0.0.1:70/")


def test_the_ocpi_table_configures_the_guard_and_refuses_what_is_not_a_range() -> None:
    config = parse_config(
        '[ocpi]\nallow_loopback = true\nfetch_allow = ["10.20.0.0/16"]\n'
        'fetch_deny = ["203.0.113.0/24"]\n[sync]\npage_max_mb = 2\npage_timeout_s = 5\n'
    )
    settings = OcpiSettings.from_config(config)
    assert settings.fetch_policy == AddressPolicy.of(
        allow=["10.20.0.0/16"], deny=["203.0.113.0/24"], allow_loopback=True
    )
    assert (settings.page_limits.max_bytes, settings.page_limits.total_s) == (2 * 1024 * 1024, 5)
    assert OcpiSettings.from_config(parse_config("")).fetch_policy == AddressPolicy()
    with pytest.raises(ConfigError, match=r"ocpi.fetch_allow: 'intranet' is not an address range"):
        parse_config('[ocpi]\nfetch_allow = ["intranet"]\n')
