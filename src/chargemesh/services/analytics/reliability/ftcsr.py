"""First-time charge success rate (FTCSR) and the visit success rate.

Charge attempts with ``start <= at < end`` are grouped into visits: the attempts of one account
at one station each within 30 minutes (``visit_gap``) of the one before (account and station
come from the attempt's session; an attempt without a session, e.g. an imported test campaign,
is a visit of its own). FTCSR = visits whose first attempt succeeded ÷ visits; the visit success
rate = visits where any attempt succeeded ÷ visits. A visit belongs to the operator of its first
attempt. A visit is cut at ``end``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chargemesh.services.analytics.reliability.model import VISIT_GAP, FirstTimeSuccess, VisitCounts
from chargemesh.store import Store


def first_time_success(
    store: Store, start: datetime, end: datetime, *, visit_gap: timedelta = VISIT_GAP
) -> FirstTimeSuccess:
    """FTCSR and visit success rate over the attempts of ``[start, end)``, overall and per
    operator (see the module docstring for what a visit is)."""
    # [operator, first attempt succeeded, any succeeded, attempts]
    visits: list[list[Any]] = []
    open_visits: dict[tuple[str, str], tuple[datetime, list[Any]]] = {}
    for at, operator_id, outcome, account_id, station_id in store.visit_attempts(start, end):
        ok = outcome == "success"
        if account_id is None or station_id is None:
            visits.append([operator_id, ok, ok, 1])
            continue
        key = (account_id, station_id)
        held = open_visits.get(key)
        if held is not None and at - held[0] <= visit_gap:
            visit = held[1]
            visit[2] = visit[2] or ok
            visit[3] += 1
        else:
            visit = [operator_id, ok, ok, 1]
            visits.append(visit)
        open_visits[key] = (at, visit)

    def count(key: str, group: list[list[Any]]) -> VisitCounts:
        return VisitCounts(
            key=key,
            visits=len(group),
            first_time_successes=sum(1 for v in group if v[1]),
            visit_successes=sum(1 for v in group if v[2]),
            attempts=sum(v[3] for v in group),
        )

    per_operator: dict[str, list[list[Any]]] = {}
    for v in visits:
        per_operator.setdefault(v[0], []).append(v)
    return FirstTimeSuccess(
        visit_gap_min=visit_gap / timedelta(minutes=1),
        overall=count("all", visits),
        operators=tuple(count(k, per_operator[k]) for k in sorted(per_operator)),
    )
