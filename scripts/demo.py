"""Run HomeIQ Device Intelligence in a real Home Assistant on weeks of a demo home's history.

    ./scripts/demo.sh [--recorder-db PATH] [--check] [--port 8123]

Builds `demo/config` from nothing: a synthetic home's history (or a copy of a
real recorder database) in Home Assistant's recorder database, the home's
devices and entities, this integration, the notification blueprint and the
dashboard. Starts Home Assistant, creates the owner and the integration's
config entry, trains once, and keeps running until Ctrl+C.

With --check it instead verifies the whole chain end to end (predictions
against the home's ground truth, the train action's response, the blueprint,
the dashboard in headless Chromium, saved to docs/screenshot.png), stops Home
Assistant and exits 0 only if every check passes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

from homeassistant.components.recorder.db_schema import SCHEMA_VERSION

from homeiq_lab.demo import check, home, owner_devices
from homeiq_lab.demo.browser import BrowserError, screenshot_dashboard
from homeiq_lab.demo.ha_client import HAClient, HAError, WebSocket
from homeiq_lab.demo.ha_config import (
    AUTOMATION_ID,
    DASHBOARD_URL,
    DB_NAME,
    ConfigOptions,
    build_config,
)
from homeiq_lab.demo.recorder_db import write_recorder_db

ROOT: Final = Path(__file__).resolve().parents[1]

OWNER_NAME: Final = "Demo Owner"
USERNAME: Final = "demo"
PASSWORD: Final = "homeiq-demo"
START_TIMEOUT: Final = 300.0
ENTITY_TIMEOUT: Final = 180.0
STOP_TIMEOUT: Final = 90.0
MAX_SCREENSHOT_BYTES: Final = 500_000
INTEGRATION: Final = check.INTEGRATION
SERVICE_SENSOR_PREFIX: Final = "sensor.homeiq_device_intelligence_"
BLUEPRINT_PATH: Final = "homeiq_device_intel/notify_at_risk.yaml"
NOTIFICATION_TITLE_SUFFIX: Final = "may fail soon"
# Every way a training run can end well (TrainStatus values).
TRAIN_OUTCOMES: Final = frozenset({"deployed", "kept_current", "insufficient_data"})
TRAIN_RESPONSE_KEYS: Final = frozenset({"status", "message", "metrics", "model_version", "model_source"})

_started = time.monotonic()


def say(message: str) -> None:
    """Print one progress line with the time since the start."""
    print(f"[{time.monotonic() - _started:6.1f}s] {message}", flush=True)


@dataclass(frozen=True, slots=True)
class Paths:
    """Where the demo writes."""

    workdir: Path
    screenshot: Path

    @property
    def config(self) -> Path:
        """Return Home Assistant's configuration folder."""
        return self.workdir / "config"

    @property
    def hass_output(self) -> Path:
        """Return the file Home Assistant's console output goes to."""
        return self.workdir / "hass.log"

    @property
    def ha_log(self) -> Path:
        """Return Home Assistant's own log."""
        return self.config / "home-assistant.log"


def free_port() -> int:
    """Return a TCP port on loopback that nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--recorder-db", type=Path, help="run on a copy of this recorder database instead of the demo home"
    )
    parser.add_argument("--check", action="store_true", help="run the end-to-end check and exit")
    parser.add_argument("--port", type=int, help="HTTP port (default 8123; with --check a free port)")
    parser.add_argument(
        "--workdir", type=Path, default=ROOT / "demo", help="where the configuration is built (default demo/)"
    )
    parser.add_argument(
        "--screenshot",
        type=Path,
        default=ROOT / "docs" / "screenshot.png",
        help="where --check saves the dashboard screenshot (default docs/screenshot.png)",
    )
    return parser.parse_args(argv)


def prepare(args: argparse.Namespace, paths: Paths, port: int) -> home.DemoHome | None:
    """Build the configuration folder and the recorder database; return the demo home, if any."""
    options = ConfigOptions(
        port=port, bind_host="127.0.0.1" if args.check else None, with_demo_home=args.recorder_db is None
    )
    database = paths.config / DB_NAME
    if args.recorder_db is not None:
        source: Path = args.recorder_db
        if not source.is_file():
            raise SystemExit(f"no such recorder database: {source}")
        build_config(paths.config, options, home_description=None)
        shutil.copyfile(source, database)
        say(f"copied {source} to {database} (Home Assistant migrates it when it opens it)")
        return None
    say("composing the demo home from the synthetic generator")
    demo = home.build_demo_home(time.time())
    _say_demo_home(demo)
    build_config(paths.config, options, home_description=demo.description)
    summary = write_recorder_db(
        database,
        demo.recorded,
        restarts=cast("list[float]", demo.history.restarts.tolist()),  # 1-D: numpy's stubs cannot tell
        start=demo.history.start,
        end=demo.end,
    )
    say(
        f"wrote {database}: schema {summary.schema_version}, {summary.states} states, "
        f"{summary.statistics} hourly statistics, {summary.events} events"
    )
    truth = {
        t.name: {
            "built_to_fail": t.way.title if t.way else None,
            "family": t.family,
            "failure": t.failure.kind if t.failure else None,
            "days_from_now": round(home.days_from_now(demo, t.failure.start), 2) if t.failure else None,
            "failing_now": t.failing_now,
        }
        for t in demo.truth.values()
    }
    (paths.workdir / "ground_truth.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    return demo


def _say_demo_home(demo: home.DemoHome) -> None:
    """Print what the demo home holds: devices, history, the devices built to fail, the bridge outage."""
    say(
        f"home #{demo.home_index}: {len(demo.history.devices)} devices, {len(demo.recorded)} entities, "
        f"{home.history_days(demo):.0f} days of history, {len(demo.history.restarts)} restarts"
    )
    for truth in demo.truth.values():
        if truth.way is not None and truth.failure is not None:
            when = home.days_from_now(demo, truth.failure.start)
            say(f"  built to fail: {truth.name}: {truth.way.title} ({truth.failure.kind} in {when:.1f} days)")
    outage = demo.bridge_outage
    bridge = demo.truth[outage.device_key].name
    hours = (outage.end - outage.start) / 3600
    ago = -home.days_from_now(demo, outage.start)
    say(f"  bridge outage: {bridge} down {hours:.1f} h, {ago:.1f} days ago")


def start_hass(paths: Paths, *, own_session: bool) -> subprocess.Popen[bytes]:
    """Start `hass -c <config>`, its console output going to a file."""
    hass = Path(sys.executable).parent / "hass"
    # Home Assistant finds the integrations in the configuration's custom_components
    # folder; a PYTHONPATH holding another `custom_components` package (a work tree
    # run with PYTHONPATH=$PWD) would hide the demo home's integration from it.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    with paths.hass_output.open("wb") as output:
        return subprocess.Popen(
            [str(hass), "-c", str(paths.config), "--skip-pip"],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=own_session,
            env=env,
        )


def stop_hass(process: subprocess.Popen[bytes]) -> int:
    """Stop Home Assistant cleanly (SIGTERM, then wait); return its exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            say("Home Assistant did not stop in time; killing it")
            process.kill()
            process.wait()
    return process.returncode


async def wait_for[T](description: str, probe: Callable[[], Awaitable[T]], within: float) -> T:
    """Poll an async probe until it returns something truthy; raise HAError after `within` s."""
    deadline = time.monotonic() + within
    while not (result := await probe()):
        if time.monotonic() > deadline:
            raise HAError(f"timed out after {within:.0f} s waiting for {description}")
        await asyncio.sleep(2.0)
    return result


async def _entry_state(client: HAClient, domain: str) -> str | None:
    """Return the state of an integration's first config entry."""
    entries = await client.config_entries(domain)
    return str(entries[0]["state"]) if entries else None


async def _entry_settled(client: HAClient, domain: str) -> str | None:
    """Return an entry's state once its setup has ended, one way or the other."""
    state = await _entry_state(client, domain)
    return state if state not in (None, "not_loaded", "setup_in_progress") else None


async def set_up(
    client: HAClient, process: subprocess.Popen[bytes], paths: Paths, demo: home.DemoHome | None
) -> str:
    """Onboard, then create the integration's config entry; return a long-lived token."""
    waited = await client.wait_until_up(START_TIMEOUT, lambda: process.poll() is None)
    say(f"Home Assistant answers on {client.base_url} (after {waited:.0f} s)")
    await client.onboard(OWNER_NAME, USERNAME, PASSWORD)
    token = await client.create_long_lived_token("HomeIQ demo")
    token_file = paths.workdir / "token.txt"
    token_file.write_text(token + "\n", encoding="utf-8")
    say(f"onboarding done: user '{USERNAME}', password '{PASSWORD}' (API token in {token_file})")
    if demo is not None:
        state = await wait_for(
            "the demo home", lambda: _entry_settled(client, check.DEMO_INTEGRATION), ENTITY_TIMEOUT
        )
        if state != "loaded":
            raise HAError(f"the demo home's config entry is '{state}' (see {paths.ha_log})")
        say("the demo home's devices and entities are registered")
    await client.create_config_entry(INTEGRATION)
    state = await wait_for(
        "the integration's config entry", lambda: _entry_settled(client, INTEGRATION), ENTITY_TIMEOUT
    )
    if state != "loaded":
        raise HAError(f"the {INTEGRATION} config entry is '{state}' (see {paths.ha_log})")
    say(f"{INTEGRATION} config entry created and loaded")
    # Setting up the backup integration counts as a discovery; its notice is noise here.
    await client.call_service(
        "persistent_notification", "dismiss", {"notification_id": "config_entry_discovery"}
    )
    return token


async def train(client: HAClient) -> dict[str, Any]:
    """Run the train action, wait for its response, then score every device again."""
    started = time.monotonic()
    answer = await client.call_service(INTEGRATION, "train", {}, return_response=True)
    response = dict(answer.get("service_response") or {})
    say(
        f"trained in {time.monotonic() - started:.0f} s: {response.get('status')} "
        f"({response.get('message') or 'no message'}); model {response.get('model_version')} "
        f"({response.get('model_source')})"
    )
    # A device turns at risk after two scorings in a row above the threshold.
    await client.call_service(INTEGRATION, "refresh_predictions")
    return response


async def snooze_example(client: HAClient) -> str | None:
    """Snooze the demo's back door sensor for a week, as its owner would; return its name."""
    for prediction in await gather_predictions(client):
        if prediction.source_id == owner_devices.SNOOZED:
            await client.call_service(
                INTEGRATION, "snooze", {"devices": [prediction.device_id], "duration": {"days": 7}}
            )
            say(f"snoozed {prediction.name} for a week (the snooze action)")
            return prediction.name
    return None


async def acknowledge_example(client: HAClient) -> str | None:
    """Acknowledge the likeliest device at risk until it recovers, as its owner would; return its name."""
    at_risk = [
        p for p in await gather_predictions(client) if p.at_risk and p.source_id != owner_devices.SNOOZED
    ]
    if not at_risk:
        return None
    device = max(at_risk, key=lambda p: p.probability or 0.0)
    await client.call_service(INTEGRATION, "acknowledge", {"devices": [device.device_id]})
    say(f"acknowledged {device.name} until it recovers (the acknowledge action)")
    return device.name


async def gather_predictions(client: HAClient) -> list[check.Prediction]:
    """Return the integration's per-device predictions."""
    async with WebSocket(client) as ws:
        entities = await ws.call("config/entity_registry/list")
        devices = await ws.call("config/device_registry/list")
    return check.predictions_from(await client.states(), entities, devices)


async def _scored(client: HAClient) -> list[check.Prediction]:
    """Return the predictions once at least one device has a probability, else nothing."""
    predictions = await gather_predictions(client)
    return predictions if any(p.probability is not None for p in predictions) else []


async def run_foreground(
    client: HAClient, process: subprocess.Popen[bytes], paths: Paths, demo: home.DemoHome | None
) -> None:
    """Set up, train once and leave Home Assistant running."""
    await set_up(client, process, paths, demo)
    await train(client)
    if demo is not None:
        await snooze_example(client)
        await acknowledge_example(client)
    for line in check.comparison_table(await gather_predictions(client), demo):
        print(line)
    url = client.base_url.replace("127.0.0.1", "localhost")
    say(f"ready: {url}/{DASHBOARD_URL} (user '{USERNAME}', password '{PASSWORD}')")
    say(f"Home Assistant's log: {paths.ha_log}; press Ctrl+C to stop")


async def run_check(
    client: HAClient, process: subprocess.Popen[bytes], paths: Paths, demo: home.DemoHome | None
) -> check.Verdict:
    """Set up, then check the predictions, the train action, the dashboard and the blueprint."""
    verdict = check.Verdict()
    token = await set_up(client, process, paths, demo)
    if demo is not None:
        first = await wait_for("prediction entities", lambda: _scored(client), ENTITY_TIMEOUT)
        say(f"{len(first)} devices have prediction entities")
    response = await train(client)
    snoozed = await snooze_example(client) if demo is not None else None
    verdict.expect(
        response.get("status") in TRAIN_OUTCOMES and set(response) >= TRAIN_RESPONSE_KEYS,
        f"train action answered {response.get('status')!r} with {sorted(response)}",
    )
    states = await client.states()
    monitored = check.as_number(states.get(f"{SERVICE_SENSOR_PREFIX}devices_monitored", {}).get("state"))
    verdict.expect(monitored is not None, f"devices monitored: {monitored}")
    predictions = await gather_predictions(client)
    if demo is not None:
        result = check.evaluate(predictions, demo)
        verdict.passed += result.passed
        verdict.failed += result.failed
        verdict.notes += result.notes
        verdict.table = result.table
    else:
        verdict.table = check.comparison_table(predictions, None)
    # After the evaluation (an acknowledged device's At risk sensor turns off).
    acknowledged = await acknowledge_example(client) if demo is not None else None
    await check_dashboard(
        client, token, paths, predictions, verdict, snoozed=snoozed, acknowledged=acknowledged
    )
    await check_blueprint(client, verdict)
    return verdict


async def check_dashboard(
    client: HAClient,
    token: str,
    paths: Paths,
    predictions: list[check.Prediction],
    verdict: check.Verdict,
    *,
    snoozed: str | None = None,
    acknowledged: str | None = None,
) -> None:
    """Open the dashboard in headless Chromium and save the screenshot."""
    expect = [
        "Devices most likely to fail",
        "Replace batteries by",
        "Weakening radio links",
        "How good the warnings are",
        "of alerts came true",
    ]
    ranked = [p for p in predictions if p.probability is not None]
    if ranked:
        expect.append(ranked[0].name)
    expect += [p.name for p in predictions if p.link_trend == "weakening"][:1]
    if snoozed is not None:
        expect.append("snoozed until")
    if acknowledged is not None:
        expect.append("until it recovers")
    started = time.monotonic()
    try:
        seen = await screenshot_dashboard(
            base_url=client.base_url,
            token=token,
            path=f"/{DASHBOARD_URL}",
            expect_texts=expect,
            output=paths.screenshot,
        )
    except BrowserError as err:
        verdict.expect(False, f"dashboard renders in Chromium: {err}")
        return
    size = paths.screenshot.stat().st_size
    say(f"dashboard rendered in {time.monotonic() - started:.0f} s; screenshot {paths.screenshot}")
    verdict.expect(len(seen) == len(expect), f"dashboard shows {seen}")
    verdict.expect(size < MAX_SCREENSHOT_BYTES, f"screenshot is {size // 1024} KB (< 500 KB)")


async def check_blueprint(client: HAClient, verdict: check.Verdict) -> None:
    """The blueprint loads, its automation is on, and an at-risk event sends a notification."""
    async with WebSocket(client) as ws:
        blueprints = await ws.call("blueprint/list", domain="automation")
    entry = blueprints.get(BLUEPRINT_PATH, {})
    verdict.expect(
        "metadata" in entry and "error" not in entry, f"blueprint loads: {entry.get('error', 'ok')}"
    )
    states = await client.states()
    automation = next(
        (
            s
            for s in states.values()
            if s["entity_id"].startswith("automation.") and s["attributes"].get("id") == AUTOMATION_ID
        ),
        None,
    )
    verdict.expect(
        automation is not None and automation["state"] == "on",
        f"automation from the blueprint is {automation['state'] if automation else 'missing'}",
    )
    if not await _at_risk_notifications(client):
        # No device turned at risk during the check: send a sample event through the automation.
        await client.fire_event(
            f"{INTEGRATION}_device_at_risk",
            {
                "device_id": None,
                "device_key": "check",
                "device_name": "Check device",
                "failure_type": "battery_depleted",
                "probability": 91.0,
                "reasons": ["sample event sent by the demo check"],
            },
        )
    try:
        notifications = await wait_for("a notification", lambda: _at_risk_notifications(client), 30)
    except HAError:
        notifications = []
    verdict.expect(
        bool(notifications),
        f"blueprint notified: {notifications[0]['title'] if notifications else 'nothing'}",
    )


async def _at_risk_notifications(client: HAClient) -> list[dict[str, Any]]:
    """Return the persistent notifications the blueprint created."""
    async with WebSocket(client) as ws:
        notifications = await ws.call("persistent_notification/get")
    return [n for n in notifications if str(n.get("title", "")).endswith(NOTIFICATION_TITLE_SUFFIX)]


def integration_errors(log_path: Path) -> list[str]:
    """Return the ERROR lines Home Assistant logged for this integration."""
    if not log_path.exists():
        return []
    lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    return [line.strip() for line in lines if " ERROR " in line and INTEGRATION in line]


def recorded_schema(database: Path) -> int | None:
    """Return the schema version the recorder database was last migrated to."""
    with closing(sqlite3.connect(database)) as connection:
        row = connection.execute("SELECT MAX(schema_version) FROM schema_changes").fetchone()
    return None if row is None else row[0]


def report(verdict: check.Verdict) -> None:
    """Print the comparison table and every check's outcome."""
    print()
    for line in verdict.table:
        print(line)
    print()
    for message in verdict.passed:
        print(f"  PASS {message}")
    for message in verdict.failed:
        print(f"  FAIL {message}")
    for message in verdict.notes:
        print(f"  NOTE {message}")


def _interrupt(signum: int, frame: object) -> None:
    """Treat SIGTERM like Ctrl+C, so Home Assistant is stopped on the way out."""
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    """Run the demo or its check."""
    args = parse_args(argv)
    paths = Paths(workdir=args.workdir.resolve(), screenshot=args.screenshot.resolve())
    paths.workdir.mkdir(parents=True, exist_ok=True)
    port = args.port or (free_port() if args.check else 8123)
    demo = prepare(args, paths, port)
    say(f"starting Home Assistant (hass -c {paths.config}) on port {port}")
    process = start_hass(paths, own_session=args.check)
    signal.signal(signal.SIGTERM, _interrupt)
    base_url = f"http://127.0.0.1:{port}"

    async def session() -> check.Verdict | None:
        async with HAClient(base_url) as client:
            if args.check:
                return await run_check(client, process, paths, demo)
            await run_foreground(client, process, paths, demo)
            return None

    try:
        verdict = asyncio.run(session())
        if verdict is None:
            return process.wait()
    except HAError as err:
        say(f"FAILED: {err}")
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        # Whatever happened, never leave Home Assistant running behind us.
        if process.poll() is None:
            say("stopping Home Assistant")
        code = stop_hass(process)
    errors = integration_errors(paths.ha_log)
    verdict.expect(
        not errors,
        f"{len(errors)} errors logged by {INTEGRATION}" + "".join(f"\n      {e}" for e in errors[:5]),
    )
    verdict.expect(code == 0, f"Home Assistant stopped with exit code {code}")
    schema = recorded_schema(paths.config / DB_NAME)
    verdict.expect(
        schema == SCHEMA_VERSION, f"recorder database at schema {schema} (current {SCHEMA_VERSION})"
    )
    report(verdict)
    say(f"check {'passed' if verdict.ok else 'FAILED'}")
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
