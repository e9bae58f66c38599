"""Charging sessions, vehicles, charge attempts and the connector lookups a start needs, in SQL
(both backends; migration 0005). A mixin of :class:`~chargemesh.store.sql.SqlStore`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from chargemesh.domain import AccessMethod, ConnectorStatus
from chargemesh.domain.cards import ChargeCard
from chargemesh.domain.session import (
    Bill,
    ChargeAttempt,
    ChargeSession,
    SessionState,
    StartMethod,
    StopCode,
    Vehicle,
)
from chargemesh.store.codec import split_set
from chargemesh.store.hooks import SqlHooks
from chargemesh.store.repository import ConnectorRef

SESSION_COLUMNS = (
    "id", "account_id", "operator_id", "protocol", "connector_id", "station_id", "method",
    "state", "created_at", "updated_at", "vehicle_id", "idempotency_key", "protocol_ref",
    "remote_id", "failure_reason", "stop_reason", "deadline", "started_at", "ended_at", "kwh",
    "kw", "soc", "cost", "currency", "bill", "qr", "stop_code", "charged_s",
)  # fmt: skip
_TIMES = {"created_at", "updated_at", "deadline", "started_at", "ended_at"}
ATTEMPT_COLUMNS = (
    "id", "at", "operator_id", "start_method", "outcome", "session_id", "vehicle_model",
    "charger_manufacturer", "charger_model", "firmware", "connector_standard", "failure_reason",
    "source",
)  # fmt: skip
_CONNECTOR_REF = (
    "SELECT c.id, c.source_id, c.station_id, c.evse_id, e.source_id, c.operator_id, c.standard, "
    "c.max_power_kw, c.access_methods, c.status, c.status_at, e.manufacturer, e.model, "
    "e.firmware, e.evse_code, s.source_id FROM connectors c JOIN evses e ON e.id = c.evse_id "
    "JOIN stations s ON s.id = c.station_id WHERE s.removed_at IS NULL AND "
)


def _bill_text(bill: Bill | None) -> str | None:
    if bill is None:
        return None
    return orjson.dumps(
        {
            "kwh": bill.kwh,
            "total": str(bill.total),
            "currency": bill.currency,
            "energy_cost": None if bill.energy_cost is None else str(bill.energy_cost),
            "service_cost": None if bill.service_cost is None else str(bill.service_cost),
            "reference": bill.reference,
        }
    ).decode()


def _bill(text: str | None) -> Bill | None:
    if text is None:
        return None
    d = orjson.loads(text)
    return Bill(
        kwh=float(d["kwh"]),
        total=Decimal(d["total"]),
        currency=d["currency"],
        energy_cost=None if d["energy_cost"] is None else Decimal(d["energy_cost"]),
        service_cost=None if d["service_cost"] is None else Decimal(d["service_cost"]),
        reference=d["reference"],
    )


class SessionTables(SqlHooks):
    # --- sessions ----------------------------------------------------------------------------
    def _session_row(self, s: ChargeSession) -> tuple[Any, ...]:
        values: dict[str, Any] = {
            "id": s.id, "account_id": s.account_id, "operator_id": s.operator_id,
            "protocol": s.protocol, "connector_id": s.connector_id, "station_id": s.station_id,
            "method": str(s.method), "state": str(s.state), "created_at": s.created_at,
            "updated_at": s.updated_at, "vehicle_id": s.vehicle_id,
            "idempotency_key": s.idempotency_key, "protocol_ref": s.protocol_ref,
            "remote_id": s.remote_id, "failure_reason": s.failure_reason,
            "stop_reason": s.stop_reason, "deadline": s.deadline, "started_at": s.started_at,
            "ended_at": s.ended_at, "kwh": s.kwh, "kw": s.kw, "soc": s.soc,
            "cost": None if s.cost is None else str(s.cost), "currency": s.currency,
            "bill": _bill_text(s.bill), "qr": s.qr,
            "stop_code": None if s.stop_code is None else str(s.stop_code),
            "charged_s": s.charged_s,
        }  # fmt: skip
        return tuple(
            self._time_in(values[c]) if c in _TIMES else values[c] for c in SESSION_COLUMNS
        )

    def _session(self, row: Sequence[Any]) -> ChargeSession:
        v = dict(zip(SESSION_COLUMNS, row, strict=True))
        for c in _TIMES:
            v[c] = self._time_out(v[c])
        v["method"] = StartMethod(v["method"])
        v["state"] = SessionState(v["state"])
        v["cost"] = None if v["cost"] is None else Decimal(str(v["cost"]))
        v["bill"] = _bill(v["bill"])
        v["kwh"] = float(v["kwh"])
        v["stop_code"] = None if v["stop_code"] is None else StopCode(v["stop_code"])
        v["charged_s"] = None if v["charged_s"] is None else float(v["charged_s"])
        return ChargeSession(**v)

    def create_session(self, session: ChargeSession) -> tuple[ChargeSession, bool]:
        """Insert ``session``; with an idempotency key the account already used, nothing is
        inserted and the session that key made is returned. (session, created)."""
        cols = ", ".join(SESSION_COLUMNS)
        marks = ", ".join("?" * len(SESSION_COLUMNS))
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    f"INSERT INTO charge_sessions ({cols}) VALUES ({marks}) "
                    "ON CONFLICT (account_id, idempotency_key) DO NOTHING"
                ),
                self._session_row(session),
            )
            created = cur.rowcount == 1
            if created:
                return session, True
            cur.execute(
                self._sql(
                    f"SELECT {cols} FROM charge_sessions WHERE account_id = ? "
                    "AND idempotency_key = ?"
                ),
                (session.account_id, session.idempotency_key),
            )
            row = cur.fetchone()
        return self._session(row), False

    def save_session(self, session: ChargeSession) -> None:
        cols = [c for c in SESSION_COLUMNS if c != "id"]
        row = self._session_row(session)
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    f"UPDATE charge_sessions SET {', '.join(f'{c} = ?' for c in cols)} WHERE id = ?"
                ),
                (*row[1:], row[0]),
            )

    def _sessions_where(
        self, where: str, params: Sequence[Any], *, for_update: bool = False
    ) -> list[ChargeSession]:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    f"SELECT {', '.join(SESSION_COLUMNS)} FROM charge_sessions WHERE {where} "
                    "ORDER BY created_at, id" + (self._row_lock if for_update else "")
                ),
                params,
            )
            rows = cur.fetchall()
        return [self._session(r) for r in rows]

    def get_session(self, session_id: str) -> ChargeSession | None:
        found = self._sessions_where("id = ?", (session_id,))
        return found[0] if found else None

    def session_for_update(self, session_id: str) -> ChargeSession | None:
        """Inside a unit of work: the session, locked until it ends (PostgreSQL: its row;
        SQLite: the transaction already holds the database's write lock)."""
        found = self._sessions_where("id = ?", (session_id,), for_update=True)
        return found[0] if found else None

    def session_by_ref(self, operator_id: str, protocol_ref: str) -> ChargeSession | None:
        found = self._sessions_where(
            "operator_id = ? AND protocol_ref = ?", (operator_id, protocol_ref)
        )
        return found[0] if found else None

    def session_by_remote_id(self, operator_id: str, remote_id: str) -> ChargeSession | None:
        found = self._sessions_where("operator_id = ? AND remote_id = ?", (operator_id, remote_id))
        return found[0] if found else None

    def session_by_key(self, account_id: str, idempotency_key: str) -> ChargeSession | None:
        found = self._sessions_where(
            "account_id = ? AND idempotency_key = ?", (account_id, idempotency_key)
        )
        return found[0] if found else None

    def open_sessions(self) -> list[ChargeSession]:
        return self._sessions_where("state NOT IN ('completed', 'failed')", ())

    def account_sessions(self, account_id: str) -> list[ChargeSession]:
        return self._sessions_where("account_id = ?", (account_id,))

    # --- vehicles ----------------------------------------------------------------------------
    def save_vehicle(self, vehicle: Vehicle) -> None:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO vehicles (id, account_id, vin, model, emaid) VALUES "
                    "(?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET model = excluded.model, "
                    "emaid = excluded.emaid"
                ),
                (vehicle.id, vehicle.account_id, vehicle.vin, vehicle.model, vehicle.emaid),
            )
            cur.execute(
                self._sql("DELETE FROM vehicle_networks WHERE vehicle_id = ?"), (vehicle.id,)
            )
            for operator_id in sorted(vehicle.networks):
                cur.execute(
                    self._sql(
                        "INSERT INTO vehicle_networks (vehicle_id, operator_id) VALUES (?, ?)"
                    ),
                    (vehicle.id, operator_id),
                )

    def _vehicle_where(self, where: str, param: str) -> Vehicle | None:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(f"SELECT id, account_id, vin, model, emaid FROM vehicles WHERE {where}"),
                (param,),
            )
            row = cur.fetchone()
            if row is None:
                return None
            cur.execute(
                self._sql("SELECT operator_id FROM vehicle_networks WHERE vehicle_id = ?"),
                (row[0],),
            )
            networks = frozenset(r[0] for r in cur.fetchall())
        return Vehicle(row[0], row[1], row[2], row[3], row[4], networks)

    def get_vehicle(self, vehicle_id: str) -> Vehicle | None:
        return self._vehicle_where("id = ?", vehicle_id)

    def delete_vehicle(self, vehicle_id: str) -> bool:
        """Forget a vehicle (its sessions keep its id in their history); whether it existed."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql("DELETE FROM vehicle_networks WHERE vehicle_id = ?"), (vehicle_id,)
            )
            cur.execute(self._sql("DELETE FROM vehicles WHERE id = ?"), (vehicle_id,))
            return bool(cur.rowcount)

    def account_vehicles(self, account_id: str) -> list[Vehicle]:
        """An account's vehicles, in the order they were registered (by id within a batch)."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT id, account_id, vin, model, emaid FROM vehicles WHERE account_id = ? "
                    "ORDER BY id"
                ),
                (account_id,),
            )
            rows = cur.fetchall()
            cur.execute(
                self._sql(
                    "SELECT n.vehicle_id, n.operator_id FROM vehicle_networks n "
                    "JOIN vehicles v ON v.id = n.vehicle_id WHERE v.account_id = ?"
                ),
                (account_id,),
            )
            networks: dict[str, set[str]] = {}
            for vehicle_id, operator_id in cur.fetchall():
                networks.setdefault(vehicle_id, set()).add(operator_id)
        return [
            Vehicle(r[0], r[1], r[2], r[3], r[4], frozenset(networks.get(r[0], ()))) for r in rows
        ]

    def vehicle_by_vin(self, vin: str) -> Vehicle | None:
        return self._vehicle_where("vin = ?", vin.upper())

    def vehicle_by_emaid(self, emaid: str) -> Vehicle | None:
        return self._vehicle_where("emaid = ?", emaid)

    # --- charge cards (migration 0013) -------------------------------------------------------
    def add_card(self, card: ChargeCard) -> bool:
        """Keep a card; False (nothing changed) if its UID is already someone's card."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO charge_cards (uid, account_id, label, created_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (uid) DO NOTHING"
                ),
                (card.uid, card.account_id, card.label, self._time_in(card.created_at)),
            )
            return bool(cur.rowcount)

    def card_by_uid(self, uid: str) -> ChargeCard | None:
        found = self._cards_where("uid = ?", uid)
        return found[0] if found else None

    def account_cards(self, account_id: str) -> list[ChargeCard]:
        """An account's cards, oldest first."""
        return self._cards_where("account_id = ?", account_id)

    def _cards_where(self, where: str, param: str) -> list[ChargeCard]:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT uid, account_id, label, created_at FROM charge_cards "
                    f"WHERE {where} ORDER BY created_at, uid"
                ),
                (param,),
            )
            rows = cur.fetchall()
        return [self._card(r) for r in rows]

    def _card(self, row: Sequence[Any]) -> ChargeCard:
        created = self._time_out(row[3])
        assert created is not None
        return ChargeCard(str(row[0]), str(row[1]), str(row[2]), created)

    def delete_card(self, account_id: str, uid: str) -> bool:
        """Forget an account's card (another account's is left alone); whether it was there."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql("DELETE FROM charge_cards WHERE uid = ? AND account_id = ?"),
                (uid, account_id),
            )
            return bool(cur.rowcount)

    # --- attempts ----------------------------------------------------------------------------
    def add_attempts(self, attempts: Sequence[ChargeAttempt]) -> None:
        rows = [
            (
                a.id, self._time_in(a.at), a.operator_id, str(a.start_method), a.outcome,
                a.session_id, a.vehicle_model, a.charger_manufacturer, a.charger_model,
                a.firmware, a.connector_standard, a.failure_reason, a.source,
            )
            for a in attempts
        ]  # fmt: skip
        marks = ", ".join("?" * len(ATTEMPT_COLUMNS))
        with self._lock, self._transaction() as cur:
            cur.executemany(
                self._sql(
                    f"INSERT INTO charge_attempts ({', '.join(ATTEMPT_COLUMNS)}) VALUES ({marks})"
                ),
                rows,
            )

    def list_attempts(self, since: datetime | None = None) -> list[ChargeAttempt]:
        where, params = ("at >= ?", (self._time_in(since),)) if since else ("1 = 1", ())
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    f"SELECT {', '.join(ATTEMPT_COLUMNS)} FROM charge_attempts WHERE {where} "
                    "ORDER BY at, id"
                ),
                params,
            )
            rows = cur.fetchall()
        out = []
        for r in rows:
            v = dict(zip(ATTEMPT_COLUMNS, r, strict=True))
            v["at"] = self._time_out(v["at"])
            v["start_method"] = StartMethod(v["start_method"])
            out.append(ChargeAttempt(**v))
        return out

    # --- connector lookups (QR codes, starts) ------------------------------------------------
    def _connector_refs(self, where: str, params: Sequence[Any]) -> list[ConnectorRef]:
        with self._lock, self._transaction() as cur:
            cur.execute(self._sql(_CONNECTOR_REF + where + " ORDER BY c.id"), params)
            rows = cur.fetchall()
        return [
            ConnectorRef(
                id=r[0], source_id=r[1], station_id=r[2], evse_id=r[3], evse_source_id=r[4],
                operator_id=r[5], standard=r[6], max_power_kw=float(r[7]),
                access_methods=split_set(r[8], AccessMethod), status=ConnectorStatus(r[9]),
                status_at=self._time_out(r[10]), manufacturer=r[11], model=r[12],
                firmware=r[13], evse_code=r[14], station_source_id=r[15],
            )
            for r in rows
        ]  # fmt: skip

    def connector_ref(self, connector_id: str) -> ConnectorRef | None:
        found = self._connector_refs("c.id = ?", (connector_id,))
        return found[0] if found else None

    def connectors_by_source_id(
        self, source_id: str, operator_id: str | None = None
    ) -> list[ConnectorRef]:
        if operator_id is None:
            return self._connector_refs("c.source_id = ?", (source_id,))
        return self._connector_refs(
            "c.operator_id = ? AND c.source_id = ?", (operator_id, source_id)
        )

    def connectors_of_evse(self, evse_id: str) -> list[ConnectorRef]:
        return self._connector_refs("c.evse_id = ?", (evse_id,))

    def connectors_by_evse_code(self, evse_code: str) -> list[ConnectorRef]:
        return self._connector_refs("upper(e.evse_code) = upper(?)", (evse_code,))
