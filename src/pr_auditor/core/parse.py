"""Values people give (ISO-8601 timestamps, windows, organisation lists) → validated domain values. Pure.

Shared by the Lambda's event parsing, the CLI and the evidence commands; errors name the setting, never echo
more than 40 characters of its value.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from pr_auditor.core.errors import ConfigError
from pr_auditor.core.model import Window

_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")


def parse_time(value: Any, *, name: str) -> datetime:
    """ISO-8601 → aware UTC datetime. A date alone means its midnight UTC; no offset means UTC."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name}: expected an ISO-8601 timestamp such as 2026-11-01T00:00:00Z, got {short(value)}")
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ConfigError(f"{name}: not an ISO-8601 timestamp: {short(value)}") from None
        moment = datetime(day.year, day.month, day.day)
    return utc(moment, name=name)


def utc(moment: datetime, *, name: str) -> datetime:
    """Aware UTC; no offset means UTC. A moment at the very edge of the calendar cannot be shifted to UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ConfigError(f"{name}: {moment.isoformat()} is out of range") from None


ALL_ORGS = "*"


def parse_orgs(values: list[str] | str, *, name: str, allow_all: bool = False) -> tuple[str, ...]:
    """Organisation logins from repeated flags or a comma-separated list; duplicates dropped, order kept.
    With ``allow_all``, ``*`` (or nothing) is the empty tuple: every organisation a GitHub App is installed
    on, resolved when the credentials are known (see ``settings.require_orgs``)."""
    items = values.split(",") if isinstance(values, str) else [p for v in values for p in v.split(",")]
    orgs = tuple(dict.fromkeys(item.strip() for item in items if item.strip()))
    if allow_all and orgs in ((), (ALL_ORGS,)):
        return ()
    if not orgs:
        raise ConfigError(f"{name}: at least one organisation is required")
    for org in orgs:
        if not _LOGIN.match(org):
            raise ConfigError(f"{name}: {short(org)} is not a valid GitHub organisation login")
    return orgs


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 42 else f"{text[:40]}…"


def make_window(since: Any, until: Any) -> Window:
    start, end = parse_time(since, name="since"), parse_time(until, name="until")
    if start >= end:
        raise ConfigError(f"since ({since}) must be before until ({until})")
    return Window(start, end)
