"""The chargemesh command as a user runs it: a real process, its exit code and its output."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chargemesh.store.migrations import migrations

CHARGEMESH = str(Path(sys.executable).parent / "chargemesh")

SECRETS = """
operator_secret = "op-secret-value-1"
data_secret = "1234567890abcdef"
data_secret_iv = "abcdef1234567890"
sig_secret = "sig-secret-value-1"
"""

GOOD = f"""
[store]
url = "sqlite:///data/chargemesh.db"
[server]
host = "127.0.0.1"
port = 8000
public_url = "http://127.0.0.1:8000"
[[operators]]
id = "313744932"
name = "Lanting Charging"
protocol = "tcec"
url = "http://127.0.0.1:9101/evcs/v1/"
capabilities = ["realtime", "scan"]
dialect = "cec"
[operators.outbound]
{SECRETS}
[operators.inbound]
{SECRETS}
[[operators]]
id = "CN-QYE"
name = "Qingyun EV"
protocol = "ocpi"
url = "http://127.0.0.1:9201/ocpi/versions"
token_a = "token-a-value-9"
[tcec]
operator_id = "MA01H3BQ2"
[ocpi]
country_code = "CN"
party_id = "CMH"
"""


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHARGEMESH, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def assert_one_line_error(
    result: subprocess.CompletedProcess[str], code: int, *needles: str
) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = run("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("config", "db", "geo"):
        assert command in result.stdout


def test_a_good_config_is_accepted_and_secrets_are_not_shown(tmp_path: Path) -> None:
    (tmp_path / "chargemesh.toml").write_text(GOOD)
    result = run("config", "check", "--config", "chargemesh.toml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "313744932" in result.stdout
    assert "CN-QYE" in result.stdout
    for secret in (
        "op-secret-value-1",
        "sig-secret-value-1",
        "1234567890abcdef",
        "token-a-value-9",
    ):
        assert secret not in result.stdout + result.stderr


BAD = [
    ("not toml", "port = = 1", ["not valid TOML"]),
    ("unknown key", GOOD.replace("port = 8000", "prot = 8000"), ["server.prot", "unknown key"]),
    ("port range", GOOD.replace("port = 8000", "port = 70000"), ["server.port", "65535"]),
    (
        "protocol",
        GOOD.replace('protocol = "ocpi"', 'protocol = "oicp"'),
        ["operators[1] (id CN-QYE).protocol", "'tcec' or 'ocpi'"],
    ),
    (
        "tcec id",
        GOOD.replace('id = "313744932"', 'id = "31374"'),
        ["operators[0]", "9 characters"],
    ),
    (
        "short AES key",
        GOOD.replace('data_secret = "1234567890abcdef"', 'data_secret = "12345"', 1),
        ["operators[0] (id 313744932).outbound.data_secret", "16 bytes"],
    ),
    (
        "missing secrets",
        GOOD.replace("[operators.inbound]\n" + SECRETS, ""),
        ["operators[0]", "[operators.inbound]"],
    ),
    ("ocpi token", GOOD.replace('token_a = "token-a-value-9"', ""), ["CN-QYE needs token_a"]),
    ("store scheme", GOOD.replace("sqlite:///data", "mysql://data"), ["store.url", "sqlite:///"]),
    (
        "duplicate operator",
        GOOD.replace('id = "CN-QYE"', 'id = "cn-qye"')
        + GOOD[GOOD.index('[[operators]]\nid = "CN') :].split("[tcec]")[0],
        ["appears twice"],
    ),
    ("unknown reseller", GOOD + '\n[merge]\nresellers = ["MA9NOPE99"]\n',
     ["merge.resellers", "'MA9NOPE99' is not an operator"]),
    ("delisting share", GOOD + "\n[delisting]\nsuspect_below = 1.5\n",
     ["delisting.suspect_below", "less than or equal to 1"]),
    ("coverage threshold", GOOD + "\n[coverage]\nsupercharger_kw = 0\n",
     ["coverage.supercharger_kw", "greater than 0"]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "text", "needles"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_config_gets_one_clear_line_and_exit_2(
    tmp_path: Path, case: str, text: str, needles: list[str]
) -> None:
    (tmp_path / "bad.toml").write_text(text)
    result = run("config", "check", "--config", "bad.toml", cwd=tmp_path)
    assert_one_line_error(result, 2, "bad.toml", *needles)
    assert "op-secret-value-1" not in result.stderr


def test_a_missing_config_file(tmp_path: Path) -> None:
    result = run("db", "migrate", "--config", "nowhere.toml", cwd=tmp_path)
    assert_one_line_error(result, 2, "nowhere.toml", "no such file")


def test_migrate_and_stats_on_sqlite_relative_to_the_current_directory(tmp_path: Path) -> None:
    (tmp_path / "chargemesh.toml").write_text(GOOD)
    result = run("db", "migrate", "--config", "chargemesh.toml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"schema version {len(migrations('sqlite'))}" in result.stdout
    assert (tmp_path / "data" / "chargemesh.db").is_file()
    stats = run("db", "stats", "--config", "chargemesh.toml", cwd=tmp_path)
    assert stats.returncode == 0, stats.stderr
    assert "connectors" in stats.stdout
    assert "listings" in stats.stdout  # physical stations, and the feeds' listings labelled
    # a long store URL on a narrow terminal is printed whole, never broken mid-word
    deep = tmp_path / "a-rather-long-folder-name-for-the-registry" / "and-another-one"
    narrow = subprocess.run(
        [CHARGEMESH, "db", "stats", "--store", f"sqlite:///{deep / 'chargemesh.db'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "COLUMNS": "50"},
    )  # fmt: skip
    assert narrow.returncode == 0, narrow.stderr
    assert f"sqlite:///{deep / 'chargemesh.db'}" in narrow.stdout


def test_an_unreachable_postgresql_gets_one_line_without_the_password(tmp_path: Path) -> None:
    url = "postgresql://chargemesh:hunter2secret@127.0.0.1:1/chargemesh"
    result = run("db", "migrate", "--store", url, cwd=tmp_path)
    assert_one_line_error(result, 1, "cannot connect to PostgreSQL", "127.0.0.1:1")
    assert "hunter2secret" not in result.stderr


def test_a_corrupt_sqlite_file_gets_one_line(tmp_path: Path) -> None:
    (tmp_path / "broken.db").write_bytes(b"this is not a database\n" * 400)
    result = run("db", "stats", "--store", "sqlite:///broken.db", cwd=tmp_path)
    assert_one_line_error(result, 1, "broken.db", "not a usable SQLite database")
    # Nothing was written over the damaged file.
    assert (tmp_path / "broken.db").read_bytes() == b"this is not a database\n" * 400


def test_a_truncated_sqlite_database_gets_one_line(tmp_path: Path) -> None:
    ok = run("db", "migrate", "--store", "sqlite:///good.db", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    data = (tmp_path / "good.db").read_bytes()
    (tmp_path / "cut.db").write_bytes(data[:100] + b"\x00" * 50 + data[150:4096])
    result = run("db", "stats", "--store", "sqlite:///cut.db", cwd=tmp_path)
    assert_one_line_error(result, 1, "cut.db")


def test_geo_commands(tmp_path: Path) -> None:
    county = run("geo", "county", "116.4039", "39.9101", cwd=tmp_path)
    assert county.returncode == 0, county.stderr
    assert county.stdout.split()[0] == "110101"
    sea = run("geo", "county", "125.0", "30.0", cwd=tmp_path)
    assert_one_line_error(sea, 1, "no county-level unit")
    converted = run(
        "geo", "convert", "--from", "wgs84", "--to", "gcj02", "116.3975", "39.9087", cwd=tmp_path
    )
    assert converted.returncode == 0
    lon, lat = (float(v) for v in converted.stdout.split())
    assert abs(lon - 116.40374) < 1e-4
    assert abs(lat - 39.91010) < 1e-4


def test_compat_import_takes_a_campaign_and_refuses_a_bad_one_whole(tmp_path: Path) -> None:
    from chargemesh.sim.campaign import lab_campaign, write_campaign
    from chargemesh.sim.charging import CompatibilityMatrix
    from chargemesh.store import open_store

    store = f"sqlite:///{tmp_path / 'lab.db'}"
    good = write_campaign(lab_campaign(CompatibilityMatrix.generate(3), tests=500, seed=3),
                          tmp_path / "june.csv")  # fmt: skip
    done = subprocess.run(
        [CHARGEMESH, "compat", "import", str(good), "--store", store],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "imported 500 test charges" in done.stdout
    assert "as june" in done.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text(good.read_text().replace("success", "maybe", 1))
    refused = subprocess.run(
        [CHARGEMESH, "compat", "import", str(bad), "--store", store],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "outcome must be success or failure" in refused.stderr
    assert "nothing imported" in refused.stderr
    with open_store(store) as s:
        attempts = s.list_attempts()
    assert len(attempts) == 500
    assert {a.source for a in attempts} == {"june"}


def _commands() -> list[tuple[list[str], str]]:
    """Every command's words and the text its help starts from (docstring and option helps)."""
    import typer.main

    from chargemesh.cli import app

    found: list[tuple[list[str], str]] = []

    def walk(command: Any, words: list[str]) -> None:
        texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
        found.append((words, "\n".join(texts)))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*words, name])

    walk(typer.main.get_command(app), [])
    return found


def test_help_keeps_every_bracketed_name() -> None:
    """Rich markup must not eat "[sync]" or "[store]" from the help: every config section a
    command's help names is printed."""
    from typer.testing import CliRunner

    from chargemesh.cli import app

    runner = CliRunner()
    checked = 0
    for words, text in _commands():
        names = set(re.findall(r"\[([a-z_]+)\]", text.replace("\\[", "[")))
        if not names:
            continue
        shown = runner.invoke(app, [*words, "--help"], env={"COLUMNS": "300"}).output
        for name in names:
            assert f"[{name}]" in shown, (words, name)
            checked += 1
    assert checked >= 2  # serve's [sync], --store's [store]
