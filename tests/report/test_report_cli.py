"""``chargemesh report`` as a user runs it, against a small real SQLite registry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chargemesh.store import open_store
from tests.report import registry
from tests.test_cli import assert_one_line_error, run


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("report") / "chargemesh.db"
    url = f"sqlite:///{path}"
    with open_store(url) as store:
        registry.fill(store)
        registry.fill_campaign(store)
    return url


def test_coverage_as_json_on_stdout(store_url: str, tmp_path: Path) -> None:
    result = run("report", "coverage", "--store", store_url, "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    covered = registry.covered_adcodes()
    assert data["totals"]["operators"] == len(registry.OPERATORS)
    assert data["counties"]["covered"] == len(covered)
    assert data["counties"]["total"] == 2848
    assert sorted(data["counties"]["covered_adcodes"]) == sorted(covered)
    assert len(data["timeline"]) == 2


def test_tables_by_default_and_into_a_file(store_url: str, tmp_path: Path) -> None:
    config = tmp_path / "chargemesh.toml"
    config.write_text(f'[store]\nurl = "{store_url}"\n')
    result = run("report", "coverage", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    covered = len(registry.covered_adcodes())
    assert result.stdout.startswith(
        f"3 operators · 1,423 EVSEs · {covered} of 2,848 counties (25.0 %)"
    )
    result = run("report", "coverage", "--store", store_url, "-o", "cov.txt", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "汀兰充电 <Tinglan> & Co." in (tmp_path / "cov.txt").read_text(encoding="utf-8")
    result = run("report", "compatibility", "--store", store_url, "-o", "compat.txt", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "wrote compat.txt" in result.stderr
    text = (tmp_path / "compat.txt").read_text(encoding="utf-8")
    assert "1 slice flagged" in text
    assert "Firmware: 1.9.8" in text
    assert "\x1b[" not in text  # plain text, no colour codes


def test_html_into_a_file_and_to_stdout(store_url: str, tmp_path: Path) -> None:
    result = run("report", "coverage", "--store", store_url, "-f", "html", "--out", "c.html",
                 cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "c.html").read_text(encoding="utf-8")
    assert html.count('class="county covered"') == len(registry.covered_adcodes())
    assert html.count('class="county uncovered"') == 2848 - len(registry.covered_adcodes())
    assert "Source: sqlite:///" in html
    result = run("report", "reliability", "--store", store_url, "-f", "html", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("<!doctype html>")
    assert "Charging reliability" in result.stdout


def test_reliability_period_defaults_to_the_last_twelve_months(
    store_url: str, tmp_path: Path
) -> None:
    result = run("report", "reliability", "--store", store_url, "-f", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    period = json.loads(result.stdout)["period"]
    start, end = datetime.fromisoformat(period["start"]), datetime.fromisoformat(period["end"])
    assert abs(end - datetime.now(UTC)) < timedelta(minutes=5)
    assert timedelta(days=365) <= end - start <= timedelta(days=366)
    result = run("report", "reliability", "--store", store_url, "-f", "json", "--since",
                 "2026-11-01", "--until", "2026-12-01T00:00+08:00", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["period"]["start"] == "2026-11-01T00:00:00+00:00"
    assert data["period"]["end"] == "2026-11-30T16:00:00+00:00"
    assert data["ftcsr"]["overall"]["visits"] == 1440


@pytest.mark.parametrize(
    ("args", "code", "needles"),
    [
        (["reliability", "--since", "2026-13-01"], 2, ["--since", "not a date"]),
        (["reliability", "--since", "2026-12-01", "--until", "2026-11-01"], 2, ["must end after"]),
        (["coverage", "--target", "0.9"], 2, ["--target", "report compatibility"]),
        (["coverage", "-f", "html", "-o", "missing/dir/c.html"], 1, ["cannot write", "c.html"]),
        (["coverage", "--store", "mysql://x/y"], 1, ["unknown scheme"]),
    ],
)
def test_mistakes_are_one_clear_line(
    store_url: str, tmp_path: Path, args: list[str], code: int, needles: list[str]
) -> None:
    if "--store" not in args:
        args = [*args, "--store", store_url]
    assert_one_line_error(run("report", *args, cwd=tmp_path), code, *needles)
