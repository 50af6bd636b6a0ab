"""The AWS side on moto, shaped by template.yaml: log group, ops route (SNS → SQS + DLQ), secret, policy,
state table (with its open-index and its write-protection policy), evidence bucket (Object Lock).

What moto does for real here: Secrets Manager, SSM (read by Powertools Parameters inside the handler),
CloudWatch Logs put/get, SNS → SQS delivery with the DLQ redrive. What it cannot do (measured on moto 5.2,
see docs/aws-facts.md): turn metric filters into metrics, or alarms into notifications. Those two hops are
stood in for here, plainly: the template's own filter patterns are evaluated on the logged records by
``cwfilter`` (which rejects syntax it does not know), and an alarm whose metric crosses its threshold
publishes the JSON CloudWatch publishes for an alarm state change to the alarm's SNS topic.
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3

from cwfilter import matches
from template_model import (
    ROOT,
    AlarmSpec,
    MetricFilterSpec,
    alarms,
    load_template,
    metric_filters,
    parameter_values,
    resolve,
)

if TYPE_CHECKING:
    import pytest

    from standin.model import GitHubState

REGION = "eu-west-1"
ACCOUNT = "123456789012"
STACK = "pr-auditor"


@dataclass
class LambdaContext:
    """What the Lambda runtime passes; Powertools reads these attributes."""

    function_name: str = f"{STACK}-auditor"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{STACK}-auditor"
    aws_request_id: str = "demo-request-0001"
    log_group_name: str = field(default_factory=lambda: log_group_name(STACK))
    remaining_ms: int = 900_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class AwsRoute:
    """The deployed resources the function and ops touch, created in moto."""

    log_group: str
    topic_arn: str
    queue_url: str
    dlq_url: str
    secret_arn: str
    policy_parameter: str
    state_table: str
    evidence_bucket: str
    signing_key_id: str = ""
    filters: list[MetricFilterSpec] = field(default_factory=list)
    alarms: list[AlarmSpec] = field(default_factory=list)

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)


def log_group_name(stack: str) -> str:
    """The evidence log group's name as the template builds it for ``stack`` (the function logs there, and
    Lambda reports it as the context's log group)."""
    template = load_template()
    name = template["Resources"]["AuditLogGroup"]["Properties"]["LogGroupName"]
    return str(resolve(template, name, parameter_values(template, stack_name=stack)))


def function_environment(route: AwsRoute, github_url: str, **overrides: str) -> dict[str, str]:
    """The function's environment as template.yaml sets it, pointed at the stand-ins."""
    env = {
        "GITHUB_ORGS": "acme",
        "GITHUB_API_URL": github_url,
        "GITHUB_TOKEN_SECRET": route.secret_arn,
        "POLICY_PARAMETER": route.policy_parameter,
        "STATE_TABLE": route.state_table,
        "ALARM_TOPIC_ARN": route.topic_arn,
        "SCHEDULE_MINUTES": "60",
        "OVERLAP_MINUTES": "120",
        "CHUNK_MINUTES": "1440",
        "DEDUPE_TTL_DAYS": "400",
        "START_AT": "",
        "SWEEP_DAYS": "7",
        "SWEEP_EVERY_HOURS": "24",
        "READ_AUDIT_LOG": "false",
        "EVIDENCE_BUCKET": route.evidence_bucket,
        "SIGNING_KEY_ID": route.signing_key_id,
        "GITHUB_THROTTLE_SECONDS": "0",
        "POWERTOOLS_SERVICE_NAME": "pr-auditor",
        "POWERTOOLS_METRICS_NAMESPACE": "PrAuditor",
    }
    env.update(overrides)
    return env


def aws_environment() -> None:
    """Credentials and region for moto; never real ones."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
    )


def deploy(*, token: str, policy_text: str, stack: str = STACK) -> AwsRoute:
    """Create what template.yaml declares for the data path (call inside ``moto.mock_aws``).

    Names are the template's own, resolved for ``stack`` (the log group and the table carry the stack id's
    first block, as deployed). Not created: the encryption keys (moto's logs and SQS ignore them; the signing key is created), alarms, the
    dashboard and the EventBridge rules (contract tests check those as data)."""
    template = load_template()
    resources = template["Resources"]
    values = parameter_values(template, stack_name=stack)
    logs, sns, sqs = (boto3.client(s, region_name=REGION) for s in ("logs", "sns", "sqs"))
    secrets, ssm = boto3.client("secretsmanager", region_name=REGION), boto3.client("ssm", region_name=REGION)

    log_group = log_group_name(stack)
    logs.create_log_group(logGroupName=log_group)
    retention = int(template["Parameters"]["LogRetentionDays"]["Default"])
    logs.put_retention_policy(logGroupName=log_group, retentionInDays=retention)

    topic_arn = sns.create_topic(
        Name=str(resolve(template, resources["AlarmTopic"]["Properties"]["TopicName"], values))
    )["TopicArn"]
    queue_props, dlq_props = resources["OpsQueue"]["Properties"], resources["OpsDeadLetterQueue"]["Properties"]
    max_receive = int(queue_props["RedrivePolicy"]["maxReceiveCount"])
    dlq_url = sqs.create_queue(
        QueueName=f"{stack}-ops-dlq",
        Attributes={"MessageRetentionPeriod": str(dlq_props["MessageRetentionPeriod"])},
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=f"{stack}-ops",
        Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive}),
            "MessageRetentionPeriod": str(queue_props["MessageRetentionPeriod"]),
            "VisibilityTimeout": str(queue_props["VisibilityTimeout"]),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(
        QueueUrl=queue_url,
        Attributes={
            "Policy": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "sns.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": queue_arn,
                            "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                        }
                    ],
                }
            )
        },
    )
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

    table_props = resources["AuditStateTable"]["Properties"]
    state_table = create_state_table(table_props, str(resolve(template, table_props["TableName"], values)))
    put_state_table_policy(
        table_props, state_table, values, role_arn=f"arn:aws:iam::{ACCOUNT}:role/{stack}-AuditorRole"
    )
    evidence_bucket = create_evidence_bucket(resources["EvidenceBucket"]["Properties"], f"{stack}-evidence-bucket")
    signing_key_id = create_signing_key(resources["SigningKey"]["Properties"])
    secret_arn = secrets.create_secret(Name=f"{stack}/github-token", SecretString=json.dumps({"token": token}))["ARN"]
    parameter = f"/{stack}/policy"
    ssm.put_parameter(Name=parameter, Value=policy_text, Type="String")
    return AwsRoute(
        log_group=log_group,
        topic_arn=topic_arn,
        queue_url=queue_url,
        dlq_url=dlq_url,
        secret_arn=secret_arn,
        policy_parameter=parameter,
        state_table=state_table,
        evidence_bucket=evidence_bucket,
        signing_key_id=signing_key_id,
        filters=metric_filters(template, stack_name=stack),
        alarms=alarms(template, stack_name=stack),
    )


@contextmanager
def deployed_function(
    monkeypatch: pytest.MonkeyPatch, state: GitHubState, *, token: str, policy_text: str, **env_overrides: str
) -> Iterator[AwsRoute]:
    """The function deployed on moto and pointed at a GitHub stand-in serving ``state``: the stack created
    (``deploy``), the function's environment set through ``monkeypatch`` (``env_overrides`` on top of
    ``function_environment``), and the handler's cached settings and state table cleared on the way in and out.

    Powertools Parameters' caches and default providers are cleared first: their boto3 clients must be created
    inside this moto context, not reused from another test's. The handler, moto, Powertools and the stand-in
    are imported here, not at module level, so that importing the harness loads none of them."""
    from aws_lambda_powertools.utilities import parameters
    from moto import mock_aws

    from pr_auditor import handler

    from standin.server import StandIn

    aws_environment()
    with StandIn(state) as server, mock_aws():
        parameters.clear_caches()
        parameters.base.DEFAULT_PROVIDERS.clear()
        route = deploy(token=token, policy_text=policy_text)
        for key, value in function_environment(route, server.base_url, **env_overrides).items():
            monkeypatch.setenv(key, value)
        handler.settings.cache_clear()
        handler.state_table.cache_clear()
        handler.signer.cache_clear()
        try:
            yield route
        finally:
            handler.settings.cache_clear()
            handler.state_table.cache_clear()
            handler.signer.cache_clear()


def scheduled_event(at: datetime, *, event_id: str = "scheduled") -> dict[str, Any]:
    """The EventBridge scheduled event of events/scheduled.json, fired at ``at`` (aware) with id ``event_id``."""
    if at.tzinfo is None:
        raise ValueError(f"scheduled_event: at={at.isoformat()} has no timezone")
    event: dict[str, Any] = json.loads((ROOT / "events" / "scheduled.json").read_text(encoding="utf-8"))
    event.update(time=at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), id=event_id)
    return event


@contextmanager
def function_clock(event: dict[str, Any]) -> Iterator[None]:
    """The function's own clock reads the moment EventBridge fired ``event`` (a scheduled event: its
    ``time``), as it would in Lambda; the handler takes every time it writes from that clock. A test that set
    the clock itself (``monkeypatch.setattr(handler, "wall_clock", ...)``) keeps its own."""
    from pr_auditor import handler

    previous = handler.wall_clock
    if event.get("detail-type") != "Scheduled Event" or previous.__name__ != "wall_clock":
        yield
        return
    fired = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
    handler.wall_clock = lambda: fired  # type: ignore[assignment]
    try:
        yield
    finally:
        handler.wall_clock = previous  # type: ignore[assignment]


def create_state_table(properties: dict[str, Any], name: str) -> str:
    """The template's state table (key schema, indexes, billing, TTL attribute taken from its properties)."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    indexes = [
        {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
        for i in properties.get("GlobalSecondaryIndexes", [])
    ]
    dynamodb.create_table(
        TableName=name,
        KeySchema=properties["KeySchema"],
        AttributeDefinitions=properties["AttributeDefinitions"],
        BillingMode=properties["BillingMode"],
        **({"GlobalSecondaryIndexes": indexes} if indexes else {}),
    )
    ttl = properties["TimeToLiveSpecification"]
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": ttl["Enabled"], "AttributeName": ttl["AttributeName"]}
    )
    return name


def _with_role(value: Any, role_arn: str) -> Any:
    """The policy document with the function role's GetAtt replaced by ``role_arn``."""
    if value == {"Fn::GetAtt": ["AuditorRole", "Arn"]}:
        return role_arn
    if isinstance(value, dict):
        return {key: _with_role(item, role_arn) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_role(item, role_arn) for item in value]
    return value


def put_state_table_policy(properties: dict[str, Any], name: str, values: dict[str, Any], *, role_arn: str) -> None:
    """Attach the template's resource policy to the table (moto stores it; it does not enforce it)."""
    document = resolve(load_template(), _with_role(properties["ResourcePolicy"]["PolicyDocument"], role_arn), values)
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    table_arn = dynamodb.describe_table(TableName=name)["Table"]["TableArn"]
    dynamodb.put_resource_policy(ResourceArn=table_arn, Policy=json.dumps(document))


def create_evidence_bucket(properties: dict[str, Any], name: str) -> str:
    """The template's evidence bucket: Object Lock (hence versioning) with its default COMPLIANCE retention."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(
        Bucket=name,
        CreateBucketConfiguration={"LocationConstraint": REGION},
        ObjectLockEnabledForBucket=bool(properties["ObjectLockEnabled"]),
    )
    retention = properties["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    days = retention["Days"]
    if isinstance(days, dict):  # {"Ref": "EvidenceRetentionDays"}: its default
        days = load_template()["Parameters"][days["Ref"]]["Default"]
    mode = retention["Mode"]
    if isinstance(mode, dict):  # {"Ref": "EvidenceLockMode"}: its default (COMPLIANCE)
        mode = load_template()["Parameters"][mode["Ref"]]["Default"]
    s3.put_object_lock_configuration(
        Bucket=name,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": mode, "Days": int(days)}},
        },
    )
    return name


def create_signing_key(properties: dict[str, Any]) -> str:
    """The template's manifest-signing key (its spec and usage; moto stores the key policy, it does not
    enforce it). Returns the key's ARN, as the template passes it to the function."""
    kms = boto3.client("kms", region_name=REGION)
    metadata = kms.create_key(KeySpec=properties["KeySpec"], KeyUsage=properties["KeyUsage"])["KeyMetadata"]
    return str(metadata["Arn"])


@contextmanager
def captured_function_logs(logger: Any) -> Iterator[list[str]]:
    """What the Lambda runtime ships to CloudWatch Logs: every line the function's Powertools Logger writes
    to its stream (stdout in Lambda), taken here instead of printed."""
    buffer = io.StringIO()
    handler: logging.StreamHandler[Any] = logger.registered_handler
    previous = handler.setStream(buffer)
    lines: list[str] = []
    try:
        yield lines
    finally:
        handler.setStream(previous)
        lines.extend(line for line in buffer.getvalue().splitlines() if line.strip())


def ship(route: AwsRoute, lines: list[str]) -> list[str]:
    """Put the lines into the log group (as the Lambda runtime does) and read them back from moto."""
    logs = route.client("logs")
    stream = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"  # one stream per invocation
    logs.create_log_stream(logGroupName=route.log_group, logStreamName=stream)
    now = int(time.time() * 1000)
    for start in range(0, len(lines), 5000):
        batch = [{"timestamp": now, "message": line} for line in lines[start : start + 5000]]
        logs.put_log_events(logGroupName=route.log_group, logStreamName=stream, logEvents=batch)
    events: list[str] = []
    kwargs: dict[str, Any] = {"logGroupName": route.log_group, "logStreamName": stream, "startFromHead": True}
    while True:
        page = logs.get_log_events(**kwargs)
        events.extend(e["message"] for e in page["events"])
        if not page["events"] or page["nextForwardToken"] == kwargs.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextForwardToken"]


def metric_values(route: AwsRoute, events: list[str]) -> dict[str, int]:
    """STAND-IN for CloudWatch: the template's filter patterns applied to the logged events (sum per metric)."""
    return {spec.metric_name: sum(1 for event in events if matches(spec.pattern, event)) for spec in route.filters}


def alarms_in_alarm(route: AwsRoute, values: dict[str, int], *, lambda_errors: int = 0) -> list[AlarmSpec]:
    """STAND-IN for CloudWatch alarm evaluation over one period holding this run's datapoints."""
    compare = {
        "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
        "GreaterThanThreshold": lambda v, t: v > t,
        "LessThanThreshold": lambda v, t: v < t,
        "LessThanOrEqualToThreshold": lambda v, t: v <= t,
    }
    firing = []
    for alarm in route.alarms:
        total = 0
        for metric in alarm.metrics:
            total += lambda_errors if metric.namespace == "AWS/Lambda" else values.get(metric.metric_name, 0)
        if compare[alarm.comparison](total, alarm.threshold):
            firing.append(alarm)
    return firing


def publish_alarm(route: AwsRoute, alarm: AlarmSpec, value: int) -> None:
    """Publish what CloudWatch publishes to an alarm action topic on OK → ALARM (the message shape of
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html)."""
    metric = alarm.metrics[0]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    body = {
        "AlarmName": alarm.alarm_name,
        "AlarmDescription": alarm.properties.get("AlarmDescription"),
        "AWSAccountId": ACCOUNT,
        "AlarmConfigurationUpdatedTimestamp": now,
        "NewStateValue": "ALARM",
        "NewStateReason": f"Threshold Crossed: 1 datapoint [{float(value)}] was "
        f"{'greater than or equal to' if 'Greater' in alarm.comparison else 'less than'} "
        f"the threshold ({alarm.threshold}).",
        "StateChangeTime": now,
        "Region": "EU (Ireland)",
        "AlarmArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{alarm.alarm_name}",
        "OldStateValue": "OK",
        "AlarmActions": [route.topic_arn],
        "Trigger": {
            "MetricName": metric.metric_name,
            "Namespace": metric.namespace,
            "Statistic": metric.statistic.upper(),
            "Period": metric.period if isinstance(metric.period, int) else 300,
            "EvaluationPeriods": alarm.evaluation_periods,
            "ComparisonOperator": alarm.comparison,
            "Threshold": alarm.threshold,
            "TreatMissingData": alarm.treat_missing_data,
        },
    }
    route.client("sns").publish(
        TopicArn=route.topic_arn,
        Subject=f'ALARM: "{alarm.alarm_name}" in EU (Ireland)'[:100],
        Message=json.dumps(body),
    )


def read_queue(route: AwsRoute, *, queue_url: str | None = None) -> list[dict[str, Any]]:
    """Receive and delete every message on the ops queue; SNS envelopes are unwrapped."""
    sqs = route.client("sqs")
    messages: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url or route.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        batch = got.get("Messages", [])
        if not batch:
            return messages
        for message in batch:
            envelope = json.loads(message["Body"])
            messages.append(
                {
                    "subject": envelope.get("Subject"),
                    "alarm": json.loads(envelope["Message"]),
                    "attributes": {k: v["Value"] for k, v in (envelope.get("MessageAttributes") or {}).items()},
                }
            )
            sqs.delete_message(QueueUrl=queue_url or route.queue_url, ReceiptHandle=message["ReceiptHandle"])
