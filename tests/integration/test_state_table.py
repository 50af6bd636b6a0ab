"""The DynamoDB state table (moto): the watermark never moves backwards, a change is claimed once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from pr_auditor.checkpoint import StateTable
from pr_auditor.errors import StateError
from pr_auditor.model import Verdict

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


def test_a_change_is_claimed_once_and_remembered_for_the_ttl(table: StateTable) -> None:
    assert table.claim(KEY, verdict=Verdict.NON_COMPLIANT, run_id="r1") is True
    assert table.claim(KEY, verdict=Verdict.NON_COMPLIANT, run_id="r2") is False
    assert (
        table.claim(("ACME/API", 42, KEY[2]), verdict=Verdict.COMPLIANT, run_id="r3") is False
    )  # names are case-insensitive
    assert table.claim((KEY[0], 42, "another-merge-commit"), verdict=Verdict.COMPLIANT, run_id="r4") is True
    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName="state", Key={"pk": {"S": f"pr#acme/api#42#{KEY[2]}"}}
    )["Item"]
    assert item["run_id"] == {"S": "r1"}
    assert int(item["expires_at"]["N"]) == int((NOW + timedelta(days=400)).timestamp())


def test_an_unreachable_table_is_a_state_error_not_a_crash(table: StateTable) -> None:
    missing = StateTable("no-such-table", client=boto3.client("dynamodb", region_name=REGION))
    with pytest.raises(StateError, match="no-such-table: put_item failed"):
        missing.claim(KEY, verdict=Verdict.COMPLIANT, run_id="r")
