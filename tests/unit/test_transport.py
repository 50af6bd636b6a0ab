"""The transport spaces requests from their starts: a request's own latency counts toward the spacing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pr_auditor.github.transport import Transport


@dataclass
class Clock:
    now: float = 100.0
    slept: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


@dataclass
class SlowRequester:
    """Answers every GraphQL query after ``latency`` seconds of the fake clock."""

    clock: Clock
    latency: float

    def graphql_query(self, query: str, variables: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        self.clock.now += self.latency
        return {}, {"data": {"viewer": {"login": "auditor"}}}


@dataclass
class FakeGithub:
    requester: SlowRequester


def transport(latency: float, throttle: float) -> tuple[Transport, Clock]:
    clock = Clock()
    github = FakeGithub(SlowRequester(clock, latency))
    made = Transport(
        github,  # type: ignore[arg-type]
        throttle_seconds=throttle,
        sleep=clock.sleep,
        monotonic=lambda: clock.now,
    )
    return made, clock


def test_a_slow_answer_uses_up_the_spacing_instead_of_adding_to_it() -> None:
    # Given requests that take 0.2 s and a throttle of 0.25 s between starts
    sent, clock = transport(latency=0.2, throttle=0.25)
    for _ in range(4):
        sent.query("{ viewer { login } }", {})
    # Then only the remaining 0.05 s is waited before each later request
    assert clock.slept == [0.05, 0.05, 0.05]
    assert clock.now == 100.0 + 3 * 0.25 + 0.2


def test_answers_slower_than_the_throttle_are_never_delayed() -> None:
    sent, clock = transport(latency=0.4, throttle=0.25)
    for _ in range(3):
        sent.query("{ viewer { login } }", {})
    assert clock.slept == []


def test_throttle_zero_never_sleeps() -> None:
    sent, clock = transport(latency=0.0, throttle=0.0)
    for _ in range(3):
        sent.query("{ viewer { login } }", {})
    assert clock.slept == []
