"""template.yaml as data: the SAM template, its metric filters and alarms, and its SAM translation.

Small and stable on purpose (the demo uses ``metric_filters()``)::

    from template_model import metric_filters
    for spec in metric_filters():            # MetricFilterSpec(logical_id, pattern, metric_name, namespace)
        if cwfilter.matches(spec.pattern, line): ...

* ``load_template()`` - the template as a dict; CloudFormation short tags (``!Ref``, ``!Sub``, ``!GetAtt``…)
  become their long form (``{"Ref": …}``, ``{"Fn::Sub": …}``, ``{"Fn::GetAtt": [resource, attribute]}``).
* ``metric_filters()`` / ``alarms()`` - typed views of the ``AWS::Logs::MetricFilter`` and
  ``AWS::CloudWatch::Alarm`` resources, names resolved for a stack name.
* ``translated()`` - the CloudFormation that aws-sam-translator makes of the template, offline (local
  ``CodeUri``/``ContentUri`` replaced by S3 URIs and a managed-policy loader that knows no policies, as
  cfn-lint and ``sam validate`` do).
* ``resolve()`` - evaluates the few intrinsics used in names (Ref, Fn::Sub, Fn::Join, Fn::FindInMap, Fn::If,
  Fn::Select, Fn::Split).
* ``parameter_errors()`` - what CloudFormation says before it creates anything: a parameter without a value,
  outside its AllowedValues/AllowedPattern/bounds, or a ``Rules`` assertion that fails (its AssertDescription).
* ``dashboard()`` - the dashboard body as parsed JSON, resource attributes left as ``<Resource.Attribute>``.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"

DEFAULT_STACK_NAME = "pr-auditor"
PSEUDO_PARAMETERS: dict[str, str] = {
    "AWS::AccountId": "123456789012",
    "AWS::Region": "eu-west-1",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/pr-auditor/1b4e28ba-2fa1-11d2-883f-0016d3cca427",
}
# Values for the parameters without a default, so the template can be translated and resolved offline. Not the
# documentation's placeholders (acme, account 123456789012): the template refuses those.
SAMPLE_PARAMETERS: dict[str, str] = {
    "GitHubOrgs": "northwind-eng,northwind-labs",
    "GitHubTokenSecretArn": "arn:aws:secretsmanager:eu-west-1:210987654321:secret:pr-auditor/github-Q1w2E3",
}


# --------------------------------------------------------------------------- YAML with CloudFormation tags
class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short-form tags into their long form."""


def _construct_node(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node!r}", node.start_mark)


def _intrinsic(name: str):  # type: ignore[no-untyped-def]
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        value = _construct_node(loader, node)
        if name == "Fn::GetAtt" and isinstance(value, str):
            resource, _, attribute = value.partition(".")
            value = [resource, attribute]
        return {name: value}

    return construct


_SHORT_TAGS = {
    "Ref": "Ref",
    "Condition": "Condition",
    **{
        tag: f"Fn::{tag}"
        for tag in (
            "And",
            "Base64",
            "Cidr",
            "Equals",
            "FindInMap",
            "GetAtt",
            "GetAZs",
            "If",
            "ImportValue",
            "Join",
            "Length",
            "Not",
            "Or",
            "Select",
            "Split",
            "Sub",
            "ToJsonString",
            "Transform",
        )
    },
}
for _tag, _name in _SHORT_TAGS.items():
    _CfnLoader.add_constructor(f"!{_tag}", _intrinsic(_name))


def load_yaml(text: str) -> Any:
    """Parse CloudFormation YAML (short tags become long form)."""
    return yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The SAM template as a dict, short tags in long form."""
    template = load_yaml(path.read_text(encoding="utf-8"))
    if not isinstance(template, dict) or "Resources" not in template:
        raise ValueError(f"{path} is not a CloudFormation template")
    return template


# --------------------------------------------------------------------------- intrinsic resolution (names)
def parameter_values(
    template: Mapping[str, Any], overrides: Mapping[str, Any] | None = None, stack_name: str = DEFAULT_STACK_NAME
) -> dict[str, Any]:
    """Parameter defaults + sample values for required ones + overrides + pseudo parameters."""
    values: dict[str, Any] = dict(PSEUDO_PARAMETERS)
    values["AWS::StackName"] = stack_name
    for name, spec in template.get("Parameters", {}).items():
        if "Default" in spec:
            values[name] = spec["Default"]
        elif name in SAMPLE_PARAMETERS:
            values[name] = SAMPLE_PARAMETERS[name]
    values.update(overrides or {})
    return values


class UnresolvableError(ValueError):
    """An intrinsic the resolver does not evaluate (GetAtt, a resource Ref, …)."""


def _evaluate_condition(template: Mapping[str, Any], value: Any, params: Mapping[str, Any]) -> bool:
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Condition":
            return _evaluate_condition(template, template["Conditions"][arg], params)
        if key == "Fn::Equals":
            left, right = (resolve(template, item, params) for item in arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not _evaluate_condition(template, arg[0], params)
        if key == "Fn::And":
            return all(_evaluate_condition(template, item, params) for item in arg)
        if key == "Fn::Or":
            return any(_evaluate_condition(template, item, params) for item in arg)
    raise UnresolvableError(f"not a condition: {value!r}")


def condition_holds(template: Mapping[str, Any], name: str, params: Mapping[str, Any] | None = None) -> bool:
    """Evaluate a named condition of the template for the given (or default) parameter values."""
    values = parameter_values(template) if params is None else params
    return _evaluate_condition(template, template["Conditions"][name], values)


def _substitute(text: str, variables: Mapping[str, Any]) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        start = text.find("${", i)
        if start < 0:
            out.append(text[i:])
            break
        out.append(text[i:start])
        end = text.find("}", start)
        if end < 0:
            raise UnresolvableError(f"unterminated ${{ in {text!r}")
        name = text[start + 2 : end]
        if name.startswith("!"):  # ${!Literal}
            out.append("${" + name[1:] + "}")
        elif name in variables:
            out.append(str(variables[name]))
        else:
            raise UnresolvableError(f"${{{name}}} in {text!r}")
        i = end + 1
    return "".join(out)


def resolve(template: Mapping[str, Any], value: Any, params: Mapping[str, Any] | None = None) -> Any:
    """Evaluate Ref (parameters, pseudo parameters), Fn::Sub, Fn::Join, Fn::FindInMap, Fn::If, Fn::Select.

    Resource references (Ref to a resource, Fn::GetAtt) raise UnresolvableError, except inside Fn::Sub
    where ``${Resource}`` of a resource with a known name property is substituted by that name.
    """
    values = parameter_values(template) if params is None else params
    if isinstance(value, list):
        return [resolve(template, item, values) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        return {key: resolve(template, item, values) for key, item in value.items()}
    ((key, arg),) = value.items()
    if key == "Ref":
        if arg == "AWS::NoValue":  # the property is left out; kept as written so callers can tell
            return value
        if arg in values:
            return values[arg]
        raise UnresolvableError(f"Ref {arg}")
    if key == "Fn::Sub":
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        variables = {**_resource_names(template, values), **values}
        variables.update({k: resolve(template, v, values) for k, v in extra.items()})
        return _substitute(text, variables)
    if key == "Fn::Join":
        separator, items = arg
        return separator.join(str(resolve(template, item, values)) for item in items)
    if key == "Fn::FindInMap":
        mapping, top, second = (resolve(template, item, values) for item in arg)
        return template["Mappings"][mapping][str(top)][second]
    if key == "Fn::If":
        name, when_true, when_false = arg
        chosen = when_true if condition_holds(template, name, values) else when_false
        return resolve(template, chosen, values)
    if key == "Fn::Select":
        index, items = arg
        return resolve(template, items, values)[int(resolve(template, index, values))]
    if key == "Fn::Split":
        separator, text = arg
        return str(resolve(template, text, values)).split(separator)
    if key.startswith("Fn::") or key == "Condition":
        raise UnresolvableError(f"{key} {arg!r}")
    return {key: resolve(template, arg, values)}


_NAME_PROPERTIES = {
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SSM::Parameter": "Name",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::CloudWatch::Alarm": "AlarmName",
}


def _resource_names(template: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``${LogicalId}`` inside Fn::Sub -> the resource's explicit name (the value of its Ref), if it has one.

    Only names that are plain strings or parameter/pseudo-parameter Subs, whose variables (if any) are
    intrinsics of parameters (no recursion into resources).
    """
    names: dict[str, Any] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        prop = _NAME_PROPERTIES.get(resource.get("Type", ""))
        name = resource.get("Properties", {}).get(prop) if prop else None
        if isinstance(name, str):
            names[logical_id] = name
        elif isinstance(name, dict) and set(name) == {"Fn::Sub"}:
            text, extra = (name["Fn::Sub"], {}) if isinstance(name["Fn::Sub"], str) else name["Fn::Sub"]
            try:
                variables = {**values, **{k: resolve(template, v, values) for k, v in extra.items()}}
                names[logical_id] = _substitute(text, variables)
            except UnresolvableError:
                continue
    return names


# --------------------------------------------------------------------------- parameter validation and rules
def _rule_value(template: Mapping[str, Any], value: Any, params: Mapping[str, Any]) -> Any:
    """Evaluate a Rules expression: Ref, Fn::Equals/Not/And/Or/Contains/EachMemberIn (what rules may use)."""
    if isinstance(value, list):
        return [_rule_value(template, item, params) for item in value]
    if not isinstance(value, dict):
        return value
    ((key, arg),) = value.items()
    if key == "Ref":
        return str(params[arg])
    args = [_rule_value(template, item, params) for item in (arg if isinstance(arg, list) else [arg])]
    if key == "Fn::Equals":
        return str(args[0]) == str(args[1])
    if key == "Fn::Not":
        return not args[0]
    if key == "Fn::And":
        return all(args)
    if key == "Fn::Or":
        return any(args)
    if key == "Fn::Contains":
        return str(args[1]) in [str(item) for item in args[0]]
    if key == "Fn::EachMemberIn":
        return all(str(item) in [str(a) for a in args[1]] for item in args[0])
    raise UnresolvableError(f"rule function {key}")


def rule_failures(template: Mapping[str, Any], params: Mapping[str, Any]) -> list[str]:
    """The AssertDescription of every failing assertion of the template's ``Rules`` (none when all hold)."""
    failures: list[str] = []
    for name, rule in template.get("Rules", {}).items():
        condition = rule.get("RuleCondition")
        if condition is not None and not _rule_value(template, condition, params):
            continue
        for assertion in rule["Assertions"]:
            if not _rule_value(template, assertion["Assert"], params):
                failures.append(f"{name}: {assertion.get('AssertDescription', 'assertion failed')}")
    return failures


def parameter_errors(template: Mapping[str, Any], overrides: Mapping[str, str]) -> list[str]:
    """What CloudFormation refuses before creating anything, for these parameter overrides (strings, as given to
    ``sam deploy --parameter-overrides``): a required parameter without a value, a value outside AllowedValues,
    not matching AllowedPattern as a whole (Java's ``String.matches``; the template's patterns use only syntax
    Python's ``re`` shares), outside MinValue/MaxValue or MinLength/MaxLength, then the Rules. Each error
    starts with the parameter's name, as CloudFormation's messages name it."""
    errors: list[str] = []
    values: dict[str, Any] = {}
    for name, spec in template.get("Parameters", {}).items():
        if name in overrides:
            value = str(overrides[name])
        elif "Default" in spec:
            value = str(spec["Default"])
        else:
            errors.append(f"{name}: must have a value (no default)")
            continue
        values[name] = value
        constraint = spec.get("ConstraintDescription", "")
        if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
            errors.append(f"{name}: must be one of AllowedValues")
        if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
            errors.append(f"{name}: failed to satisfy constraint: {constraint or spec['AllowedPattern']}")
        if spec.get("Type") == "Number":
            number = float(value)
            if number < spec.get("MinValue", float("-inf")) or number > spec.get("MaxValue", float("inf")):
                errors.append(f"{name}: out of range")
        elif not spec.get("MinLength", 0) <= len(value) <= spec.get("MaxLength", 1 << 30):
            errors.append(f"{name}: length out of range")
    if len(values) == len(template.get("Parameters", {})):
        errors.extend(rule_failures(template, values))
    return errors


# --------------------------------------------------------------------------- dashboard
def dashboard(template: Mapping[str, Any] | None = None, stack_name: str = DEFAULT_STACK_NAME) -> dict[str, Any]:
    """The body of the template's one dashboard, parsed; ``${Resource.Attribute}`` left as ``<Resource.Attribute>``."""
    tpl = load_template() if template is None else template
    ((_, resource),) = resources_of_type(tpl, "AWS::CloudWatch::Dashboard").items()
    body = resource["Properties"]["DashboardBody"]
    text = body["Fn::Sub"] if isinstance(body, dict) else body
    if not isinstance(text, str):
        raise ValueError("DashboardBody must be a literal or a plain Fn::Sub string")
    values = parameter_values(tpl, stack_name=stack_name)
    attributes = {name: f"<{name}>" for name in re.findall(r"\$\{([A-Za-z0-9]+\.[A-Za-z0-9]+)\}", text)}
    parsed: dict[str, Any] = json.loads(_substitute(text, {**values, **attributes}))
    return parsed


# --------------------------------------------------------------------------- typed views
def resources_of_type(template: Mapping[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """Logical id -> resource, for one resource type."""
    return {lid: res for lid, res in template["Resources"].items() if res.get("Type") == resource_type}


@dataclass(frozen=True)
class MetricFilterSpec:
    """One metric filter of the template. ``pattern`` is the CloudWatch Logs filter pattern text."""

    logical_id: str
    pattern: str
    metric_name: str
    namespace: str


def metric_filters(
    template: Mapping[str, Any] | None = None, stack_name: str = DEFAULT_STACK_NAME
) -> list[MetricFilterSpec]:
    """The template's metric filters (one spec per metric transformation), namespace resolved."""
    tpl = load_template() if template is None else template
    values = parameter_values(tpl, stack_name=stack_name)
    specs: list[MetricFilterSpec] = []
    for logical_id, resource in resources_of_type(tpl, "AWS::Logs::MetricFilter").items():
        props = resource["Properties"]
        pattern = props["FilterPattern"]
        if not isinstance(pattern, str):
            raise ValueError(f"{logical_id}: FilterPattern must be a literal string, got {pattern!r}")
        for transformation in props["MetricTransformations"]:
            specs.append(
                MetricFilterSpec(
                    logical_id=logical_id,
                    pattern=pattern,
                    metric_name=str(resolve(tpl, transformation["MetricName"], values)),
                    namespace=str(resolve(tpl, transformation["MetricNamespace"], values)),
                )
            )
    return specs


@dataclass(frozen=True)
class MetricRef:
    """A metric an alarm watches (directly, or as one of its metric-math inputs)."""

    namespace: str
    metric_name: str
    statistic: str
    period: Any  # int, or the raw intrinsic (e.g. Fn::FindInMap) when it depends on a parameter
    dimensions: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class AlarmSpec:
    logical_id: str
    alarm_name: str
    metrics: tuple[MetricRef, ...]
    expression: str | None
    comparison: str
    threshold: float
    evaluation_periods: int
    datapoints_to_alarm: int | None
    treat_missing_data: str
    alarm_actions: tuple[Any, ...]
    properties: Mapping[str, Any]


def _metric_ref(
    tpl: Mapping[str, Any], values: Mapping[str, Any], metric: Mapping[str, Any], statistic: str, period: Any
) -> MetricRef:
    """A metric as an alarm names it: inline on the alarm, or inside a metric-math MetricStat."""
    return MetricRef(
        namespace=str(resolve(tpl, metric["Namespace"], values)),
        metric_name=metric["MetricName"],
        statistic=statistic,
        period=period,
        dimensions=tuple((d["Name"], d["Value"]) for d in metric.get("Dimensions", [])),
    )


def alarms(template: Mapping[str, Any] | None = None, stack_name: str = DEFAULT_STACK_NAME) -> list[AlarmSpec]:
    """The template's CloudWatch alarms; names and namespaces resolved, periods raw."""
    tpl = load_template() if template is None else template
    values = parameter_values(tpl, stack_name=stack_name)
    specs: list[AlarmSpec] = []
    for logical_id, resource in resources_of_type(tpl, "AWS::CloudWatch::Alarm").items():
        props = resource["Properties"]
        metrics: list[MetricRef] = []
        expression: str | None = None
        if "Metrics" in props:
            for query in props["Metrics"]:
                if "Expression" in query:
                    expression = query["Expression"]
                    continue
                stat = query["MetricStat"]
                metrics.append(_metric_ref(tpl, values, stat["Metric"], stat["Stat"], stat["Period"]))
        else:
            metrics.append(_metric_ref(tpl, values, props, props["Statistic"], props["Period"]))
        specs.append(
            AlarmSpec(
                logical_id=logical_id,
                alarm_name=str(resolve(tpl, props["AlarmName"], values)),
                metrics=tuple(metrics),
                expression=expression,
                comparison=props["ComparisonOperator"],
                threshold=float(props["Threshold"]),
                evaluation_periods=int(props["EvaluationPeriods"]),
                datapoints_to_alarm=props.get("DatapointsToAlarm"),
                treat_missing_data=props.get("TreatMissingData", "missing"),
                alarm_actions=tuple(props.get("AlarmActions", [])),
                properties=props,
            )
        )
    return specs


# --------------------------------------------------------------------------- SAM translation
class _NoManagedPolicies:
    """Managed-policy loader for offline translation: the template names no AWS managed policies."""

    def load(self) -> dict[str, str]:
        return {}


_LOCAL_URI_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}


def translated(
    template: Mapping[str, Any] | None = None,
    parameter_overrides: Mapping[str, Any] | None = None,
    stack_name: str = DEFAULT_STACK_NAME,
) -> dict[str, Any]:
    """The template transformed by aws-sam-translator into plain CloudFormation (offline)."""
    from samtranslator.translator.transform import transform  # type: ignore[import-untyped]  # slow import

    tpl = copy.deepcopy(dict(load_template() if template is None else template))
    for resource in tpl["Resources"].values():
        prop = _LOCAL_URI_PROPERTIES.get(resource.get("Type", ""))
        props = resource.get("Properties", {})
        if prop and isinstance(props.get(prop), str) and not props[prop].startswith("s3://"):
            props[prop] = f"s3://pr-auditor-artifacts/{props[prop].strip('/')}.zip"
    values = parameter_values(tpl, parameter_overrides, stack_name)
    os.environ.setdefault("AWS_DEFAULT_REGION", PSEUDO_PARAMETERS["AWS::Region"])
    result: dict[str, Any] = transform(tpl, values, _NoManagedPolicies())
    return result
