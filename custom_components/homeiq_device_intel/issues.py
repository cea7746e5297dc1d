"""Repair issues: raised when the user must act, deleted once the cause is gone."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN

ISSUE_NOT_RECORDED: Final = "entities_not_recorded"
ISSUE_TRAINING_FAILING: Final = "training_failing"
ISSUE_MODEL_REFUSED: Final = "home_model_refused"
ISSUE_OUTAGE_PREFIX: Final = "group_unavailable_"
ISSUE_HOME_OUTAGE: Final = "home_outage"
MAX_LISTED: Final = 5


def _listing(items: Iterable[str]) -> str:
    """Return a short comma-separated list, ending in an ellipsis when cut."""
    items = sorted(items)
    text = ", ".join(items[:MAX_LISTED])
    return f"{text}, …" if len(items) > MAX_LISTED else text


@callback
def async_update_not_recorded(hass: HomeAssistant, entity_ids: set[str]) -> None:
    """Raise or clear the issue for watched entities the recorder skips."""
    if not entity_ids:
        ir.async_delete_issue(hass, DOMAIN, ISSUE_NOT_RECORDED)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        ISSUE_NOT_RECORDED,
        is_fixable=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key=ISSUE_NOT_RECORDED,
        translation_placeholders={
            "count": str(len(entity_ids)),
            "entities": _listing(entity_ids),
        },
    )


@callback
def async_update_training_failing(hass: HomeAssistant, failures: int, threshold: int) -> None:
    """Raise the issue once training failed ``threshold`` runs in a row, else clear it."""
    if failures < threshold:
        ir.async_delete_issue(hass, DOMAIN, ISSUE_TRAINING_FAILING)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        ISSUE_TRAINING_FAILING,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=ISSUE_TRAINING_FAILING,
        translation_placeholders={"count": str(failures)},
    )


@callback
def async_raise_model_refused(hass: HomeAssistant, versions: Iterable[str], reason: str) -> None:
    """Raise the issue for home model versions that failed to load."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        ISSUE_MODEL_REFUSED,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=ISSUE_MODEL_REFUSED,
        translation_placeholders={"versions": _listing(versions), "reason": reason},
    )


@callback
def async_clear_model_refused(hass: HomeAssistant) -> None:
    """Clear the refused-model issue (a good home model is in place again)."""
    ir.async_delete_issue(hass, DOMAIN, ISSUE_MODEL_REFUSED)


@callback
def async_update_outages(hass: HomeAssistant, outages: dict[str, tuple[str, int, int]]) -> None:
    """Keep one issue per bridge or integration with most of its devices unavailable.

    ``outages`` maps a group key to (group name, devices unavailable, devices).
    """
    registry = ir.async_get(hass)
    wanted = {f"{ISSUE_OUTAGE_PREFIX}{_slug(group)}": value for group, value in outages.items()}
    for domain, issue_id in list(registry.issues):
        if domain == DOMAIN and issue_id.startswith(ISSUE_OUTAGE_PREFIX) and issue_id not in wanted:
            ir.async_delete_issue(hass, DOMAIN, issue_id)
    for issue_id, (name, down, total) in wanted.items():
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="group_unavailable",
            translation_placeholders={"name": name, "down": str(down), "total": str(total)},
        )


@callback
def async_update_home_outage(
    hass: HomeAssistant, devices: Iterable[str], groups: Iterable[str], since: str
) -> None:
    """Keep the one issue of a home-wide outage (a power cut, the network down), or clear it (no devices).

    ``devices``: the names of the devices down in it; ``groups``: the names of their bridges or
    integrations; ``since``: when it began, as the owner reads a time.
    """
    names = list(devices)
    if not names:
        ir.async_delete_issue(hass, DOMAIN, ISSUE_HOME_OUTAGE)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        ISSUE_HOME_OUTAGE,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=ISSUE_HOME_OUTAGE,
        translation_placeholders={
            "count": str(len(names)),
            "devices": _listing(names),
            "groups": _listing(set(groups)),
            "since": since,
        },
    )


@callback
def async_delete_all_issues(hass: HomeAssistant) -> None:
    """Delete every issue of ours (the integration is being removed)."""
    registry = ir.async_get(hass)
    for domain, issue_id in list(registry.issues):
        if domain == DOMAIN:
            ir.async_delete_issue(hass, DOMAIN, issue_id)


def _slug(group: str) -> str:
    """Return an issue-id-safe form of a group key."""
    return "".join(c if c.isalnum() else "_" for c in group)
