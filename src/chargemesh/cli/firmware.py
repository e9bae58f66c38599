"""chargemesh ops firmware / ops campaign: firmware for the own chargers from the command line
(docs/firmware.md). ``firmware signing-key`` makes the key images are signed with; everything
else goes through the operations API with an ops key (``--key`` or ``$CHARGEMESH_OPS_KEY``), as
an operations team does: upload images, start campaigns in waves, watch them and pause, resume
or cancel them. A refusal of the API is one line on stderr and exit code 1."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from chargemesh.cli.common import EXIT_RUNTIME, EXIT_USAGE, fail, one_line_errors, out, when

if TYPE_CHECKING:
    import httpx

firmware_app = typer.Typer(help="Firmware images: the signing key, uploads (through the ops API).")
campaign_app = typer.Typer(
    help="Firmware campaigns: waves of own chargers, the canary first (through the ops API)."
)

TIMEOUT_S: Final = 120.0  # an upload may be up to 64 MiB
BAR_WIDTH: Final = 20  # the waves' table fits 80 columns
HISTORY_SHOWN: Final = 10
#: the progress bar's marks, in the bar's order
MARKS: Final = (("updated", "#"), ("failed", "x"), ("in_flight", ">"), ("pending", "."),
                ("skipped", "-"))  # fmt: skip

ApiOption = Annotated[str, typer.Option("--api", help="The platform's URL.")]
KeyOption = Annotated[
    str | None,
    typer.Option("--key", help="An ops key (default: $CHARGEMESH_OPS_KEY).", show_default=False),
]
API_DEFAULT: Final = "http://127.0.0.1:8000"


class Kind(StrEnum):
    SUPERCHARGER = "supercharger"
    HOME = "home"


def _call(api: str, key: str | None, method: str, path: str, **request: Any) -> Any:
    """The JSON answer of one ops route; a refusal or an unreachable platform ends the command
    with one line."""
    import httpx

    from chargemesh.cli.chargers import ops_key_from_env

    ops_key = ops_key_from_env(key)
    if not ops_key:
        raise fail("give an ops key: --key or CHARGEMESH_OPS_KEY", EXIT_USAGE)
    headers = {"Authorization": f"Bearer {ops_key}"}
    try:
        with httpx.Client(base_url=api.rstrip("/"), timeout=TIMEOUT_S) as http:
            answer = http.request(method, path, headers=headers, **request)
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach the platform at {api}: {exc}", EXIT_RUNTIME) from None
    if not answer.is_success:
        raise fail(f"{method} {path}: {_refusal(answer)}", EXIT_RUNTIME)
    try:
        return answer.json()
    except ValueError:
        raise fail(f"{api} answered {path} without JSON: is it the platform?",
                   EXIT_RUNTIME) from None  # fmt: skip


def _refusal(answer: httpx.Response) -> str:
    """The API's error (docs/api-errors.md; its reason names the fields a 422 got wrong) on one
    line: status, reason, advice. Anything else that answers (a proxy): status and text."""
    try:
        detail = answer.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if not isinstance(detail, dict):
        text = str(detail) if detail else answer.text[:200]
        return " ".join(f"{answer.status_code} {text}".split())
    line = f"{answer.status_code} {detail.get('reason') or detail.get('code')}"
    if detail.get("advice"):
        line += f"; {detail['advice']}"
    return " ".join(line.split())


def _utc(value: str, form: str = "%Y-%m-%d %H:%M:%S") -> str:
    return datetime.fromisoformat(value).astimezone(UTC).strftime(form)


def _table(**options: Any) -> Table:
    """Two spaces between columns and none at the edges: the tables fit 80 columns."""
    return Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True,
                 **options)  # fmt: skip


def _print(line: str) -> None:
    out.print(line, markup=False, highlight=False, soft_wrap=True)


@firmware_app.command("signing-key")
@one_line_errors
def signing_key(
    out_dir: Annotated[Path, typer.Option("--out", help="The directory to write the pair in.")],
    name: Annotated[
        str, typer.Option("--name", help="The certificate's common name (1-64 characters).")
    ] = "chargemesh firmware signing",
) -> None:
    """Make the ECDSA P-256 key images are signed with at upload, and its certificate (sent to
    chargers with each signed update). An existing pair is never overwritten."""
    from chargemesh.services.firmware.signing import CERT_FILE, KEY_FILE, make_signing_key

    if not 1 <= len(name.strip()) <= 64:
        raise fail(f"--name {name!r}: 1-64 characters", EXIT_USAGE)
    existing = [str(p) for p in (out_dir / KEY_FILE, out_dir / CERT_FILE) if p.exists()]
    if existing:
        raise fail(
            f"{' and '.join(existing)} exist{'s' if len(existing) == 1 else ''}: a signing key is "
            "never overwritten (choose another --out)",
            EXIT_USAGE,
        )
    try:
        key_file, cert_file = make_signing_key(out_dir, name.strip())
    except OSError as exc:
        raise fail(f"cannot write in {out_dir}: {exc.strerror or exc}", EXIT_RUNTIME) from None
    key_file, cert_file = key_file.resolve(), cert_file.resolve()
    _print(f"signing key  {key_file} (keep it secret; readable by its owner only)")
    _print(f"certificate  {cert_file} (chargers check signatures with it)")
    _print("add under [csms] in the configuration, then restart the platform:")
    # JSON strings are TOML basic strings: a path with quotes or backslashes stays one
    _print(f"firmware_signing_key = {json.dumps(str(key_file))}")
    _print(f"firmware_signing_cert = {json.dumps(str(cert_file))}")


@firmware_app.command("upload")
@one_line_errors
def upload(
    file: Annotated[
        Path, typer.Argument(help="The image.", exists=True, dir_okay=False, readable=True)
    ],
    version: Annotated[str, typer.Option("--version", help="The version it installs.")],
    models: Annotated[
        str, typer.Option("--models", help="The charger models it fits, comma-separated.")
    ],
    api: ApiOption = API_DEFAULT,
    key: KeyOption = None,
) -> None:
    """Upload an image; the platform keeps it by its sha256 and signs it when it has a signing
    key. The same bytes twice are refused."""
    try:
        content = file.read_bytes()
    except OSError as exc:
        raise fail(f"{file}: {exc.strerror or exc}", EXIT_USAGE) from None
    image = _call(api, key, "POST", "/api/v1/ops/firmware", files={"file": (file.name, content)},
                  data={"version": version, "models": models})  # fmt: skip
    _print(f"id       {image['id']}")
    _print(f"version  {image['version']} for {', '.join(image['models'])}")
    _print(f"sha256   {image['sha256']}")
    _print(f"size     {image['size']:,} bytes")
    _print(f"signed   {'yes' if image['signed'] else 'no (only OCPP 1.6 core chargers take it)'}")


@firmware_app.command("list")
@one_line_errors
def list_firmware(api: ApiOption = API_DEFAULT, key: KeyOption = None) -> None:
    """Every image uploaded: its id, version, models, size, whether signed."""
    images = _call(api, key, "GET", "/api/v1/ops/firmware")
    if not images:
        _print("no firmware uploaded yet (chargemesh ops firmware upload)")
        return
    table = _table(caption="dates in UTC")
    for column in ("id", "version"):
        table.add_column(column, no_wrap=True)
    table.add_column("models", overflow="fold", min_width=10)
    for column in ("size", "signed", "uploaded", "sha256"):
        table.add_column(column, no_wrap=True, justify="right" if column == "size" else "left")
    for i in images:
        table.add_row(
            i["id"], Text(i["version"]), Text(", ".join(i["models"])), f"{i['size']:,}",
            "yes" if i["signed"] else "no", _utc(i["created_at"], "%Y-%m-%d"), i["sha256"][:12],
        )  # fmt: skip
    out.print(table)


def _numbers(value: str, option: str) -> list[int]:
    try:
        return [int(n) for n in value.split(",")]
    except ValueError:
        raise fail(f"{option} {value!r}: comma-separated whole numbers", EXIT_USAGE) from None


def _names(value: str | None) -> list[str]:
    return [n.strip() for n in (value or "").split(",") if n.strip()]


def _chargers(value: str | None) -> list[str]:
    """Charger ids from a file (separated by commas or white space) or a comma-separated list."""
    if value is None:
        return []
    path = Path(value)
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise fail(f"--chargers {path}: {exc}", EXIT_USAGE) from None
        return [c for c in re.split(r"[\s,]+", text) if c]
    return _names(value)


def _window(value: str, tz: str | None) -> dict[str, str]:
    start, _, end = value.partition("-")
    try:
        times = [time.fromisoformat(t.strip()) for t in (start, end)]
    except ValueError:
        raise fail(f"--window {value!r}: local times HH:MM-HH:MM, e.g. 01:00-05:00",
                   EXIT_USAGE) from None  # fmt: skip
    window = {"start": times[0].isoformat("minutes"), "end": times[1].isoformat("minutes")}
    return window | ({"tz": tz} if tz else {})


@campaign_app.command("create")
@one_line_errors
def create(
    firmware: Annotated[str, typer.Option("--firmware", help="The image's id.")],
    waves: Annotated[
        str,
        typer.Option(
            "--waves",
            help="Wave sizes, the canary first, e.g. 1,10,100; chargers beyond their "
            "sum join the last wave.",
        ),
    ],
    kind: Annotated[Kind | None, typer.Option("--kind", help="Only chargers of this kind.")] = None,
    models: Annotated[
        str | None, typer.Option("--models", help="Only these models, comma-separated.")
    ] = None,
    versions: Annotated[
        str | None,
        typer.Option("--versions", help="Only chargers running these versions, comma-separated."),
    ] = None,
    chargers: Annotated[
        str | None,
        typer.Option(
            "--chargers",
            help="Only these chargers, in this order: a file of ids, or ids comma-separated.",
        ),
    ] = None,
    error_threshold: Annotated[
        float | None,
        typer.Option(
            help="A wave whose failed/finished exceeds it halts the campaign (default 0.1)."
        ),
    ] = None,
    success_threshold: Annotated[
        float | None,
        typer.Option(help="updated/finished a wave needs before the next opens (default 0.9)."),
    ] = None,
    min_finished: Annotated[
        int | None,
        typer.Option(
            help="Finished chargers before a wave's error gate judges (default: a "
            "tenth of the wave, at least one)."
        ),
    ] = None,
    soak_s: Annotated[
        float | None,
        typer.Option(
            help="Seconds a charger stays connected on the new version before it "
            "counts as updated (default 600)."
        ),
    ] = None,
    window: Annotated[
        str | None,
        typer.Option(help="Local hours updates may start in, e.g. 01:00-05:00 (default: any)."),
    ] = None,
    tz: Annotated[
        str | None, typer.Option(help="The window's time zone (default Asia/Shanghai).")
    ] = None,
    max_per_site: Annotated[
        int | None, typer.Option(help="Chargers of one site updating at once (default 1).")
    ] = None,
    max_in_flight: Annotated[
        int | None, typer.Option(help="Chargers updating at once in all (default: no limit).")
    ] = None,
    timeout_s: Annotated[
        float | None,
        typer.Option(help="Seconds from sent to booted on the new version (default 3600)."),
    ] = None,
    retries: Annotated[
        int | None, typer.Option(help="Sends again after DownloadFailed (default 2).")
    ] = None,
    start_at: Annotated[
        str | None,
        typer.Option(help="When to start (ISO, UTC unless it has an offset; default: now)."),
    ] = None,
    deadline: Annotated[
        str | None,
        typer.Option(
            help="Chargers not reached by then are skipped (ISO, UTC unless it has an offset)."
        ),
    ] = None,
    api: ApiOption = API_DEFAULT,
    key: KeyOption = None,
) -> None:
    """Start a campaign: the target's chargers in waves, the canary first; the next wave opens
    when a wave passes its gates. Its id is printed alone on the last line."""
    if tz is not None and window is None:
        raise fail("--tz is the time zone of --window: give both", EXIT_USAGE)
    target = {"kind": kind.value if kind else None, "models": _names(models),
              "versions": _names(versions), "chargers": _chargers(chargers)}  # fmt: skip
    starts = when(start_at, "--start-at").isoformat() if start_at else None
    rules = {
        "error_threshold": error_threshold, "success_threshold": success_threshold,
        "min_finished": min_finished, "soak_s": soak_s, "max_per_site": max_per_site,
        "max_in_flight": max_in_flight, "timeout_s": timeout_s, "retries": retries,
        "window": _window(window, tz) if window else None,
        "start_at": starts,
        "deadline": when(deadline, "--deadline").isoformat() if deadline else None,
    }  # fmt: skip
    body: dict[str, Any] = {"firmware": firmware, "waves": _numbers(waves, "--waves"),
                            "target": target}  # fmt: skip
    body |= {k: v for k, v in rules.items() if v is not None}  # the rest: the platform's default
    made = _call(api, key, "POST", "/api/v1/ops/campaigns", json=body)
    sizes = ", ".join(str(w["size"]) for w in made["waves"])
    _print(f"campaign for firmware {made['firmware']} (version {made['version']}): "
           f"{made['state']}")  # fmt: skip
    _print(f"{made['chargers']} chargers in {len(made['waves'])} waves of {sizes}")
    if starts:
        _print(f"starts at {_utc(starts)} UTC")
    _print(made["id"])


@campaign_app.command("list")
@one_line_errors
def list_campaigns(api: ApiOption = API_DEFAULT, key: KeyOption = None) -> None:
    """Every campaign, oldest first: state, wave reached, chargers updated and failed."""
    campaigns = _call(api, key, "GET", "/api/v1/ops/campaigns")
    if not campaigns:
        _print("no campaign yet (chargemesh ops campaign create)")
        return
    table = _table()
    for column in ("id", "version", "state", "wave", "chargers", "updated", "failed"):
        table.add_column(column, no_wrap=True)
    table.add_column("reason", overflow="fold")
    for c in campaigns:
        table.add_row(
            c["id"], Text(c["version"]), c["state"], str(c["wave"]), str(c["chargers"]),
            str(c["updated"]), str(c["failed"]), Text(c["reason"] or ""),
        )  # fmt: skip
    out.print(table)


def progress_bar(wave: dict[str, Any], width: int = BAR_WIDTH) -> str:
    """``width`` marks shared by the wave's counts (largest remainders), e.g. ``##x>>....``."""
    counts = [(mark, int(wave[field])) for field, mark in MARKS]
    total = sum(n for _, n in counts)
    if total == 0:
        return " " * width
    shares = [(mark, n * width / total) for mark, n in counts]
    whole = [int(share) for _, share in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: shares[i][1] - whole[i], reverse=True)
    for i in by_remainder[: width - sum(whole)]:
        whole[i] += 1
    return "".join(mark * n for (mark, _), n in zip(shares, whole, strict=True))


def _waves_table(waves: Sequence[dict[str, Any]]) -> Table:
    legend = " ".join(f"{mark} {field.replace('_', ' ')}" for field, mark in MARKS)
    table = _table(caption=legend)
    for column in ("wave", "size", "state", "progress", "updated", "failed", "in flight",
                   "pending"):  # fmt: skip
        table.add_column(column, no_wrap=True)
    for w in waves:
        counts = (str(w[field]) for field in ("updated", "failed", "in_flight", "pending"))
        table.add_row(str(w["wave"]), str(w["size"]), w["state"], Text(progress_bar(w)), *counts)
    return table


def _failures(waves: Sequence[dict[str, Any]]) -> list[str]:
    """A line per wave with failures: their reasons, the most frequent first."""
    lines = []
    for w in waves:
        if w["failures"]:
            ranked = sorted(w["failures"].items(), key=lambda r: -r[1])
            lines.append(f"wave {w['wave']} failures: "
                         + ", ".join(f"{reason} {n}" for reason, n in ranked))  # fmt: skip
    return lines


def _show(c: dict[str, Any]) -> None:
    _print(f"campaign {c['id']}: firmware {c['firmware']} (version {c['version']}), {c['state']}"
           + (f" ({c['reason']})" if c["reason"] else ""))  # fmt: skip
    _print(f"{c['chargers']} chargers: {c['updated']} updated, {c['failed']} failed; "
           f"wave {c['wave']} of {len(c['waves'])}")  # fmt: skip
    out.print()
    out.print(_waves_table(c["waves"]))
    for line in _failures(c["waves"]):
        _print(line)
    failed = [u for u in c["updates"] if u["state"] == "failed"]
    if failed:
        out.print()
        table = _table(title="failed chargers")
        for column in ("charger", "wave", "from version", "attempts"):
            table.add_column(column, no_wrap=True)
        table.add_column("reason", overflow="fold")
        for u in failed:
            table.add_row(Text(u["charger_id"]), str(u["wave"]), Text(u["from_version"] or ""),
                          str(u["attempts"]), Text(u["reason"] or ""))  # fmt: skip
        out.print(table)
    history = c["history"][-HISTORY_SHOWN:]
    title = f"last {len(history)} event{'s' if len(history) != 1 else ''}"
    table = _table(title=title, caption="times in UTC")
    out.print()
    table.add_column("at", no_wrap=True)
    table.add_column("charger", no_wrap=True)
    table.add_column("event", overflow="fold")
    for e in history:
        table.add_row(_utc(e["at"]), Text(e["charger_id"] or ""), Text(e["event"]))
    out.print(table)


CampaignId = Annotated[str, typer.Argument(help="The campaign's id (see ops campaign list).")]


@campaign_app.command("show")
@one_line_errors
def show(campaign_id: CampaignId, api: ApiOption = API_DEFAULT, key: KeyOption = None) -> None:
    """A campaign per wave (progress, failures by reason), its failed chargers with their
    reasons, and its last events."""
    _show(_call(api, key, "GET", f"/api/v1/ops/campaigns/{campaign_id}"))


def _act(campaign_id: str, action: str, api: str, key: str | None) -> None:
    c = _call(api, key, "POST", f"/api/v1/ops/campaigns/{campaign_id}/{action}")
    _print(f"campaign {c['id']}: {c['state']}" + (f" ({c['reason']})" if c["reason"] else ""))


@campaign_app.command("pause")
@one_line_errors
def pause(campaign_id: CampaignId, api: ApiOption = API_DEFAULT, key: KeyOption = None) -> None:
    """No charger is sent the update while paused; what is in flight is still judged."""
    _act(campaign_id, "pause", api, key)


@campaign_app.command("resume")
@one_line_errors
def resume(campaign_id: CampaignId, api: ApiOption = API_DEFAULT, key: KeyOption = None) -> None:
    """Send the update again to the chargers whose turn it is."""
    _act(campaign_id, "resume", api, key)


@campaign_app.command("cancel")
@one_line_errors
def cancel(campaign_id: CampaignId, api: ApiOption = API_DEFAULT, key: KeyOption = None) -> None:
    """Chargers not sent the update yet are skipped; the campaign stays in the history."""
    _act(campaign_id, "cancel", api, key)
