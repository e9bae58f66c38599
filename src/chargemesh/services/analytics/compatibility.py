"""The compatibility lab: how often a start succeeds, overall and per slice, and which slices are
significantly below target.

* **Input**: every charge attempt — the platform's own starts (recorded by the sessions) and test
  campaigns imported from CSV or JSON (:func:`read_campaign`, one row per test charge).
* **Success rate** with its **Wilson score interval** (95 % by default) — honest for small
  samples and rates near 100 %, where the normal approximation fails.
* **Slices**: each dimension alone (vehicle model, charger manufacturer, charger model,
  firmware, operator, connector standard) and the lab's unit of diagnosis, the combination
  vehicle model × charger manufacturer × model × firmware.
* **Flagged**: a slice with at least ``min_samples`` attempts whose interval lies wholly below
  the target (default 99 %): significantly below, not just unlucky. With hundreds of slices
  tested at once, a 95 % interval per slice would flag healthy ones by chance, so the flagging
  interval is Bonferroni-adjusted: 1 − 5 %/m confidence for the m slices of the combination
  table with enough attempts (the reported low/high stay the plain 95 % interval). Failure
  reasons are counted.
* **Fed back into search**: :func:`known_failures` gives, for a vehicle model, the chargers
  (manufacturer, model, firmware) flagged with it and why; nearby search with ``vehicle=``
  puts stations whose every matching connector is such a charger after the others, with the
  reason.
"""

from __future__ import annotations

import csv
import io
import json
import math
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chargemesh.domain.session import ChargeAttempt, StartMethod
from chargemesh.store import Store

DIMENSIONS = (
    "vehicle_model", "charger_manufacturer", "charger_model", "firmware", "operator_id",
    "connector_standard",
)  # fmt: skip
COMBINATION = ("vehicle_model", "charger_manufacturer", "charger_model", "firmware")
Z_95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (0..1)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True, slots=True)
class Slice:
    key: dict[str, str | None]
    attempts: int
    successes: int
    low: float
    high: float
    flagged: bool
    reasons: dict[str, int]

    @property
    def rate(self) -> float:
        return self.successes / self.attempts if self.attempts else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key, "attempts": self.attempts, "successes": self.successes,
            "rate": round(self.rate, 5), "low": round(self.low, 5), "high": round(self.high, 5),
            "flagged": self.flagged, "reasons": self.reasons,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class CompatibilityReport:
    target: float
    min_samples: int
    overall: Slice
    dimensions: dict[str, list[Slice]]
    slices: list[Slice]  # vehicle × manufacturer × model × firmware

    @property
    def flagged(self) -> list[Slice]:
        return [s for s in self.slices if s.flagged]

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "min_samples": self.min_samples,
            "confidence": 0.95,
            "overall": self.overall.to_json(),
            "dimensions": {d: [s.to_json() for s in v] for d, v in self.dimensions.items()},
            "slices": [s.to_json() for s in self.slices],
            "flagged": [s.to_json() for s in self.flagged],
        }


def z_for(confidence: float) -> float:
    """The two-sided normal quantile for a confidence level (bisection on erfc)."""
    alpha = 1 - confidence
    lo, hi = 0.0, 40.0
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if math.erfc(mid / math.sqrt(2)) > alpha else (lo, mid)
    return (lo + hi) / 2


def _slice(
    key: dict[str, str | None],
    group: Sequence[ChargeAttempt],
    target: float,
    min_samples: int,
    z_flag: float = Z_95,
) -> Slice:
    n = len(group)
    ok = sum(1 for a in group if a.outcome == "success")
    low, high = wilson(ok, n)
    flagged = n >= min_samples and wilson(ok, n, z_flag)[1] < target
    reasons = Counter(a.failure_reason or "unknown" for a in group if a.outcome != "success")
    return Slice(key, n, ok, low, high, flagged, dict(reasons.most_common()))


def _value(attempt: ChargeAttempt, dimension: str) -> str | None:
    value: str | None = getattr(attempt, dimension)
    return value


def compatibility_report(
    store: Store,
    *,
    target: float = 0.99,
    min_samples: int = 30,
    attempts: Sequence[ChargeAttempt] | None = None,
) -> CompatibilityReport:
    every = list(attempts) if attempts is not None else store.list_attempts()
    by_dimension: dict[str, list[Slice]] = {}
    for dimension in DIMENSIONS:
        groups: dict[str | None, list[ChargeAttempt]] = {}
        for a in every:
            groups.setdefault(_value(a, dimension), []).append(a)
        by_dimension[dimension] = sorted(
            (_slice({dimension: k}, g, target, min_samples) for k, g in groups.items()),
            key=lambda s: (s.rate, -s.attempts),
        )
    combos: dict[tuple[str | None, ...], list[ChargeAttempt]] = {}
    for a in every:
        combos.setdefault(tuple(_value(a, d) for d in COMBINATION), []).append(a)
    tested = sum(1 for g in combos.values() if len(g) >= min_samples)
    z_flag = z_for(1 - 0.05 / max(1, tested))
    slices = sorted(
        (
            _slice(dict(zip(COMBINATION, k, strict=True)), g, target, min_samples, z_flag)
            for k, g in combos.items()
        ),
        key=lambda s: (not s.flagged, s.rate, -s.attempts),
    )
    return CompatibilityReport(
        target, min_samples, _slice({}, every, target, min_samples), by_dimension, slices
    )


def known_failures(
    report: CompatibilityReport,
) -> dict[str, dict[tuple[str | None, str | None, str | None], str]]:
    """vehicle model → {(manufacturer, model, firmware): the reason to show}."""
    out: dict[str, dict[tuple[str | None, str | None, str | None], str]] = {}
    for s in report.flagged:
        vehicle = s.key.get("vehicle_model")
        if vehicle is None:
            continue
        top = next(iter(s.reasons), "starts fail")
        charger = (s.key.get("charger_manufacturer"), s.key.get("charger_model"),
                   s.key.get("firmware"))  # fmt: skip
        out.setdefault(vehicle, {})[charger] = (
            f"{s.rate:.0%} of {s.attempts} test starts of this vehicle succeeded on "
            f"{charger[0]} {charger[1]} firmware {charger[2]} (mostly: {top})"
        )
    return out


# --- test campaigns ------------------------------------------------------------------------
CAMPAIGN_FIELDS = (
    "at", "operator_id", "vehicle_model", "charger_manufacturer", "charger_model", "firmware",
    "connector_standard", "start_method", "outcome", "failure_reason",
)  # fmt: skip
REQUIRED = ("operator_id", "vehicle_model", "charger_manufacturer", "charger_model", "outcome")


class CampaignError(ValueError):
    """A campaign file that cannot be imported as it is; nothing of it was imported."""


def read_campaign(text: str, name: str, *, fmt: str = "csv") -> list[ChargeAttempt]:
    """Rows of a test campaign (CSV with a header, or a JSON list of objects) as attempts.
    Every row is checked first: one bad row refuses the file, naming the row and the field."""
    if fmt == "json":
        try:
            rows = json.loads(text)
        except ValueError as exc:
            raise CampaignError(f"not JSON: {exc}") from None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise CampaignError("a JSON campaign is a list of objects, one per test charge")
    else:
        reader = csv.DictReader(io.StringIO(text))
        missing = [f for f in REQUIRED if f not in (reader.fieldnames or [])]
        if missing:
            raise CampaignError(f"the header lacks {', '.join(missing)}")
        rows = list(reader)
    if not rows:
        raise CampaignError("the campaign has no rows")
    return [_attempt(row, i, name) for i, row in enumerate(rows, start=2 if fmt == "csv" else 1)]


def _attempt(row: dict[str, Any], line: int, name: str) -> ChargeAttempt:
    def text(field: str) -> str | None:
        value = row.get(field)
        if value is None or str(value).strip() == "":
            return None
        return str(value).strip()

    for field in REQUIRED:
        if text(field) is None:
            raise CampaignError(f"row {line}: {field} is empty")
    outcome = (text("outcome") or "").lower()
    if outcome not in ("success", "failure"):
        raise CampaignError(f"row {line}: outcome must be success or failure, not {outcome!r}")
    method = text("start_method") or "qr_scan"
    try:
        start_method = StartMethod(method)
    except ValueError:
        raise CampaignError(f"row {line}: unknown start_method {method!r}") from None
    at_text = text("at")
    try:
        at = datetime.fromisoformat(at_text) if at_text else datetime.now(UTC)
    except ValueError:
        raise CampaignError(f"row {line}: at must be an ISO 8601 time, not {at_text!r}") from None
    if at.tzinfo is None:
        raise CampaignError(f"row {line}: at needs a time zone (e.g. +08:00)")
    return ChargeAttempt(
        id=secrets.token_hex(12), at=at, operator_id=text("operator_id") or "",
        start_method=start_method, outcome=outcome, vehicle_model=text("vehicle_model"),
        charger_manufacturer=text("charger_manufacturer"), charger_model=text("charger_model"),
        firmware=text("firmware"), connector_standard=text("connector_standard"),
        failure_reason=text("failure_reason") if outcome == "failure" else None, source=name,
    )  # fmt: skip


def import_campaign(store: Store, attempts: Iterable[ChargeAttempt]) -> int:
    rows = list(attempts)
    store.add_attempts(rows)
    return len(rows)
