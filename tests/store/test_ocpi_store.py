"""The OCPI tables (connections, their objects, the tokens we own) on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from chargemesh.domain import Token, TokenStanding, TokenType
from chargemesh.store import OcpiObject, OcpiParty, Store
from chargemesh.store.repository import INVITED, REGISTERED
from tests.factories import T0


def test_a_party_round_trips_and_is_found_by_its_token(store: Store) -> None:
    party = OcpiParty(
        "cn-ltc",
        token_in="tok-in",
        stage=REGISTERED,
        token_out="tok-out",
        versions_url="http://127.0.0.1:9/ocpi/versions",
        version="2.2.1",
        endpoints=({"identifier": "locations", "role": "SENDER", "url": "http://x/loc"},),
        roles=({"role": "CPO", "country_code": "CN", "party_id": "LTC"},),
        sync_state={"locations": {"date_from": "2026-01-01T00:00:00Z"}},
        updated_at=T0,
        raw_token=True,
    )
    store.save_ocpi_party(party)
    held = store.get_ocpi_party("CN-LTC")
    assert held == dataclasses.replace(party, id="CN-LTC")
    assert store.ocpi_party_by_token("tok-in") == held
    assert store.ocpi_party_by_token("tok-out") is None  # only what the party presents to us
    assert held.registered
    assert held.endpoint("locations", "SENDER") == "http://x/loc"
    # re-registration replaces the tokens; the old one no longer finds the party
    store.save_ocpi_party(dataclasses.replace(party, token_in="tok-new", stage=INVITED))
    assert store.ocpi_party_by_token("tok-in") is None
    again = store.get_ocpi_party("CN-LTC")
    assert again is not None
    assert not again.registered
    assert [p.id for p in store.list_ocpi_parties()] == ["CN-LTC"]


def test_objects_are_keyed_case_insensitively_and_report_last_updated(store: Store) -> None:
    objects = [
        OcpiObject("locations", "cn", "ltc", f"loc{n}", "CN-LTC", T0 + timedelta(hours=n),
                   {"id": f"loc{n}"})
        for n in range(3)
    ]  # fmt: skip
    store.put_ocpi_objects(objects)
    got = store.get_ocpi_object("locations", "CN", "LTC", "LOC1")
    assert got is not None
    assert got.payload == {"id": "loc1"}
    assert (got.object_id, got.owner, got.last_updated) == (
        "LOC1",
        "CN-LTC",
        T0 + timedelta(hours=1),
    )
    assert store.ocpi_last_updated("locations", "CN", "LTC", ["loc0", "LOC2", "nope"]) == {
        "LOC0": T0,
        "LOC2": T0 + timedelta(hours=2),
    }
    assert store.get_ocpi_object("tariffs", "CN", "LTC", "LOC1") is None  # per module
    store.put_ocpi_objects([dataclasses.replace(objects[1], payload={"id": "loc1", "v": 2})])
    again = store.get_ocpi_object("locations", "cn", "ltc", "loc1")
    assert again is not None
    assert again.payload == {"id": "loc1", "v": 2}
    assert len(store.list_ocpi_objects("locations", owner="cn-ltc")) == 3
    assert store.delete_ocpi_object("locations", "CN", "LTC", "LOC0")
    assert not store.delete_ocpi_object("locations", "CN", "LTC", "LOC0")
    assert len(store.list_ocpi_objects("locations")) == 2


def test_tokens_page_by_last_updated_with_an_exclusive_date_to(store: Store) -> None:
    tokens = [
        Token(f"APP{n:03d}", TokenType.APP_USER, f"C{n}", "chargemesh", T0 + timedelta(minutes=n))
        for n in range(10)
    ]
    blocked = Token("CARD1", TokenType.RFID, "C-card", "chargemesh", T0,
                    standing=TokenStanding.BLOCKED, valid=False, visual_number="1234")  # fmt: skip
    assert store.upsert_tokens([*tokens, blocked]) == 11
    page, total = store.list_tokens(offset=2, limit=3)
    assert total == 11
    assert [t.uid for t in page] == ["APP001", "APP002", "APP003"]  # CARD1 and APP000 tie at T0
    window, total = store.list_tokens(
        date_from=T0 + timedelta(minutes=3), date_to=T0 + timedelta(minutes=6)
    )
    assert total == 3
    assert [t.uid for t in window] == ["APP003", "APP004", "APP005"]
    assert store.get_token("card1") == blocked
    assert store.get_token("CARD1", "app_user") is None
    assert store.get_token("nobody") is None
