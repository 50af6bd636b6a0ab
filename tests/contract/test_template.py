"""Contract tests of the deployable template, on its SAM translation (plain CloudFormation).

Moto cannot run metric filters, alarms or saved queries, so the wiring is checked here, as data: every
assertion names the exact value the deployed stack depends on, so a changed reference fails a test.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import tomllib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import template_model as tm
from cwfilter import matches, parse, selectors

ROOT = tm.ROOT
STACK = tm.DEFAULT_STACK_NAME
REGION = tm.PSEUDO_PARAMETERS["AWS::Region"]
ACCOUNT = tm.PSEUDO_PARAMETERS["AWS::AccountId"]

# CloudWatch Logs PutRetentionPolicy: the allowed retention values.
CLOUDWATCH_RETENTION_DAYS = {
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
}  # fmt: skip


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
    assert list(rules) == ["AuditorFunctionSchedule"]
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
def test_given_the_translated_function_when_read_then_it_is_python313_on_arm64_with_one_reserved_instance(
    cfn: dict[str, Any],
) -> None:
    functions = resources(cfn, "AWS::Lambda::Function")
    assert list(functions) == ["AuditorFunction"]
    fn = functions["AuditorFunction"]["Properties"]
    assert fn["Runtime"] == "python3.13"
    assert fn["Architectures"] == ["arm64"]
    assert fn["ReservedConcurrentExecutions"] == 1
    assert fn["Handler"] == "pr_auditor.handler.lambda_handler"
    assert fn["Timeout"] == 900
    assert fn["MemorySize"] == 512
    assert refers_to(fn["Role"], "AuditorRole")
    assert refers_to(fn["DeadLetterConfig"]["TargetArn"], "AlarmTopic")


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
        "POWERTOOLS_SERVICE_NAME": "pr-auditor",
        "POWERTOOLS_LOG_LEVEL": {"Ref": "LogLevel"},
    }
    assert cfn["Parameters"]["GitHubApiUrl"]["Default"] == "https://api.github.com"
    assert cfn["Parameters"]["OverlapMinutes"]["Default"] == 120
    assert "Default" not in cfn["Parameters"]["GitHubTokenSecretArn"]


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
    policy_module = pytest.importorskip("pr_auditor.policy")
    policy = policy_module.parse_policy(cfn["Parameters"]["PolicyDocument"]["Default"])
    assert policy.default.required_approvals == 1
    assert policy.default.emergency_labels == ("emergency",)


# --------------------------------------------------------------------------- log group, key, encryption
def test_given_the_log_group_when_read_then_it_is_the_functions_own_with_the_retention_parameter(
    cfn: dict[str, Any],
) -> None:
    fn = props(cfn, "AuditorFunction")
    group = props(cfn, "AuditLogGroup")
    assert fn["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": {"Ref": "AuditLogGroup"}}
    assert tm.resolve(cfn, group["LogGroupName"]) == "/aws/lambda/" + tm.resolve(cfn, fn["FunctionName"])
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    retention = cfn["Parameters"]["LogRetentionDays"]
    assert retention["Default"] == 731
    assert set(retention["AllowedValues"]) <= CLOUDWATCH_RETENTION_DAYS
    assert 731 in retention["AllowedValues"]


@pytest.mark.parametrize("logical_id", ["AuditLogGroup", "AuditKey", "AuditStateTable"])
def test_given_the_evidence_resources_when_the_stack_is_deleted_or_replaced_then_they_are_retained(
    cfn: dict[str, Any], logical_id: str
) -> None:
    resource = cfn["Resources"][logical_id]
    assert resource["DeletionPolicy"] == "Retain"
    assert resource["UpdateReplacePolicy"] == "Retain"


@pytest.mark.parametrize(
    ("logical_id", "key_property"),
    [
        ("AuditLogGroup", "KmsKeyId"),
        ("AlarmTopic", "KmsMasterKeyId"),
        ("OpsQueue", "KmsMasterKeyId"),
        ("OpsDeadLetterQueue", "KmsMasterKeyId"),
        ("AuditorFunction", "KmsKeyArn"),
    ],
)
def test_given_a_data_holding_resource_when_read_then_it_is_encrypted_with_the_stacks_key(
    cfn: dict[str, Any], logical_id: str, key_property: str
) -> None:
    assert refers_to(props(cfn, logical_id)[key_property], "AuditKey")


def test_given_the_state_table_when_read_then_it_is_keyed_on_pk_only_encrypted_recoverable_and_protected(
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
    # One sparse index: the ledger entries still open (unfinished), ordered by claim time.
    assert properties["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "open-index",
            "KeySchema": [
                {"AttributeName": "open", "KeyType": "HASH"},
                {"AttributeName": "claimed_at", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
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
    # A fixed name: a change needing replacement fails instead of starting an empty table (watermark restart).
    assert tm.resolve(cfn, properties["TableName"]) == f"{STACK}-audit-state"


def test_given_the_key_when_read_then_it_rotates_and_grants_services_only_for_this_stacks_resources(
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
    dynamodb = by_sid["DynamoDbReadsKeyMetadata"]
    assert dynamodb["Principal"] == {"Service": "dynamodb.amazonaws.com"}
    assert sorted(as_list(dynamodb["Action"])) == ["kms:Describe*", "kms:Get*", "kms:List*"]
    assert "Condition" not in dynamodb
    assert set(by_sid) == {
        "AccountRootDelegatesToIam",
        "CloudWatchLogsForTheAuditLogGroup",
        "CloudWatchAlarmsPublishToTheEncryptedTopic",
        "SnsDeliversTheAlarmTopicToEncryptedQueues",
        "DynamoDbReadsKeyMetadata",
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
    assert len(allows) == 1
    (allow,) = allows
    assert allow["Principal"] == {"Service": "sns.amazonaws.com"}
    assert as_list(allow["Action"]) == ["sqs:SendMessage"]
    assert allow["Resource"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Ref": "AlarmTopic"}}}
    assert len(denies) == 1
    assert denies[0]["Principal"] == "*"
    assert denies[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_given_the_ops_queue_when_read_then_it_redrives_to_a_dlq_that_keeps_messages_fourteen_days(
    cfn: dict[str, Any],
) -> None:
    queue = props(cfn, "OpsQueue")
    dlq = props(cfn, "OpsDeadLetterQueue")
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["OpsDeadLetterQueue", "Arn"]}
    assert 1 <= queue["RedrivePolicy"]["maxReceiveCount"] <= 10
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert queue["MessageRetentionPeriod"] < dlq["MessageRetentionPeriod"]


def test_given_the_topic_policy_when_read_then_only_this_stacks_alarms_may_publish(cfn: dict[str, Any]) -> None:
    policy = props(cfn, "AlarmTopicPolicy")
    assert policy["Topics"] == [{"Ref": "AlarmTopic"}]
    (statement,) = statements(policy["PolicyDocument"])
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert statement["Action"] == "sns:Publish"
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    pattern = tm.resolve(cfn, statement["Condition"]["ArnLike"]["aws:SourceArn"])
    assert pattern == f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{STACK}-*"


# --------------------------------------------------------------------------- metric filters
EXPECTED_FILTERS = {
    "NonCompliantChanges": '{ ($.kind = "pull_request") && ($.verdict = "non_compliant") }',
    "EmergencyChanges": '{ ($.kind = "pull_request") && ($.emergency IS TRUE) }',
    "AuditorRunFailures": '{ ($.kind = "run_summary") && ($.status = "failed") }',
    "AuditorRunsCompleted": '{ ($.kind = "run_summary") && ($.status = "completed") }',
}


def test_given_the_metric_filters_when_read_then_they_sit_on_the_audit_log_group_and_count_one_per_record(
    cfn: dict[str, Any],
) -> None:
    filters = resources(cfn, "AWS::Logs::MetricFilter")
    assert len(filters) == 4
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
        "AuditorErrorsAlarm",
        "AuditorStalledAlarm",
    }
    for alarm in specs:
        assert alarm.alarm_actions == ({"Ref": "AlarmTopic"},), alarm.logical_id
        assert alarm.alarm_name.startswith(f"{STACK}-"), "the key and topic policies match alarms by this prefix"


@pytest.mark.parametrize(
    ("alarm_id", "metric_name"),
    [("NonCompliantChangeAlarm", "NonCompliantChanges"), ("EmergencyChangeAlarm", "EmergencyChanges")],
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
    parameter_arn = tm.resolve(cfn, grants["ReadChangePolicy"][1])
    assert parameter_arn == f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/pr-auditor/{STACK}/policy"
    assert grants == {
        "WriteOwnLogGroup": (["logs:CreateLogStream", "logs:PutLogEvents"], {"Fn::GetAtt": ["AuditLogGroup", "Arn"]}),
        "ReadGitHubToken": (["secretsmanager:GetSecretValue"], {"Ref": "GitHubTokenSecretArn"}),
        "ReadChangePolicy": (["ssm:GetParameter", "ssm:GetParameterHistory"], grants["ReadChangePolicy"][1]),
        "ReadWriteAuditState": (STATE_ACTIONS, STATE_RESOURCES),
        "PublishFailedInvocations": (["sns:Publish"], {"Ref": "AlarmTopic"}),
        "UseAuditKeyViaSnsAndLambda": (["kms:Decrypt", "kms:GenerateDataKey"], {"Fn::GetAtt": ["AuditKey", "Arn"]}),
        "UseAuditKeyViaDynamoDb": (["kms:Decrypt", "kms:GenerateDataKey"], {"Fn::GetAtt": ["AuditKey", "Arn"]}),
    }
    via = tm.resolve(cfn, by_sid["UseAuditKeyViaSnsAndLambda"]["Condition"]["StringEquals"]["kms:ViaService"])
    assert via == [f"sns.{REGION}.amazonaws.com", f"lambda.{REGION}.amazonaws.com"]


STATE_ACTIONS = sorted(
    ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem", "dynamodb:Query"]
)
STATE_RESOURCES = [
    {"Fn::GetAtt": ["AuditStateTable", "Arn"]},
    {"Fn::Sub": "${AuditStateTable.Arn}/index/open-index"},
]


@pytest.mark.parametrize("holds_secret_key", [False, True])
def test_given_the_function_role_when_its_dynamodb_grants_are_read_then_only_the_state_table_and_its_open_index(
    cfn: dict[str, Any], holds_secret_key: bool
) -> None:
    found = role_statements(cfn, holds_secret_key)
    dynamodb = [s for s in found if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))]
    assert len(dynamodb) == 1
    (statement,) = dynamodb
    assert statement["Effect"] == "Allow"
    assert sorted(as_list(statement["Action"])) == STATE_ACTIONS
    assert statement["Resource"] == STATE_RESOURCES, "the table and its one index, nothing else"
    assert "Condition" not in statement
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
    assert condition["StringEquals"]["kms:EncryptionContext:aws:dynamodb:tableName"] == {"Ref": "AuditStateTable"}
    # No other statement lets the function use the key through DynamoDB.
    for sid, other in by_sid.items():
        if sid != "UseAuditKeyViaDynamoDb" and "Condition" in other:
            assert "dynamodb" not in json.dumps(tm.resolve(cfn, other["Condition"])), sid


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


# --------------------------------------------------------------------------- repository files
def requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def test_given_the_layer_requirements_when_compared_with_pyproject_then_they_are_the_same_list() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert requirement_lines(ROOT / "layer" / "requirements.txt") == project["dependencies"]


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
    invocation = pytest.importorskip("pr_auditor.invocation")
    event = json.loads((ROOT / "events" / name).read_text(encoding="utf-8"))
    parsed = invocation.parse_event(event)
    if name == "backfill.json":
        assert parsed.window.since < parsed.window.until
        assert parsed.orgs == ("acme",)
    else:
        assert parsed.now.utcoffset() is not None


@pytest.mark.parametrize("environment", ["default", "dev", "prod"])
def test_given_a_samconfig_environment_when_read_then_its_overrides_satisfy_the_template_parameters(
    sam: dict[str, Any], environment: str
) -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    deploy = config[environment]["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["resolve_s3"] is True
    assert isinstance(deploy["confirm_changeset"], bool)
    expected_stack = {"default": "pr-auditor", "dev": "pr-auditor-dev", "prod": "pr-auditor-prod"}[environment]
    assert deploy["stack_name"] == expected_stack
    overrides = dict(item.split("=", 1) for item in deploy["parameter_overrides"])
    parameters = sam["Parameters"]
    missing = {name for name, spec in parameters.items() if "Default" not in spec} - set(overrides)
    assert not missing, f"{environment} must set {missing}"
    for name, value in overrides.items():
        spec = parameters[name]
        if "AllowedValues" in spec:
            assert value in {str(v) for v in spec["AllowedValues"]}, (name, value)
        if "AllowedPattern" in spec:
            assert re.fullmatch(spec["AllowedPattern"], value), (name, value)


def test_given_the_checkov_skips_when_read_then_each_names_a_check_and_gives_a_reason(sam: dict[str, Any]) -> None:
    skips = [
        (logical_id, skip)
        for logical_id, resource in sam["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert [(lid, s["id"]) for lid, s in skips] == [("AuditorFunction", "CKV_AWS_117")]
    for _, skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"])
        assert len(skip.get("comment", "")) >= 40


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
