"""Pure window arithmetic: search ranges in whole seconds, splitting past the search cap, scheduled windows."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from itertools import pairwise

from pr_auditor.core.model import Window

SECOND = timedelta(seconds=1)


def floor_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def ceil_second(moment: datetime) -> datetime:
    floored = floor_second(moment)
    return floored if floored == moment else floored + SECOND


def search_range(window: Window) -> tuple[datetime, datetime]:
    """The inclusive, whole-second range for GitHub's ``merged:A..B`` qualifier that covers [since, until).

    GitHub's range is inclusive at both ends and has one-second resolution, so ``until`` (exclusive) becomes
    ``ceil(until) - 1s``. Merge times are whole seconds, so nothing in the window falls outside the range;
    whatever the range adds at a fractional edge is filtered out again by ``Window.contains``.
    """
    return floor_second(window.since), ceil_second(window.until) - SECOND


def split_window(window: Window, count: int, *, target: int) -> list[Window]:
    """Split a window that holds ``count`` results into equal whole-second parts of about ``target`` each.

    Splitting proportionally to the count (rather than bisecting) keeps request counts near the floor of
    ceil(N/100) for evenly spread merges; a part that is still too full is split again by the caller.
    Returns [] when the window cannot be split by time any more (a single second).
    """
    start, last = search_range(window)
    seconds = int((last - start).total_seconds()) + 1
    if seconds < 2:
        return []
    parts = min(max(2, math.ceil(count / target)), seconds)
    edges = [start + SECOND * round(seconds * i / parts) for i in range(parts + 1)]
    edges[0], edges[-1] = window.since, window.until
    return [Window(a, b) for a, b in pairwise(edges) if a < b]


def plan_chunks(
    *,
    watermark: datetime | None,
    now: datetime,
    overlap: timedelta,
    chunk: timedelta,
    first_start: datetime,
) -> list[Window]:
    """The windows a scheduled run audits, in order: from the watermark minus the trailing overlap (GitHub's
    search index lags, so PRs merged just before the last run may only now be searchable) up to now, cut
    into chunks that each fit one Lambda run and are checkpointed one by one. The first run starts at
    ``first_start``. Returns [] when there is nothing to audit yet."""
    since = watermark - overlap if watermark is not None else first_start
    return _cut(since, floor_second(now), chunk)


def chunked(window: Window, chunk: timedelta) -> list[Window]:
    """A backfill window cut into contiguous chunks of at most ``chunk``."""
    return _cut(window.since, window.until, chunk)


def _cut(since: datetime, until: datetime, chunk: timedelta) -> list[Window]:
    windows: list[Window] = []
    while since < until:
        end = min(since + chunk, until)
        windows.append(Window(since, end))
        since = end
    return windows
