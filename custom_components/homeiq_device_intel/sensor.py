"""Sensors: failure probability, battery days and link quality per device, and the integration's state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory, Platform, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .coordinator import HomeIQConfigEntry, HomeIQCoordinator, HomeIQRuntimeData, probability_percent
from .discovery import WatchedDevice
from .entity import HomeIQDeviceEntity, HomeIQServiceEntity, async_track_device_entities
from .ml.battery_life import Source
from .ml.link import LinkQuality, LinkTrend
from .ml.records import FailureType
from .ml.scoring import DevicePrediction
from .risk import reason_texts, short_text
from .training import TrainingStatus

PARALLEL_UPDATES = 0

# Attributes are recorded with every state: keep them far below the recorder's 16 KiB,
# whatever a model (possibly one learned or edited outside this code) puts out.
MAX_PROBABILITIES = 8


def _rounded(value: float | None, digits: int = 1) -> float | None:
    """Round a value for display, passing None through."""
    return None if value is None else round(value, digits)


def _probability_attributes(prediction: DevicePrediction) -> dict[str, Any]:
    """Return the explanation shown with the failure probability (kept small)."""
    probabilities = prediction.probabilities
    likeliest = set(sorted(probabilities, key=probabilities.__getitem__, reverse=True)[:MAX_PROBABILITIES])
    return {
        "failure_type": short_text(prediction.failure_type),
        "reasons": reason_texts(prediction),
        "probabilities": {
            short_text(failure_type): round(100.0 * value, 1)
            for failure_type, value in probabilities.items()
            if failure_type in likeliest
        },
        "anomaly": _rounded(prediction.anomaly, 3),
        "failing_now": prediction.failing_now,
    }


def replace_by(prediction: DevicePrediction, scored_at: datetime | None) -> date | None:
    """The local date to replace the battery by: the scoring day plus the low end of the days remaining."""
    if scored_at is None or prediction.battery_days is None:
        return None
    days = prediction.battery_days_low if prediction.battery_days_low is not None else prediction.battery_days
    return dt_util.as_local(scored_at + timedelta(days=max(days, 0.0))).date()


def battery_reading(prediction: DevicePrediction) -> str:
    """Whether the battery's reading can be trusted: "reliable" or why not (an Unreliable value)."""
    life = prediction.battery_life
    if life is None or life.outlook.unreliable is None:
        return "reliable"
    return life.outlook.unreliable.value


def _battery_attributes(prediction: DevicePrediction, scored_at: datetime | None) -> dict[str, Any]:
    """The interval, the replace-by date and what the device's own past batteries say."""
    life = prediction.battery_life
    by = replace_by(prediction, scored_at)
    view = life.outlook if life is not None else None
    return {
        "interval_low": _rounded(prediction.battery_days_low),
        "interval_high": _rounded(prediction.battery_days_high),
        "replace_by": None if by is None else by.isoformat(),
        "source": life.source.value if life is not None else Source.MODEL.value,
        "past_batteries": 0 if view is None else len(view.past),
        "typical_life_days": None if view is None else _rounded(view.typical_life_days),
        "battery_age_days": None if view is None else _rounded(view.age_days),
        "battery_reading": battery_reading(prediction),
        "died_at_level": None if view is None else _rounded(view.unreliable_level, 0),
    }


@dataclass(frozen=True, kw_only=True)
class HomeIQDeviceSensorDescription(SensorEntityDescription):
    """A sensor about one watched device; the functions get the prediction and when it was made."""

    exists_fn: Callable[[WatchedDevice], bool] = lambda _: True
    value_fn: Callable[[DevicePrediction, datetime | None], float | date | None]
    attributes_fn: Callable[[DevicePrediction, datetime | None], dict[str, Any]]


DEVICE_SENSORS: tuple[HomeIQDeviceSensorDescription, ...] = (
    HomeIQDeviceSensorDescription(
        key="failure_probability",
        translation_key="failure_probability",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=lambda prediction, _: probability_percent(prediction),
        attributes_fn=lambda prediction, _: _probability_attributes(prediction),
    ),
    HomeIQDeviceSensorDescription(
        key="battery_days_remaining",
        translation_key="battery_days_remaining",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.DAYS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        exists_fn=lambda device: device.has_battery,
        value_fn=lambda prediction, _: _rounded(prediction.battery_days),
        attributes_fn=_battery_attributes,
    ),
    HomeIQDeviceSensorDescription(
        key="battery_replace_by",
        translation_key="battery_replace_by",
        device_class=SensorDeviceClass.DATE,
        exists_fn=lambda device: device.has_battery,
        value_fn=replace_by,
        attributes_fn=lambda prediction, _: {"battery_reading": battery_reading(prediction)},
    ),
)


@dataclass(frozen=True, kw_only=True)
class HomeIQLinkSensorDescription(SensorEntityDescription):
    """A sensor about one watched device's radio link."""

    value_fn: Callable[[LinkQuality], float | str | None]
    attributes_fn: Callable[[LinkQuality], dict[str, Any]]


LINK_SENSORS: tuple[HomeIQLinkSensorDescription, ...] = (
    HomeIQLinkSensorDescription(
        key="link_quality",
        translation_key="link_quality",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=lambda link: round(link.level, 1),
        attributes_fn=lambda link: {
            "trend": link.trend.value,
            "weakening": link.trend is LinkTrend.WEAKENING,
            "usual_level": _rounded(link.usual),
            "change_vs_usual": _rounded(link.change_vs_usual),
            "change_vs_last_week": _rounded(link.change_vs_last_week),
            "trend_per_day": _rounded(link.trend_per_day, 2),
        },
    ),
)


@dataclass(frozen=True, kw_only=True)
class HomeIQServiceSensorDescription(SensorEntityDescription):
    """A sensor about the integration itself."""

    value_fn: Callable[[HomeIQRuntimeData], str | int | float | datetime | None]
    attributes_fn: Callable[[HomeIQRuntimeData], dict[str, Any]] = lambda _: {}
    always_available: bool = False


# Where the model quality figures come from.
EVALUATED_ON_SHIPPED = "shipped_evaluation"  # the shipped model's held-out synthetic homes
EVALUATED_ON_HOME = "home_recent_days"  # this home's most recent days, held out by the nightly run
# Per failure type, what an owner can judge: metric name -> attribute suffix.
OWNER_FIGURES: tuple[tuple[str, str, float], ...] = (
    ("alert_precision", "alerts_came_true", 100.0),  # share of alerts after which it failed, %
    ("event_recall", "failures_warned_of", 100.0),  # share of failures with an alert before, %
    ("lead_days_median", "days_of_warning", 1.0),  # median days from the first alert to the failure
    ("alerts", "alerts", 1.0),  # how many alerts the shares come from
)


def _owner_figures(runtime: HomeIQRuntimeData) -> tuple[str, dict[str, dict[str, float]]]:
    """Per failure type, the owner's figures of the model in use, and where they come from.

    A home model's own figures (its held-out recent days) are used once they
    hold an alert of any failure type; until then, and for the shipped model,
    the shipped model's held-out evaluation stands in.
    """
    model = runtime.coordinator.model
    shipped = model.bundle.metadata.get("metrics")
    candidates = [(EVALUATED_ON_SHIPPED, shipped if isinstance(shipped, dict) else {})]
    if model.source == "home":
        candidates.insert(0, (EVALUATED_ON_HOME, model.metrics))
    for source, metrics in candidates:
        figures = {
            failure_type.value: {
                name: float(value)
                for name, *_ in OWNER_FIGURES
                if isinstance(value := metrics.get(f"{failure_type.value}_{name}"), int | float)
                and not isinstance(value, bool)
            }
            for failure_type in FailureType
        }
        if any("alert_precision" in f for f in figures.values()):
            return source, figures
    return EVALUATED_ON_SHIPPED, {}


def _quality(runtime: HomeIQRuntimeData) -> float | None:
    """Return the share of alerts that came true, in percent, over every failure type.

    Weighted by each type's number of alerts where known, else their plain mean.
    """
    _, figures = _owner_figures(runtime)
    shares = [f for f in figures.values() if "alert_precision" in f]
    if not shares:
        return None
    if all(f.get("alerts", 0.0) > 0 for f in shares):
        total = sum(f["alerts"] for f in shares)
        value = sum(f["alert_precision"] * f["alerts"] for f in shares) / total
    else:
        value = sum(f["alert_precision"] for f in shares) / len(shares)
    return round(100.0 * value, 1)


def _quality_attributes(runtime: HomeIQRuntimeData) -> dict[str, Any]:
    """Return, per failure type, alerts that came true, failures warned of and days of warning."""
    source, figures = _owner_figures(runtime)
    attributes: dict[str, Any] = {"evaluated_on": source}
    for failure_type, found in figures.items():
        for name, suffix, scale in OWNER_FIGURES:
            value = found.get(name)
            attributes[f"{failure_type}_{suffix}"] = (
                None if value is None else (int(value) if name == "alerts" else round(scale * value, 1))
            )
    model = runtime.coordinator.model
    # The engineer's figures, as before (held-out rows).
    attributes.update(
        {
            name: round(value, 4)
            for name in ("pr_auc", "f1", "precision", "recall", "brier")
            if (value := model.metric(name)) is not None
        }
    )
    return attributes


SERVICE_SENSORS: tuple[HomeIQServiceSensorDescription, ...] = (
    HomeIQServiceSensorDescription(
        key="training_status",
        translation_key="training_status",
        device_class=SensorDeviceClass.ENUM,
        entity_category=EntityCategory.DIAGNOSTIC,
        options=[status.value for status in TrainingStatus],
        always_available=True,
        value_fn=lambda runtime: runtime.trainer.state.status.value,
        attributes_fn=lambda runtime: {
            "progress": runtime.trainer.state.progress,
            "step": runtime.trainer.state.step,
            "fitting": runtime.trainer.state.fitting,
            "error": runtime.trainer.state.error,
        },
    ),
    HomeIQServiceSensorDescription(
        key="last_trained",
        translation_key="last_trained",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        always_available=True,
        value_fn=lambda runtime: runtime.trainer.state.last_trained,
    ),
    HomeIQServiceSensorDescription(
        key="model_version",
        translation_key="model_version",
        entity_category=EntityCategory.DIAGNOSTIC,
        always_available=True,
        value_fn=lambda runtime: runtime.coordinator.model.version,
        attributes_fn=lambda runtime: {
            "base_version": runtime.coordinator.model.metadata.get("version"),
            "created": runtime.coordinator.model.metadata.get("created"),
        },
    ),
    HomeIQServiceSensorDescription(
        key="model_source",
        translation_key="model_source",
        device_class=SensorDeviceClass.ENUM,
        entity_category=EntityCategory.DIAGNOSTIC,
        options=["shipped", "home"],
        always_available=True,
        value_fn=lambda runtime: runtime.coordinator.model.source,
    ),
    HomeIQServiceSensorDescription(
        key="model_quality",
        translation_key="model_quality",
        native_unit_of_measurement=PERCENTAGE,
        entity_category=EntityCategory.DIAGNOSTIC,
        suggested_display_precision=0,
        always_available=True,
        value_fn=_quality,
        attributes_fn=_quality_attributes,
    ),
    HomeIQServiceSensorDescription(
        key="devices_monitored",
        translation_key="devices_monitored",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda runtime: len(runtime.coordinator.data.devices),
    ),
    HomeIQServiceSensorDescription(
        key="devices_at_risk",
        translation_key="devices_at_risk",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda runtime: len(runtime.coordinator.data.at_risk),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HomeIQConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the sensors, and keep the per-device ones in step with the watched devices."""
    coordinator = entry.runtime_data.coordinator
    service_entities = [HomeIQServiceSensor(coordinator, description) for description in SERVICE_SENSORS]
    async_add_entities(service_entities)

    def build(device: WatchedDevice) -> list[HomeIQDeviceEntity]:
        entities: list[HomeIQDeviceEntity] = [
            HomeIQDeviceSensor(coordinator, device, description)
            for description in DEVICE_SENSORS
            if description.exists_fn(device)
        ]
        if device.has_signal:
            entities.extend(
                HomeIQLinkSensor(coordinator, device, description) for description in LINK_SENSORS
            )
        return entities

    async_track_device_entities(
        entry,
        Platform.SENSOR,
        build,
        async_add_entities,
        {str(entity.unique_id) for entity in service_entities},
    )


class HomeIQDeviceSensor(HomeIQDeviceEntity, SensorEntity):
    """A prediction about one device."""

    entity_description: HomeIQDeviceSensorDescription

    def __init__(
        self,
        coordinator: HomeIQCoordinator,
        device: WatchedDevice,
        description: HomeIQDeviceSensorDescription,
    ) -> None:
        """Create the sensor for one device."""
        super().__init__(coordinator, device, description, Platform.SENSOR)

    @property
    def native_value(self) -> float | date | None:
        """Return the predicted value."""
        prediction = self.prediction
        if prediction is None:
            return None
        return self.entity_description.value_fn(prediction, self.coordinator.data.scored_at)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return the explanation of the prediction."""
        prediction = self.prediction
        if prediction is None:
            return None
        return self.entity_description.attributes_fn(prediction, self.coordinator.data.scored_at)


class HomeIQLinkSensor(HomeIQDeviceEntity, SensorEntity):
    """One device's radio link against its own history."""

    entity_description: HomeIQLinkSensorDescription

    def __init__(
        self,
        coordinator: HomeIQCoordinator,
        device: WatchedDevice,
        description: HomeIQLinkSensorDescription,
    ) -> None:
        """Create the sensor for one device."""
        super().__init__(coordinator, device, description, Platform.SENSOR)

    @property
    def link(self) -> LinkQuality | None:
        """Return the device's link from the latest scoring."""
        return self.coordinator.data.links.get(self.device_key)

    @property
    def available(self) -> bool:
        """Return whether the latest scoring read a signal for this device."""
        return self.coordinator.last_update_success and self.link is not None

    @property
    def native_value(self) -> float | str | None:
        """Return the link quality."""
        link = self.link
        return None if link is None else self.entity_description.value_fn(link)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return the trend against the device's own history."""
        link = self.link
        return None if link is None else self.entity_description.attributes_fn(link)


class HomeIQServiceSensor(HomeIQServiceEntity, SensorEntity):
    """A sensor about the integration's model, training and counts."""

    entity_description: HomeIQServiceSensorDescription

    @property
    def available(self) -> bool:
        """Training and model sensors stay available when a scoring fails."""
        return self.entity_description.always_available or super().available

    @property
    def native_value(self) -> str | int | float | datetime | None:
        """Return the value."""
        return self.entity_description.value_fn(self.coordinator.config_entry.runtime_data)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return the attributes, if any."""
        return self.entity_description.attributes_fn(self.coordinator.config_entry.runtime_data) or None
