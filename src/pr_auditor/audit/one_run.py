"""One run at a time for the whole stack: the run lease (``ports.RunLease``) around an invocation.

Two invocations can overlap: the schedule and a manual invoke, a backfill sent while the hourly run is
still going, a retry. Each would be correct on its own (the ledger dedupes), but their evidence chains and
windows would overlap. So every invocation first takes the stack's lease; one that finds it held writes a
``run_summary`` with ``status: skipped`` (who holds it, and until when), audits nothing and ends without
error. The lease lapses on its own at its expiry, which the handler sets at the end of the invocation's
time, so a run that crashed never blocks the next one for longer than its own time limit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from pr_auditor.audit.delivery import Sink
from pr_auditor.audit.ports import Record, RunLease
from pr_auditor.core.errors import AuditError
from pr_auditor.core.model import Window
from pr_auditor.core.records import skipped_run_summary_record

log = logging.getLogger(__name__)


@contextmanager
def one_run_at_a_time(
    lease: RunLease,
    *,
    run_id: str,
    now: Callable[[], datetime],
    until: datetime,
    orgs: tuple[str, ...],
    window: Window,
    emit: Sink,
) -> Iterator[Record | None]:
    """Hold the stack's run lease for the body (yields None), and give it back at the end, failed or not.
    When another run holds it, write the skipped run_summary and yield it: the body must do nothing."""
    holder = lease.acquire(run_id, now=now(), until=until)
    if holder is not None:
        skipped = skipped_run_summary_record(
            run_id=run_id, orgs=orgs, window=window, held_by=holder.run_id, held_until=holder.until
        )
        emit(skipped)
        yield skipped
        return
    try:
        yield None
    finally:
        try:
            lease.release(run_id, now=now())
        except AuditError as exc:  # it lapses at its expiry anyway; the run's own outcome stands
            log.warning("could not give the run lease back (%s); it lapses at its expiry", type(exc).__name__)
