"""When the next request to GitHub may start: by GitHub's own budget, one request in flight.

Facts relied on (docs/pacing.md, from GitHub's "Rate limits for the REST API", secondary rate limits):
GitHub allows at most 900 points a minute on the REST endpoints and 2,000 points a minute on the GraphQL
endpoint; a GET or a GraphQL query without mutations costs 1 point, a POST/PATCH/PUT/DELETE or a mutation 5.
So a fixed pause between reads is not what GitHub asks for: a token bucket per endpoint family, set below
those numbers, lets requests go as fast as their latency allows while no minute can exceed the budget.
The transport sends one request at a time (it waits for each answer), so concurrency is never above one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

#: GitHub's published secondary limits, points per minute: https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits
GITHUB_GRAPHQL_POINTS_PER_MINUTE = 2000
GITHUB_REST_POINTS_PER_MINUTE = 900
#: What the client allows itself by default: 90 % of GitHub's, leaving room for the bucket's burst.
GRAPHQL_POINTS_PER_MINUTE = 1800.0
REST_POINTS_PER_MINUTE = 800.0
#: A bucket holds this many seconds' worth of points: any 60 s then carries at most 62 s' worth.
BURST_SECONDS = 2.0
READ_POINTS = 1  # a GET, or a GraphQL query without mutations
WRITE_POINTS = 5  # POST/PATCH/PUT/DELETE, a GraphQL mutation


def most_points_in_a_minute(per_minute: float) -> float:
    """The most points a bucket at ``per_minute`` can spend in any 60 seconds: its burst plus a minute's refill."""
    return per_minute * (1 + BURST_SECONDS / 60)


@dataclass(slots=True)
class TokenBucket:
    """Points for one endpoint family: refills at ``per_minute / 60`` a second up to a small burst, starts full."""

    per_minute: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, per_minute: float, now: float) -> TokenBucket:
        return cls(per_minute, per_minute / 60 * BURST_SECONDS, now)

    @property
    def capacity(self) -> float:
        return self.per_minute / 60 * BURST_SECONDS

    def wait_for(self, points: float, now: float) -> float:
        """Seconds until ``points`` are available (0 when they are)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_minute / 60)
        self.updated = now
        missing = min(points, self.capacity) - self.tokens
        return max(0.0, missing * 60 / self.per_minute)

    def take(self, points: float, now: float) -> None:
        self.wait_for(0, now)
        self.tokens -= points


class Pacer:
    """Decides when the next request starts: after its family's bucket has the points, after any pause a
    rate-limit answer asked for, and (optionally, ``throttle_seconds``) a least time between request starts.
    A request's own latency counts toward every wait instead of adding to it."""

    def __init__(
        self,
        budgets: Mapping[str, float] | None = None,
        *,
        throttle_seconds: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        per_minute = {"graphql": GRAPHQL_POINTS_PER_MINUTE, "rest": REST_POINTS_PER_MINUTE, **(budgets or {})}
        self._monotonic = monotonic
        self._buckets = {family: TokenBucket.full(rate, monotonic()) for family, rate in per_minute.items()}
        self._throttle = throttle_seconds
        self._last_start: float | None = None
        self._paused_until = 0.0
        self.sleep = sleep
        self.waited = 0.0  # seconds spent waiting for the budget or a pause (reported by the bench)

    def before_request(self, family: str, points: int = READ_POINTS) -> None:
        """Wait until a request of ``family`` costing ``points`` may start, then count it as started."""
        bucket = self._buckets[family]
        now = self._monotonic()
        wait = max(bucket.wait_for(points, now), self._paused_until - now, self._spacing(now))
        if wait > 0:
            # One wait, computed once: a sleep that ends a little early leaves the bucket slightly below
            # zero, which the next request's wait makes up for.
            self.waited += wait
            self.sleep(wait)
            now = self._monotonic()
        bucket.take(points, now)
        self._last_start = now

    def pause(self, seconds: float) -> None:
        """No request of any family starts for ``seconds`` (GitHub asked for it: ``Retry-After``, a reset)."""
        self._paused_until = max(self._paused_until, self._monotonic() + seconds)

    def _spacing(self, now: float) -> float:
        if self._throttle <= 0 or self._last_start is None:
            return 0.0
        return self._last_start + self._throttle - now
