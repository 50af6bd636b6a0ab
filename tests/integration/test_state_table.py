"""The DynamoDB state table (moto): the watermark never moves backwards, a change is claimed once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from pr_auditor.audit.ports import ConflictError, LedgerEntry
from pr_auditor.aws.state_table import StateDocuments, StateTable
from pr_auditor.core.errors import StateError
from pr_auditor.core.records import pull_request_record_id

from harness import REGION, aws_environment, create_state_table
from template_model import load_template

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 21, 10, tzinfo=UTC)
KEY = ("acme/api", 42, "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432")


@pytest.fixture
def table() -> Iterator[StateTable]:
    aws_environment()
    with mock_aws():
        name = create_state_table(load_template()["Resources"]["AuditStateTable"]["Properties"], "state")
        yield StateTable(
            name, ttl=timedelta(days=400), client=boto3.client("dynamodb", region_name=REGION), clock=lambda: NOW
        )


def test_a_new_scope_has_no_watermark(table: StateTable) -> None:
    assert table.watermark("acme") is None


def test_the_watermark_moves_forward_and_never_back(table: StateTable) -> None:
    table.advance("acme", NOW, run_id="r1")
    table.advance("acme", NOW - timedelta(hours=3), run_id="late-retry-of-an-old-chunk")
    assert table.watermark("acme") == NOW
    table.advance("acme", NOW + timedelta(hours=1), run_id="r2")
    assert table.watermark("acme") == NOW + timedelta(hours=1)
    assert table.watermark("acme,acme-labs") is None  # another set of organisations has its own


def record(repository: str, number: int, merge_sha: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "pull_request",
        "record_id": pull_request_record_id(repository, number, merge_sha),
        "repository": repository,
        "number": number,
        "run_id": "r1",
        "title": "d\u00e9ploiement \u2028 fix",
        **extra,
    }


def test_a_change_is_claimed_once_and_remembered_for_the_ttl(table: StateTable) -> None:
    first = record(*KEY)
    assert table.claim(first, notify=True, now=NOW) is True
    assert table.claim(first, notify=True, now=NOW) is False
    assert table.claim(record("ACME/API", 42, KEY[2]), notify=False, now=NOW) is False  # case-insensitive names
    assert table.claim(record(KEY[0], 42, "another-merge-commit"), notify=False, now=NOW) is True
    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName="state", Key={"pk": {"S": f"rec#{first['record_id']}"}}
    )["Item"]
    assert (item["run_id"], item["state"], item["open"]) == ({"S": "r1"}, {"S": "pending"}, {"S": "1"})
    assert int(item["expires_at"]["N"]) == int((NOW + timedelta(days=400)).timestamp())
    assert table.is_recorded(first["record_id"]) is True
    assert table.is_recorded(record(KEY[0], 43, KEY[2])["record_id"]) is False


def test_open_entries_come_back_whole_until_recorded_archived_and_notified(table: StateTable) -> None:
    # Given three claims: one finding, one plain record, and one claimed too recently to be taken over
    finding, plain, young = record(KEY[0], 1, "a"), record(KEY[0], 2, "b"), record(KEY[0], 3, "c")
    table.claim(finding, notify=True, now=NOW - timedelta(hours=2))
    table.claim(plain, notify=False, now=NOW - timedelta(hours=1))
    table.claim(young, notify=False, now=NOW)
    # When a later run asks for what is open past the lease
    entries = table.open_entries(claimed_before=NOW - timedelta(minutes=16))
    # Then it gets both old entries, oldest first, with the records intact (non-ASCII included)
    assert [e.record for e in entries] == [finding, plain]
    assert [(e.recorded, e.needs_notification, e.notified) for e in entries] == [
        (False, True, False),
        (False, False, False),
    ]
    # And an entry leaves the open set only once it is recorded, archived and (a finding) notified
    table.save([replace(entries[0], recorded=True, archived=True), replace(entries[1], recorded=True, archived=True)])
    still_open = table.open_entries(claimed_before=NOW)
    assert [e.record_id for e in still_open] == [finding["record_id"]]
    table.save([replace(still_open[0], notified=True)])
    assert table.open_entries(claimed_before=NOW + timedelta(days=1)) == [LedgerEntry(young["record_id"], young, NOW)]


def test_saving_more_than_a_batch_of_entries_writes_them_all(table: StateTable) -> None:
    records = [record(KEY[0], n, f"m{n}") for n in range(60)]
    for r in records:
        table.claim(r, notify=False, now=NOW - timedelta(hours=1))
    entries = table.open_entries(claimed_before=NOW)
    assert len(entries) == 60
    table.save([replace(e, recorded=True, archived=True) for e in entries])
    assert table.open_entries(claimed_before=NOW) == []


def test_state_documents_use_optimistic_concurrency(table: StateTable) -> None:
    documents = StateDocuments(table)
    assert documents.load("policy#acme") == (None, 0)
    documents.save("policy#acme", {"version": "sha256:1"}, revision=0)
    assert documents.load("policy#acme") == ({"version": "sha256:1"}, 1)
    with pytest.raises(ConflictError):
        documents.save("policy#acme", {"version": "sha256:stale"}, revision=0)
    documents.save("policy#acme", {"version": "sha256:2"}, revision=1)
    with pytest.raises(ConflictError):
        documents.save("policy#acme", {"version": "sha256:3"}, revision=1)
    assert documents.load("policy#acme") == ({"version": "sha256:2"}, 2)


def test_an_unreachable_table_is_a_state_error_not_a_crash(table: StateTable) -> None:
    missing = StateTable("no-such-table", client=boto3.client("dynamodb", region_name=REGION))
    with pytest.raises(StateError, match="no-such-table: put_item failed"):
        missing.claim(record(*KEY), notify=False, now=NOW)


def test_the_run_lease_is_one_conditional_item_that_lapses_at_its_expiry(table: StateTable) -> None:
    from pr_auditor.audit.ports import LeaseHolder

    lease, until = table.lease, NOW + timedelta(minutes=15)
    # Given a run holding the lease: another is refused and told who holds it until when
    assert lease.acquire("run-1", now=NOW, until=until) is None
    assert lease.acquire("run-2", now=NOW + timedelta(minutes=1), until=until) == LeaseHolder("run-1", until)
    # A retry of the holder (Lambda retries with the same request id) keeps it
    assert lease.acquire("run-1", now=NOW + timedelta(minutes=2), until=until) is None
    # Released by another run: nothing happens; released by its holder: free at once
    lease.release("run-2", now=NOW + timedelta(minutes=3))
    assert lease.acquire("run-2", now=NOW + timedelta(minutes=3), until=until) == LeaseHolder("run-1", until)
    lease.release("run-1", now=NOW + timedelta(minutes=4))
    assert lease.acquire("run-2", now=NOW + timedelta(minutes=4), until=until) is None
    # Never released (the run crashed): free once its expiry has passed
    assert lease.acquire("run-3", now=until, until=until + timedelta(minutes=15)) is None
