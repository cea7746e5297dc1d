"""Build the demo's Home Assistant configuration folder."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[2]
PRODUCT: Final = ROOT / "custom_components" / "homeiq_device_intel"
DEMO_INTEGRATION: Final = Path(__file__).resolve().parent / "homeiq_demo"
BLUEPRINT: Final = ROOT / "blueprints" / "automation" / "homeiq_device_intel" / "notify_at_risk.yaml"
DASHBOARD: Final = ROOT / "dashboards" / "homeiq_dashboard.yaml"
DASHBOARD_URL: Final = "device-health"
DB_NAME: Final = "home-assistant_v2.db"
AUTOMATION_ID: Final = "homeiq_demo_notify_at_risk"

# The onboarding steps other than creating the user. Its core-config step would
# start flows for met, radio_browser and google_translate, which need downloads
# and a network; the demo marks those steps done and creates the user through
# HA's own onboarding API (see ha_client.onboard).
ONBOARDING_PRESET: Final = ("core_config", "analytics", "integration")
ONBOARDING_STORAGE_VERSION: Final = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigOptions:
    """What the configuration folder is built for."""

    port: int
    bind_host: str | None  # None: every interface
    time_zone: str = "UTC"
    with_demo_home: bool = True


def _configuration_yaml(options: ConfigOptions) -> str:
    """Return configuration.yaml: only the integrations the demo needs, no network discovery."""
    http = f"  server_port: {options.port}\n"
    if options.bind_host:
        http += f"  server_host: {options.bind_host}\n"
    demo = "homeiq_demo:\n" if options.with_demo_home else ""
    return f"""# Written by scripts/demo.py; rebuilt at every start of the demo.
homeassistant:
  name: HomeIQ demo home
  latitude: 52.3731
  longitude: 4.8922
  elevation: 2
  unit_system: metric
  currency: EUR
  country: NL
  language: en
  time_zone: {options.time_zone}

http:
{http}
# Keep the weeks of history the demo writes (the default keeps 10 days).
recorder:
  purge_keep_days: 60

frontend:
config:
history:
logbook:
person:
notify:
automation: !include automations.yaml

lovelace:
  mode: storage
  dashboards:
    {DASHBOARD_URL}:
      mode: yaml
      title: Device health
      icon: mdi:heart-pulse
      show_in_sidebar: true
      filename: dashboards/homeiq_dashboard.yaml

logger:
  default: warning
  logs:
    custom_components.homeiq_device_intel: info
    custom_components.homeiq_demo: info
    homeassistant.components.recorder: info

{demo}"""


def _automations_yaml() -> str:
    """Return one automation made from the notification blueprint."""
    return f"""- id: {AUTOMATION_ID}
  alias: Notify when a device is about to fail
  use_blueprint:
    path: homeiq_device_intel/notify_at_risk.yaml
    input:
      notify_service: notify.persistent_notification
      cooldown_hours: 12
"""


def _write_json(path: Path, data: Any) -> None:
    """Write a JSON file, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def build_config(
    config_dir: Path,
    options: ConfigOptions,
    *,
    home_description: dict[str, Any] | None,
) -> None:
    """Create `config_dir` from nothing (anything there before is removed).

    The recorder database is written separately, into `config_dir / DB_NAME`.
    """
    if config_dir.exists():
        shutil.rmtree(config_dir)
    config_dir.mkdir(parents=True)
    (config_dir / "configuration.yaml").write_text(_configuration_yaml(options), encoding="utf-8")
    (config_dir / "automations.yaml").write_text(_automations_yaml(), encoding="utf-8")
    custom = config_dir / "custom_components"
    custom.mkdir()
    # A link, so the demo always runs the integration as it is in the work tree.
    (custom / PRODUCT.name).symlink_to(PRODUCT, target_is_directory=True)
    if home_description is not None:
        shutil.copytree(
            DEMO_INTEGRATION, custom / DEMO_INTEGRATION.name, ignore=shutil.ignore_patterns("__pycache__")
        )
        _write_json(config_dir / "homeiq_demo.json", home_description)
    blueprint = config_dir / "blueprints" / "automation" / "homeiq_device_intel" / BLUEPRINT.name
    blueprint.parent.mkdir(parents=True)
    shutil.copyfile(BLUEPRINT, blueprint)
    dashboard = config_dir / "dashboards" / DASHBOARD.name
    dashboard.parent.mkdir()
    shutil.copyfile(DASHBOARD, dashboard)
    _write_json(
        config_dir / ".storage" / "onboarding",
        {
            "version": ONBOARDING_STORAGE_VERSION,
            "minor_version": 1,
            "key": "onboarding",
            "data": {"done": list(ONBOARDING_PRESET)},
        },
    )
