"""Structured logs (issue 19, operations): ``[log] format = "json"`` / ``--log-json`` writes one
JSON object per line (time, level, logger, message, extra fields), and no secret is ever logged —
not an Authorization header's token, a password, an ops key or a T/CEC secret, whether it comes
in a message, an extra field or an exception — through the real servers over loopback and
through ``chargemesh serve`` itself."""

from __future__ import annotations

import io
import json
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chargemesh.logs import REDACTED, configure_logging, redact
from chargemesh.protocols.tcec.codec import Ret
from tests.drivers import PASSWORD, signed_up
from tests.helpers import free_port
from tests.peers import test_tcec_end_to_end as tcec_e2e
from tests.peers.tcec_samples import SECRET_TEXTS, connector_id

country = tcec_e2e.country  # our platform and the simulator's T/CEC operator, over loopback

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhY2NvdW50LTEifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
OPS_KEY = "cm_0123456789ab_" + "k" * 40


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger writing JSON lines (from DEBUG up) into a buffer, as serve would."""
    root = logging.getLogger()
    level = root.level
    buffer = io.StringIO()
    handler = configure_logging("json", "debug", stream=buffer)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_time_level_logger_message_and_extras(captured: io.StringIO) -> None:
    log = logging.getLogger("chargemesh.test")
    log.info("feed %s synced", "MA6LTCD01", extra={"stations": 23, "operator": "MA6LTCD01"})
    try:
        raise ValueError(f"refused Authorization: Bearer {JWT}")
    except ValueError:
        log.exception("push failed")
    first, second = lines(captured)
    assert first["level"] == "info"
    assert first["logger"] == "chargemesh.test"
    assert first["message"] == "feed MA6LTCD01 synced"
    assert (first["stations"], first["operator"]) == (23, "MA6LTCD01")
    assert first["time"].endswith("+00:00")
    assert second["level"] == "error"
    assert "ValueError" in second["exception"]
    assert JWT not in captured.getvalue()


def test_secrets_in_messages_extras_and_exceptions_are_redacted(captured: io.StringIO) -> None:
    log = logging.getLogger("chargemesh.test")
    log.warning("call with Authorization: Bearer %s", JWT)
    log.warning("charger sent Basic %s", "U0MtMDE6c2VjcmV0LXBhc3N3b3Jk")
    log.warning("key %s used", OPS_KEY)
    log.warning("form password=hunter2-secret&username=a@b.c")
    log.warning('body {"token": "opaque-ocpi-token-123", "name": "x"}')
    log.warning("sign-in", extra={"password": "hunter2-secret", "authorization": "Token abc"})
    log.warning("peer", extra={"body": {"sig_secret": "cm-sig-01", "id": "MA6LTCD01"}})
    text = captured.getvalue()
    for secret in (JWT, "U0MtMDE6c2VjcmV0LXBhc3N3b3Jk", OPS_KEY, "hunter2-secret",
                   "opaque-ocpi-token-123", "Token abc", "cm-sig-01"):  # fmt: skip
        assert secret not in text, secret
    assert text.count(REDACTED) >= 7
    assert "MA6LTCD01" in text  # what is not secret stays readable
    assert redact("missing or expired token") == "missing or expired token"


def test_a_request_a_login_and_a_tcec_push_log_no_secret(
    country: tcec_e2e.Country, captured: io.StringIO
) -> None:
    tcec_e2e.sync(country)
    base = country.platform_url.removesuffix("/tcec/v1/")
    with httpx.Client(base_url=base, timeout=10) as http:
        driver = signed_up(http)
        http.get("/api/v1/me", headers=driver.auth)
        http.post("/api/v1/auth/token", data={"username": driver.email, "password": "wrong-pw1"})
        http.post("/api/v1/auth/token", data={"username": driver.email, "password": PASSWORD})
        http.get("/api/v1/me", headers={"Authorization": "Bearer not-a-valid-token-at-all"})
    token = tcec_e2e.fresh_token(country)
    cid = connector_id(2, 1, 1)
    assert tcec_e2e.post_raw(country, tcec_e2e.signed_push(cid, 3), token)["Ret"] == Ret.OK
    tampered = tcec_e2e.signed_push(cid, 255, seq="0002")
    tampered["Sig"] = "0" * 32
    assert tcec_e2e.post_raw(country, tampered, token)["Ret"] == Ret.BAD_SIGNATURE
    assert (
        tcec_e2e.post_raw(country, tcec_e2e.signed_push(cid, 1, seq="0003"), "x" * 32)["Ret"]
        == Ret.BAD_TOKEN
    )
    logged = lines(captured)  # every line parses
    assert any(entry["logger"].startswith("chargemesh") for entry in logged)
    text = captured.getvalue()
    for secret in (driver.access_token, driver.refresh_token, PASSWORD, "wrong-pw1", token,
                   *SECRET_TEXTS):  # fmt: skip
        assert secret not in text


def test_serve_logs_json_lines_with_log_json(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "chargemesh.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path}/cm.db"\n[server]\nport = {port}\n'
        '[sync]\ninterval_s = 0\n[log]\nlevel = "info"\n',
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "chargemesh", "serve", "--config", str(config), "--log-json"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("serve did not get ready")
        httpx.get(f"http://127.0.0.1:{port}/api/v1/me",
                  headers={"Authorization": f"Bearer {JWT}"})  # fmt: skip
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    written = [line for line in err.decode().splitlines() if line.strip()]
    assert written, "serve logged nothing at info"
    entries = [json.loads(line) for line in written]
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    assert any(e["message"].startswith("search index built") for e in entries)
    assert JWT not in err.decode()
