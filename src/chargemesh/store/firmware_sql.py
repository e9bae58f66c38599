"""Firmware images (their bytes kept once per sha256), campaigns, each charger's update in one
and the campaigns' history, in SQL (both backends; migration 0014). A mixin of ``SqlStore``.

An update is changed by compare-and-set on its state (:meth:`FirmwareTables.change_update`):
a charger's report and the campaign's tick never overwrite each other."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, time
from typing import Any

import orjson

from chargemesh.domain.firmware import (
    Campaign,
    CampaignState,
    FirmwareImage,
    Rules,
    Update,
    UpdateState,
    Window,
)
from chargemesh.store.hooks import SqlHooks

_IMAGE = "id, version, models, sha256, size, signature, signing_certificate, created_at"
_CAMPAIGN = "id, firmware_id, target, rules, state, created_at, updated_at, start_at, wave, reason"
_UPDATE = (
    "campaign_id, charger_id, wave, state, updated_at, from_version, reason, attempts, "
    "request_id, sent_at, booted_at, site, position"
)
_LIVE = "('scheduled', 'running', 'paused', 'halted')"


def rules_json(rules: Rules) -> str:
    raw = asdict(rules)
    if rules.window is not None:
        w = rules.window
        raw["window"] = {"start": w.start.strftime("%H:%M"), "end": w.end.strftime("%H:%M"),
                         "tz": w.tz}  # fmt: skip
    raw["deadline"] = rules.deadline.isoformat() if rules.deadline else None
    return orjson.dumps(raw).decode()


def rules_from(text: str) -> Rules:
    raw = orjson.loads(text)
    window = raw.pop("window")
    deadline = raw.pop("deadline")
    return Rules(
        **{**raw, "waves": tuple(raw["waves"])},
        window=Window(time.fromisoformat(window["start"]), time.fromisoformat(window["end"]),
                      window["tz"]) if window else None,
        deadline=datetime.fromisoformat(deadline) if deadline else None,
    )  # fmt: skip


class FirmwareTables(SqlHooks):
    # --- images --------------------------------------------------------------------------------
    def add_firmware(self, image: FirmwareImage, content: bytes) -> bool:
        """Keep an image and its bytes; False (nothing changed) if these bytes are kept
        already (as another image or this one)."""
        i = image
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql("INSERT INTO firmware_blobs (sha256, content) VALUES (?, ?) "
                          "ON CONFLICT (sha256) DO NOTHING"),
                (i.sha256, content),
            )  # fmt: skip
            if not cur.rowcount:
                return False
            cur.execute(
                self._sql(f"INSERT INTO firmware_images ({_IMAGE}) VALUES ({', '.join('?' * 8)})"),
                (i.id, i.version, ",".join(i.models), i.sha256, i.size, i.signature,
                 i.signing_certificate, self._time_in(i.created_at)),
            )  # fmt: skip
        return True

    def _image(self, row: Sequence[Any]) -> FirmwareImage:
        created = self._time_out(row[7])
        assert created is not None
        return FirmwareImage(
            id=row[0], version=row[1], models=tuple(m for m in row[2].split(",") if m),
            sha256=row[3], size=int(row[4]), signature=row[5], signing_certificate=row[6],
            created_at=created,
        )  # fmt: skip

    def _images_where(self, where: str, params: tuple[Any, ...]) -> list[FirmwareImage]:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(f"SELECT {_IMAGE} FROM firmware_images {where} ORDER BY created_at, id"),
                params,
            )
            return [self._image(r) for r in cur.fetchall()]

    def firmware(self, firmware_id: str) -> FirmwareImage | None:
        found = self._images_where("WHERE id = ?", (firmware_id,))
        return found[0] if found else None

    def firmware_by_sha256(self, sha256: str) -> FirmwareImage | None:
        found = self._images_where("WHERE sha256 = ?", (sha256,))
        return found[0] if found else None

    def list_firmware(self) -> list[FirmwareImage]:
        return self._images_where("", ())

    def firmware_content(self, sha256: str) -> bytes | None:
        with self._lock, self._transaction() as cur:
            cur.execute(self._sql("SELECT content FROM firmware_blobs WHERE sha256 = ?"), (sha256,))
            row = cur.fetchone()
        return None if row is None else bytes(row[0])

    # --- campaigns -----------------------------------------------------------------------------
    def _campaign_row(self, c: Campaign) -> tuple[Any, ...]:
        return (c.id, c.firmware_id, orjson.dumps(c.target).decode(), rules_json(c.rules),
                str(c.state), self._time_in(c.created_at), self._time_in(c.updated_at),
                self._time_in(c.start_at), c.wave, c.reason)  # fmt: skip

    def _campaign(self, row: Sequence[Any]) -> Campaign:
        created, updated = self._time_out(row[5]), self._time_out(row[6])
        assert created is not None
        assert updated is not None
        return Campaign(
            id=row[0], firmware_id=row[1], target=orjson.loads(row[2]), rules=rules_from(row[3]),
            state=CampaignState(row[4]), created_at=created, updated_at=updated,
            start_at=self._time_out(row[7]), wave=int(row[8]), reason=row[9],
        )  # fmt: skip

    def _update_row(self, u: Update) -> tuple[Any, ...]:
        return (u.campaign_id, u.charger_id, u.wave, str(u.state), self._time_in(u.updated_at),
                u.from_version, u.reason, u.attempts, u.request_id, self._time_in(u.sent_at),
                self._time_in(u.booted_at), u.site, u.position)  # fmt: skip

    def _update(self, row: Sequence[Any]) -> Update:
        at = self._time_out(row[4])
        assert at is not None
        return Update(
            campaign_id=row[0], charger_id=row[1], wave=int(row[2]), state=UpdateState(row[3]),
            updated_at=at, from_version=row[5], reason=row[6], attempts=int(row[7]),
            request_id=None if row[8] is None else int(row[8]), sent_at=self._time_out(row[9]),
            booted_at=self._time_out(row[10]), site=row[11], position=int(row[12]),
        )  # fmt: skip

    def create_campaign(self, campaign: Campaign, updates: Sequence[Update]) -> None:
        marks = ", ".join("?" * 13)
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(f"INSERT INTO campaigns ({_CAMPAIGN}) VALUES ({', '.join('?' * 10)})"),
                self._campaign_row(campaign),
            )
            cur.executemany(
                self._sql(f"INSERT INTO campaign_updates ({_UPDATE}) VALUES ({marks})"),
                [self._update_row(u) for u in updates],
            )
            self._event(
                cur,
                campaign.id,
                campaign.created_at,
                None,
                f"created: {len(updates)} chargers in {len(campaign.rules.waves)} waves",
            )

    def _campaigns_where(self, where: str, params: tuple[Any, ...]) -> list[Campaign]:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(f"SELECT {_CAMPAIGN} FROM campaigns {where} ORDER BY created_at, id"),
                params,
            )
            return [self._campaign(r) for r in cur.fetchall()]

    def campaign(self, campaign_id: str) -> Campaign | None:
        found = self._campaigns_where("WHERE id = ?", (campaign_id,))
        return found[0] if found else None

    def list_campaigns(self) -> list[Campaign]:
        return self._campaigns_where("", ())

    def live_campaigns(self) -> list[Campaign]:
        """Campaigns not completed or cancelled, oldest first."""
        return self._campaigns_where(f"WHERE state IN {_LIVE}", ())

    def change_campaign(
        self, campaign: Campaign, expected: CampaignState, event: str | None = None
    ) -> bool:
        """Save ``campaign`` if its stored state is still ``expected`` (and note ``event`` in
        its history); whether it was."""
        c = campaign
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql("UPDATE campaigns SET state = ?, updated_at = ?, wave = ?, reason = ? "
                          "WHERE id = ? AND state = ?"),
                (str(c.state), self._time_in(c.updated_at), c.wave, c.reason, c.id,
                 str(expected)),
            )  # fmt: skip
            if not cur.rowcount:
                return False
            if event:
                self._event(cur, c.id, c.updated_at, None, event)
        return True

    # --- updates -------------------------------------------------------------------------------
    def campaign_updates(self, campaign_id: str) -> list[Update]:
        """Every charger's update in the campaign, by wave and then in the campaign's order."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    f"SELECT {_UPDATE} FROM campaign_updates WHERE campaign_id = ? "
                    "ORDER BY position"
                ),
                (campaign_id,),
            )
            rows = [self._update(r) for r in cur.fetchall()]
        return rows

    def updates_of_charger(self, charger_id: str) -> list[tuple[Campaign, Update]]:
        """The charger's updates in live campaigns that are not final."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    f"SELECT {', '.join('u.' + c.strip() for c in _UPDATE.split(','))}, "
                    f"{', '.join('c.' + c.strip() for c in _CAMPAIGN.split(','))} "
                    "FROM campaign_updates u JOIN campaigns c ON c.id = u.campaign_id "
                    f"WHERE u.charger_id = ? AND c.state IN {_LIVE} "
                    "AND u.state NOT IN ('updated', 'failed', 'skipped') ORDER BY c.created_at"
                ),
                (charger_id,),
            )
            rows = cur.fetchall()
        return [(self._campaign(r[13:]), self._update(r[:13])) for r in rows]

    def chargers_in_live_campaigns(self) -> set[str]:
        """The chargers with an update not yet judged in a live campaign (ids only: asked by
        every boot of a reconnect storm)."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT DISTINCT u.charger_id FROM campaign_updates u JOIN campaigns c "
                    f"ON c.id = u.campaign_id WHERE c.state IN {_LIVE} "
                    "AND u.state NOT IN ('updated', 'failed', 'skipped')"
                ),
                (),
            )
            return {str(r[0]) for r in cur.fetchall()}

    def change_update(self, update: Update, expected: UpdateState, event: str | None) -> bool:
        """Save ``update`` if its stored state is still ``expected`` (compare-and-set), noting
        ``event`` in the campaign's history; whether it was."""
        return self.change_updates([(update, expected, event)])[0]

    def change_updates(
        self, changes: Sequence[tuple[Update, UpdateState, str | None]]
    ) -> list[bool]:
        """:meth:`change_update` for many updates in one transaction (a wave dispatched at
        once); for each, whether it was saved."""
        saved = []
        with self._lock, self._transaction() as cur:
            for u, expected, event in changes:
                cur.execute(
                    self._sql(
                        "UPDATE campaign_updates SET wave = ?, state = ?, updated_at = ?, "
                        "from_version = ?, reason = ?, attempts = ?, request_id = ?, "
                        "sent_at = ?, booted_at = ?, site = ? WHERE campaign_id = ? "
                        "AND charger_id = ? AND state = ?"
                    ),
                    (u.wave, str(u.state), self._time_in(u.updated_at), u.from_version,
                     u.reason, u.attempts, u.request_id, self._time_in(u.sent_at),
                     self._time_in(u.booted_at), u.site, u.campaign_id, u.charger_id,
                     str(expected)),
                )  # fmt: skip
                saved.append(bool(cur.rowcount))
                if cur.rowcount and event:
                    self._event(cur, u.campaign_id, u.updated_at, u.charger_id, event)
        return saved

    # --- history -------------------------------------------------------------------------------
    def _event(
        self, cur: Any, campaign_id: str, at: datetime, charger_id: str | None, event: str
    ) -> None:
        cur.execute(
            self._sql("INSERT INTO campaign_events (campaign_id, at, charger_id, event) "
                      "VALUES (?, ?, ?, ?)"),
            (campaign_id, self._time_in(at), charger_id, event),
        )  # fmt: skip

    def campaign_history(
        self, campaign_id: str, limit: int = 500
    ) -> list[tuple[datetime, str | None, str]]:
        """The campaign's last ``limit`` events, oldest first: (at, charger or None, event)."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql("SELECT at, charger_id, event FROM campaign_events WHERE "
                          "campaign_id = ? ORDER BY id DESC LIMIT ?"),
                (campaign_id, limit),
            )  # fmt: skip
            rows = cur.fetchall()
        out = []
        for at, charger, event in reversed(rows):
            when = self._time_out(at)
            assert when is not None
            out.append((when, charger, event))
        return out
