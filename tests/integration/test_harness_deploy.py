"""What ``harness.deploy()`` builds on moto is what template.yaml declares for the data path: the state table
with its sparse open-index and its write-deny policy, and the evidence bucket that refuses to lose a version."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from harness import REGION, AwsRoute, aws_environment, deploy
from template_model import load_template

pytestmark = pytest.mark.integration


@pytest.fixture
def route() -> Iterator[AwsRoute]:
    aws_environment()
    with mock_aws():
        yield deploy(token="t", policy_text="{}")


def ledger_entry(record_id: str, claimed_at: str, *, open_: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"pk": {"S": f"rec#{record_id}"}, "claimed_at": {"S": claimed_at}}
    if open_:
        item["open"] = {"S": "1"}
    return item


def test_the_open_index_lists_only_unfinished_ledger_entries_oldest_claim_first(route: AwsRoute) -> None:
    # Given three ledger entries, one of them finished (its `open` attribute removed), and a watermark item
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    for item in (
        ledger_entry("b", "2026-11-21T10:05:00Z", open_=True),
        ledger_entry("a", "2026-11-21T10:00:00Z", open_=True),
        ledger_entry("done", "2026-11-21T09:00:00Z", open_=False),
        {"pk": {"S": "watermark#acme"}, "until": {"S": "2026-11-21T10:00:00Z"}},
    ):
        dynamodb.put_item(TableName=route.state_table, Item=item)
    # When the open-index is queried for entries claimed before a lease boundary
    found = dynamodb.query(
        TableName=route.state_table,
        IndexName="open-index",
        KeyConditionExpression="#o = :one AND claimed_at < :before",
        ExpressionAttributeNames={"#o": "open"},
        ExpressionAttributeValues={":one": {"S": "1"}, ":before": {"S": "2026-11-21T11:00:00Z"}},
    )["Items"]
    # Then only the unfinished entries come back, oldest claim first
    assert [item["pk"]["S"] for item in found] == ["rec#a", "rec#b"]


def test_the_table_carries_the_templates_write_deny_policy_naming_the_function_role(route: AwsRoute) -> None:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    table = dynamodb.describe_table(TableName=route.state_table)["Table"]
    policy = json.loads(dynamodb.get_resource_policy(ResourceArn=table["TableArn"])["Policy"])
    (statement,) = policy["Statement"]
    declared = load_template()["Resources"]["AuditStateTable"]["Properties"]["ResourcePolicy"]["PolicyDocument"]
    assert statement["Action"] == declared["Statement"][0]["Action"]
    assert (statement["Effect"], statement["Principal"], statement["Resource"]) == ("Deny", "*", table["TableArn"])
    assert statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"].endswith(":role/pr-auditor-AuditorRole")
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["open-index"]


def test_the_evidence_bucket_refuses_to_delete_or_overwrite_a_locked_version(route: AwsRoute) -> None:
    # Given an archived object, locked by the bucket's default COMPLIANCE retention
    s3 = boto3.client("s3", region_name=REGION)
    key = "records/acme/2026/11/21/chunk.jsonl.gz"
    version = s3.put_object(Bucket=route.evidence_bucket, Key=key, Body=b"evidence")["VersionId"]
    head = s3.head_object(Bucket=route.evidence_bucket, Key=key, VersionId=version)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    days = int(load_template()["Parameters"]["EvidenceRetentionDays"]["Default"])
    assert head["ObjectLockRetainUntilDate"] - datetime.now(UTC) > timedelta(days=days - 1)
    # When anyone deletes that version, even claiming to bypass governance retention
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=route.evidence_bucket, Key=key, VersionId=version, BypassGovernanceRetention=True)
    # Then S3 refuses, and an "overwrite" only adds a version: the original is still there, unchanged
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    s3.put_object(Bucket=route.evidence_bucket, Key=key, Body=b"doctored")
    original = s3.get_object(Bucket=route.evidence_bucket, Key=key, VersionId=version)["Body"].read()
    assert original == b"evidence"
