"""The CLI streams: its in-run dedupe keeps record ids (compact keys), never a record's body.

Checked by reachability, not by timing: after a run, nothing reachable from the run's delivery (its ports,
ledger, lists) holds a record, a record's fields, or any text unique to a PR.
"""

from __future__ import annotations

import gc
import io
import types
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pr_auditor.audit.ports import MemoryLedger
from pr_auditor.audit.runs import AuditPorts, AuditRequest, Delivery, run_audit
from pr_auditor.cli import _JsonLines, streaming_ports
from pr_auditor.core.model import PullRequest, Window
from pr_auditor.core.policy import DEFAULT_POLICY

from builders import pull_request, review

WINDOW = Window(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
MARKER = "unique-title-marker"
N = 300


@dataclass
class GeneratedSource:
    """``N`` PRs made on the fly (the test keeps none), each twice: the dedupe must drop the repeats."""

    requests: int = 0
    sub_windows: int = 0

    def verify_access(self, orgs: tuple[str, ...]) -> str:
        return "auditor"

    def merged_pull_requests(self, orgs: tuple[str, ...], window: Window) -> Iterator[PullRequest]:
        for number in [*range(N), *range(N)]:
            yield pull_request(
                number=number,
                title=f"{MARKER} {number}",
                merged_at=WINDOW.since + timedelta(seconds=number),
                merge_commit_sha=f"{number:040x}",
                reviews=(review("bob"),),
            )


def reachable(root: object) -> Iterator[object]:
    """Every object reachable from ``root`` through containers and instances; modules, classes and functions
    are not followed (they lead to the whole interpreter, not to what the run holds)."""
    seen: set[int] = set()
    stack = [root]
    skip = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType, types.MethodType, io.IOBase)
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        if not isinstance(item, skip):
            stack.extend(gc.get_referents(item))


def record_bodies(root: object) -> list[object]:
    return [
        item
        for item in reachable(root)
        if (isinstance(item, dict) and "record_id" in item) or (isinstance(item, str) and MARKER in item)
    ]


def run_with(ports: AuditPorts) -> tuple[Delivery, dict[str, Any]]:
    delivery = Delivery(ports)
    request = AuditRequest(("acme",), WINDOW, "cli-test")
    summary = run_audit(request, source=ports.source, policy=ports.policy, emit=ports.emit, delivery=delivery)
    return delivery, summary


def test_the_cli_dedupes_by_record_id_and_holds_no_record_body() -> None:
    # Given the CLI's ports (records to a JSON-lines stream) and a source that returns every PR twice
    out = io.StringIO()
    emit = _JsonLines(out)
    ports = streaming_ports(GeneratedSource(), DEFAULT_POLICY, emit)  # type: ignore[arg-type]
    # When the window is audited
    delivery, summary = run_with(ports)
    # Then each PR is written once, the repeats counted as duplicates
    assert emit.count == N + 1  # and the run summary
    assert summary["counts"]["audited"] == N
    assert summary["counts"]["duplicates"] == N
    # And nothing the run still holds is a record, or any text of one
    assert record_bodies(delivery) == []
    assert len(ports.ledger.keys) == N  # type: ignore[attr-defined]
    assert all(isinstance(key, bytes) and len(key) == 16 for key in ports.ledger.keys)  # type: ignore[attr-defined]


def test_the_same_walk_finds_the_bodies_a_whole_ledger_keeps() -> None:
    # Given the unit tests' whole ledger (records included, for crash recovery) and a chunk kept for its archive
    ports = AuditPorts(GeneratedSource(), DEFAULT_POLICY, _JsonLines(io.StringIO()), MemoryLedger())  # type: ignore[arg-type]
    delivery, _ = run_with(ports)
    # Then the walk sees them: the check above can fail
    assert len(record_bodies(delivery)) >= N
