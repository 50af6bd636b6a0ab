"""GitHub's own records of bypasses and overrides: rule suites that bypassed rulesets, and the organisation
audit log (admin overrides of branch protection, who changed a rule, repositories leaving the installation).

Read before the branch audit and the PR chunks of a scheduled run, so that this run's ``protection`` records
gain ``changed_by`` and its ``pull_request`` records an ``admin_bypass``: the link is an *amender* installed on
the run's ``Delivery`` (it amends a record before the ledger claims it). Links the run could not use yet (a PR
the search index shows later, protection checked tomorrow) are kept in the state documents for a while.
See docs/bypasses.md for what is read, what is guaranteed and what each record means.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from pr_auditor.audit.delivery import AuditPorts, Delivery
from pr_auditor.audit.ports import (
    AuditLogSource,
    ConflictError,
    Document,
    NotReadable,
    Record,
    RuleSuiteSource,
    StateStore,
)
from pr_auditor.core.errors import describe
from pr_auditor.core.model import AuditEvent, iso
from pr_auditor.core.policy import Policy
from pr_auditor.core.records import (
    admin_bypass_record,
    coverage_gap_record,
    mark_admin_bypass,
    protection_change_record,
    repository_removed_record,
    ruleset_bypass_record,
)

log = logging.getLogger(__name__)

#: GitHub keeps rule suites for "a month"; counted short (a calendar month can be 28 days), so a period
#: this auditor calls readable is readable whatever GitHub's month is.
LOOK_BACK = timedelta(days=28)
#: Each read starts this much before the last one ended: a suite or an event GitHub wrote late is still read.
OVERLAP = timedelta(hours=1)
#: The smallest ``time_period`` that reaches back to the start of a read (GitHub's spans).
PERIODS = (("hour", timedelta(hours=1)), ("day", timedelta(days=1)), ("week", timedelta(days=7)))
#: An admin merge read before its PR was recorded stays linkable this long (the search index can lag hours;
#: the reconciliation sweep looks back a week).
KEEP_LINKS = timedelta(days=8)
#: A protection change no ``protection`` record matched within this time gets a record of its own (the
#: branch audit reads protection once a day).
KEEP_CHANGES = timedelta(days=2)
#: What is read from the audit log, one query each (the search syntax has no "or").
CATEGORIES = ("protected_branch", "repository_ruleset", "integration_installation.repositories_removed")
#: A blocked attempt: the control worked, nothing to record.
IGNORED = frozenset({"protected_branch.rejected_ref_update"})
FIRST_READ = timedelta(days=1)  # how far back the audit log is read the first time


def time_period(since: datetime, now: datetime) -> str:
    """The smallest rule-suite ``time_period`` reaching back to ``since``."""
    return next((name for name, span in PERIODS if now - span <= since), "month")


@dataclass
class BypassRun:
    """What the bypass audit of one scheduled run read and delivered, and the links it installed."""

    records: list[Record] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    failure: BaseException | None = None
    admin_merges: dict[str, Document] = field(default_factory=dict)  # "repo#merge sha" → bypass link
    pending: list[Document] = field(default_factory=list)  # protection changes not yet matched
    _documents: list[tuple[str, Document, int]] = field(default_factory=list)

    def amend(self, record: Record) -> None:
        """The hook on ``Delivery``: mark a PR merged over an admin override; name who changed protection."""
        if record.get("kind") == "pull_request" and not record.get("admin_bypass"):
            link = self.admin_merges.get(f"{str(record['repository']).casefold()}#{record.get('merge_commit_sha')}")
            if link is not None:
                mark_admin_bypass(record, str(link["record_id"]), link.get("actor"))
        elif record.get("kind") == "protection" and record.get("status") in ("changed", "first_seen"):
            matched = [c for c in self.pending if _matches(c, record)]
            if matched:
                record["changed_by"] = matched[-1]["actor"]
                record["changed_at"] = matched[-1]["at"]
                record["audit_log_changes"] = [{k: c[k] for k in ("action", "actor", "at")} for c in matched]
                self.pending = [c for c in self.pending if c not in matched]

    def finish(self, state: StateStore) -> None:
        """Save what is left of the links (matched protection changes are gone)."""
        for name, document, revision in self._documents:
            pending = [c for c in self.pending if c["org"] == document["org"]]
            if pending == document["pending"]:
                continue  # nothing matched this run: the document read stays as it is
            document = {**document, "pending": pending}
            try:
                state.save(name, document, revision=revision)
            except ConflictError:
                log.warning("another run moved %s; its links are kept as that run left them", name)


@dataclass(frozen=True, slots=True)
class _Reading:
    """What reading one source of one organisation needs: the run's clock, id, policy, state and delivery,
    and the ``BypassRun`` that gathers records, notes and links."""

    now: datetime
    run_id: str
    policy: Policy
    state: StateStore
    delivery: Delivery
    run: BypassRun

    def deliver(self, record: Record) -> None:
        record.setdefault("detected_at", iso(self.delivery.now()))
        if self.delivery.deliver(record):
            self.run.records.append(record)


def read_bypasses(
    orgs: tuple[str, ...], *, now: datetime, run_id: str, ports: AuditPorts, state: StateStore, delivery: Delivery
) -> BypassRun:
    """Read rule suites (and the audit log where enabled) for every group of organisations, deliver the
    records, move each source's watermark, and install the run's amender on ``delivery``. A source that
    fails is noted, keeps its watermark, and is reported in ``failure`` (the run fails at its end)."""
    run = BypassRun()
    if ports.bypasses is None:
        return run
    counts: dict[str, int] = {"rule_suites": 0, "audit_log": 0}
    for group, sources in ports.bypasses(orgs):
        before = (sources.rule_suites.requests, sources.audit_log.requests if sources.audit_log else 0)
        reading = _Reading(now, run_id, ports.policy, state, delivery, run)
        for org in group:
            _guarded(run, "rule_suites", org, partial(_rule_suites, org, sources.rule_suites, reading))
            if (audit_log := sources.audit_log) is not None:
                _guarded(run, "audit_log", org, partial(_audit_log, org, audit_log, reading))
        counts["rule_suites"] += sources.rule_suites.requests - before[0]
        counts["audit_log"] += (sources.audit_log.requests if sources.audit_log else 0) - before[1]
    run.notes["requests_by_source"] = counts
    delivery.amenders.append(run.amend)
    delivery.sources.update(run.notes)
    return run


def _guarded(run: BypassRun, source: str, org: str, read: Callable[[], None]) -> None:
    """Read one source of one organisation; a failure is noted and kept for the end of the run."""
    try:
        read()
    except Exception as exc:
        log.exception("%s of %s could not be read; its watermark stays", source, org)
        run.notes.setdefault(source, {})[org] = {"status": "failed", "error": describe(exc)}
        run.failure = run.failure or exc


def _rule_suites(org: str, source: RuleSuiteSource, reading: _Reading) -> None:
    now, run_id, policy, state, delivery, run = (
        reading.now, reading.run_id, reading.policy, reading.state, reading.delivery, reading.run
    )  # fmt: skip
    name = f"rule-suites#{org.casefold()}"
    document, revision = state.load(name)
    read_until = _time((document or {}).get("read_until"))
    known: dict[str, str] = dict((document or {}).get("known") or {})
    floor = now - LOOK_BACK
    since = floor if read_until is None else read_until - OVERLAP
    if read_until is None or read_until < floor:
        if read_until is not None:
            # The stack was off longer than GitHub looks back: the days in between are lost for good.
            reading.deliver(coverage_gap_record(scope=org, source="rule_suites", lost_since=read_until,
                                                        lost_until=floor, run_id=run_id, policy_version=policy.version))  # fmt: skip
            delivery.confirm()
        # The watermark never falls further behind than the look-back: a gap is recorded once.
        state.save(name, {"read_until": iso(floor), "known": known, "run_id": run_id}, revision=revision)
        revision += 1
    since = max(since, floor)
    listed = source.bypasses(org, period=time_period(since, now))
    if isinstance(listed, NotReadable):
        run.notes.setdefault("rule_suites", {})[org] = {"status": "not_readable", "reason": listed.reason}
        return  # the watermark stays: if it stays unreadable past the look-back, a coverage_gap says so
    new = [s for s in listed if str(s.id) not in known and s.pushed_at >= since]
    for suite in sorted(new, key=lambda s: (s.pushed_at, s.id)):
        full = source.evaluated(org, suite)
        reading.deliver(ruleset_bypass_record(full, run_id=run_id, policy_version=policy.version))
        known[str(suite.id)] = iso(suite.pushed_at)
    delivery.confirm()
    keep = iso(since - timedelta(days=1))
    known = {key: at for key, at in known.items() if at >= keep}
    state.save(name, {"read_until": iso(now), "known": known, "run_id": run_id}, revision=revision)
    run.notes.setdefault("rule_suites", {})[org] = {"status": "read", "bypasses": len(new), "since": iso(since)}


def _audit_log(org: str, source: AuditLogSource, reading: _Reading) -> None:
    now, run_id, policy, state, delivery, run = (
        reading.now, reading.run_id, reading.policy, reading.state, reading.delivery, reading.run
    )  # fmt: skip
    name = f"audit-log#{org.casefold()}"
    document, revision = state.load(name)
    doc = dict(document or {})
    read_until = _time(doc.get("read_until"))
    since = now - FIRST_READ if read_until is None else read_until - OVERLAP
    keep_links = iso(now - KEEP_LINKS)
    merges = {k: v for k, v in (doc.get("admin_merges") or {}).items() if v.get("at", "") >= keep_links}
    pending: list[Document] = list(doc.get("pending") or [])
    for change in [c for c in pending if c["at"] < iso(now - KEEP_CHANGES)]:
        reading.deliver(protection_change_record(_event_of(change), run_id=run_id,
                                                          policy_version=policy.version))  # fmt: skip
        pending.remove(change)
    seen = {c["document_id"] for c in pending}
    for category in CATEGORIES:
        events = source.events(org, since=since, category=category)
        if isinstance(events, NotReadable):
            # Reported once, in this run's summary; never a failure (the audit log is an Enterprise Cloud API).
            run.notes["audit_log"] = {**run.notes.get("audit_log", {}), org: {"status": "not_readable",
                                                                              "reason": events.reason}}  # fmt: skip
            run.admin_merges.update(merges)
            run.pending.extend(pending)
            return
        for event in events:
            if event.action in IGNORED or event.document_id in seen:
                continue
            seen.add(event.document_id)
            _judge_event(org, event, source, reading, merges, pending)
    delivery.confirm()
    run.admin_merges.update(merges)
    run.pending.extend(pending)
    new_doc = {"org": org, "read_until": iso(now), "admin_merges": merges, "pending": pending, "run_id": run_id}
    state.save(name, new_doc, revision=revision)
    run._documents.append((name, new_doc, revision + 1))
    run.notes["audit_log"] = {**run.notes.get("audit_log", {}), org: {"status": "read", "since": iso(since)}}


def _judge_event(
    org: str,
    event: AuditEvent,
    source: AuditLogSource,
    reading: _Reading,
    merges: dict[str, Document],
    pending: list[Document],
) -> None:
    run_id, policy = reading.run_id, reading.policy
    if event.action == "protected_branch.policy_override":
        after = str(event.fields.get("after") or "")
        from_merge = event.fields.get("from") == "pull_requests#merge"
        pull = source.pull_request_for(event.repository, after) if from_merge and event.repository and after else None
        record = admin_bypass_record(event, pull_request=pull, run_id=run_id, policy_version=policy.version)
        reading.deliver(record)
        if from_merge and event.repository:
            key = f"{event.repository.casefold()}#{after}"
            merges[key] = {"record_id": record["record_id"], "actor": event.actor, "at": iso(event.at)}
    elif event.action == "integration_installation.repositories_removed":
        for repository in removed_repositories(org, event):
            reading.deliver(repository_removed_record(event, repository, run_id=run_id,
                                                              policy_version=policy.version))  # fmt: skip
    else:  # protected_branch.* and repository_ruleset.*: who changed a rule
        branch = event.fields.get("branch") or event.fields.get("name")
        pending.append({"org": org, "document_id": event.document_id, "action": event.action, "actor": event.actor,
                        "at": iso(event.at), "repository": event.repository, "branch": branch})  # fmt: skip


def removed_repositories(org: str, event: AuditEvent) -> list[str]:
    """The repositories an ``integration_installation.repositories_removed`` event names (``owner/name``)."""
    names = event.fields.get("repositories_removed_names") or event.fields.get("repositories") or []
    found = [str(n) if "/" in str(n) else f"{org}/{n}" for n in names if n]
    if not found and event.repository:
        found = [event.repository]
    return found


def _matches(change: Document, record: Record) -> bool:
    """Does this audit-log change concern the branch of this ``protection`` record? Same repository, and the
    same branch when the event names one (ruleset events name none; organisation rulesets name no repository)."""
    if not change.get("repository") or str(change["repository"]).casefold() != str(record["repository"]).casefold():
        return False
    branch = change.get("branch")
    return not branch or str(branch).removeprefix("refs/heads/") == record.get("branch")


def _event_of(change: Document) -> AuditEvent:
    return AuditEvent(
        document_id=change["document_id"],
        action=change["action"],
        actor=change.get("actor"),
        at=datetime.fromisoformat(change["at"]),
        repository=change.get("repository"),
        fields={"org": change["org"], "branch": change.get("branch")},
    )


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None
