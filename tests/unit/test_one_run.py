"""One run at a time: Given the stack's run lease, Then a second run is skipped with a summary that says who
holds the lease and until when, and the lease is given back when the run ends, failed or not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pr_auditor.audit.one_run import one_run_at_a_time
from pr_auditor.audit.ports import LeaseHolder, MemoryLease
from pr_auditor.core.model import Window

T0 = datetime(2026, 11, 21, 10, tzinfo=UTC)
WINDOW = Window(T0 - timedelta(hours=1), T0)


def hold(lease: MemoryLease, run_id: str, emitted: list[dict[str, Any]], at: datetime = T0) -> Any:
    return one_run_at_a_time(
        lease, run_id=run_id, now=lambda: at, until=at + timedelta(minutes=15), orgs=("acme",), window=WINDOW,
        emit=emitted.append,
    )  # fmt: skip


def test_a_run_inside_another_is_skipped_and_says_who_holds_the_lease_until_when() -> None:
    lease, emitted = MemoryLease(), []
    with hold(lease, "first", emitted) as first:
        assert first is None
        with hold(lease, "second", emitted, at=T0 + timedelta(minutes=1)) as second:
            assert second is not None
    [skipped] = emitted
    assert skipped["status"] == "skipped" and skipped["held_by"] == {"run_id": "first", "until": "2026-11-21T10:15:00Z"}
    assert skipped["counts"]["audited"] == 0


def test_the_lease_is_given_back_when_the_run_fails() -> None:
    lease, emitted = MemoryLease(), []
    with pytest.raises(RuntimeError), hold(lease, "first", emitted):
        raise RuntimeError("boom")
    with hold(lease, "next", emitted, at=T0 + timedelta(seconds=1)) as next_run:
        assert next_run is None
    assert emitted == []


def test_a_lapsed_lease_is_taken_and_a_retry_of_the_holder_keeps_it() -> None:
    lease = MemoryLease(LeaseHolder("crashed", T0))
    assert lease.acquire("next", now=T0, until=T0 + timedelta(minutes=15)) is None
    assert lease.acquire("next", now=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=16)) is None
    assert lease.acquire("other", now=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=17)) == LeaseHolder(
        "next", T0 + timedelta(minutes=16)
    )
