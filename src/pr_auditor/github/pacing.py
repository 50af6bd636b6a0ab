"""When the next request to GitHub may start: one request in flight, spaced from the starts of requests."""

from __future__ import annotations

import time
from collections.abc import Callable


class Spacing:
    """Waits until ``throttle_seconds`` have passed since the previous request *started*, so a request's own
    latency counts toward the spacing instead of adding to it."""

    def __init__(
        self,
        throttle_seconds: float = 0.0,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._throttle = throttle_seconds
        self._monotonic = monotonic
        self._last_start: float | None = None
        self.sleep = sleep

    def before_request(self) -> None:
        """Wait until ``throttle_seconds`` have passed since the previous request *started*."""
        if self._throttle > 0 and self._last_start is not None:
            wait = self._last_start + self._throttle - self._monotonic()
            if wait > 0:
                self.sleep(wait)
        self._last_start = self._monotonic()
