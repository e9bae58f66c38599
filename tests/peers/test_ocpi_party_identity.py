"""A party speaks only for the identity it was invited as, and a re-invitation revokes its old
token at once on a running platform (issue 19, items 5 and 6) — over loopback HTTP against the
platform and the simulator's CPO of tests/peers/test_ocpi_end_to_end.py."""

from __future__ import annotations

import time
from typing import Any

from typer.testing import CliRunner

from chargemesh.cli import app as cli
from chargemesh.protocols.ocpi.models import dump
from chargemesh.protocols.ocpi.transport import format_datetime
from chargemesh.store import Store
from tests.peers import test_ocpi_end_to_end as e2e
from tests.peers.ocpi_samples import T0, location_json
from tests.peers.test_ocpi_end_to_end import PARTY, Peers, ocpi

peers = e2e.peers  # the platform and the simulator's CPO, over loopback


def credentials(peers: Peers, *identities: tuple[str, str], token: str) -> dict[str, Any]:
    """The CPO's own credentials, its roles naming ``identities`` (country, party)."""
    body = dump(peers.cpo.own_credentials(token))
    role = body["roles"][0]
    body["roles"] = [{**role, "country_code": cc, "party_id": pid} for cc, pid in identities]
    body["url"] = peers.cpo_versions
    return body


def put_location(peers: Peers, token: str, cc: str, pid: str, n: int) -> int:
    loc = location_json(n)
    loc.update(country_code=cc, party_id=pid, last_updated=format_datetime(T0))
    answer = ocpi(peers, "PUT", f"/2.2.1/locations/{cc}/{pid}/{loc['id']}", token, json=loc)
    return answer.status_code


def test_credentials_that_claim_another_party_are_refused_and_change_nothing(
    peers: Peers, store: Store
) -> None:
    token_a = peers.emsp.call(peers.platform.ocpi_connections.invite(PARTY))  # CN-LTC
    for claimed in ([("CN", "OTH")], [("CN", "LTC"), ("CN", "OTH")]):
        answer = ocpi(peers, "POST", "/2.2.1/credentials", token_a,
                      json=credentials(peers, *claimed, token="claimant"))  # fmt: skip
        assert answer.status_code == 403, answer.text
        assert answer.json()["status_code"] == 2001
        assert "CN-LTC" in answer.json()["status_message"]
    held = store.get_ocpi_party(PARTY)
    assert held is not None
    assert (held.stage, held.token_in, held.roles) == ("invited", token_a, ())
    assert peers.cpo.issued_token is None  # nothing fetched from, nor issued to, the claimant
    assert put_location(peers, token_a, "CN", "OTH", 1) == 401

    # as its own identity it registers
    peers.cpo_server.call(peers.cpo.register_with(peers.our_versions, token_a))
    token_c = peers.cpo.peer_token
    assert token_c is not None
    assert put_location(peers, token_c, "CN", "LTC", 1) in (200, 201)
    assert put_location(peers, token_c, "CN", "OTH", 2) == 404  # not a party of this token
    # nor can it widen itself by updating its credentials
    update = ocpi(peers, "PUT", "/2.2.1/credentials", token_c,
                  json=credentials(peers, ("CN", "LTC"), ("CN", "OTH"),
                                   token=peers.cpo.issued_token or ""))  # fmt: skip
    assert update.status_code == 403
    held = store.get_ocpi_party(PARTY)
    assert held is not None
    assert held.registered
    assert held.token_in == token_c
    assert held.parties() == {("CN", "LTC")}


def test_a_re_invitation_from_the_cli_revokes_the_old_token_on_the_running_platform(
    peers: Peers, store_url: str
) -> None:
    token_a = peers.emsp.call(peers.platform.ocpi_connections.invite(PARTY))
    peers.cpo_server.call(peers.cpo.register_with(peers.our_versions, token_a))
    old = peers.cpo.peer_token
    assert old is not None
    assert put_location(peers, old, "CN", "LTC", 1) in (200, 201)  # the token works (and is cached)
    result = CliRunner().invoke(cli, ["ocpi", "invite", "--operator", PARTY, "--store", store_url])
    assert result.exit_code == 0, result.output
    revoked = time.monotonic()
    while put_location(peers, old, "CN", "LTC", 2) != 401:
        assert time.monotonic() - revoked < 2.0, "the old token still writes after a re-invite"
        time.sleep(0.05)
    assert ocpi(peers, "GET", "/versions", old).status_code == 401
