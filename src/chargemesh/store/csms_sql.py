"""The own chargers, their OCPP transactions and the 2.0.1 events seen, in SQL (both backends);
a mixin of ``SqlStore``."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from chargemesh.domain.own import ChargerKind, OcppTransaction, OwnCharger
from chargemesh.store.hooks import SqlHooks

_CHARGER = (
    "id, password_hash, kind, name, station_id, connectors, created_at, owner_account_id, "
    "vendor, model, serial, firmware, ocpp_version, last_boot_at, site"
)
_TRANSACTION = (
    "charger_id, transaction_id, connector, id_token, session_ref, meter_start_wh, meter_wh, "
    "meter_at, energy_cost, service_cost, started_at, ended_at"
)


class CsmsTables(SqlHooks):
    def _charger(self, row: Any) -> OwnCharger:
        created = self._time_out(row[6])
        assert created is not None
        return OwnCharger(
            id=row[0], password_hash=row[1], kind=ChargerKind(row[2]), name=row[3],
            station_id=row[4], connectors=int(row[5]), created_at=created,
            owner_account_id=row[7], vendor=row[8], model=row[9], serial=row[10],
            firmware=row[11], ocpp_version=row[12], last_boot_at=self._time_out(row[13]),
            site=row[14],
        )  # fmt: skip

    def add_own_charger(self, charger: OwnCharger) -> None:
        """Register a charger; ``StoreIntegrityError`` if its id is taken."""
        c = charger
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(f"INSERT INTO own_chargers ({_CHARGER}) VALUES ({', '.join('?' * 15)})"),
                (c.id, c.password_hash, str(c.kind), c.name, c.station_id, c.connectors,
                 self._time_in(c.created_at), c.owner_account_id, c.vendor, c.model, c.serial,
                 c.firmware, c.ocpp_version, self._time_in(c.last_boot_at), c.site),
            )  # fmt: skip

    def own_charger(self, charger_id: str) -> OwnCharger | None:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(f"SELECT {_CHARGER} FROM own_chargers WHERE id = ?"), (charger_id,)
            )
            row = cur.fetchone()
        return None if row is None else self._charger(row)

    def own_chargers(self, owner_account_id: str | None = None) -> list[OwnCharger]:
        """Every own charger by id, or those of one owner."""
        where, params = ("WHERE owner_account_id = ?", (owner_account_id,)) if owner_account_id \
            else ("", ())  # fmt: skip
        with self._lock, self._transaction() as cur:
            cur.execute(self._sql(f"SELECT {_CHARGER} FROM own_chargers {where} ORDER BY id"),
                        params)  # fmt: skip
            return [self._charger(r) for r in cur.fetchall()]

    def own_charger_at_station(self, station_id: str) -> OwnCharger | None:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(f"SELECT {_CHARGER} FROM own_chargers WHERE station_id = ?"),
                (station_id,),
            )
            row = cur.fetchone()
        return None if row is None else self._charger(row)

    def private_station_owners(self) -> dict[str, str]:
        """station id → owner account of every private (home) charger's station."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT station_id, owner_account_id FROM own_chargers WHERE kind = 'home'"
                )
            )
            return {str(r[0]): str(r[1] or "") for r in cur.fetchall()}

    def charger_booted(
        self, charger_id: str, *, at: datetime, vendor: str | None, model: str | None,
        serial: str | None, firmware: str | None, ocpp_version: str,
    ) -> None:  # fmt: skip
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "UPDATE own_chargers SET last_boot_at = ?, vendor = ?, model = ?, serial = ?, "
                    "firmware = ?, ocpp_version = ? WHERE id = ?"
                ),
                (self._time_in(at), vendor, model, serial, firmware, ocpp_version, charger_id),
            )

    # --- transactions --------------------------------------------------------------------------
    def new_ocpp_transaction_id(self, charger_id: str, *, at: datetime) -> int:
        """A fresh integer transaction id (OCPP 1.6), unique on every node over this store."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO ocpp_transaction_ids (charger_id, created_at) VALUES (?, ?) "
                    "RETURNING id"
                ),
                (charger_id, self._time_in(at)),
            )
            return int(cur.fetchone()[0])

    def _txn(self, row: Any) -> OcppTransaction:
        meter_at, started = self._time_out(row[7]), self._time_out(row[10])
        assert meter_at is not None
        assert started is not None
        return OcppTransaction(
            charger_id=row[0], transaction_id=row[1], connector=int(row[2]), id_token=row[3],
            session_ref=row[4], meter_start_wh=float(row[5]), meter_wh=float(row[6]),
            meter_at=meter_at, energy_cost=Decimal(row[8]), service_cost=Decimal(row[9]),
            started_at=started, ended_at=self._time_out(row[11]),
        )  # fmt: skip

    def ocpp_transaction(self, charger_id: str, transaction_id: str) -> OcppTransaction | None:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    f"SELECT {_TRANSACTION} FROM ocpp_transactions "
                    "WHERE charger_id = ? AND transaction_id = ?"
                ),
                (charger_id, transaction_id),
            )
            row = cur.fetchone()
        return None if row is None else self._txn(row)

    def ocpp_transaction_started(
        self, charger_id: str, connector: int, started_at: datetime
    ) -> OcppTransaction | None:
        """The transaction a charger started on ``connector`` at ``started_at``, if it did: a
        1.6 StartTransaction sent again (its answer was lost) finds the first one's id."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    f"SELECT {_TRANSACTION} FROM ocpp_transactions WHERE charger_id = ? "
                    "AND connector = ? AND started_at = ?"
                ),
                (charger_id, connector, self._time_in(started_at)),
            )
            row = cur.fetchone()
        return None if row is None else self._txn(row)

    def ocpp_transaction_of_session(self, session_ref: str) -> OcppTransaction | None:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(f"SELECT {_TRANSACTION} FROM ocpp_transactions WHERE session_ref = ?"),
                (session_ref,),
            )
            row = cur.fetchone()
        return None if row is None else self._txn(row)

    def save_ocpp_transaction(self, t: OcppTransaction) -> None:
        """Insert the transaction, or update its meter, cost and end."""
        values = (
            t.charger_id, t.transaction_id, t.connector, t.id_token, t.session_ref,
            t.meter_start_wh, t.meter_wh, self._time_in(t.meter_at), str(t.energy_cost),
            str(t.service_cost), self._time_in(t.started_at), self._time_in(t.ended_at),
        )  # fmt: skip
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    f"INSERT INTO ocpp_transactions ({_TRANSACTION}) VALUES "
                    f"({', '.join('?' * 12)}) ON CONFLICT (charger_id, transaction_id) DO UPDATE "
                    "SET meter_wh = excluded.meter_wh, meter_at = excluded.meter_at, "
                    "energy_cost = excluded.energy_cost, service_cost = excluded.service_cost, "
                    "ended_at = excluded.ended_at"
                ),
                values,
            )

    def chargers_in_transaction(self, since: datetime) -> set[str]:
        """The chargers with a transaction started after ``since`` and not ended (charging, or
        a car still plugged in mid-transaction)."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql("SELECT DISTINCT charger_id FROM ocpp_transactions "
                          "WHERE ended_at IS NULL AND started_at > ?"),
                (self._time_in(since),),
            )  # fmt: skip
            return {str(r[0]) for r in cur.fetchall()}

    def remember_ocpp_event(self, charger_id: str, transaction_id: str, seq_no: int) -> bool:
        """True the first time (charger, transaction, seqNo) is seen, False for a replay."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO ocpp_seen_events (charger_id, transaction_id, seq_no) "
                    "VALUES (?, ?, ?) ON CONFLICT DO NOTHING RETURNING seq_no"
                ),
                (charger_id, transaction_id, seq_no),
            )
            return cur.fetchone() is not None
