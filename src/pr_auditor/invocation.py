"""Pure parsing of what asks for an audit: Lambda events and CLI timestamps → a validated window."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from pr_auditor.errors import ConfigError
from pr_auditor.model import Window

_SCHEDULED_KEYS = {
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
}
_BACKFILL_KEYS = {"action", "since", "until", "orgs"}


def parse_time(value: Any, *, name: str) -> datetime:
    """ISO-8601 → aware UTC datetime. A date alone means its midnight UTC; no offset means UTC."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name}: expected an ISO-8601 timestamp such as 2026-11-01T00:00:00Z, got {value!r}")
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ConfigError(f"{name}: not an ISO-8601 timestamp: {value!r}") from None
        moment = datetime(day.year, day.month, day.day)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def make_window(since: Any, until: Any) -> Window:
    start, end = parse_time(since, name="since"), parse_time(until, name="until")
    if start >= end:
        raise ConfigError(f"since ({since}) must be before until ({until})")
    return Window(start, end)


@dataclass(frozen=True, slots=True)
class ScheduledRun:
    """An EventBridge scheduled event: audit from the watermark up to its ``time``."""

    now: datetime


@dataclass(frozen=True, slots=True)
class BackfillRun:
    """An explicit historical window, independent of the watermark (same dedupe)."""

    window: Window
    orgs: tuple[str, ...] | None = None


def parse_event(event: Any) -> ScheduledRun | BackfillRun:
    """A scheduled EventBridge event, or a backfill event (``{"action": "backfill", "since": …,
    "until": …, "orgs": [...]}``). Anything else is rejected before any work, so a malformed event
    changes nothing."""
    if not isinstance(event, Mapping):
        raise ConfigError(f"event: expected a JSON object, got {type(event).__name__}")
    if event.get("action") == "backfill":
        unknown = sorted(set(event) - _BACKFILL_KEYS)
        if unknown:
            raise ConfigError(f"backfill event: unknown keys {unknown} (allowed: {sorted(_BACKFILL_KEYS)})")
        orgs = event.get("orgs")
        if orgs is not None and (not isinstance(orgs, list) or not all(isinstance(o, str) and o for o in orgs)):
            raise ConfigError("backfill event: orgs must be a list of organisation logins")
        return BackfillRun(make_window(event.get("since"), event.get("until")), tuple(orgs) if orgs else None)
    if event.get("detail-type") == "Scheduled Event":
        unknown = sorted(set(event) - _SCHEDULED_KEYS)
        if unknown:
            raise ConfigError(f"scheduled event: unknown keys {unknown}")
        return ScheduledRun(parse_time(event.get("time"), name="time"))
    raise ConfigError(
        "event: neither an EventBridge scheduled event nor a backfill event "
        '({"action": "backfill", "since": ..., "until": ...})'
    )
