"""The policy in force for the whole stack, and its history (state documents, docs/state-and-delivery.md).

Every run — scheduled, sweep or backfill — compares the policy it was given (the SSM parameter) with the one
last recorded *before* it audits anything, and records a ``policy_change`` when they differ. The document is
one for the stack, not one per set of organisations, so a change made while the set changes is still seen.
Each version's canonical text is kept (``policy-text#<version>``) and the history says from which moment
each version was in force; a change is judged under the version in force when it was merged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from typing import Any

from pr_auditor.audit.delivery import Delivery
from pr_auditor.audit.ports import ConflictError, Document, Record, StateStore
from pr_auditor.core.errors import PolicyError, StateError
from pr_auditor.core.model import iso
from pr_auditor.core.policy import (
    Policy,
    PolicyHistory,
    canonical_policy,
    policy_changes,
    policy_from_canonical,
)
from pr_auditor.core.records import policy_change_record

log = logging.getLogger(__name__)

POLICY_DOCUMENT = "policy"
#: What a policy_change's ``scope`` and record id name: the document covers every organisation of the stack.
STACK_SCOPE = "stack"


def policy_text_document(version: str) -> str:
    """The state document holding one version's canonical form (written once, never changed)."""
    return f"policy-text#{version}"


def record_policy_change(
    scope: str,
    policy: Policy,
    state: StateStore,
    delivery: Delivery,
    run_id: str,
    origin: Callable[[], Record] | None = None,
    *,
    now: datetime,
) -> list[Record]:
    """When the policy given to this run differs from the last one recorded for the stack, record one
    ``policy_change`` (previous and new version, each changed key old → new, who changed it when the store
    can tell) and add the new version to the history from ``now`` (the function's clock). The first run only
    remembers it. A crash in between repeats nothing: the record id is the change and the revision.

    ``scope`` (this run's organisations) is read once, to carry over a per-scope document an earlier version
    of the function kept."""
    previous, revision = state.load(POLICY_DOCUMENT)
    history: list[dict[str, Any]] = list((previous or {}).get("history") or [])
    if previous is None:
        previous = _legacy(scope, state, now)
        history = list((previous or {}).get("history") or [])
    if previous is not None and previous.get("version") == policy.version:
        if revision == 0:  # carried over from the per-scope document: now the stack's
            _save(state, previous, revision)
        return []
    canonical = canonical_policy(policy)
    _keep_text(state, policy.version, canonical)
    records: list[Record] = []
    if previous is not None:
        record = policy_change_record(
            scope=STACK_SCOPE,
            previous_version=str(previous.get("version")),
            policy_version=policy.version,
            changes=policy_changes(previous.get("canonical") or {}, canonical),
            origin=origin() if origin is not None else {},
            run_id=run_id,
            revision=revision,
            policy=canonical,  # the text in force from here on: the evidence page shows it
            previous_policy=previous.get("canonical"),
        )
        record["in_force_from"] = iso(now)  # changes merged from here on are judged under the new version
        if delivery.deliver(record):
            records.append(record)
    history.append({"version": policy.version, "recorded_at": iso(now)})
    _save(state, {"version": policy.version, "canonical": canonical, "history": history}, revision)
    return records


def policy_history(state: StateStore) -> PolicyHistory:
    """Every version recorded in force for the stack, from the moment it was recorded (oldest first)."""
    document, _ = state.load(POLICY_DOCUMENT)
    known: dict[str, Policy] = {}
    entries: list[tuple[datetime, Policy]] = []
    for entry in (document or {}).get("history") or []:
        version = str(entry["version"])
        if version not in known:
            text, _ = state.load(policy_text_document(version))
            if text is None:
                raise StateError(f"policy history: the text of policy {version} is missing from the state table")
            try:
                known[version] = policy_from_canonical(text["canonical"])
            except (KeyError, PolicyError) as exc:
                raise StateError(f"policy history: the text of policy {version} is unreadable") from exc
        entries.append((datetime.fromisoformat(entry["recorded_at"]), known[version]))
    return PolicyHistory(tuple(entries))


def _legacy(scope: str, state: StateStore, now: datetime) -> Document | None:
    """The per-scope document of an earlier version, as the stack's (in force until ``now``), or None."""
    found, _ = state.load(f"policy#{scope}")
    if found is None or "version" not in found:
        return None
    _keep_text(state, str(found["version"]), found.get("canonical") or {})
    return {**found, "history": [{"version": found["version"], "recorded_at": iso(now)}]}


def _keep_text(state: StateStore, version: str, canonical: dict[str, Any]) -> None:
    name = policy_text_document(version)
    if state.load(name)[0] is not None:
        return
    with suppress(ConflictError):  # written by another run: the same text (the version is its hash)
        state.save(name, {"version": version, "canonical": canonical}, revision=0)


def _save(state: StateStore, document: Document, revision: int) -> None:
    try:
        state.save(POLICY_DOCUMENT, document, revision=revision)
    except ConflictError:
        log.warning("another run recorded the policy change at the same time")
