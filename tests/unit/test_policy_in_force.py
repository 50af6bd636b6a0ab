"""The policy in force for the stack and its history: Given the policies runs were handed over time, Then each
change is recorded once, and a change is judged under the policy recorded in force when it was merged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pr_auditor.audit.delivery import AuditPorts, Delivery
from pr_auditor.audit.policy_in_force import POLICY_DOCUMENT, policy_history, record_policy_change
from pr_auditor.audit.ports import MemoryLedger, MemoryState
from pr_auditor.core.model import PullRequest, Window
from pr_auditor.core.policy import PolicyHistory, canonical_policy, parse_policy

T0 = datetime(2026, 11, 21, 10, tzinfo=UTC)
STRICT, RELAXED = parse_policy("required_approvals: 2\n"), parse_policy("required_approvals: 0\n")


class NoSource:
    requests = 0
    sub_windows = 0

    def verify_access(self, orgs: tuple[str, ...]) -> str:
        return ""

    def merged_pull_requests(self, orgs: tuple[str, ...], window: Window) -> list[PullRequest]:
        return []


def run(policy: Any, state: MemoryState, at: datetime, records: list[dict[str, Any]], scope: str = "acme") -> None:
    delivery = Delivery(AuditPorts(NoSource(), policy, records.append, MemoryLedger(), now=lambda: at))
    record_policy_change(scope, policy, state, delivery, f"run-{at:%H%M}", now=at)


def test_relax_then_restore_is_two_changes_and_the_history_keeps_when_each_was_in_force() -> None:
    state, records = MemoryState(), []
    run(STRICT, state, T0, records)
    run(RELAXED, state, T0 + timedelta(hours=1), records, scope="acme,acme-labs")  # another set of orgs
    run(STRICT, state, T0 + timedelta(hours=2), records)
    assert [(r["previous_policy_version"], r["policy_version"]) for r in records] == [
        (STRICT.version, RELAXED.version),
        (RELAXED.version, STRICT.version),
    ]
    history = policy_history(state)
    assert [policy.version for _, policy in history.entries] == [STRICT.version, RELAXED.version, STRICT.version]
    at = history.in_force_at
    assert at(T0 - timedelta(days=3), fallback=RELAXED).version == STRICT.version  # before any record: the first
    assert at(T0 + timedelta(minutes=59), fallback=STRICT).version == STRICT.version
    assert at(T0 + timedelta(hours=1), fallback=STRICT).version == RELAXED.version  # from the moment recorded
    assert at(T0 + timedelta(hours=3), fallback=RELAXED).version == STRICT.version


def test_the_same_policy_again_records_nothing_and_adds_no_history() -> None:
    state, records = MemoryState(), []
    run(STRICT, state, T0, records)
    run(STRICT, state, T0 + timedelta(hours=1), records)
    assert records == []
    assert len(policy_history(state).entries) == 1


def test_a_per_scope_document_of_an_earlier_version_is_carried_over_so_a_change_at_the_upgrade_is_seen() -> None:
    state, records = MemoryState(), []
    state.save("policy#acme", {"version": STRICT.version, "canonical": canonical_policy(STRICT)}, revision=0)
    run(RELAXED, state, T0, records)
    assert [r["policy_version"] for r in records] == [RELAXED.version]
    assert state.load(POLICY_DOCUMENT)[0] is not None


def test_no_history_judges_under_the_fallback() -> None:
    assert PolicyHistory(()).in_force_at(T0, fallback=RELAXED) is RELAXED
