"""``GET /api/v1/coverage`` and ``GET /api/v1/compatibility``: the figures a charging network is
judged by, computed from the registry and the charge attempts (``services/analytics/coverage.py``,
``services/analytics/compatibility.py``) — the same data as ``chargemesh report``."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query

from chargemesh.services.analytics.compatibility import compatibility_report
from chargemesh.services.analytics.coverage import coverage_report
from chargemesh.store import Store


def analytics_router(store: Store) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["analytics"])

    @router.get("/coverage")
    async def coverage(
        supercharger_kw: Annotated[float, Query(gt=0, le=2000)] = 250.0,
        rapid_kw: Annotated[float, Query(gt=0, le=2000)] = 50.0,
    ) -> dict[str, Any]:
        """Chargers per operator, power class and access method; counties covered (per
        province, and those without); highway service areas; the timeline of past syncs."""
        report = await asyncio.to_thread(
            coverage_report, store, supercharger_kw=supercharger_kw, rapid_kw=rapid_kw
        )
        return report.to_json()

    @router.get("/compatibility")
    async def compatibility(
        target: Annotated[float, Query(gt=0, lt=1)] = 0.99,
        min_samples: Annotated[int, Query(ge=1, le=100_000)] = 30,
    ) -> dict[str, Any]:
        """Start success overall and per slice with Wilson intervals; slices significantly
        below ``target`` flagged with their failure reasons."""
        report = await asyncio.to_thread(
            compatibility_report, store, target=target, min_samples=min_samples
        )
        return report.to_json()

    return router
