"""Contract tests of the deployable template, on its SAM translation (plain CloudFormation).

Moto cannot run metric filters, alarms or saved queries, so the wiring is checked here, as data: every
assertion names the exact value the deployed stack depends on, so a changed reference fails a test.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from packaging.requirements import Requirement

import template_model as tm
from cwfilter import matches, parse, selectors
from locks import canonical, read_lock

ROOT = tm.ROOT
STACK = tm.DEFAULT_STACK_NAME
REGION = tm.PSEUDO_PARAMETERS["AWS::Region"]
ACCOUNT = tm.PSEUDO_PARAMETERS["AWS::AccountId"]
# The first block of the stack id's UUID: what makes the retained resources' names unique per stack.
STACK_UUID_HEAD = tm.PSEUDO_PARAMETERS["AWS::StackId"].rsplit("/", 1)[1].split("-")[0]
LOG_GROUP = f"/aws/lambda/{STACK}-auditor-{STACK_UUID_HEAD}"
TABLE = f"{STACK}-audit-state-{STACK_UUID_HEAD}"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}"

# CloudWatch Logs PutRetentionPolicy: the allowed retention values.
CLOUDWATCH_RETENTION_DAYS = {
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
}  # fmt: skip
EVIDENCE_RESOURCES = ["AuditLogGroup", "AuditStateTable", "EvidenceBucket", "AuditorFunction"]
ALARM_PATH_RESOURCES = ["AlarmTopic", "OpsQueue", "OpsDeadLetterQueue"]


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return tm.load_template()


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return tm.translated()


def resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return tm.resources_of_type(template, resource_type)


def props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return template["Resources"][logical_id]["Properties"]


def refers_to(value: Any, logical_id: str) -> bool:
    """Ref to, or GetAtt of, the resource."""
    return value == {"Ref": logical_id} or (
        isinstance(value, dict) and set(value) == {"Fn::GetAtt"} and value["Fn::GetAtt"][0] == logical_id
    )


def statements(policy_document: dict[str, Any]) -> list[dict[str, Any]]:
    found = policy_document["Statement"]
    return found if isinstance(found, list) else [found]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def rate_minutes(expression: str) -> int:
    m = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression)
    assert m, f"not a rate expression: {expression}"
    value, unit = int(m.group(1)), m.group(2)
    assert unit.endswith("s") == (value != 1), f"EventBridge wants singular units only for 1: {expression}"
    return value * {"minute": 1, "hour": 60, "day": 1440}[unit.rstrip("s")]


def schedule_values(sam: dict[str, Any]) -> list[str]:
    return list(sam["Parameters"]["ScheduleMinutes"]["AllowedValues"])


# --------------------------------------------------------------------------- schedule
def test_given_the_default_parameters_when_translated_then_one_rule_runs_the_function_every_hour(
    cfn: dict[str, Any],
) -> None:
    rules = resources(cfn, "AWS::Events::Rule")
    assert sorted(rules) == sorted(["AuditorFunctionSchedule", *TAMPER_RULES])
    rule = rules["AuditorFunctionSchedule"]["Properties"]
    assert tm.resolve(cfn, rule["ScheduleExpression"]) == "rate(1 hour)"
    assert rule["State"] == "ENABLED"
    assert [refers_to(t["Arn"], "AuditorFunction") for t in rule["Targets"]] == [True]
    assert "Input" not in rule["Targets"][0], "the handler reads the scheduled event's own `time`"
    permission = props(cfn, "AuditorFunctionSchedulePermission")
    assert permission["Principal"] == "events.amazonaws.com"
    assert refers_to(permission["SourceArn"], "AuditorFunctionSchedule")


def test_given_each_allowed_schedule_when_mapped_then_the_rate_and_the_alarm_period_equal_those_minutes(
    sam: dict[str, Any],
) -> None:
    mapping = sam["Mappings"]["ScheduleMap"]
    assert sorted(mapping, key=int) == sorted(schedule_values(sam), key=int)
    for minutes in schedule_values(sam):
        params = tm.parameter_values(sam, {"ScheduleMinutes": minutes})
        rate = tm.resolve(sam, {"Fn::FindInMap": ["ScheduleMap", {"Ref": "ScheduleMinutes"}, "Rate"]}, params)
        period = tm.resolve(
            sam, {"Fn::FindInMap": ["ScheduleMap", {"Ref": "ScheduleMinutes"}, "PeriodSeconds"]}, params
        )
        assert rate_minutes(rate) == int(minutes)
        assert period == int(minutes) * 60
    assert sam["Parameters"]["ScheduleMinutes"]["Default"] == "60"


def test_given_a_fifteen_minute_schedule_when_translated_then_the_rule_uses_the_mapped_rate(
    sam: dict[str, Any],
) -> None:
    cfn15 = tm.translated(parameter_overrides={"ScheduleMinutes": "15"})
    rule = props(cfn15, "AuditorFunctionSchedule")
    params = tm.parameter_values(sam, {"ScheduleMinutes": "15"})
    assert tm.resolve(cfn15, rule["ScheduleExpression"], params) == "rate(15 minutes)"


# --------------------------------------------------------------------------- function and layer
def test_given_the_translated_function_when_read_then_it_is_python313_on_arm64(cfn: dict[str, Any]) -> None:
    functions = resources(cfn, "AWS::Lambda::Function")
    assert list(functions) == ["AuditorFunction"]
    fn = functions["AuditorFunction"]["Properties"]
    assert fn["Runtime"] == "python3.13"
    assert fn["Architectures"] == ["arm64"]
    assert fn["Handler"] == "pr_auditor.handler.lambda_handler"
    assert fn["Timeout"] == 900
    assert fn["MemorySize"] == 512
    assert refers_to(fn["Role"], "AuditorRole")
    assert refers_to(fn["DeadLetterConfig"]["TargetArn"], "AlarmTopic")


@pytest.mark.parametrize(("setting", "reserved"), [("off", None), ("1", 1)])
def test_given_the_reserved_concurrency_parameter_when_evaluated_then_the_function_reserves_only_when_asked(
    cfn: dict[str, Any], setting: str, reserved: int | None
) -> None:
    # A reservation fails to deploy in accounts whose concurrency quota is 10 (Lambda keeps 10 unreserved).
    parameter = cfn["Parameters"]["ReservedConcurrency"]
    assert (parameter["Default"], parameter["AllowedValues"]) == ("off", ["off", "1"])
    params = tm.parameter_values(cfn, {"ReservedConcurrency": setting})
    value = tm.resolve(cfn, props(cfn, "AuditorFunction")["ReservedConcurrentExecutions"], params)
    assert (None if value == {"Ref": "AWS::NoValue"} else value) == reserved


def test_given_the_translated_function_when_its_layers_are_read_then_it_uses_the_arm64_dependencies_layer(
    sam: dict[str, Any], cfn: dict[str, Any]
) -> None:
    layers = resources(cfn, "AWS::Lambda::LayerVersion")
    assert len(layers) == 1
    ((layer_id, layer),) = layers.items()
    assert layer_id.startswith("DependenciesLayer")
    assert props(cfn, "AuditorFunction")["Layers"] == [{"Ref": layer_id}]
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    metadata = sam["Resources"]["DependenciesLayer"]["Metadata"]
    assert metadata == {"BuildMethod": "python3.13", "BuildArchitecture": "arm64"}
    assert props(sam, "DependenciesLayer")["ContentUri"] == "layer/"
    assert props(sam, "AuditorFunction")["CodeUri"] == "src/"


def test_given_the_function_environment_when_read_then_it_carries_exactly_the_settings_the_code_reads(
    cfn: dict[str, Any],
) -> None:
    env = props(cfn, "AuditorFunction")["Environment"]["Variables"]
    assert env == {
        "GITHUB_ORGS": {"Ref": "GitHubOrgs"},
        "GITHUB_API_URL": {"Ref": "GitHubApiUrl"},
        "GITHUB_TOKEN_SECRET": {"Ref": "GitHubTokenSecretArn"},
        "POLICY_PARAMETER": {"Ref": "PolicyParameter"},
        "SCHEDULE_MINUTES": {"Ref": "ScheduleMinutes"},
        "OVERLAP_MINUTES": {"Ref": "OverlapMinutes"},
        "STATE_TABLE": {"Ref": "AuditStateTable"},
        "START_AT": {"Ref": "StartAt"},
        "CHUNK_MINUTES": {"Ref": "ChunkMinutes"},
        "DEDUPE_TTL_DAYS": {"Ref": "DedupeTtlDays"},
        "SWEEP_DAYS": {"Ref": "SweepDays"},
        "SWEEP_EVERY_HOURS": {"Ref": "SweepEveryHours"},
        "READ_AUDIT_LOG": {"Ref": "ReadAuditLog"},
        "EVIDENCE_BUCKET": {"Ref": "EvidenceBucket"},
        "SIGNING_KEY_ID": {"Fn::GetAtt": ["SigningKey", "Arn"]},
        "ALARM_TOPIC_ARN": {"Ref": "AlarmTopic"},
        "POWERTOOLS_SERVICE_NAME": "pr-auditor",
        "POWERTOOLS_METRICS_NAMESPACE": "PrAuditor",
        "POWERTOOLS_LOG_LEVEL": {"Ref": "LogLevel"},
    }
    assert cfn["Parameters"]["GitHubApiUrl"]["Default"] == "https://api.github.com"
    assert cfn["Parameters"]["OverlapMinutes"]["Default"] == 120
    assert "Default" not in cfn["Parameters"]["GitHubTokenSecretArn"]
    assert "Default" not in cfn["Parameters"]["GitHubOrgs"]


def test_given_the_checkpoint_parameters_when_read_then_their_defaults_and_bounds_are_the_documented_ones(
    sam: dict[str, Any],
) -> None:
    parameters = sam["Parameters"]
    overlap = parameters["OverlapMinutes"]
    assert (overlap["Type"], overlap["Default"], overlap["MinValue"], overlap["MaxValue"]) == ("Number", 120, 0, 1440)
    assert "lags" in overlap["Description"] and "hours" in overlap["Description"]
    chunk = parameters["ChunkMinutes"]
    assert (chunk["Type"], chunk["Default"], chunk["MinValue"], chunk["MaxValue"]) == ("Number", 1440, 15, 10080)
    ttl = parameters["DedupeTtlDays"]
    assert (ttl["Type"], ttl["Default"], ttl["MinValue"], ttl["MaxValue"]) == ("Number", 400, 1, 3650)
    # The shortest ledger memory still outlasts the longest overlap, so an overlap never re-reports a PR.
    assert ttl["MinValue"] * 24 * 60 >= overlap["MaxValue"]
    start = parameters["StartAt"]
    assert (start["Type"], start["Default"]) == ("String", "")
    (audit_group,) = [
        g
        for g in sam["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
        if g["Label"]["default"] == "Audit"
    ]
    assert {"OverlapMinutes", "StartAt", "ChunkMinutes", "DedupeTtlDays"} <= set(audit_group["Parameters"])


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("", True),
        ("2026-11-01T00:00:00Z", True),
        ("2024-02-29T23:59:59Z", True),
        ("2026-11-01T00:00:00", False),
        ("2026-11-01T00:00:00+00:00", False),
        ("2026-11-01T00:00:00.000Z", False),
        ("2026-11-01 00:00:00Z", False),
        ("2026-13-01T00:00:00Z", False),
        ("2026-11-01T24:00:00Z", False),
        ("2026-11-01", False),
        (" ", False),
    ],
)
def test_given_a_start_at_value_when_checked_against_its_pattern_then_only_empty_or_a_utc_instant_passes(
    sam: dict[str, Any], value: str, allowed: bool
) -> None:
    pattern = sam["Parameters"]["StartAt"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is allowed
    if allowed and value:
        assert datetime.fromisoformat(value).utcoffset() is not None


def test_given_the_policy_parameter_when_read_then_it_is_a_string_holding_the_policy_document(
    cfn: dict[str, Any],
) -> None:
    parameter = props(cfn, "PolicyParameter")
    assert parameter["Type"] == "String"
    assert parameter["Value"] == {"Ref": "PolicyDocument"}
    assert tm.resolve(cfn, parameter["Name"]) == f"/pr-auditor/{STACK}/policy"
    import yaml

    policy = yaml.safe_load(cfn["Parameters"]["PolicyDocument"]["Default"])
    assert policy["required_approvals"] == 1
    assert policy["emergency_labels"] == ["emergency"]


def test_given_the_default_policy_document_when_the_function_parses_it_then_it_is_a_valid_policy(
    cfn: dict[str, Any],
) -> None:
    policy_module = pytest.importorskip("pr_auditor.core.policy")
    policy = policy_module.parse_policy(cfn["Parameters"]["PolicyDocument"]["Default"])
    assert policy.default.required_approvals == 1
    assert policy.default.emergency_labels == ("emergency",)


# --------------------------------------------------------------------------- log group, key, encryption
def test_given_the_log_group_when_read_then_it_is_the_functions_own_named_per_stack_with_the_retention_parameter(
    cfn: dict[str, Any],
) -> None:
    fn = props(cfn, "AuditorFunction")
    group = props(cfn, "AuditLogGroup")
    assert fn["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": {"Ref": "AuditLogGroup"}}
    # The function's name plus the stack id's first block: a retained group of an earlier stack of the same
    # name never collides with this one.
    assert tm.resolve(cfn, group["LogGroupName"]) == LOG_GROUP
    assert LOG_GROUP.startswith("/aws/lambda/" + tm.resolve(cfn, fn["FunctionName"]) + "-")
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_given_the_log_retention_parameter_when_read_then_no_value_below_400_days_can_be_chosen(
    cfn: dict[str, Any],
) -> None:
    retention = cfn["Parameters"]["LogRetentionDays"]
    assert retention["Default"] == 731
    assert set(retention["AllowedValues"]) == {d for d in CLOUDWATCH_RETENTION_DAYS if d >= 400}
    for days in (1, 30, 365):
        assert any(e.startswith("LogRetentionDays:") for e in tm.parameter_errors(cfn, {"LogRetentionDays": str(days)}))


@pytest.mark.parametrize("logical_id", ["AuditLogGroup", "AuditKey", "AuditStateTable", "EvidenceBucket"])
def test_given_the_evidence_resources_when_the_stack_is_deleted_or_replaced_then_they_are_retained(
    cfn: dict[str, Any], logical_id: str
) -> None:
    resource = cfn["Resources"][logical_id]
    assert resource["DeletionPolicy"] == "Retain"
    assert resource["UpdateReplacePolicy"] == "Retain"


def key_of(cfn: dict[str, Any], logical_id: str) -> Any:
    """The KMS key a resource is encrypted with, as the template names it."""
    properties = props(cfn, logical_id)
    if logical_id == "AuditStateTable":
        return properties["SSESpecification"]["KMSMasterKeyId"]
    if logical_id == "EvidenceBucket":
        (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        return rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]
    for name in ("KmsKeyId", "KmsMasterKeyId", "KmsKeyArn"):
        if name in properties:
            return properties[name]
    raise AssertionError(f"{logical_id} names no key")


@pytest.mark.parametrize("logical_id", EVIDENCE_RESOURCES)
def test_given_an_evidence_resource_when_read_then_it_is_encrypted_with_the_evidence_key(
    cfn: dict[str, Any], logical_id: str
) -> None:
    assert refers_to(key_of(cfn, logical_id), "AuditKey")


@pytest.mark.parametrize("logical_id", ALARM_PATH_RESOURCES)
def test_given_an_alarm_path_resource_when_read_then_it_is_encrypted_with_its_own_key_not_the_evidence_key(
    cfn: dict[str, Any], logical_id: str
) -> None:
    # Disabling the evidence key must not silence the alarm that reports it.
    assert refers_to(key_of(cfn, logical_id), "AlarmPathKey")
    assert resources(cfn, "AWS::KMS::Key").keys() == {
        "AuditKey",
        "AlarmPathKey",
        "SigningKey",
    }  # SigningKey: signs only


def test_given_the_state_table_when_read_then_it_is_keyed_on_pk_encrypted_recoverable_and_protected(
    cfn: dict[str, Any],
) -> None:
    tables = resources(cfn, "AWS::DynamoDB::Table")
    assert list(tables) == ["AuditStateTable"]
    table = tables["AuditStateTable"]
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    properties = table["Properties"]
    assert properties["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert properties["AttributeDefinitions"] == [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "open", "AttributeType": "S"},
        {"AttributeName": "claimed_at", "AttributeType": "S"},
    ]
    assert "LocalSecondaryIndexes" not in properties
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in properties
    assert properties["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": {"Fn::GetAtt": ["AuditKey", "Arn"]},
    }
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert properties["DeletionProtectionEnabled"] is True
    # A fixed name: a change needing replacement fails instead of starting an empty table (watermark restart);
    # with the stack id's first block, so a redeploy under the same stack name never meets a retained table.
    assert tm.resolve(cfn, properties["TableName"]) == TABLE


def test_given_the_state_table_when_its_indexes_are_read_then_open_index_is_a_sparse_index_of_unfinished_entries(
    cfn: dict[str, Any],
) -> None:
    (index,) = props(cfn, "AuditStateTable")["GlobalSecondaryIndexes"]
    assert index == {
        "IndexName": "open-index",
        "KeySchema": [
            {"AttributeName": "open", "KeyType": "HASH"},
            {"AttributeName": "claimed_at", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }
    assert "ProvisionedThroughput" not in index  # on-demand, like the table


def test_given_the_evidence_key_when_read_then_it_rotates_and_serves_logs_and_dynamodb_only_for_this_stack(
    cfn: dict[str, Any],
) -> None:
    key = props(cfn, "AuditKey")
    assert key["EnableKeyRotation"] is True
    by_sid = {s["Sid"]: s for s in statements(key["KeyPolicy"])}
    for statement in by_sid.values():
        assert statement["Principal"] != "*" and statement["Principal"].get("AWS") != "*"
    root = by_sid["AccountRootDelegatesToIam"]
    assert tm.resolve(cfn, root["Principal"]["AWS"]) == f"arn:aws:iam::{ACCOUNT}:root"

    logs = by_sid["CloudWatchLogsForTheAuditLogGroup"]
    assert tm.resolve(cfn, logs["Principal"]["Service"]) == f"logs.{REGION}.amazonaws.com"
    group_name = tm.resolve(cfn, props(cfn, "AuditLogGroup")["LogGroupName"])
    context_arn = tm.resolve(cfn, logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"])
    assert context_arn == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group_name}"

    dynamodb = by_sid["DynamoDbReadsKeyMetadata"]
    assert dynamodb["Principal"] == {"Service": "dynamodb.amazonaws.com"}
    assert sorted(as_list(dynamodb["Action"])) == ["kms:Describe*", "kms:Get*", "kms:List*"]
    assert "Condition" not in dynamodb
    assert set(by_sid) == {"AccountRootDelegatesToIam", "CloudWatchLogsForTheAuditLogGroup", "DynamoDbReadsKeyMetadata"}


def test_given_the_alarm_path_key_when_read_then_it_serves_alarms_sns_and_eventbridge_only_for_this_stack(
    cfn: dict[str, Any],
) -> None:
    key = props(cfn, "AlarmPathKey")
    assert key["EnableKeyRotation"] is True
    by_sid = {s["Sid"]: s for s in statements(key["KeyPolicy"])}
    for statement in by_sid.values():
        assert statement["Principal"] != "*" and statement["Principal"].get("AWS") != "*"
    assert tm.resolve(cfn, by_sid["AccountRootDelegatesToIam"]["Principal"]["AWS"]) == f"arn:aws:iam::{ACCOUNT}:root"

    alarms_statement = by_sid["CloudWatchAlarmsPublishToTheEncryptedTopic"]
    assert alarms_statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    alarm_arn_pattern = tm.resolve(cfn, alarms_statement["Condition"]["ArnLike"]["aws:SourceArn"])
    for alarm in tm.alarms(cfn):
        assert fnmatch.fnmatchcase(f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{alarm.alarm_name}", alarm_arn_pattern)

    sns = by_sid["SnsDeliversTheAlarmTopicToEncryptedQueues"]
    assert sns["Principal"] == {"Service": "sns.amazonaws.com"}
    topic_name = tm.resolve(cfn, props(cfn, "AlarmTopic")["TopicName"])
    assert (
        tm.resolve(cfn, sns["Condition"]["ArnEquals"]["aws:SourceArn"])
        == f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic_name}"
    )
    events = by_sid["EventBridgePublishesTamperAlerts"]
    assert events["Principal"] == {"Service": "events.amazonaws.com"}
    assert events["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert set(by_sid) == {
        "AccountRootDelegatesToIam",
        "CloudWatchAlarmsPublishToTheEncryptedTopic",
        "SnsDeliversTheAlarmTopicToEncryptedQueues",
        "EventBridgePublishesTamperAlerts",
    }


# --------------------------------------------------------------------------- SNS -> SQS
def test_given_the_topic_when_its_subscriptions_are_read_then_the_ops_queue_is_subscribed_with_a_redrive(
    cfn: dict[str, Any],
) -> None:
    subscriptions = resources(cfn, "AWS::SNS::Subscription")
    sqs = [s["Properties"] for s in subscriptions.values() if s["Properties"]["Protocol"] == "sqs"]
    assert len(sqs) == 1
    (subscription,) = sqs
    assert subscription["TopicArn"] == {"Ref": "AlarmTopic"}
    assert subscription["Endpoint"] == {"Fn::GetAtt": ["OpsQueue", "Arn"]}
    assert subscription["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": ["OpsDeadLetterQueue", "Arn"]}}


@pytest.mark.parametrize(("email", "created"), [("", False), ("ops@example.com", True)])
def test_given_an_alarm_email_parameter_when_evaluated_then_the_email_subscription_exists_only_if_set(
    cfn: dict[str, Any], email: str, created: bool
) -> None:
    subscription = cfn["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert tm.condition_holds(cfn, "HasAlarmEmail", tm.parameter_values(cfn, {"AlarmEmail": email})) is created


@pytest.mark.parametrize(
    ("policy_id", "queue_id"), [("OpsQueuePolicy", "OpsQueue"), ("OpsDeadLetterQueuePolicy", "OpsDeadLetterQueue")]
)
def test_given_a_queue_policy_when_read_then_only_the_alarm_topic_may_send_and_plain_http_is_denied(
    cfn: dict[str, Any], policy_id: str, queue_id: str
) -> None:
    policy = props(cfn, policy_id)
    assert policy["Queues"] == [{"Ref": queue_id}]
    allows = [s for s in statements(policy["PolicyDocument"]) if s["Effect"] == "Allow"]
    denies = [s for s in statements(policy["PolicyDocument"]) if s["Effect"] == "Deny"]
    sns_allows = [s for s in allows if s["Principal"] == {"Service": "sns.amazonaws.com"}]
    assert len(sns_allows) == 1
    (allow,) = sns_allows
    if queue_id == "OpsDeadLetterQueue":  # plus the tamper rules' own dead-lettering, and nothing else
        (events,) = [s for s in allows if s not in sns_allows]
        assert events["Principal"] == {"Service": "events.amazonaws.com"}
        assert as_list(events["Action"]) == ["sqs:SendMessage"]
        assert events["Condition"] == {
            "ArnEquals": {"aws:SourceArn": [{"Fn::GetAtt": [r, "Arn"]} for r in TAMPER_RULES]}
        }
    else:
        assert allows == sns_allows
    assert allow["Principal"] == {"Service": "sns.amazonaws.com"}
    assert as_list(allow["Action"]) == ["sqs:SendMessage"]
    assert allow["Resource"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Ref": "AlarmTopic"}}}
    assert len(denies) == 1
    assert denies[0]["Principal"] == "*"
    assert denies[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_given_the_ops_queue_when_read_then_it_and_its_dlq_keep_messages_fourteen_days(cfn: dict[str, Any]) -> None:
    queue = props(cfn, "OpsQueue")
    dlq = props(cfn, "OpsDeadLetterQueue")
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["OpsDeadLetterQueue", "Arn"]}
    assert 1 <= queue["RedrivePolicy"]["maxReceiveCount"] <= 10
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600  # the SQS maximum
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_given_the_topic_policy_when_read_then_only_this_stacks_alarms_and_tamper_rules_may_publish(
    cfn: dict[str, Any],
) -> None:
    policy = props(cfn, "AlarmTopicPolicy")
    assert policy["Topics"] == [{"Ref": "AlarmTopic"}]
    by_sid = {s["Sid"]: s for s in statements(policy["PolicyDocument"])}
    assert set(by_sid) == {"CloudWatchAlarmsOfThisStack", "TamperRulesOfThisStack"}
    statement = by_sid["CloudWatchAlarmsOfThisStack"]
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert statement["Action"] == "sns:Publish"
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    pattern = tm.resolve(cfn, statement["Condition"]["ArnLike"]["aws:SourceArn"])
    assert pattern == f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{STACK}-*"
    events = by_sid["TamperRulesOfThisStack"]
    assert events["Principal"] == {"Service": "events.amazonaws.com"}
    assert events["Action"] == "sns:Publish"
    assert events["Condition"] == {"ArnEquals": {"aws:SourceArn": [{"Fn::GetAtt": [r, "Arn"]} for r in TAMPER_RULES]}}


# --------------------------------------------------------------------------- metric filters
EXPECTED_FILTERS = {
    "NonCompliantChanges": '{ ($.kind = "pull_request") && ($.verdict = "non_compliant") }',
    "EmergencyChanges": '{ ($.kind = "pull_request") && ($.emergency IS TRUE) }',
    "AuditorRunFailures": '{ ($.kind = "run_summary") && ($.status = "failed") }',
    "AuditorRunsCompleted": '{ ($.kind = "run_summary") && ($.status = "completed") }',
    "DirectPushes": '{ ($.kind = "direct_push") && ($.verdict = "non_compliant") }',
    "HistoryRewrites": '{ $.kind = "history_rewrite" }',
    "WeakerProtection": (
        '{ ($.kind = "protection") && (($.weaker_than_policy IS TRUE) || ($.verdict = "non_compliant")) }'
    ),
    "PolicyChanges": '{ $.kind = "policy_change" }',
    "Bypasses": '{ (($.kind = "ruleset_bypass") || ($.kind = "bypass")) && ($.verdict = "non_compliant") }',
    "CoverageGaps": '{ ($.kind = "coverage") && ($.verdict = "non_compliant") }',
    "StateResets": '{ $.kind = "state_reset" }',
    "UnexplainedHeadChanges": '{ $.kind = "head_change" }',
}


def test_given_the_metric_filters_when_read_then_they_sit_on_the_audit_log_group_and_count_one_per_record(
    cfn: dict[str, Any],
) -> None:
    filters = resources(cfn, "AWS::Logs::MetricFilter")
    assert len(filters) == len(EXPECTED_FILTERS)
    for resource in filters.values():
        properties = resource["Properties"]
        assert properties["LogGroupName"] == {"Ref": "AuditLogGroup"}
        (transformation,) = properties["MetricTransformations"]
        assert transformation["MetricValue"] == "1"
        assert transformation["DefaultValue"] == 0
        assert "Dimensions" not in transformation  # a default value cannot be combined with dimensions
    specs = tm.metric_filters(cfn)
    assert {s.metric_name: s.pattern for s in specs} == EXPECTED_FILTERS
    assert {s.namespace for s in specs} == {f"PRAuditor/{STACK}"}


@pytest.mark.parametrize("metric_name", sorted(EXPECTED_FILTERS))
def test_given_a_metric_filter_pattern_when_parsed_then_it_selects_json_fields_only_starting_with_kind(
    cfn: dict[str, Any], metric_name: str
) -> None:
    (spec,) = [s for s in tm.metric_filters(cfn) if s.metric_name == metric_name]
    parse(spec.pattern)  # raises on a bare text term, a regex or a typo
    fields = selectors(spec.pattern)
    assert fields[0] == "$.kind"
    assert all(field.startswith("$.") for field in fields)
    assert "$.message" not in fields and "$.title" not in fields


def record(**fields: Any) -> str:
    base: dict[str, Any] = {
        "level": "INFO",
        "location": "records:emit:42",
        "service": "pr-auditor",
        "timestamp": "2026-11-21 10:00:03,123+0000",
    }
    return json.dumps({**base, **fields})


PR = {"kind": "pull_request", "repository": "acme/api", "number": 12, "violations": []}
RECORDS: list[tuple[str, str, set[str]]] = [
    (
        "a non-compliant PR",
        record(
            **{**PR, "violations": [{"code": "insufficient_approvals", "detail": "0 of 1"}]},
            verdict="non_compliant",
            emergency=False,
            message="acme/api#12 is non-compliant! insufficient_approvals",
        ),
        {"NonCompliantChanges"},
    ),
    (
        "an emergency PR (non-compliant because of the label)",
        record(**PR, verdict="non_compliant", emergency=True, message="acme/api#12 is non-compliant! emergency_label"),
        {"NonCompliantChanges", "EmergencyChanges"},
    ),
    ("a compliant PR", record(**PR, verdict="compliant", emergency=False), set()),
    ("an exempt PR", record(**PR, verdict="exempt", emergency=False), set()),
    (
        "a compliant PR whose attacker-controlled title imitates a finding",
        record(
            **PR,
            verdict="compliant",
            emergency=False,
            title='x", "verdict": "non_compliant", "emergency": true, "kind": "run_summary", "status": "failed',
            message='acme/api#12 x", "verdict": "non_compliant" is non-compliant!',
        ),
        set(),
    ),
    (
        "a PR record whose emergency flag is the string 'true'",
        record(**PR, verdict="compliant", emergency="true"),
        set(),
    ),
    (
        "a completed run",
        record(kind="run_summary", status="completed", counts={"compliant": 3}),
        {"AuditorRunsCompleted"},
    ),
    ("a failed run", record(kind="run_summary", status="failed", counts={}), {"AuditorRunFailures"}),
    ("a direct push", record(kind="direct_push", verdict="non_compliant", branch="main"), {"DirectPushes"}),
    ("a direct push by an exempt pusher", record(kind="direct_push", verdict="exempt", branch="main"), set()),
    ("a history rewrite", record(kind="history_rewrite", verdict="non_compliant"), {"HistoryRewrites"}),
    (
        "a weaker protection",
        record(kind="protection", verdict="non_compliant", weaker_than_policy=True),
        {"WeakerProtection"},
    ),
    (
        "a protection as strong as the policy",
        record(kind="protection", verdict="compliant", weaker_than_policy=False),
        set(),
    ),
    (
        "an unreadable protection",
        record(kind="protection", verdict="non_compliant", weaker_than_policy=False),
        {"WeakerProtection"},
    ),
    ("a policy change", record(kind="policy_change", verdict="compliant"), {"PolicyChanges"}),
    ("a diagnostic log line", record(message="searching acme merged:2026-11-21", verdict="non_compliant"), set()),
    ("Lambda's platform line", "END RequestId: 4f0c0a7e-5a7e-4c59-9f1f-0d5e3c7d9a11", set()),
    ("a text line quoting a record", 'is non-compliant! {"kind": "pull_request", "verdict": "non_compliant"}', set()),
]


@pytest.mark.parametrize(("description", "line", "expected"), RECORDS, ids=[r[0] for r in RECORDS])
def test_given_a_logged_line_when_the_templates_filters_are_applied_then_exactly_the_expected_metrics_count(
    cfn: dict[str, Any], description: str, line: str, expected: set[str]
) -> None:
    hit = {spec.metric_name for spec in tm.metric_filters(cfn) if matches(spec.pattern, line)}
    assert hit == expected, description


# --------------------------------------------------------------------------- alarms
def test_given_every_alarm_when_it_fires_then_its_only_action_is_the_alarm_topic(cfn: dict[str, Any]) -> None:
    specs = tm.alarms(cfn)
    assert {a.logical_id for a in specs} == {
        "NonCompliantChangeAlarm",
        "EmergencyChangeAlarm",
        "DirectPushAlarm",
        "HistoryRewriteAlarm",
        "WeakerProtectionAlarm",
        "PolicyChangeAlarm",
        "BypassAlarm",
        "CoverageGapAlarm",
        "StateResetAlarm",
        "UnexplainedHeadChangeAlarm",
        "AuditorErrorsAlarm",
        "AuditorStalledAlarm",
        "OpsQueueAgeAlarm",
        "OpsDeadLetterAlarm",
    }
    for alarm in specs:
        assert alarm.alarm_actions == ({"Ref": "AlarmTopic"},), alarm.logical_id
        assert alarm.alarm_name.startswith(f"{STACK}-"), "the key and topic policies match alarms by this prefix"


@pytest.mark.parametrize(
    ("alarm_id", "metric_name"),
    [
        ("NonCompliantChangeAlarm", "NonCompliantChanges"),
        ("EmergencyChangeAlarm", "EmergencyChanges"),
        ("DirectPushAlarm", "DirectPushes"),
        ("HistoryRewriteAlarm", "HistoryRewrites"),
        ("WeakerProtectionAlarm", "WeakerProtection"),
        ("PolicyChangeAlarm", "PolicyChanges"),
    ],
)
def test_given_a_finding_alarm_when_one_matching_record_is_logged_then_it_breaches(
    cfn: dict[str, Any], alarm_id: str, metric_name: str
) -> None:
    (alarm,) = [a for a in tm.alarms(cfn) if a.logical_id == alarm_id]
    (spec,) = [s for s in tm.metric_filters(cfn) if s.metric_name == metric_name]
    (metric,) = alarm.metrics
    assert (metric.namespace, metric.metric_name) == (spec.namespace, spec.metric_name)
    assert (metric.statistic, metric.period) == ("Sum", 300)
    assert (alarm.comparison, alarm.threshold) == ("GreaterThanOrEqualToThreshold", 1.0)
    assert (alarm.evaluation_periods, alarm.datapoints_to_alarm) == (1, 1)
    assert alarm.treat_missing_data == "notBreaching"


def test_given_the_errors_alarm_when_read_then_it_adds_failed_runs_and_lambda_errors_of_this_function(
    cfn: dict[str, Any],
) -> None:
    (alarm,) = [a for a in tm.alarms(cfn) if a.logical_id == "AuditorErrorsAlarm"]
    by_name = {m.metric_name: m for m in alarm.metrics}
    assert set(by_name) == {"AuditorRunFailures", "Errors"}
    assert by_name["AuditorRunFailures"].namespace == f"PRAuditor/{STACK}"
    assert by_name["Errors"].namespace == "AWS/Lambda"
    assert by_name["Errors"].dimensions == (("FunctionName", {"Ref": "AuditorFunction"}),)
    queries = {q["Id"]: q for q in alarm.properties["Metrics"]}
    assert alarm.expression == "FILL(failures, 0) + FILL(errors, 0)"
    assert [q["Id"] for q in queries.values() if q["ReturnData"]] == ["total"]
    assert queries["failures"]["MetricStat"]["Metric"]["MetricName"] == "AuditorRunFailures"
    assert queries["errors"]["MetricStat"]["Metric"]["MetricName"] == "Errors"
    assert (alarm.comparison, alarm.threshold, alarm.treat_missing_data) == (
        "GreaterThanOrEqualToThreshold",
        1.0,
        "notBreaching",
    )


@pytest.mark.parametrize(
    ("alarm_id", "queue_id", "metric_name", "threshold"),
    [
        ("OpsQueueAgeAlarm", "OpsQueue", "ApproximateAgeOfOldestMessage", 86400.0),
        ("OpsDeadLetterAlarm", "OpsDeadLetterQueue", "ApproximateNumberOfMessagesVisible", 0.0),
    ],
)
def test_given_the_alarm_path_alarms_when_read_then_an_unread_finding_or_a_dead_letter_is_itself_alarmed(
    cfn: dict[str, Any], alarm_id: str, queue_id: str, metric_name: str, threshold: float
) -> None:
    (alarm,) = [a for a in tm.alarms(cfn) if a.logical_id == alarm_id]
    (metric,) = alarm.metrics
    assert (metric.namespace, metric.metric_name, metric.statistic) == ("AWS/SQS", metric_name, "Maximum")
    assert metric.dimensions == (("QueueName", {"Fn::GetAtt": [queue_id, "QueueName"]}),)
    # Greater than one day old / more than zero messages.
    assert (alarm.comparison, alarm.threshold) == ("GreaterThanThreshold", threshold)
    assert (alarm.evaluation_periods, alarm.datapoints_to_alarm) == (1, 1)
    assert alarm.treat_missing_data == "notBreaching"


def test_given_the_stalled_alarm_when_no_run_completes_for_two_schedule_periods_then_it_breaches(
    cfn: dict[str, Any], sam: dict[str, Any]
) -> None:
    (alarm,) = [a for a in tm.alarms(cfn) if a.logical_id == "AuditorStalledAlarm"]
    (metric,) = alarm.metrics
    assert (metric.namespace, metric.metric_name, metric.statistic) == (
        f"PRAuditor/{STACK}",
        "AuditorRunsCompleted",
        "Sum",
    )
    assert metric.period == {"Fn::FindInMap": ["ScheduleMap", {"Ref": "ScheduleMinutes"}, "PeriodSeconds"]}
    assert (alarm.evaluation_periods, alarm.datapoints_to_alarm) == (2, 2)
    assert (alarm.comparison, alarm.threshold) == ("LessThanThreshold", 1.0)
    assert alarm.treat_missing_data == "breaching"
    for minutes in schedule_values(sam):
        period = tm.resolve(cfn, metric.period, tm.parameter_values(cfn, {"ScheduleMinutes": minutes}))
        assert period == int(minutes) * 60
        # PutMetricAlarm: Period x EvaluationPeriods <= 1 day below one-hour periods, <= 7 days otherwise.
        assert period * alarm.evaluation_periods <= (86400 if period < 3600 else 7 * 86400)
        assert period % 60 == 0


# --------------------------------------------------------------------------- IAM
def role_statements(cfn: dict[str, Any], holds_secret_key: bool) -> list[dict[str, Any]]:
    overrides = {
        "GitHubTokenSecretKmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    }
    params = tm.parameter_values(cfn, overrides if holds_secret_key else None)
    found: list[dict[str, Any]] = []
    for policy in props(cfn, "AuditorRole")["Policies"]:
        for statement in statements(policy["PolicyDocument"]):
            if set(statement) == {"Fn::If"}:
                name, when_true, when_false = statement["Fn::If"]
                statement = when_true if tm.condition_holds(cfn, name, params) else when_false
                if statement == {"Ref": "AWS::NoValue"}:
                    continue
            found.append(statement)
    return found


def walk_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from walk_strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from walk_strings(item)


@pytest.mark.parametrize("holds_secret_key", [False, True])
def test_given_the_function_role_when_its_statements_are_read_then_no_action_or_resource_is_a_wildcard(
    cfn: dict[str, Any], holds_secret_key: bool
) -> None:
    role = props(cfn, "AuditorRole")
    assert "ManagedPolicyArns" not in role, "AWSLambdaBasicExecutionRole would grant logs on every log group"
    assert resources(cfn, "AWS::IAM::Role").keys() == {"AuditorRole"}
    assert not resources(cfn, "AWS::IAM::Policy") and not resources(cfn, "AWS::IAM::ManagedPolicy")
    for statement in role_statements(cfn, holds_secret_key):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            assert "*" not in action, statement["Sid"]
        for resource in as_list(statement["Resource"]):
            assert resource != "*", statement["Sid"]
            assert not any(text.strip() == "*" for text in walk_strings(resource)), statement["Sid"]
    (trust,) = statements(role["AssumeRolePolicyDocument"])
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}


def test_given_the_function_role_when_read_then_each_permission_names_its_exact_resource(cfn: dict[str, Any]) -> None:
    by_sid = {s["Sid"]: s for s in role_statements(cfn, holds_secret_key=False)}
    grants = {sid: (sorted(as_list(s["Action"])), s["Resource"]) for sid, s in by_sid.items()}
    resolved = {
        sid: tm.resolve(cfn, grants[sid][1])
        for sid in ("ReadChangePolicy", "ReadWriteAuditState", "QueryOpenLedgerEntries")
    }
    assert resolved == {
        "ReadChangePolicy": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/pr-auditor/{STACK}/policy",
        "ReadWriteAuditState": TABLE_ARN,
        "QueryOpenLedgerEntries": f"{TABLE_ARN}/index/open-index",
    }
    evidence_key, alarm_key = {"Fn::GetAtt": ["AuditKey", "Arn"]}, {"Fn::GetAtt": ["AlarmPathKey", "Arn"]}
    assert grants == {
        "WriteOwnLogGroup": (["logs:CreateLogStream", "logs:PutLogEvents"], {"Fn::GetAtt": ["AuditLogGroup", "Arn"]}),
        "ReadGitHubToken": (["secretsmanager:GetSecretValue"], {"Ref": "GitHubTokenSecretArn"}),
        "ReadChangePolicy": (["ssm:GetParameter", "ssm:GetParameterHistory"], grants["ReadChangePolicy"][1]),
        "ReadWriteAuditState": (
            STATE_ACTIONS,
            grants["ReadWriteAuditState"][1],
        ),
        "QueryOpenLedgerEntries": (["dynamodb:Query"], grants["QueryOpenLedgerEntries"][1]),
        "WriteEvidenceArchive": (["s3:GetObject", "s3:PutObject"], {"Fn::Sub": "${EvidenceBucket.Arn}/*"}),
        "ListEvidenceArchive": (["s3:ListBucket"], {"Fn::GetAtt": ["EvidenceBucket", "Arn"]}),
        "PublishToAlarmTopic": (["sns:Publish"], {"Ref": "AlarmTopic"}),
        "UseAlarmPathKeyViaSns": (["kms:Decrypt", "kms:GenerateDataKey"], alarm_key),
        "DecryptEnvironmentViaLambda": (["kms:Decrypt"], evidence_key),
        "UseAuditKeyViaDynamoDb": (["kms:Decrypt", "kms:GenerateDataKey"], evidence_key),
        "UseAuditKeyViaS3": (["kms:Decrypt", "kms:GenerateDataKey"], evidence_key),
    }
    via = {
        sid: tm.resolve(cfn, s["Condition"]["StringEquals"]["kms:ViaService"])
        for sid, s in by_sid.items()
        if sid.startswith(("Use", "Decrypt"))
    }
    assert via == {
        "UseAlarmPathKeyViaSns": f"sns.{REGION}.amazonaws.com",
        "DecryptEnvironmentViaLambda": f"lambda.{REGION}.amazonaws.com",
        "UseAuditKeyViaDynamoDb": f"dynamodb.{REGION}.amazonaws.com",
        "UseAuditKeyViaS3": f"s3.{REGION}.amazonaws.com",
    }
    s3_context = by_sid["UseAuditKeyViaS3"]["Condition"]["StringEquals"]["kms:EncryptionContext:aws:s3:arn"]
    assert s3_context == {"Fn::GetAtt": ["EvidenceBucket", "Arn"]}


def test_given_the_function_role_when_its_s3_grants_are_read_then_it_can_never_delete_or_unlock_evidence(
    cfn: dict[str, Any],
) -> None:
    granted = {a.lower() for s in role_statements(cfn, holds_secret_key=False) for a in as_list(s["Action"])}
    s3 = {a for a in granted if a.startswith("s3:")}
    assert s3 == {"s3:putobject", "s3:getobject", "s3:listbucket"}


# Item writes are whole-entry puts, conditional puts and updates; BatchWriteItem confirms ledger entries 25 at a
# time (checkpoint.StateTable.save). Query only on the open-index (a separate grant).
STATE_ACTIONS = sorted(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"])


@pytest.mark.parametrize("holds_secret_key", [False, True])
def test_given_the_function_role_when_its_dynamodb_grants_are_read_then_get_put_update_on_the_table_and_query_on_open_index(
    cfn: dict[str, Any], holds_secret_key: bool
) -> None:
    found = role_statements(cfn, holds_secret_key)
    dynamodb = {
        tm.resolve(cfn, s["Resource"]): sorted(as_list(s["Action"]))
        for s in found
        if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))
    }
    assert dynamodb == {
        TABLE_ARN: STATE_ACTIONS,
        f"{TABLE_ARN}/index/open-index": ["dynamodb:Query"],
    }
    assert all("Condition" not in s for s in found if any(a.startswith("dynamodb:") for a in as_list(s["Action"])))
    granted = {action.lower() for s in found for action in as_list(s["Action"])}
    forbidden = {"dynamodb:*", "dynamodb:scan", "dynamodb:deleteitem", "dynamodb:partiqldelete"}
    assert not granted & forbidden


def test_given_the_function_role_when_it_uses_the_key_for_the_state_table_then_only_via_dynamodb_for_that_table(
    cfn: dict[str, Any],
) -> None:
    by_sid = {s["Sid"]: s for s in role_statements(cfn, holds_secret_key=False)}
    statement = by_sid["UseAuditKeyViaDynamoDb"]
    assert sorted(as_list(statement["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statement["Resource"] == {"Fn::GetAtt": ["AuditKey", "Arn"]}
    condition = statement["Condition"]
    assert set(condition) == {"StringEquals"}
    assert tm.resolve(cfn, condition["StringEquals"]["kms:ViaService"]) == f"dynamodb.{REGION}.amazonaws.com"
    assert tm.resolve(cfn, condition["StringEquals"]["kms:EncryptionContext:aws:dynamodb:tableName"]) == TABLE
    # No other statement lets the function use the key through DynamoDB.
    for sid, other in by_sid.items():
        if sid != "UseAuditKeyViaDynamoDb" and "Condition" in other:
            assert "dynamodb" not in json.dumps(other["Condition"]), sid


def test_given_a_customer_managed_key_on_the_secret_when_set_then_decrypt_is_allowed_on_it_via_secrets_manager(
    cfn: dict[str, Any],
) -> None:
    without = {s["Sid"] for s in role_statements(cfn, holds_secret_key=False)}
    with_key = {s["Sid"]: s for s in role_statements(cfn, holds_secret_key=True)}
    assert "DecryptGitHubTokenViaSecretsManager" not in without
    statement = with_key["DecryptGitHubTokenViaSecretsManager"]
    assert statement["Action"] == "kms:Decrypt"
    assert statement["Resource"] == {"Ref": "GitHubTokenSecretKmsKeyArn"}
    condition = tm.resolve(cfn, statement["Condition"])
    assert condition == {"StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}}


# --------------------------------------------------------------------------- saved queries and outputs
EXPECTED_QUERIES = {
    "non-compliant-changes": ['filter kind = "pull_request" and verdict = "non_compliant"', "sort merged_at desc"],
    "emergency-changes": ['filter kind = "pull_request" and (emergency = 1 or emergency = "true")'],
    "population-by-repository": ['filter kind = "pull_request"', "by repository, verdict", "count(*)"],
    "run-history": ['filter kind = "run_summary"', "status", "window.since", "window.until"],
    "other-findings": [
        'filter kind in ["direct_push", "history_rewrite", "head_change", "protection", "policy_change", "state_reset"]',
        "record_id",
    ],
    "bypasses": [
        'filter kind in ["ruleset_bypass", "bypass", "coverage"] or admin_bypass = 1 or admin_bypass = "true"',
        "record_id",
    ],
}


def test_given_the_saved_queries_when_read_then_each_auditor_question_targets_the_audit_log_group(
    cfn: dict[str, Any],
) -> None:
    definitions = resources(cfn, "AWS::Logs::QueryDefinition")
    by_name = {tm.resolve(cfn, d["Properties"]["Name"]): d["Properties"] for d in definitions.values()}
    assert set(by_name) == {f"pr-auditor/{STACK}/{name}" for name in EXPECTED_QUERIES}
    for name, fragments in EXPECTED_QUERIES.items():
        definition = by_name[f"pr-auditor/{STACK}/{name}"]
        assert definition["LogGroupNames"] == [{"Ref": "AuditLogGroup"}]
        for fragment in fragments:
            assert fragment in definition["QueryString"], (name, fragment)


def test_given_the_outputs_when_read_then_operators_find_the_queues_topic_log_group_and_function(
    cfn: dict[str, Any],
) -> None:
    outputs = {name: output["Value"] for name, output in cfn["Outputs"].items()}
    assert outputs["OpsQueueUrl"] == {"Ref": "OpsQueue"}
    assert outputs["OpsDeadLetterQueueUrl"] == {"Ref": "OpsDeadLetterQueue"}
    assert outputs["AlarmTopicArn"] == {"Ref": "AlarmTopic"}
    assert outputs["AuditLogGroupName"] == {"Ref": "AuditLogGroup"}
    assert outputs["AuditorFunctionName"] == {"Ref": "AuditorFunction"}
    assert outputs["PolicyParameterName"] == {"Ref": "PolicyParameter"}
    assert outputs["AuditStateTableName"] == {"Ref": "AuditStateTable"}
    assert outputs["AuditKeyArn"] == {"Fn::GetAtt": ["AuditKey", "Arn"]}
    assert outputs["AlarmPathKeyArn"] == {"Fn::GetAtt": ["AlarmPathKey", "Arn"]}
    assert outputs["EvidenceBucketName"] == {"Ref": "EvidenceBucket"}
    assert outputs["SigningKeyArn"] == {"Fn::GetAtt": ["SigningKey", "Arn"]}
    assert outputs["DashboardName"] == {"Ref": "AuditorDashboard"}


# --------------------------------------------------------------------------- repository files
def test_given_the_layer_requirements_when_compared_with_pyproject_then_they_are_the_same_list() -> None:
    """layer/requirements.txt is the hashed lock of exactly pyproject's runtime dependencies: each one
    pinned at a version pyproject allows, none left from a removed dependency. Fix: `make lock`."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {canonical(req.name): req for req in map(Requirement, project["dependencies"])}
    pins = {pin.name: pin for pin in read_lock(ROOT / "layer" / "requirements.txt")}
    direct = {name for name, pin in pins.items() if "pr-auditor" in pin.via}
    assert direct == set(declared), "layer/requirements.txt and pyproject.toml disagree: run `make lock`"
    for name, requirement in declared.items():
        assert requirement.specifier.contains(pins[name].version, prereleases=True), (
            f"layer/requirements.txt pins {name}=={pins[name].version}, pyproject.toml wants {requirement}:"
            " run `make lock`"
        )
    assert all(pin.hashes for pin in pins.values())
    assert all(pin.marker is None for pin in pins.values()), "one target: python3.13 on arm64"


def test_given_the_sample_events_when_read_then_they_are_a_scheduled_event_and_a_backfill_window() -> None:
    scheduled = json.loads((ROOT / "events" / "scheduled.json").read_text(encoding="utf-8"))
    assert scheduled["detail-type"] == "Scheduled Event"
    assert scheduled["source"] == "aws.events"
    assert scheduled["detail"] == {}
    assert datetime.fromisoformat(scheduled["time"]).utcoffset() is not None
    backfill = json.loads((ROOT / "events" / "backfill.json").read_text(encoding="utf-8"))
    assert backfill["action"] == "backfill"
    since, until = (datetime.fromisoformat(backfill[k]) for k in ("since", "until"))
    assert since.utcoffset() is not None and since < until
    assert backfill["orgs"] == ["acme"]


@pytest.mark.parametrize("name", ["scheduled.json", "backfill.json"])
def test_given_a_sample_event_when_the_handler_parses_it_then_it_is_accepted(name: str) -> None:
    invocation = pytest.importorskip("pr_auditor.audit.invocation")
    event = json.loads((ROOT / "events" / name).read_text(encoding="utf-8"))
    # a clock after the samples (a scheduled event: a minute after it fired, inside EventBridge's retry window)
    fired = datetime.fromisoformat(event["time"]) if "time" in event else datetime(2026, 11, 29, 23, 59, tzinfo=UTC)
    now = fired + timedelta(minutes=1)
    parsed = invocation.parse_event(event, now=now)
    if name == "backfill.json":
        assert parsed.window.since < parsed.window.until
        assert parsed.orgs == ("acme",)
    else:
        assert parsed.now.utcoffset() is not None


def samconfig_deploy_environments() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    return {
        name: env["deploy"]["parameters"]
        for name, env in config.items()
        if isinstance(env, dict) and "parameters" in env.get("deploy", {})
    }


@pytest.mark.parametrize("environment", sorted(samconfig_deploy_environments()))
def test_given_a_samconfig_environment_when_deployed_as_is_then_the_template_refuses_it_naming_the_github_parameters(
    sam: dict[str, Any], environment: str
) -> None:
    # A checked-in configuration cannot hold a real organisation and secret; whatever it holds instead (nothing,
    # or an example) must stop the deploy before anything is created, with the parameter named.
    deploy = samconfig_deploy_environments()[environment]
    capabilities = deploy["capabilities"]
    assert "CAPABILITY_IAM" in (capabilities.split() if isinstance(capabilities, str) else capabilities)
    given = deploy.get("parameter_overrides", [])
    overrides = dict(item.split("=", 1) for item in (shlex.split(given) if isinstance(given, str) else given))
    assert set(overrides) <= set(sam["Parameters"]), "samconfig names a parameter the template does not have"
    refused = {error.split(":", 1)[0] for error in tm.parameter_errors(sam, overrides)}
    assert {"GitHubOrgs", "GitHubTokenSecretArn"} <= refused


PLACEHOLDERS = [
    ("GitHubOrgs", "acme"),
    ("GitHubOrgs", "acme,acme-labs"),
    ("GitHubOrgs", "octo-org,acme-sandbox"),
    ("GitHubOrgs", "ACME"),
    ("GitHubOrgs", "your-org"),
    ("GitHubOrgs", "change-me"),
    ("GitHubOrgs", "octo org"),
    ("GitHubOrgs", "*,octo-org"),
    ("GitHubTokenSecretArn", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:pr-auditor/github-token-Q1w2E3"),
    ("GitHubTokenSecretArn", "arn:aws:secretsmanager:eu-west-1:111122223333:secret:pr-auditor/github-token-Q1w2E3"),
    ("GitHubTokenSecretArn", "arn:aws:secretsmanager:eu-west-1:210987654321:secret:pr-auditor/github-token-AbCdEf"),
    ("GitHubTokenSecretArn", "arn:aws:secretsmanager:eu-west-1:210987654321:secret:pr-auditor/github-token-XXXXXX"),
    ("GitHubTokenSecretArn", "arn:aws:secretsmanager:eu-west-1:210987654321:secret:pr-auditor/github-token"),
]


@pytest.mark.parametrize(("name", "value"), PLACEHOLDERS, ids=[f"{n}={v}" for n, v in PLACEHOLDERS])
def test_given_a_placeholder_github_parameter_when_validated_then_the_deploy_is_refused_naming_that_parameter(
    sam: dict[str, Any], name: str, value: str
) -> None:
    errors = tm.parameter_errors(sam, {**tm.SAMPLE_PARAMETERS, name: value})
    assert len(errors) == 1
    assert errors[0].startswith(f"{name}: failed to satisfy constraint:")


@pytest.mark.parametrize("name", ["GitHubOrgs", "GitHubTokenSecretArn"])
def test_given_a_required_github_parameter_left_out_when_validated_then_the_deploy_is_refused_naming_it(
    sam: dict[str, Any], name: str
) -> None:
    overrides = {k: v for k, v in tm.SAMPLE_PARAMETERS.items() if k != name}
    assert tm.parameter_errors(sam, overrides) == [f"{name}: must have a value (no default)"]


@pytest.mark.parametrize(
    "orgs", ["octo-org", "octo-org,octo-labs", "acme-corp", "my-organisation", "Example-Inc", "a1", "*"]
)
def test_given_real_looking_organisations_when_validated_then_they_pass(sam: dict[str, Any], orgs: str) -> None:
    assert tm.parameter_errors(sam, {**tm.SAMPLE_PARAMETERS, "GitHubOrgs": orgs}) == []


RETENTIONS = [400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]


@pytest.mark.parametrize("logs", RETENTIONS)
def test_given_each_log_retention_when_the_evidence_retention_varies_then_the_rules_accept_exactly_the_longer_ones(
    sam: dict[str, Any], logs: int
) -> None:
    assert sam["Parameters"]["EvidenceRetentionDays"]["AllowedValues"] == [1, 7, 30, *RETENTIONS]  # 1-30: trials
    assert sam["Parameters"]["EvidenceRetentionDays"]["Default"] == 731
    assert sam["Parameters"]["EvidenceLockMode"]["Default"] == "COMPLIANCE"
    for evidence in RETENTIONS:
        values = tm.parameter_values(sam, {"LogRetentionDays": str(logs), "EvidenceRetentionDays": str(evidence)})
        failures = tm.rule_failures(sam, values)
        if evidence >= logs:
            assert failures == [], (logs, evidence)
        else:
            assert failures == [
                f"EvidenceRetentionCoversLogRetention: EvidenceRetentionDays must be at least LogRetentionDays ({logs} days)"
            ]


def test_given_the_checkov_skips_when_read_then_each_names_a_check_and_gives_a_reason(sam: dict[str, Any]) -> None:
    skips = [
        (logical_id, skip)
        for logical_id, resource in sam["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert [(lid, s["id"]) for lid, s in skips] == [
        ("EvidenceBucket", "CKV_AWS_18"),
        ("AuditorFunction", "CKV_AWS_117"),
    ]
    for _, skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"])
        assert len(skip.get("comment", "")) >= 40


# --------------------------------------------------------------------------- only the auditor writes its state
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{STACK}-AuditorRole-1A2B3C4D5E6F"
WRITES = [
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
]


def table_policy(cfn: dict[str, Any]) -> dict[str, Any]:
    """The table's resource policy, resolved, with the role's ARN standing in for ``GetAtt AuditorRole.Arn``."""
    document = props(cfn, "AuditStateTable")["ResourcePolicy"]["PolicyDocument"]
    text = json.dumps(document).replace(json.dumps({"Fn::GetAtt": ["AuditorRole", "Arn"]}), json.dumps(ROLE_ARN))
    resolved: dict[str, Any] = tm.resolve(cfn, json.loads(text))
    return resolved


def denied(policy: dict[str, Any], principal_arn: str, action: str, resource: str) -> bool:
    """Does an explicit Deny of ``policy`` apply to this request? (The operators the policy uses, exactly.)"""
    for statement in statements(policy):
        if statement["Effect"] != "Deny" or statement["Principal"] != "*":
            continue
        if action.lower() not in {a.lower() for a in as_list(statement["Action"])}:
            continue
        if resource not in as_list(statement["Resource"]):
            continue
        conditions = statement.get("Condition", {})
        assert set(conditions) <= {"ArnNotEquals"}, conditions
        if all(principal_arn not in as_list(v) for v in conditions.get("ArnNotEquals", {}).values()):
            return True
    return False


PRINCIPALS = {
    "the function's role": ROLE_ARN,
    "an administrator role": f"arn:aws:iam::{ACCOUNT}:role/Admin",
    "an operator's backfill user": f"arn:aws:iam::{ACCOUNT}:user/ops",
    "the account root": f"arn:aws:iam::{ACCOUNT}:root",
    "a role named like the function's": f"{ROLE_ARN}-copy",
}


@pytest.mark.parametrize("action", WRITES)
@pytest.mark.parametrize("principal", PRINCIPALS, ids=list(PRINCIPALS))
def test_given_the_state_tables_policy_when_anyone_but_the_function_writes_then_it_is_denied(
    cfn: dict[str, Any], principal: str, action: str
) -> None:
    policy = table_policy(cfn)
    assert denied(policy, PRINCIPALS[principal], action, TABLE_ARN) is (principal != "the function's role")


@pytest.mark.parametrize("action", ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:DescribeTable"])
def test_given_the_state_tables_policy_when_an_operator_reads_then_nothing_is_denied(
    cfn: dict[str, Any], action: str
) -> None:
    # The CLI reads the ledger (LedgerReader) with the operator's credentials.
    assert not denied(table_policy(cfn), PRINCIPALS["an operator's backfill user"], action, TABLE_ARN)


def test_given_the_state_tables_policy_when_read_then_its_only_statement_is_the_write_deny_for_this_table(
    cfn: dict[str, Any],
) -> None:
    (statement,) = statements(props(cfn, "AuditStateTable")["ResourcePolicy"]["PolicyDocument"])
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*"
    assert sorted(as_list(statement["Action"])) == sorted(WRITES)
    assert tm.resolve(cfn, statement["Resource"]) == TABLE_ARN
    assert statement["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": ["AuditorRole", "Arn"]}}}


def references(value: Any) -> set[str]:
    """Logical ids a value refers to (Ref, Fn::GetAtt, ${Id} / ${Id.Attr} inside Fn::Sub)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else arg.split(".")[0])
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text)}
                if isinstance(arg, list):
                    found |= references(arg[1])
            else:
                found |= references(arg)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


def test_given_the_translated_template_when_its_references_are_followed_then_there_is_no_dependency_cycle(
    cfn: dict[str, Any],
) -> None:
    # The table's policy names the role and the role's policy names the table: one side must not be a Ref.
    ids = set(cfn["Resources"])
    graph = {
        lid: (references(res.get("Properties", {})) | set(as_list(res.get("DependsOn", [])))) & ids
        for lid, res in cfn["Resources"].items()
    }
    assert "AuditorRole" in graph["AuditStateTable"]
    assert "AuditStateTable" not in graph["AuditorRole"]
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, " -> ".join((*path, node))
        if node in done:
            return
        for target in graph[node]:
            visit(target, (*path, node))
        done.add(node)

    for node in graph:
        visit(node, ())


# --------------------------------------------------------------------------- evidence archive (S3 Object Lock)
def test_given_the_evidence_bucket_when_read_then_object_lock_compliance_holds_every_version_for_the_parameter(
    cfn: dict[str, Any],
) -> None:
    bucket = props(cfn, "EvidenceBucket")
    assert bucket["ObjectLockEnabled"] is True
    assert bucket["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": {"Ref": "EvidenceLockMode"}, "Days": {"Ref": "EvidenceRetentionDays"}}},
    }
    assert cfn["Parameters"]["EvidenceLockMode"]["Default"] == "COMPLIANCE", "GOVERNANCE is chosen, never defaulted"
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert "BucketName" not in bucket, "a generated name never collides with a bucket an earlier stack retained"


def test_given_the_evidence_bucket_when_read_then_it_is_private_encrypted_with_the_evidence_key_and_tls_only(
    cfn: dict[str, Any],
) -> None:
    bucket = props(cfn, "EvidenceBucket")
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule == {
        "ServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": {"Fn::GetAtt": ["AuditKey", "Arn"]},
        },
        "BucketKeyEnabled": True,
    }
    policy = props(cfn, "EvidenceBucketPolicy")
    assert policy["Bucket"] == {"Ref": "EvidenceBucket"}
    statement = statements(policy["PolicyDocument"])[0]  # the one-writer statements: test_evidence_template.py
    assert statement["Sid"] == "DenyInsecureTransport"
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "s3:*")
    assert statement["Resource"] == [{"Fn::GetAtt": ["EvidenceBucket", "Arn"]}, {"Fn::Sub": "${EvidenceBucket.Arn}/*"}]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_given_the_evidence_buckets_lifecycle_when_read_then_no_rule_ever_expires_or_deletes_a_version(
    cfn: dict[str, Any],
) -> None:
    rules = props(cfn, "EvidenceBucket")["LifecycleConfiguration"]["Rules"]
    deleting = {
        "ExpirationInDays",
        "ExpirationDate",
        "ExpiredObjectDeleteMarker",
        "NoncurrentVersionExpiration",
        "NoncurrentVersionExpirationInDays",
    }
    for rule in rules:
        assert not deleting & set(rule), rule
    assert rules == [
        {
            "Id": "abort-incomplete-uploads",
            "Status": "Enabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        }
    ]


# --------------------------------------------------------------------------- tamper alerts (EventBridge)
TAMPER_RULES = [
    "KeyTamperRule",
    "LogGroupTamperRule",
    "StatePolicyTamperRule",
    "StateTableTamperRule",
    "EvidenceBucketTamperRule",
    "FunctionTamperRule",
]


def placeholders(value: Any) -> Any:
    """Resource references as readable stand-ins: GetAtt X.Arn -> "<X.Arn>", Ref X -> "<X>"."""
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return f"<{value['Ref']}>"
    if isinstance(value, dict):
        return {key: placeholders(item) for key, item in value.items()}
    if isinstance(value, list):
        return [placeholders(item) for item in value]
    return value


def event_matches(pattern: Any, event: Any) -> bool:
    """EventBridge's matching for the pattern forms used here: exact values in lists, nested objects, arrays
    in the event matched element-wise ("any element matches"), and ``$or``."""
    if isinstance(event, list):
        return any(event_matches(pattern, item) for item in event)
    if isinstance(pattern, list):
        return event in pattern
    for key, sub in pattern.items():
        if key == "$or":
            if not any(event_matches(alternative, event) for alternative in sub):
                return False
        elif not isinstance(event, dict) or key not in event or not event_matches(sub, event[key]):
            return False
    return True


def cloudtrail_event(source: str, name: str, **detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "source": source,
        "detail-type": "AWS API Call via CloudTrail",
        "account": ACCOUNT,
        "region": REGION,
        "time": "2026-11-30T03:00:00Z",
        "detail": {
            "eventSource": source.replace("aws.", "") + ".amazonaws.com",
            "eventName": name,
            "eventTime": "2026-11-30T03:00:00Z",
            "userIdentity": {"arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/mallory"},
            **detail,
        },
    }


def key_event(name: str, key: str) -> dict[str, Any]:
    return cloudtrail_event(
        "aws.kms", name, requestParameters={"keyId": key}, resources=[{"ARN": key, "type": "AWS::KMS::Key"}]
    )


def log_event(name: str, group: str) -> dict[str, Any]:
    return cloudtrail_event("aws.logs", name, requestParameters={"logGroupName": group})


def table_event(name: str, arn: str) -> dict[str, Any]:
    return cloudtrail_event("aws.dynamodb", name, requestParameters={"resourceArn": arn})


def table_named(name: str, table: str) -> dict[str, Any]:
    return cloudtrail_event("aws.dynamodb", name, requestParameters={"tableName": table})


def bucket_event(name: str, bucket: str) -> dict[str, Any]:
    return cloudtrail_event("aws.s3", name, requestParameters={"bucketName": bucket})


def function_event(name: str, function: str) -> dict[str, Any]:
    return cloudtrail_event("aws.lambda", name, requestParameters={"functionName": function})


OTHER_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f0f0f0f-0000-0000-0000-000000000000"
TAMPER_CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("evidence key disabled", key_event("DisableKey", "<AuditKey.Arn>"), "KeyTamperRule"),
    ("evidence key scheduled for deletion", key_event("ScheduleKeyDeletion", "<AuditKey.Arn>"), "KeyTamperRule"),
    ("alarm-path key disabled", key_event("DisableKey", "<AlarmPathKey.Arn>"), "KeyTamperRule"),
    ("alarm-path key scheduled for deletion", key_event("ScheduleKeyDeletion", "<AlarmPathKey.Arn>"), "KeyTamperRule"),
    ("another key disabled", key_event("DisableKey", OTHER_KEY), None),
    ("evidence key re-enabled", key_event("EnableKey", "<AuditKey.Arn>"), None),
    ("evidence log group deleted", log_event("DeleteLogGroup", "<AuditLogGroup>"), "LogGroupTamperRule"),
    ("a stream of it deleted", log_event("DeleteLogStream", "<AuditLogGroup>"), "LogGroupTamperRule"),
    ("its retention removed", log_event("DeleteRetentionPolicy", "<AuditLogGroup>"), "LogGroupTamperRule"),
    ("its retention changed", log_event("PutRetentionPolicy", "<AuditLogGroup>"), "LogGroupTamperRule"),
    ("another log group deleted", log_event("DeleteLogGroup", "/aws/lambda/something-else"), None),
    ("a stream created in it", log_event("CreateLogStream", "<AuditLogGroup>"), None),
    (
        "state table policy deleted",
        table_event("DeleteResourcePolicy", "<AuditStateTable.Arn>"),
        "StatePolicyTamperRule",
    ),
    ("state table policy replaced", table_event("PutResourcePolicy", "<AuditStateTable.Arn>"), "StatePolicyTamperRule"),
    ("another table's policy deleted", table_event("DeleteResourcePolicy", TABLE_ARN + "-other"), None),
    ("signing key policy replaced", key_event("PutKeyPolicy", "<SigningKey.Arn>"), "KeyTamperRule"),
    ("signing key granted to someone", key_event("CreateGrant", "<SigningKey.Arn>"), "KeyTamperRule"),
    ("signing key scheduled for deletion", key_event("ScheduleKeyDeletion", "<SigningKey.Arn>"), "KeyTamperRule"),
    ("signing key used to sign", key_event("Sign", "<SigningKey.Arn>"), None),
    *[
        (f"state table: {name}", table_named(name, "<AuditStateTable>"), "StateTableTamperRule")
        for name in ("UpdateTable", "DeleteTable", "UpdateContinuousBackups")
    ],
    (
        "state table restored to a point in time",
        cloudtrail_event(
            "aws.dynamodb",
            "RestoreTableToPointInTime",
            requestParameters={"sourceTableName": "<AuditStateTable>", "targetTableName": "copy"},
        ),
        "StateTableTamperRule",
    ),
    ("another table deleted", table_named("DeleteTable", "other-table"), None),
    ("the state table described", table_named("DescribeTable", "<AuditStateTable>"), None),
    *[
        (f"evidence bucket: {name}", bucket_event(name, "<EvidenceBucket>"), "EvidenceBucketTamperRule")
        for name in (
            "PutBucketPolicy",
            "DeleteBucketPolicy",
            "PutObjectLockConfiguration",
            "PutBucketVersioning",
            "PutBucketLifecycle",
            "DeleteBucketLifecycle",
        )
    ],
    ("another bucket's policy replaced", bucket_event("PutBucketPolicy", "other-bucket"), None),
    ("an evidence object read", bucket_event("GetObject", "<EvidenceBucket>"), None),
    *[
        (f"function: {name}", function_event(name, "<AuditorFunction>"), "FunctionTamperRule")
        for name in ("UpdateFunctionCode20150331v2", "UpdateFunctionConfiguration20150331v2", "DeleteFunction20150331")
    ],
    (
        "function code changed (by ARN)",
        function_event("UpdateFunctionCode20150331v2", "<AuditorFunction.Arn>"),
        "FunctionTamperRule",
    ),
    ("another function deleted", function_event("DeleteFunction20150331", "other-function"), None),
    ("the function invoked", function_event("Invoke", "<AuditorFunction>"), None),
]


@pytest.mark.parametrize(("description", "event", "rule"), TAMPER_CASES, ids=[c[0] for c in TAMPER_CASES])
def test_given_a_cloudtrail_event_when_the_tamper_rules_match_it_then_exactly_the_expected_rule_fires(
    cfn: dict[str, Any], description: str, event: dict[str, Any], rule: str | None
) -> None:
    rules = resources(cfn, "AWS::Events::Rule")
    firing = [
        lid for lid in TAMPER_RULES if event_matches(placeholders(rules[lid]["Properties"]["EventPattern"]), event)
    ]
    assert firing == ([rule] if rule else []), description


@pytest.mark.parametrize("rule_id", TAMPER_RULES)
def test_given_a_tamper_rule_when_it_fires_then_a_readable_sentence_goes_to_the_alarm_topic_with_a_dead_letter_queue(
    cfn: dict[str, Any], rule_id: str
) -> None:
    rule = props(cfn, rule_id)
    assert rule["State"] == "ENABLED"
    assert rule["EventPattern"]["detail-type"] == ["AWS API Call via CloudTrail"]
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Ref": "AlarmTopic"}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["OpsDeadLetterQueue", "Arn"]}}
    transformer = target["InputTransformer"]
    template = tm.resolve(cfn, transformer["InputTemplate"])
    # A JSON string (so SNS delivers a sentence), naming the stack, every placeholder defined.
    sentence = json.loads(" ".join(template.split()))
    assert isinstance(sentence, str) and sentence.startswith(
        f"TAMPER ALERT (pr-auditor {STACK}): <actor> called <action>"
    )
    assert set(re.findall(r"<([a-z]+)>", sentence)) == set(transformer["InputPathsMap"])
    assert all(path.startswith("$.detail.") for path in transformer["InputPathsMap"].values())


# --------------------------------------------------------------------------- dashboard
EXPECTED_WIDGETS = {
    "Runs completed and failed": [("PrAuditor", "RunsCompleted"), ("PrAuditor", "RunsFailed")],
    "Findings by kind": [
        ("PrAuditor", "FindingsPullRequest"),
        ("PrAuditor", "FindingsDirectPush"),
        ("PrAuditor", "FindingsHistoryRewrite"),
        ("PrAuditor", "FindingsProtection"),
        ("PrAuditor", "FindingsPolicyChange"),
    ],
    "Pull requests audited": [("PrAuditor", "PullRequestsAudited")],
    "GitHub requests": [("PrAuditor", "GitHubRequests")],
    "Run duration (seconds)": [("PrAuditor", "RunDurationSeconds"), ("PrAuditor", "RunDurationSeconds")],
    "Ops queue depth": [("AWS/SQS", "ApproximateNumberOfMessagesVisible")] * 2,
    "Ops queue age of oldest message (seconds)": [("AWS/SQS", "ApproximateAgeOfOldestMessage")],
}


def test_given_the_dashboard_when_its_widgets_are_read_then_each_shows_the_documented_metrics(
    cfn: dict[str, Any],
) -> None:
    body = tm.dashboard(cfn)
    widgets = {w["properties"]["title"]: w["properties"] for w in body["widgets"]}
    assert {title: [(m[0], m[1]) for m in w["metrics"]] for title, w in widgets.items()} == EXPECTED_WIDGETS
    for title, widget in widgets.items():
        assert widget["region"] == REGION, title
        for metric in widget["metrics"]:
            if metric[0] == "PrAuditor":  # Powertools Metrics' default dimension: the service name
                assert metric[2:4] == [
                    "service",
                    props(cfn, "AuditorFunction")["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"],
                ]
    queues = {m[3] for m in widgets["Ops queue depth"]["metrics"]}
    assert queues == {"<OpsQueue.QueueName>", "<OpsDeadLetterQueue.QueueName>"}
    assert widgets["Ops queue age of oldest message (seconds)"]["metrics"][0][3] == "<OpsQueue.QueueName>"
    namespace = props(cfn, "AuditorFunction")["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    assert namespace == "PrAuditor"


def test_given_the_stack_reference_when_read_then_it_names_every_dashboard_metric() -> None:
    readme = (ROOT / "docs" / "stack.md").read_text(encoding="utf-8")  # the README links it ("What the stack creates")
    for metric in {m for metrics in EXPECTED_WIDGETS.values() for ns, m in metrics if ns == "PrAuditor"}:
        assert f"`{metric}`" in readme, metric


# --------------------------------------------------------------------------- sam build output (make validate)
ELF_MACHINE_AARCH64 = 183
LAYER_BUILD = ROOT / ".aws-sam" / "build" / "DependenciesLayer" / "python"


def test_given_the_built_layer_when_its_native_extensions_are_read_then_all_are_aarch64_elf() -> None:
    if not LAYER_BUILD.is_dir():
        if os.environ.get("REQUIRE_SAM_BUILD"):
            pytest.fail(f"{LAYER_BUILD} is missing: run sam build first")
        pytest.skip("no sam build output (make validate builds it and runs this test)")
    for package in ("github", "aws_lambda_powertools", "yaml", "cryptography", "nacl", "jwt"):
        assert (LAYER_BUILD / package).is_dir(), package
    extensions = sorted(LAYER_BUILD.rglob("*.so"))
    names = {p.name.split(".")[0] for p in extensions}
    assert {"_rust", "_sodium", "_yaml", "_cffi_backend"} <= names
    for extension in extensions:
        header = extension.read_bytes()[:20]
        assert header[:4] == b"\x7fELF", extension
        assert int.from_bytes(header[18:20], "little") == ELF_MACHINE_AARCH64, f"{extension} is not aarch64"


def test_given_the_built_layer_when_its_distributions_are_read_then_they_are_exactly_the_locked_versions() -> None:
    if not LAYER_BUILD.is_dir():
        if os.environ.get("REQUIRE_SAM_BUILD"):
            pytest.fail(f"{LAYER_BUILD} is missing: run sam build first")
        pytest.skip("no sam build output (make validate builds it and runs this test)")
    installed = {}
    for dist_info in LAYER_BUILD.glob("*.dist-info"):
        metadata = (dist_info / "METADATA").read_text(encoding="utf-8").splitlines()
        fields = dict(line.split(": ", 1) for line in metadata if line.startswith(("Name: ", "Version: ")))
        installed[canonical(fields["Name"])] = fields["Version"]
    locked = {pin.name: pin.version for pin in read_lock(ROOT / "layer" / "requirements.txt")}
    assert installed == locked
