"""Pure parsing of what asks for an audit: Lambda events → a validated run (timestamps: ``core.parse``).

Anyone who may invoke the function or put events on its bus can hand it an event, so every event is checked
before any work: a scheduled ``time`` past the function's own clock (plus a little skew) is rejected, since
the watermark must never pass "now", and so is one older than EventBridge's retry window (24 hours), which
no real delivery can be (an event replayed from an EventBridge archive keeps its original ``time``, so a
replay is exempt: it only starts a run now); the run itself takes every time from the function's clock,
never from the event; a backfill window may not reach into the future nor span more than
``BACKFILL_MAX_DAYS``; event ``orgs`` are checked as ``GITHUB_ORGS`` is. Scheduled events are parsed with
Powertools' EventBridge model, so an event replayed from an EventBridge archive (``replay-name``) is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pr_auditor.core.errors import ConfigError
from pr_auditor.core.model import Window, iso
from pr_auditor.core.parse import make_window, parse_orgs, short, utc

#: How far an event's time may be ahead of the function's clock (EventBridge delivers scheduled events at,
#: or a little after, their ``time``; clocks differ by far less than this).
MAX_CLOCK_SKEW = timedelta(minutes=5)
#: EventBridge retries a delivery for at most 24 hours (a target's ``MaximumEventAgeInSeconds`` is 86400 at
#: most: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-retry-policy.html), so a scheduled
#: event older than this was not sent by the schedule.
MAX_EVENT_AGE = timedelta(hours=24)
DEFAULT_BACKFILL_MAX_DAYS = 400

_BACKFILL_KEYS = {"action", "since", "until", "orgs"}


@dataclass(frozen=True, slots=True)
class ScheduledRun:
    """An EventBridge scheduled event: audit from the watermark up to its ``time``."""

    now: datetime


@dataclass(frozen=True, slots=True)
class BackfillRun:
    """An explicit historical window, independent of the watermark (same dedupe)."""

    window: Window
    orgs: tuple[str, ...] | None = None


def parse_event(
    event: Any, *, now: datetime, backfill_max_days: int = DEFAULT_BACKFILL_MAX_DAYS
) -> ScheduledRun | BackfillRun:
    """A scheduled EventBridge event, or a backfill event (``{"action": "backfill", "since": …,
    "until": …, "orgs": [...]}``), checked against ``now`` (the function's clock). Anything else is
    rejected before any work, so a malformed or hostile event changes nothing."""
    if not isinstance(event, Mapping):
        raise ConfigError(f"event: expected a JSON object, got {type(event).__name__}")
    if event.get("action") == "backfill":
        return _backfill(event, now=now, max_days=backfill_max_days)
    if event.get("detail-type") == "Scheduled Event":
        return _scheduled(event, now=now)
    raise ConfigError(
        "event: neither an EventBridge scheduled event nor a backfill event "
        '({"action": "backfill", "since": ..., "until": ...})'
    )


def _scheduled(event: Mapping[str, Any], *, now: datetime) -> ScheduledRun:
    # Imported here: Powertools' parser loads pydantic and all its event models (about 200 ms), which the
    # CLI, importing this module for its timestamps, never needs.
    from aws_lambda_powertools.utilities.parser import ValidationError, parse
    from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

    try:
        parsed = parse(event=dict(event), model=EventBridgeModel)
    except ValidationError as exc:
        # Name the fields only: pydantic's own text quotes the (untrusted) input.
        fields = sorted({".".join(str(part) for part in error["loc"]) or "event" for error in exc.errors()})
        raise ConfigError(f"scheduled event: missing or invalid {', '.join(fields)}") from None
    moment = utc(parsed.time, name="scheduled event: time")
    if is_in_the_future(moment, now):
        raise ConfigError(
            f"scheduled event: time {iso(moment)} is more than {_minutes(MAX_CLOCK_SKEW)} minutes past the "
            f"function's clock ({iso(now)}); the watermark never passes now"
        )
    if is_stale(moment, now) and not parsed.replay_name:
        raise ConfigError(
            f"scheduled event: time {iso(moment)} is more than {_hours(MAX_EVENT_AGE)} hours before the function's "
            f"clock ({iso(now)}); EventBridge retries a scheduled event for {_hours(MAX_EVENT_AGE)} hours at most"
        )
    return ScheduledRun(moment)


def _backfill(event: Mapping[str, Any], *, now: datetime, max_days: int) -> BackfillRun:
    unknown = sorted(str(key) for key in set(event) - _BACKFILL_KEYS)
    if unknown:
        raise ConfigError(f"backfill event: unknown keys {short(unknown)} (allowed: {sorted(_BACKFILL_KEYS)})")
    window = make_window(event.get("since"), event.get("until"))
    if is_in_the_future(window.until, now):
        raise ConfigError(f"backfill event: until {iso(window.until)} is in the future (now {iso(now)})")
    if window.until - window.since > timedelta(days=max_days):
        raise ConfigError(
            f"backfill event: the window spans more than {max_days} days (BACKFILL_MAX_DAYS); send one event per part"
        )
    orgs = event.get("orgs")
    if orgs is None:
        return BackfillRun(window)
    if not isinstance(orgs, list) or not all(isinstance(org, str) for org in orgs):
        raise ConfigError("backfill event: orgs must be a list of organisation logins")
    return BackfillRun(window, parse_orgs(orgs, name="backfill event: orgs"))


def is_in_the_future(moment: datetime, now: datetime) -> bool:
    """Is ``moment`` later than ``now`` by more than the clock skew we tolerate? Why: a run audits up to its
    event's time and then moves the watermark there; past "now" nothing would be audited until that time.
    Fix: send the event's real time (EventBridge does), or a backfill window that has already ended."""
    return moment - now > MAX_CLOCK_SKEW


def is_stale(moment: datetime, now: datetime) -> bool:
    """Is a scheduled event's ``moment`` older than EventBridge would ever deliver it? Why: a hand-made event
    dated in the past would otherwise date what the run detects. Fix: let the schedule send its events, and
    audit a past period with a backfill event (judged under the policy in force back then)."""
    return now - moment > MAX_EVENT_AGE


def _hours(span: timedelta) -> int:
    return int(span.total_seconds() // 3600)


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)
