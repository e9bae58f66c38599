"""The campaign rules, pure: how an update moves on reports, boots, disconnects and time, and
how a wave's gates judge it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from chargemesh.domain.firmware import (
    Rules,
    Update,
    UpdateState,
    Window,
    booted,
    count,
    disconnected,
    halt_reason,
    progressed,
    ripened,
    wave_passed,
    waves_of,
)

T0 = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)
RULES = Rules(waves=(1, 3, 10), soak_s=60, timeout_s=600)


def sent(cid: str = "C1") -> Update:
    return Update("cmp", cid, 0, UpdateState.SENT, T0, from_version="1.0", attempts=1, sent_at=T0)


def test_reports_move_an_update_forward_only() -> None:
    u = progressed(sent(), "Downloading", T0)
    assert u is not None
    assert u.state is UpdateState.DOWNLOADING
    assert progressed(u, "DownloadScheduled", T0) is None  # backwards: ignored
    u = progressed(u, "Installed", T0)
    assert u is not None
    assert u.state is UpdateState.INSTALLED
    failed = progressed(sent(), "InvalidSignature", T0)
    assert failed is not None
    assert (failed.state, failed.reason) == (UpdateState.FAILED, "InvalidSignature")
    assert progressed(replace(sent(), state=UpdateState.PENDING), "Installed", T0) is None


def test_only_a_boot_with_the_new_version_then_the_soak_makes_updated() -> None:
    installed = replace(sent(), state=UpdateState.INSTALLED)
    old = booted(installed, "1.0", "2.0", T0)
    assert old is not None
    assert (old.state, old.reason) == (UpdateState.FAILED, "booted with 1.0 instead of 2.0")
    back = booted(installed, "2.0", "2.0", T0)
    assert back is not None
    assert back.state is UpdateState.REBOOTED
    assert ripened(back, RULES, T0 + timedelta(seconds=59), connected=True) is None
    assert ripened(back, RULES, T0 + timedelta(seconds=61), connected=False) is None
    done = ripened(back, RULES, T0 + timedelta(seconds=61), connected=True)
    assert done is not None
    assert done.state is UpdateState.UPDATED
    # a lost connection during the soak: waiting for the next boot again
    broken = disconnected(back, T0)
    assert broken is not None
    assert broken.state is UpdateState.INSTALLED
    # a boot with the old version before installing is not a failure (a power cut), nor before
    # the charger said it reboots into the new image (a reconnection); after, it is
    assert booted(sent(), "1.0", "2.0", T0) is None
    assert booted(replace(sent(), state=UpdateState.INSTALLING), "1.0", "2.0", T0) is None
    rebooting = progressed(replace(sent(), state=UpdateState.INSTALLING), "InstallRebooting", T0)
    assert rebooting is not None
    looped = booted(rebooting, "1.0", "2.0", T0)
    assert looped is not None
    assert looped.state is UpdateState.FAILED


def test_installed_then_silence_fails_after_the_timeout() -> None:
    installed = replace(sent(), state=UpdateState.INSTALLED)
    assert ripened(installed, RULES, T0 + timedelta(seconds=599), connected=False) is None
    late = ripened(installed, RULES, T0 + timedelta(seconds=601), connected=False)
    assert late is not None
    assert late.state is UpdateState.FAILED
    assert late.reason == "installed, then never came back with the new version"


def test_the_error_gate_judges_finished_chargers_once_enough_have() -> None:
    rules = Rules(waves=(20,), error_threshold=0.1, min_finished=5)
    wave = [replace(sent(f"C{n}"), state=UpdateState.UPDATED) for n in range(3)]
    wave += [replace(sent("C9"), state=UpdateState.FAILED, reason="InstallationFailed")]
    wave += [replace(sent(f"P{n}"), state=UpdateState.PENDING) for n in range(16)]
    assert halt_reason(0, count(wave, 20), rules, wave) is None  # 4 finished: not yet
    wave[4] = replace(wave[4], state=UpdateState.UPDATED)
    why = halt_reason(0, count(wave, 20), rules, wave)  # 1 of 5 = 20 % > 10 %
    assert why is not None
    assert "1 of 5 finished chargers failed" in why
    # a failure that says the image is wrong halts at once
    bad = [replace(sent(), state=UpdateState.FAILED, reason="InvalidSignature")]
    assert halt_reason(0, count(bad, 100), rules, bad) is not None


def test_a_wave_passes_when_nothing_is_in_flight_and_enough_were_updated() -> None:
    rules = Rules(waves=(4,), success_threshold=0.75)
    wave = [replace(sent(f"C{n}"), state=UpdateState.UPDATED) for n in range(3)]
    wave.append(replace(sent("C3"), state=UpdateState.DOWNLOADING))
    assert not wave_passed(count(wave, 4), rules)
    wave[3] = replace(wave[3], state=UpdateState.PENDING)  # offline at its turn
    assert wave_passed(count(wave, 4), rules)
    wave[2] = replace(wave[2], state=UpdateState.FAILED)
    assert not wave_passed(count(wave, 4), rules)  # 2 of 3


def test_waves_take_chargers_in_order_and_the_rest_join_the_last() -> None:
    assert waves_of(list("abcdefg"), (1, 2, 2)) == [0, 1, 1, 2, 2, 2, 2]
    assert waves_of(list("ab"), (1, 5)) == [0, 1]


def test_a_window_across_midnight() -> None:
    night = Window(time(23, 0), time(5, 0), "Asia/Shanghai")  # UTC+8
    assert night.open_at(datetime(2026, 12, 6, 16, 30, tzinfo=UTC))  # 00:30 local
    assert not night.open_at(datetime(2026, 12, 6, 6, 0, tzinfo=UTC))  # 14:00 local
