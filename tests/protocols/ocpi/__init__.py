"""OCPI tests. The official examples are carried in ``tests/data/ocpi-examples`` (CC BY-ND 4.0:
byte-for-byte copies, never edited; variants are built in memory; see SOURCE.md there)."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

#: Number of files in the 2.2.1 examples folder (tests/data/ocpi-examples/SOURCE.md).
EXAMPLE_COUNT = 59

#: The examples' home inside the repository: a clone carries what its tests read.
EXAMPLES_ROOT = Path(__file__).parents[2] / "data" / "ocpi-examples"


def examples_dir() -> Path:
    return EXAMPLES_ROOT / "2.2.1" / "examples"


def example_names() -> list[str]:
    folder = examples_dir()
    return sorted(p.name for p in folder.glob("*.json")) if folder.is_dir() else []


@cache
def _read(name: str) -> Any:
    with (examples_dir() / name).open(encoding="utf-8") as fh:
        return json.load(fh)


def example(name: str) -> Any:
    """A fresh copy of an official example's JSON, safe to change in the test."""
    return copy.deepcopy(_read(name))
