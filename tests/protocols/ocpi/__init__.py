"""OCPI tests. The official examples live in ``shared/`` beside the clone (CC BY-ND: read, never
edited; variants are built in memory)."""

from __future__ import annotations

import copy
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

#: Number of files in the 2.2.1 examples folder (shared/ocpi-examples/SOURCE.md).
EXAMPLE_COUNT = 59


def shared_dir() -> Path:
    """``$CHARGEMESH_SHARED_DIR``, else ``shared/`` beside the clone (``<clone>/../shared``)."""
    configured = os.environ.get("CHARGEMESH_SHARED_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).parents[3].parent / "shared"


def examples_dir() -> Path:
    return shared_dir() / "ocpi-examples" / "2.2.1" / "examples"


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
