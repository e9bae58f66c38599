"""Fixtures of the browser tests: one simulated country with the platform over it per test
module, and Debian's Chromium (tests/web/servers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.web.servers import CHROMIUM_ARGS, Country, need_chromium, running_country


@pytest.fixture(scope="module")
def country(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Country]:
    with running_country(tmp_path_factory.mktemp("country")) as running:
        yield running


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright's one driver for the module (its sync API allows one at a time)."""
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = playwright.chromium.launch(executable_path=need_chromium(), args=CHROMIUM_ARGS)
    try:
        yield b
    finally:
        b.close()
