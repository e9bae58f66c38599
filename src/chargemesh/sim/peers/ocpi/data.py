"""One simulated CPO's data: :class:`CpoData` is what the CPO's server and charging read and
write (Locations, Tariffs, Sessions, CDRs, and the Tokens an eMSP pushed); :class:`CpoNetwork`
holds it all in memory (the simulator's feeds build Locations on demand instead). Both are
thread-safe: the server answers from its own thread while a test or the simulator changes the
data from another.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Protocol, TypeVar

from chargemesh.protocols.ocpi.enums import ModuleID, Status, TokenType
from chargemesh.protocols.ocpi.models import (
    Cdr,
    Location,
    Session,
    Tariff,
    Token,
    ci,
    dump,
    merge_patch,
    parse,
)
from chargemesh.protocols.ocpi.transport import OcpiError, StatusCode

__all__ = ["LIST_MODULES", "CpoData", "CpoNetwork", "Item"]

#: The modules a CPO serves as paginated lists (it is their SENDER).
LIST_MODULES: Final = (ModuleID.LOCATIONS, ModuleID.TARIFFS, ModuleID.SESSIONS, ModuleID.CDRS)

Item = Location | Tariff | Session | Cdr
_I = TypeVar("_I", Location, Tariff, Session, Cdr)


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware")
    return at


class CpoData(Protocol):
    """What :class:`OcpiCpoServer` reads and writes: one CPO's objects. Implementations must be
    safe to call from another thread. :class:`CpoNetwork` keeps everything in memory; the
    simulator builds its Locations on demand (``chargemesh.sim.feeds``)."""

    country_code: str  # canonical (upper-case)
    party_id: str

    @property
    def party(self) -> tuple[str, str]:
        """``(country_code, party_id)``, canonical."""
        ...

    def changed(
        self,
        module: ModuleID | str,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
    ) -> Sequence[Item]:
        """The objects of a list module with ``date_from <= last_updated < date_to`` (either
        bound optional), ordered by (last_updated, id); ``len()`` and slicing must be cheap."""
        ...

    def location(self, location_id: str) -> Location | None: ...

    def put_location(self, location: Location) -> Location: ...

    def set_evse_status(
        self, location_id: str, evse_uid: str, status: Status | str, at: datetime
    ) -> Location:
        """Give an EVSE a new status at ``at``; the updated Location (``KeyError`` if unknown)."""
        ...

    def add_session(self, session: Session) -> Session: ...

    def update_session(self, session_id: str, patch: Mapping[str, Any]) -> Session: ...

    def add_cdr(self, cdr: Cdr) -> Cdr: ...

    def token(
        self,
        country_code: str,
        party_id: str,
        uid: str,
        token_type: TokenType | str = TokenType.RFID,
    ) -> Token | None: ...

    def put_token(self, token: Token) -> Token: ...


class CpoNetwork:
    """One CPO's data in memory, keyed by canonical (upper-case) ids; safe across threads.

    Every object must belong to this CPO (``country_code``/``party_id``, compared
    case-insensitively): another party's object is a ``ValueError``.
    """

    def __init__(
        self,
        country_code: str,
        party_id: str,
        *,
        locations: Iterable[Location] = (),
        tariffs: Iterable[Tariff] = (),
    ) -> None:
        self.country_code = ci(country_code)
        self.party_id = ci(party_id)
        self._lock = threading.RLock()
        self._items: dict[str, dict[str, Item]] = {module.value: {} for module in LIST_MODULES}
        self._tokens: dict[tuple[str, str, str, str], Token] = {}
        for location in locations:
            self.put_location(location)
        for tariff in tariffs:
            self.put_tariff(tariff)

    @property
    def party(self) -> tuple[str, str]:
        return (self.country_code, self.party_id)

    def _own(self, item: Item) -> None:
        if (ci(item.country_code), ci(item.party_id)) != self.party:
            raise ValueError(
                f"{type(item).__name__} {item.id} belongs to {item.country_code}*{item.party_id}, "
                f"not to {self.country_code}*{self.party_id}"
            )

    def _put(self, module: ModuleID, item: _I) -> _I:
        self._own(item)
        with self._lock:
            self._items[module.value][ci(item.id)] = item
        return item

    def _get(self, module: ModuleID, item_id: str, cls: type[_I]) -> _I | None:
        with self._lock:
            item = self._items[module.value].get(ci(item_id))
        return item if isinstance(item, cls) else None

    def changed(
        self,
        module: ModuleID | str,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
    ) -> list[Item]:
        """The objects of a list module with ``date_from <= last_updated < date_to`` (either
        bound optional), ordered by (last_updated, id)."""
        key = ModuleID(module).value
        if key not in self._items:
            raise ValueError(f"{key} is not a list module of a CPO")
        with self._lock:
            items = list(self._items[key].values())
        selected = [
            item
            for item in items
            if (date_from is None or item.last_updated >= date_from)
            and (date_to is None or item.last_updated < date_to)
        ]
        selected.sort(key=lambda item: (item.last_updated, ci(item.id)))
        return selected

    def count(self, module: ModuleID | str) -> int:
        with self._lock:
            return len(self._items[ModuleID(module).value])

    # ------------------------------------------------------------------ locations

    def put_location(self, location: Location) -> Location:
        """Add a Location or replace the one with the same id."""
        return self._put(ModuleID.LOCATIONS, location)

    def location(self, location_id: str) -> Location | None:
        return self._get(ModuleID.LOCATIONS, location_id, Location)

    def locations(self) -> list[Location]:
        return [item for item in self.changed(ModuleID.LOCATIONS) if isinstance(item, Location)]

    def set_evse_status(
        self, location_id: str, evse_uid: str, status: Status | str, at: datetime
    ) -> Location:
        """Give an EVSE a new status at ``at``; the EVSE's and the Location's ``last_updated``
        become ``at``. Returns the updated Location; ``KeyError`` for an unknown Location or
        EVSE."""
        _aware(at)
        with self._lock:
            location = self.location(location_id)
            if location is None:
                raise KeyError(location_id)
            evses = list(location.evses or [])
            for index, evse in enumerate(evses):
                if ci(evse.uid) == ci(evse_uid):
                    evses[index] = evse.model_copy(update={"status": status, "last_updated": at})
                    break
            else:
                raise KeyError(evse_uid)
            updated = location.model_copy(update={"evses": evses, "last_updated": at})
            return self.put_location(updated)

    # ------------------------------------------------------------------ tariffs

    def put_tariff(self, tariff: Tariff) -> Tariff:
        return self._put(ModuleID.TARIFFS, tariff)

    def tariff(self, tariff_id: str) -> Tariff | None:
        return self._get(ModuleID.TARIFFS, tariff_id, Tariff)

    # ------------------------------------------------------------------ sessions

    def add_session(self, session: Session) -> Session:
        """Add a Session, or replace the one with the same id (a full update, as a PUT)."""
        return self._put(ModuleID.SESSIONS, session)

    def session(self, session_id: str) -> Session | None:
        return self._get(ModuleID.SESSIONS, session_id, Session)

    def update_session(self, session_id: str, patch: Mapping[str, Any]) -> Session:
        """Apply an OCPI PATCH to a Session (``charging_periods`` are appended); ``KeyError`` if
        unknown, ``OcpiError`` 2001 if the result is not a valid Session or changes its id."""
        with self._lock:
            stored = self.session(session_id)
            if stored is None:
                raise KeyError(session_id)
            merged = merge_patch(dump(stored), patch, append=("charging_periods",))
            updated = parse(Session, merged)
            if ci(updated.id) != ci(stored.id):
                raise OcpiError(StatusCode.INVALID_PARAMETERS, "a PATCH cannot change the id")
            return self._put(ModuleID.SESSIONS, updated)

    # ------------------------------------------------------------------ CDRs

    def add_cdr(self, cdr: Cdr) -> Cdr:
        """Add a CDR; CDRs are immutable, so an id already present is a ``ValueError``."""
        with self._lock:
            if self._get(ModuleID.CDRS, cdr.id, Cdr) is not None:
                raise ValueError(f"CDR {cdr.id} exists already")
            return self._put(ModuleID.CDRS, cdr)

    def cdr(self, cdr_id: str) -> Cdr | None:
        return self._get(ModuleID.CDRS, cdr_id, Cdr)

    # ------------------------------------------------------------------ tokens (eMSP-owned)

    @staticmethod
    def _token_key(
        country_code: str, party_id: str, uid: str, token_type: TokenType | str
    ) -> tuple[str, str, str, str]:
        return (ci(country_code), ci(party_id), ci(uid), ci(str(token_type)))

    def put_token(self, token: Token) -> Token:
        """Store an eMSP's Token (keyed by its party, uid and type)."""
        key = self._token_key(token.country_code, token.party_id, token.uid, token.type)
        with self._lock:
            self._tokens[key] = token
        return token

    def token(
        self,
        country_code: str,
        party_id: str,
        uid: str,
        token_type: TokenType | str = TokenType.RFID,
    ) -> Token | None:
        with self._lock:
            return self._tokens.get(self._token_key(country_code, party_id, uid, token_type))

    def tokens(self) -> list[Token]:
        with self._lock:
            return list(self._tokens.values())
