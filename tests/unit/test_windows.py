"""Window arithmetic and the parsing of what asks for an audit (events, CLI timestamps)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from pr_auditor.core.errors import ConfigError
from pr_auditor.core.model import Window
from pr_auditor.core.parse import make_window, parse_time
from pr_auditor.core.windows import chunked, plan_chunks, search_range, split_window

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_search_range_turns_an_exclusive_until_into_githubs_inclusive_last_second() -> None:
    assert search_range(Window(T0, T0 + timedelta(hours=1))) == (T0, T0 + timedelta(minutes=59, seconds=59))


def test_search_range_widens_fractional_edges_to_whole_seconds() -> None:
    window = Window(T0 + timedelta(seconds=1.5), T0 + timedelta(seconds=10.2))
    assert search_range(window) == (T0 + timedelta(seconds=1), T0 + timedelta(seconds=10))


@pytest.mark.parametrize(("count", "parts"), [(1000, 2), (1800, 2), (5000, 6), (9000, 10)])
def test_split_is_proportional_to_the_count(count: int, parts: int) -> None:
    window = Window(T0, T0 + timedelta(days=1))
    pieces = split_window(window, count, target=900)
    assert len(pieces) == parts
    assert pieces[0].since == window.since and pieces[-1].until == window.until
    assert all(a.until == b.since for a, b in itertools.pairwise(pieces))  # gap-free, no overlap
    assert all(p.since.microsecond == 0 for p in pieces)


def test_split_of_a_few_seconds_never_makes_more_parts_than_seconds() -> None:
    pieces = split_window(Window(T0, T0 + timedelta(seconds=3)), 50_000, target=900)
    assert [p.until - p.since for p in pieces] == [timedelta(seconds=1)] * 3


def test_a_single_second_cannot_be_split_by_time() -> None:
    assert split_window(Window(T0, T0 + timedelta(seconds=1)), 5000, target=900) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01T00:00:00Z", T0),
        ("2026-11-01", T0),
        ("2026-11-01T02:00:00+02:00", T0),
        ("2026-11-01T00:00:00", T0),
    ],
    ids=["z-suffix", "date-only", "offset", "naive-is-utc"],
)
def test_parse_time(text: str, expected: datetime) -> None:
    assert parse_time(text, name="since") == expected


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("2026-11-02", "2026-11-01", r"since \(2026-11-02\) must be before until"),
        ("2026-11-01", "2026-11-01", "must be before until"),
        ("yesterday", "2026-11-01", r"since: not an ISO-8601 timestamp: 'yesterday'"),
        ("2026-11-01", "2026-13-01", r"until: not an ISO-8601 timestamp"),
        ("", "2026-11-01", r"since: expected an ISO-8601 timestamp"),
    ],
    ids=["since-after-until", "empty-window", "words", "month-13", "empty"],
)
def test_bad_windows_are_rejected(since: str, until: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_window(since, until)


HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("watermark", "now", "expected"),
    [
        (None, T0 + 3 * HOUR, [(T0, T0 + 3 * HOUR)]),
        (T0 + 5 * HOUR, T0 + 6 * HOUR, [(T0 + 3 * HOUR, T0 + 6 * HOUR)]),
        (T0 + 5 * HOUR, T0 + 5 * HOUR, [(T0 + 3 * HOUR, T0 + 5 * HOUR)]),
        (
            T0 + 2 * HOUR,
            T0 + 2 * HOUR + 50 * HOUR,
            [(T0, T0 + 24 * HOUR), (T0 + 24 * HOUR, T0 + 48 * HOUR), (T0 + 48 * HOUR, T0 + 52 * HOUR)],
        ),
        (None, T0, []),
    ],
    ids=[
        "first-run-from-start",
        "overlap-behind-watermark",
        "rerun-at-same-time-rescans-overlap",
        "outage-of-two-days-in-chunks",
        "nothing-yet",
    ],
)
def test_plan_chunks(watermark: datetime | None, now: datetime, expected: list[tuple[datetime, datetime]]) -> None:
    planned = plan_chunks(watermark=watermark, now=now, overlap=2 * HOUR, chunk=24 * HOUR, first_start=T0)
    assert [(w.since, w.until) for w in planned] == expected


def test_chunked_backfill_covers_the_window_exactly_without_gaps() -> None:
    window = Window(T0, T0 + timedelta(days=90, seconds=0.5))
    parts = chunked(window, timedelta(days=1))
    assert len(parts) == 91
    assert parts[0].since == window.since and parts[-1].until == window.until
    assert all(a.until == b.since for a, b in pairwise(parts))
