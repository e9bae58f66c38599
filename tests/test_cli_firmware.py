"""chargemesh ops firmware / ops campaign against a real platform over loopback HTTP: the
signing key the platform loads, uploads and their refusals on one line, a campaign created,
shown per wave and paused, resumed and cancelled, and a bad key refused clearly. The commands
only talk HTTP, so one store is enough (sqlite)."""

from __future__ import annotations

import hashlib
import re
import stat
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import Result
from cryptography import x509
from typer.testing import CliRunner

from chargemesh.bootstrap import assemble
from chargemesh.cli import app as cli
from chargemesh.cli.firmware import progress_bar
from chargemesh.config import CsmsConfig
from chargemesh.domain.firmware import UpdateState
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.services.firmware.signing import Signer, make_signing_key, verify
from chargemesh.store import Store
from tests.helpers import free_port

#: the tests that start a platform: one store is enough
one_store = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)

IMAGE = b"CMXFW1 cli\n" + bytes(range(256)) * 40
PASSWORD = "s3cret-charger-pass-0001"


@dataclass
class Platform:
    url: str
    key: str
    store: Store
    runner: CliRunner

    def run(self, *args: str, key: str | None = None) -> Result:
        """``chargemesh ops ARGS --api URL --key KEY``."""
        return self.runner.invoke(cli, ["ops", *args, "--api", self.url, "--key", key or self.key])


@pytest.fixture
def platform(store: Store, tmp_path: Path) -> Iterator[Platform]:
    key, cert = make_signing_key(tmp_path / "keys", "chargemesh test firmware")
    config = CsmsConfig(port=free_port(), firmware_signing_key=key, firmware_signing_cert=cert)
    assembled = assemble(store, csms=config)
    _, secret = assembled.ops_keys.create("firmware cli test")
    with (
        LoopbackServer(assembled.app()) as server,
        httpx.Client(base_url=server.url, timeout=20) as http,
    ):
        for n, model in enumerate(["LC-600", "LC-600", "LC-600", "H7"]):
            made = http.post("/api/v1/ops/chargers", headers={"Authorization": f"Bearer {secret}"},
                             json={
                "id": f"FW-{n}", "password": PASSWORD, "kind": "supercharger", "name": f"S{n}",
                "lat": 39.9, "lon": 116.4, "connectors": [{"standard": "gbt_dc",
                                                           "max_power_kw": 600}],
                "site": "SITE-A" if n < 2 else None,
            })  # fmt: skip
            assert made.status_code == 201, made.text
            store.charger_booted(f"FW-{n}", at=datetime.now(UTC), vendor="Ymir", model=model,
                                 serial=None, firmware="1.0.0", ocpp_version="1.6")  # fmt: skip
        # a narrow terminal: the tables still show every cell whole
        yield Platform(server.url, secret, store, CliRunner(env={"COLUMNS": "80"}))


def one_line_error(result: Result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def uploaded(p: Platform, tmp_path: Path) -> str:
    image = tmp_path / "fw-2.0.0.bin"
    image.write_bytes(IMAGE)
    made = p.run("firmware", "upload", str(image), "--version", "2.0.0", "--models", "LC-600")
    assert made.exit_code == 0, made.output
    found = re.search(r"^id\s+(fw-[0-9a-f]+)$", made.stdout, re.MULTILINE)
    assert found is not None, made.stdout
    return found.group(1)


def test_signing_key_makes_a_pair_the_platform_loads_and_never_overwrites(tmp_path: Path) -> None:
    runner = CliRunner()
    keys = tmp_path / "keys"
    made = runner.invoke(cli, ["ops", "firmware", "signing-key", "--out", str(keys),
                               "--name", "CMX firmware 2025"])  # fmt: skip
    assert made.exit_code == 0, made.output
    key_file, cert_file = keys / "firmware-signing.key", keys / "firmware-signing.pem"
    assert str(key_file.resolve()) in made.stdout
    assert str(cert_file.resolve()) in made.stdout
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # the two printed config lines, put under [csms], give a config the platform signs with
    lines = [line for line in made.stdout.splitlines() if line.startswith("firmware_signing_")]
    assert len(lines) == 2, made.stdout
    csms = CsmsConfig(**tomllib.loads("\n".join(lines)))
    assert (csms.firmware_signing_key, csms.firmware_signing_cert) == (
        key_file.resolve(),
        cert_file.resolve(),
    )
    signer = Signer.load(csms.firmware_signing_key, csms.firmware_signing_cert)
    assert verify(IMAGE, signer.sign(IMAGE), signer.certificate_pem)
    certificate = x509.load_pem_x509_certificate(signer.certificate_pem.encode())
    assert certificate.subject.rfc4514_string() == "CN=CMX firmware 2025"

    kept = key_file.read_bytes()
    again = runner.invoke(cli, ["ops", "firmware", "signing-key", "--out", str(keys)])
    assert "never overwritten" in one_line_error(again, 2)
    assert key_file.read_bytes() == kept
    key_file.unlink()  # the certificate alone is not overwritten either
    assert "never overwritten" in one_line_error(
        runner.invoke(cli, ["ops", "firmware", "signing-key", "--out", str(keys)]), 2
    )
    assert not key_file.exists()


@one_store
def test_an_upload_shows_its_id_and_digest_and_a_refusal_is_one_line(
    platform: Platform, tmp_path: Path
) -> None:
    assert "no firmware uploaded yet" in platform.run("firmware", "list").stdout
    path = tmp_path / "fw.bin"
    path.write_bytes(IMAGE)
    made = platform.run("firmware", "upload", str(path), "--version", "2.0.0",
                        "--models", "LC-600, H7")  # fmt: skip
    assert made.exit_code == 0, made.output
    fw = made.stdout.splitlines()[0].split()[-1]
    image = platform.store.firmware(fw)
    assert image is not None
    assert image.signature is not None  # the platform has a signing key
    assert made.stdout.splitlines() == [
        f"id       {fw}",
        "version  2.0.0 for LC-600, H7",
        f"sha256   {hashlib.sha256(IMAGE).hexdigest()}",
        f"size     {len(IMAGE):,} bytes",
        "signed   yes",
    ]
    listed = platform.run("firmware", "list")
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.stdout.splitlines() if fw in line)
    assert re.search(rf"{fw}\s+2\.0\.0\s+LC-600, H7\s+{len(IMAGE):,}\s+yes\s", row), row
    assert image.sha256[:12] in row

    same = tmp_path / "copy.bin"
    same.write_bytes(IMAGE)
    twice = platform.run("firmware", "upload", str(same), "--version", "2.0.1", "--models", "X")
    assert re.search(rf"409 .*uploaded already as {fw}", one_line_error(twice, 1))
    same.write_bytes(b"other bytes")
    bad = platform.run("firmware", "upload", str(same), "--version", "two point oh!",
                       "--models", "LC-600")  # fmt: skip
    assert "422 version: 1-50 letters" in one_line_error(bad, 1)
    assert [i.id for i in platform.store.list_firmware()] == [fw]


@one_store
def test_a_campaign_is_created_shown_and_paused_resumed_cancelled(
    platform: Platform, tmp_path: Path
) -> None:
    fw = uploaded(platform, tmp_path)
    chargers = tmp_path / "chargers.txt"
    chargers.write_text("FW-2\nFW-0, FW-1\n")
    start = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    made = platform.run(
        "campaign", "create", "--firmware", fw, "--waves", "1,1", "--chargers", str(chargers),
        "--error-threshold", "0.25", "--window", "01:00-05:00", "--tz", "Europe/Berlin",
        "--max-in-flight", "50", "--start-at", start.isoformat(),
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    lines = made.stdout.strip().splitlines()
    cid = lines[-1]  # alone on the last line, for scripts
    assert re.fullmatch(r"cmp-[0-9a-f]+", cid), made.stdout
    assert "scheduled" in lines[0]
    assert "3 chargers in 2 waves of 1, 2" in made.stdout
    assert f"starts at {start:%Y-%m-%d %H:%M:%S} UTC" in made.stdout
    kept = platform.store.campaign(cid)
    assert kept is not None
    assert kept.start_at == start
    assert (kept.rules.waves, kept.rules.error_threshold, kept.rules.max_in_flight) == (
        (1, 1),
        0.25,
        50,
    )
    assert kept.rules.window is not None
    assert (str(kept.rules.window.start), kept.rules.window.tz) == ("01:00:00", "Europe/Berlin")
    assert kept.rules.success_threshold == 0.9  # not given: the platform's default
    updates = platform.store.campaign_updates(cid)
    assert [(u.charger_id, u.wave) for u in updates] == [("FW-2", 0), ("FW-0", 1), ("FW-1", 1)]

    shown = platform.run("campaign", "show", cid)
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert re.search(rf"campaign {cid}: firmware {fw} \(version 2\.0\.0\), scheduled", out)
    assert re.search(r"^\s*1\s+1\s+open\s+\.{20}\s+0\s+0\s+0\s+1\s*$", out, re.MULTILINE), out
    assert re.search(r"^\s*2\s+2\s+waiting\s+\.{20}\s+0\s+0\s+0\s+2\s*$", out, re.MULTILINE), out
    assert "failed chargers" not in out
    assert "created: 3 chargers in 2 waves" in out

    def act(action: str) -> Result:
        return platform.run("campaign", action, cid)

    assert "409 a scheduled campaign cannot be running" in one_line_error(act("resume"), 1)
    assert act("pause").stdout.strip() == f"campaign {cid}: paused (paused by operations)"
    assert act("resume").stdout.strip().startswith(f"campaign {cid}: running")
    for _ in range(4):
        assert act("pause").exit_code == 0
        assert act("resume").exit_code == 0
    assert act("cancel").stdout.strip().startswith(f"campaign {cid}: cancelled")
    assert "409 a cancelled campaign cannot be paused" in one_line_error(act("pause"), 1)
    assert "404 no campaign 'cmp-nope'" in one_line_error(
        platform.run("campaign", "pause", "cmp-nope"), 1
    )
    after = platform.run("campaign", "show", cid).stdout
    assert re.search(r"^\s*2\s+2\s+waiting\s+-{20}\s", after, re.MULTILINE), after
    # 12 events: the last 10 are shown
    history = after.split("last 10 events", 1)[1]
    assert "created:" not in history
    events = re.findall(r"(paused|resumed|cancelled) by operations", history)
    assert events == ["resumed", *["paused", "resumed"] * 4, "cancelled"]
    listed = platform.run("campaign", "list")
    assert listed.exit_code == 0, listed.output
    row = rf"{cid}\s+2\.0\.0\s+cancelled\s+1\s+3\s+0\s+0\s"
    assert re.search(row, listed.stdout), listed.stdout


@one_store
def test_a_campaign_shows_its_failed_chargers_with_their_reasons(
    platform: Platform, tmp_path: Path
) -> None:
    fw = uploaded(platform, tmp_path)
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    made = platform.run("campaign", "create", "--firmware", fw, "--waves", "1,1",
                        "--chargers", "FW-1,FW-0", "--start-at", later)  # fmt: skip
    assert made.exit_code == 0, made.output
    cid = made.stdout.strip().splitlines()[-1]
    # the canary fails (as the leader records it when the charger reports it)
    canary = platform.store.campaign_updates(cid)[0]
    assert canary.charger_id == "FW-1"
    failed = replace(canary, state=UpdateState.FAILED, reason="InvalidSignature",
                     updated_at=datetime.now(UTC))  # fmt: skip
    assert platform.store.change_update(failed, UpdateState.PENDING, "failed: InvalidSignature")
    shown = platform.run("campaign", "show", cid)
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert "2 chargers: 0 updated, 1 failed" in out
    assert re.search(r"^\s*1\s+1\s+open\s+x{20}\s+0\s+1\s+0\s+0\s*$", out, re.MULTILINE), out
    assert re.search(r"^\s*2\s+1\s+waiting\s+\.{20}\s+0\s+0\s+0\s+1\s*$", out, re.MULTILINE), out
    assert "wave 1 failures: InvalidSignature 1\n" in out
    assert "wave 2 failures" not in out
    failures = out.split("failed chargers", 1)[1]
    assert re.search(r"^\s*FW-1\s+1\s+1\.0\.0\s+0\s+InvalidSignature\s*$", failures,
                     re.MULTILINE), out  # fmt: skip
    assert "FW-0" not in failures.split("events", 1)[0]
    assert re.search(r"^\s*\S+ \S+\s+FW-1\s+failed: InvalidSignature\s*$", out, re.MULTILINE), out


@one_store
def test_a_bad_key_or_no_platform_is_one_clear_line(platform: Platform) -> None:
    bad = platform.run("firmware", "list", key="cmk_nope_0000000000000000")
    assert "401 this operations key is unknown or revoked" in one_line_error(bad, 1)
    nobody = platform.runner.invoke(cli, ["ops", "campaign", "list", "--api", platform.url],
                                    env={"CHARGEMESH_OPS_KEY": None})  # fmt: skip
    assert "give an ops key" in one_line_error(nobody, 2)
    from_env = platform.runner.invoke(cli, ["ops", "campaign", "list", "--api", platform.url],
                                      env={"CHARGEMESH_OPS_KEY": platform.key})  # fmt: skip
    assert "no campaign yet" in from_env.stdout
    gone = f"http://127.0.0.1:{free_port()}"
    unreachable = platform.runner.invoke(cli, ["ops", "campaign", "list", "--api", gone,
                                               "--key", platform.key])  # fmt: skip
    assert f"cannot reach the platform at {gone}" in one_line_error(unreachable, 1)


def test_the_progress_bar_shares_its_width_by_the_counts() -> None:
    wave = {"updated": 1, "failed": 1, "in_flight": 1, "pending": 0, "skipped": 0}
    assert progress_bar(wave, 10) == "####xxx>>>"
    wave |= {"updated": 6, "failed": 1, "in_flight": 0, "pending": 3}
    assert progress_bar(wave, 10) == "######x..."
    assert progress_bar(dict.fromkeys(wave, 0), 4) == "    "
