"""chargemesh ops chargers import: register own chargers through the operations API, as an
operations team does (``POST /api/v1/ops/chargers`` with an ops key), from a JSON file — a list
of registrations, or a simulator's ground truth (its ``own_chargers``; ``--owners`` signs up its
``own_drivers`` first, as those drivers would, so their home chargers have owners)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx

#: the registration fields of POST /api/v1/ops/chargers
FIELDS: Final = ("id", "password", "kind", "name", "lat", "lon", "connectors", "owner", "site")
PARALLEL: Final = 8


@dataclass
class ImportResult:
    registered: int = 0
    existing: int = 0
    owners: int = 0
    refused: list[str] = field(default_factory=list)


def read_chargers(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(registrations, owners) from a JSON list or a ground-truth file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, list):
        return [dict(c) for c in data], []
    if not isinstance(data, dict) or "own_chargers" not in data:
        raise ValueError("expected a JSON list of chargers, or a truth file with own_chargers")
    return list(data["own_chargers"]), list(data.get("own_drivers") or [])


async def import_chargers(
    api: str, key: str, chargers: Sequence[dict[str, Any]], owners: Sequence[dict[str, Any]] = ()
) -> ImportResult:
    """Sign up ``owners`` (an existing account is fine) and register ``chargers`` (a charger
    registered already counts as existing), ``PARALLEL`` requests at a time."""
    result = ImportResult()
    gate = asyncio.Semaphore(PARALLEL)
    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api.rstrip("/"), timeout=60) as http:

        async def sign_up(owner: dict[str, Any]) -> None:
            async with gate:
                answer = await http.post("/api/v1/accounts", json={
                    "email": owner["email"], "password": owner["password"]})  # fmt: skip
            if answer.status_code in (201, 409):
                result.owners += 1
            else:
                result.refused.append(f"owner {owner['email']}: {answer.text[:200]}")

        async def register(charger: dict[str, Any]) -> None:
            body = {k: charger.get(k) for k in FIELDS}
            async with gate:
                answer = await http.post("/api/v1/ops/chargers", json=body, headers=auth)
            if answer.status_code == 201:
                result.registered += 1
            elif answer.status_code == 409:
                result.existing += 1
            else:
                reason = answer.json().get("detail", {}).get("reason", answer.text[:200]) \
                    if answer.headers.get("content-type", "").startswith("application/json") \
                    else answer.text[:200]  # fmt: skip
                result.refused.append(f"{charger.get('id')}: {answer.status_code} {reason}")

        await asyncio.gather(*(sign_up(o) for o in owners))
        await asyncio.gather(*(register(c) for c in chargers))
    return result


def ops_key_from_env(given: str | None) -> str | None:
    return given or os.environ.get("CHARGEMESH_OPS_KEY")
