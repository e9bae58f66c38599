"""The OCPI tables in SQL (both backends): parties, their objects, and the tokens we own.

A mixin of :class:`~chargemesh.store.sql.SqlStore`: it uses only the backend hooks that class
declares (``_transaction``, ``_sql``, ``_time_in``, ``_time_out``) and its lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from chargemesh.domain import Token, TokenStanding, TokenType
from chargemesh.store.codec import require_aware
from chargemesh.store.hooks import SqlHooks
from chargemesh.store.repository import OcpiObject, OcpiParty, StoreError

PARTY_COLUMNS = (
    "id", "token_in", "stage", "token_out", "versions_url", "version", "endpoints",
    "roles", "sync_state", "updated_at", "raw_token",
)  # fmt: skip
OBJECT_COLUMNS = (
    "module", "country_code", "party_id", "object_id", "owner", "last_updated", "payload",
)  # fmt: skip
TOKEN_COLUMNS = (
    "uid", "type", "contract_id", "issuer", "valid", "standing", "whitelist", "visual_number",
    "group_id", "language", "last_updated",
)  # fmt: skip


ID_BATCH = 500  # ids per IN (…) lookup
NO_LIMIT = 2**62  # LIMIT for "all rows": both databases accept it


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _upsert(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    sets = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    marks = ", ".join("?" for _ in columns)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}"
    )


class OcpiTables(SqlHooks):
    def _when(self, value: Any) -> datetime:
        at = self._time_out(value)
        if at is None:
            raise StoreError("a NOT NULL time column held NULL")
        return at

    # --- parties ---------------------------------------------------------------------------
    def save_ocpi_party(self, party: OcpiParty) -> None:
        row = (
            party.id.upper(),
            party.token_in,
            party.stage,
            party.token_out,
            party.versions_url,
            party.version,
            _json(list(party.endpoints)),
            _json(list(party.roles)),
            _json(party.sync_state),
            self._time_in(require_aware(party.updated_at or datetime.now(UTC))),
            int(party.raw_token),
        )
        with self._lock, self._transaction() as cur:
            cur.execute(self._sql(_upsert("ocpi_parties", PARTY_COLUMNS, ("id",))), row)

    def _party(self, row: Sequence[Any]) -> OcpiParty:
        return OcpiParty(
            id=row[0],
            token_in=row[1],
            stage=row[2],
            token_out=row[3],
            versions_url=row[4],
            version=row[5],
            endpoints=tuple(orjson.loads(row[6])),
            roles=tuple(orjson.loads(row[7])),
            sync_state=orjson.loads(row[8]),
            updated_at=self._time_out(row[9]),
            raw_token=bool(row[10]),
        )

    def _parties(self, where: str, params: Sequence[Any]) -> list[OcpiParty]:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(f"SELECT {', '.join(PARTY_COLUMNS)} FROM ocpi_parties {where}"), params
            )
            return [self._party(r) for r in cur.fetchall()]

    def get_ocpi_party(self, party_id: str) -> OcpiParty | None:
        found = self._parties("WHERE id = ?", (party_id.upper(),))
        return found[0] if found else None

    def ocpi_party_by_token(self, token: str) -> OcpiParty | None:
        found = self._parties("WHERE token_in = ?", (token,))
        return found[0] if found else None

    def list_ocpi_parties(self) -> list[OcpiParty]:
        return self._parties("ORDER BY id", ())

    # --- objects -------------------------------------------------------------------------
    def _object_rows(self, objects: Sequence[OcpiObject]) -> list[tuple[Any, ...]]:
        return [
            (
                o.module,
                o.country_code.upper(),
                o.party_id.upper(),
                o.object_id.upper(),
                o.owner.upper(),
                self._time_in(require_aware(o.last_updated)),
                _json(o.payload),
            )
            for o in objects
        ]

    def _write_objects(self, cur: Any, rows: list[tuple[Any, ...]]) -> None:
        key = ("module", "country_code", "party_id", "object_id")
        cur.executemany(self._sql(_upsert("ocpi_objects", OBJECT_COLUMNS, key)), rows)

    def put_ocpi_objects(self, objects: Sequence[OcpiObject]) -> None:
        rows = self._object_rows(objects)
        with self._lock, self._transaction() as cur:
            self._write_objects(cur, rows)

    def _object(self, row: Sequence[Any]) -> OcpiObject:
        return OcpiObject(
            row[0], row[1], row[2], row[3], row[4], self._when(row[5]), orjson.loads(row[6])
        )

    def get_ocpi_object(
        self, module: str, country_code: str, party_id: str, object_id: str
    ) -> OcpiObject | None:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    f"SELECT {', '.join(OBJECT_COLUMNS)} FROM ocpi_objects WHERE module = ? "
                    "AND country_code = ? AND party_id = ? AND object_id = ?"
                ),
                (module, country_code.upper(), party_id.upper(), object_id.upper()),
            )
            row = cur.fetchone()
        return self._object(row) if row else None

    def delete_ocpi_object(
        self, module: str, country_code: str, party_id: str, object_id: str
    ) -> bool:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "DELETE FROM ocpi_objects WHERE module = ? AND country_code = ? "
                    "AND party_id = ? AND object_id = ?"
                ),
                (module, country_code.upper(), party_id.upper(), object_id.upper()),
            )
            return bool(cur.rowcount)

    def ocpi_last_updated(
        self, module: str, country_code: str, party_id: str, object_ids: Sequence[str]
    ) -> dict[str, datetime]:
        ids = sorted({i.upper() for i in object_ids})
        found: dict[str, datetime] = {}
        with self._lock, self._transaction() as cur:
            for start in range(0, len(ids), ID_BATCH):
                batch = ids[start : start + ID_BATCH]
                marks = ", ".join("?" for _ in batch)
                cur.execute(
                    self._sql(
                        "SELECT object_id, last_updated FROM ocpi_objects WHERE module = ? "
                        f"AND country_code = ? AND party_id = ? AND object_id IN ({marks})"
                    ),
                    (module, country_code.upper(), party_id.upper(), *batch),
                )
                found.update((r[0], self._when(r[1])) for r in cur.fetchall())
        return found

    def list_ocpi_objects(self, module: str, owner: str | None = None) -> list[OcpiObject]:
        where, params = "WHERE module = ?", [module]
        if owner is not None:
            where += " AND owner = ?"
            params.append(owner.upper())
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    f"SELECT {', '.join(OBJECT_COLUMNS)} FROM ocpi_objects {where} "
                    "ORDER BY country_code, party_id, object_id"
                ),
                params,
            )
            return [self._object(r) for r in cur.fetchall()]

    # --- tokens ------------------------------------------------------------------------------
    def upsert_tokens(self, tokens: Iterable[Token]) -> int:
        rows = [
            (
                t.uid,
                str(t.type),
                t.contract_id,
                t.issuer,
                int(t.valid),
                str(t.standing),
                t.whitelist,
                t.visual_number,
                t.group_id,
                t.language,
                self._time_in(require_aware(t.last_updated)),
            )
            for t in tokens
        ]
        with self._lock, self._transaction() as cur:
            cur.executemany(self._sql(_upsert("tokens", TOKEN_COLUMNS, ("uid", "type"))), rows)
        return len(rows)

    def _token(self, row: Sequence[Any]) -> Token:
        return Token(
            uid=row[0],
            type=TokenType(row[1]),
            contract_id=row[2],
            issuer=row[3],
            valid=bool(row[4]),
            standing=TokenStanding(row[5]),
            whitelist=row[6],
            visual_number=row[7],
            group_id=row[8],
            language=row[9],
            last_updated=self._when(row[10]),
        )

    def get_token(self, uid: str, token_type: str | None = None) -> Token | None:
        where, params = "WHERE upper(uid) = ?", [uid.upper()]
        if token_type is not None:
            where += " AND type = ?"
            params.append(token_type)
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(f"SELECT {', '.join(TOKEN_COLUMNS)} FROM tokens {where} ORDER BY type"),
                params,
            )
            row = cur.fetchone()
        return self._token(row) if row else None

    def list_tokens(
        self,
        *,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[list[Token], int]:
        where: list[str] = []
        params: list[Any] = []
        if date_from is not None:
            where.append("last_updated >= ?")
            params.append(self._time_in(require_aware(date_from)))
        if date_to is not None:
            where.append("last_updated < ?")
            params.append(self._time_in(require_aware(date_to)))
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._lock, self._transaction() as cur:
            cur.execute(self._sql(f"SELECT count(*) FROM tokens {clause}"), params)
            total = int(cur.fetchone()[0])
            cur.execute(
                self._sql(
                    f"SELECT {', '.join(TOKEN_COLUMNS)} FROM tokens {clause} "
                    "ORDER BY last_updated, uid, type LIMIT ? OFFSET ?"
                ),
                [*params, limit if limit is not None else NO_LIMIT, offset],
            )
            rows = cur.fetchall()
        return [self._token(r) for r in rows], total
