"""Sessions are serialized by the store, not by a lock of one process: two session services,
each over its own connection to one database (as two processes would be), racing on one
session — the driver's stop, live readings and the operator's bill in many interleavings —
always leave it completed with the bill, with no change lost and every step a transition the
state machine allows. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Awaitable
from decimal import Decimal

from chargemesh.bus import EventBus
from chargemesh.domain.events import SessionUpdated
from chargemesh.domain.session import (
    Bill,
    ChargeSession,
    SessionState,
    StartMethod,
    StopCode,
)
from chargemesh.events.relay import OutboxRelay
from chargemesh.services.charging.sessions import Progress, SessionService
from chargemesh.store import Store, open_store
from tests.factories import T0

OPERATOR, ACCOUNT = "313744932", "alice"
ROUNDS = 16
BILL = Bill(kwh=7.5, total=Decimal("12.30"), reference="order-1")


def _service(store: Store) -> SessionService:
    return SessionService(store, OutboxRelay(store, EventBus()), {})


def _charging(n: int) -> ChargeSession:
    return ChargeSession(
        id=f"s{n:03d}", account_id=ACCOUNT, operator_id=OPERATOR, protocol="tcec",
        connector_id="c1", station_id="st1", method=StartMethod.APP,
        state=SessionState.CHARGING, created_at=T0, updated_at=T0, protocol_ref=f"ref{n:03d}",
        started_at=T0,
    )  # fmt: skip


def test_two_services_racing_on_one_session_end_in_one_consistent_state(store_url: str) -> None:
    asyncio.run(_race(store_url))


async def _race(store_url: str) -> None:
    one, two = open_store(store_url), open_store(store_url)
    try:
        a, b = _service(one), _service(two)
        shuffle = random.Random(14)
        for n in range(ROUNDS):
            session = _charging(n)
            one.create_session(session)
            ref = session.protocol_ref or ""
            moves: list[Awaitable[object]] = [
                a.stop(session.id, ACCOUNT),
                b.progress(OPERATOR, ref, Progress(kwh=4.0, kw=60.0)),
                a.progress(OPERATOR, ref, Progress(kwh=5.0, kw=50.0)),
                b.billed(OPERATOR, ref, BILL),
            ]
            await asyncio.gather(*(_after(shuffle.random() / 200, m) for m in moves))
            _check(one, session.id)
    finally:
        one.close()
        two.close()


async def _after(delay_s: float, move: Awaitable[object]) -> None:
    """``move``, set off a few milliseconds late: a different interleaving each round."""
    await asyncio.sleep(delay_s)
    await move


def _check(store: Store, session_id: str) -> None:
    final = store.get_session(session_id)
    assert final is not None
    assert final.state is SessionState.COMPLETED
    assert final.bill == BILL
    # every change is on the outbox in commit order: each one a step from the one before
    steps = [
        e.session
        for _, e in store.outbox_after(0, limit=100_000)
        if isinstance(e, SessionUpdated) and e.session.id == session_id
    ]
    assert steps
    assert steps[-1] == final
    for before, after in itertools.pairwise(steps):
        before.moved(after.state, after.updated_at)  # raises if the machine forbids it
        if before.bill is not None:
            assert after.bill == before.bill  # the bill is never overwritten by a stale copy
        if before.stop_code is not None:
            assert after.stop_code is not None
    stopped_first = any(s.state is SessionState.STOPPING for s in steps)
    assert final.stop_code is (StopCode.DRIVER if stopped_first else StopCode.OPERATOR)
    assert {4.0, 5.0} <= {s.kwh for s in steps}  # both readings were applied
