"""``make deploy``: check a samconfig.toml environment against template.yaml, then run ``sam deploy``.

    python scripts/deploy.py --config-env prod [--check | --dry-run] [--sam PATH] [--samconfig F] [--template F]

Each parameter override is checked the way CloudFormation will check it (AllowedValues, AllowedPattern,
lengths, numeric bounds, the template's Rules), and also against placeholders that would pass those checks and fail only at run
time: the documentation's organisation ``acme``, AWS's example account ``123456789012``, ``example.com``
addresses. A wrong value stops the deploy before anything is built or uploaded, with one line per parameter.

While the environment lacks a parameter that has no usable default (the organisations, the secret), nothing
is deployed: the script prints the exact samconfig.toml lines to add. It never starts a guided prompt on its
own; ``--guided`` (``make deploy GUIDED=1``, at a terminal) lets ``sam deploy --guided`` ask and save instead.

Standard library only (tomllib, and template_yaml for the template), so scripts/preflight.py can run the same
checks before any virtual environment exists.

Exit codes: 0 deployed (``--check``: the environment is usable; ``--dry-run``: the sam command is printed);
2 a value is wrong or missing (nothing was deployed); otherwise sam's own exit code.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from template_yaml import top_level_sections

ROOT = Path(__file__).resolve().parent.parent

# AWS's documentation account: a real stack can never read a secret or key there.
EXAMPLE_ACCOUNT = "123456789012"
# Organisation names used as examples (README, old samconfig.toml) or as fill-in-the-blank markers.
PLACEHOLDER_WORDS = frozenset(
    {"acme", "example", "example-org", "my-org", "myorg", "your-org", "yourorg", "org", "organisation",
     "organization", "changeme", "change-me", "change_me", "todo", "tbd", "xxx", "placeholder"}
)  # fmt: skip
PLACEHOLDER_PREFIXES = ("acme-", "acme_", "example-")
EXAMPLE_DOMAIN = re.compile(r"@(?:[^@\s]+\.)?example\.(?:com|org|net)$", re.IGNORECASE)


@dataclass(frozen=True)
class Plan:
    """What ``make deploy`` will do with one samconfig environment."""

    environment: str
    errors: tuple[str, ...]  # one line each, naming the parameter
    missing: tuple[str, ...]  # required parameters that sam --guided must ask for

    @property
    def guided(self) -> bool:
        return bool(self.missing)

    def sam_arguments(self) -> list[str]:
        guided = ["--guided"] if self.guided else []
        return ["deploy", *guided, "--config-env", self.environment]


# --------------------------------------------------------------------------- reading the files
def template_sections(path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The template's Parameters and Rules (read with the standard library: see template_yaml)."""
    sections = top_level_sections(path.read_text(encoding="utf-8"), ("Parameters", "Rules"))
    return sections.get("Parameters") or {}, sections.get("Rules") or {}


def parse_overrides(value: object, where: str) -> dict[str, str]:
    """sam's parameter_overrides: a list of ``Key=Value`` items, or one string of them (as a guided deploy
    writes it, values in double quotes); ``ParameterKey=K,ParameterValue=V`` is accepted too."""
    listed = isinstance(value, list)
    if isinstance(value, str):
        items = shlex.split(value)
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        items = list(value)
    else:
        raise ValueError(f"{where} parameter_overrides: expected a list of Key=Value strings or one string")
    overrides: dict[str, str] = {}
    for item in items:
        long_form = re.fullmatch(r"ParameterKey=([^,]+),ParameterValue=(.*)", item, re.DOTALL)
        if long_form:
            key, text = long_form.group(1), long_form.group(2)
        elif "=" in item:
            key, text = item.split("=", 1)
        else:
            raise ValueError(f"{where} parameter_overrides: {item!r} is not Key=Value")
        overrides[key.strip()] = _list_item_value(key.strip(), text, where) if listed else text
    return overrides


def _list_item_value(key: str, text: str, where: str) -> str:
    """A list item's value as sam reads it: sam splits each item at spaces, so a value with a space must be
    quoted ('...' or "..."), or sam silently keeps only its first word (samcli CfnParameterOverridesType)."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if re.search(r"\s", text):
        raise ValueError(
            f"{where} {key}: the value has a space, and sam would keep only {text.split()[0]!r}:"
            f" quote it, as \"{key}='{text}'\""
        )
    return text


def environment_settings(samconfig: Mapping[str, Any], environment: str) -> dict[str, Any] | None:
    """The deploy settings sam uses for ``--config-env``: global parameters, then deploy parameters."""
    section = samconfig.get(environment)
    if not isinstance(section, dict):
        return None
    settings: dict[str, Any] = {}
    for command in ("global", "deploy"):
        settings.update(section.get(command, {}).get("parameters", {}))
    return settings


# --------------------------------------------------------------------------- the checks
def is_placeholder(value: str) -> str | None:
    """Why the value is a stand-in rather than the user's own, or None. Comma lists are read item by item."""
    if EXAMPLE_ACCOUNT in value:
        return f"account {EXAMPLE_ACCOUNT} is AWS's documentation example"
    if "<" in value or ">" in value or "..." in value:
        return "a fill-in-the-blank marker"
    for item in (part.strip() for part in value.split(",")):
        lowered = item.lower()
        if lowered in PLACEHOLDER_WORDS or lowered.startswith(PLACEHOLDER_PREFIXES):
            return f"{item!r} is an example name"
        if EXAMPLE_DOMAIN.search(item):
            return f"{item!r} is an example address: example.com, .org and .net receive no mail"
    return None


def violation(name: str, spec: Mapping[str, Any], value: str) -> str | None:
    """Why CloudFormation would refuse the value for this parameter, or None."""
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in {str(v) for v in allowed}:
        return f"must be one of {', '.join(str(v) for v in allowed)}"
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(str(pattern), value):
        hint = ""
        if name.endswith("SecretArn"):
            hint = (
                " (a secret's full ARN ends in '-' and the 6 characters Secrets Manager appends:"
                " aws secretsmanager describe-secret --secret-id NAME --query ARN)"
            )
        return str(spec.get("ConstraintDescription") or f"does not match {pattern}") + hint
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        return f"is shorter than {spec['MinLength']} characters"
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        return f"is longer than {spec['MaxLength']} characters"
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return "is not a number"
        if "MinValue" in spec and number < float(spec["MinValue"]):
            return f"is below {spec['MinValue']}"
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            return f"is above {spec['MaxValue']}"
    return None


def evaluate(expression: Any, values: Mapping[str, str]) -> Any:
    """A Rules expression (Ref, Fn::Equals/Not/And/Or/Contains) on string values; None when it cannot be
    judged here (a parameter without a value, a function this check does not know)."""
    if isinstance(expression, str):
        return expression
    if isinstance(expression, list):
        items = [evaluate(item, values) for item in expression]
        return None if any(item is None for item in items) else items
    if not isinstance(expression, dict) or len(expression) != 1:
        return None
    ((function, argument),) = expression.items()
    if function == "Ref":
        return values.get(str(argument))
    arguments = evaluate(argument, values)
    if arguments is None:
        return None
    if function == "Fn::Equals":
        return str(arguments[0]) == str(arguments[1])
    if function == "Fn::Not":
        return not arguments[0]
    if function == "Fn::And":
        return all(arguments)
    if function == "Fn::Or":
        return any(arguments)
    if function == "Fn::Contains":
        return str(arguments[1]) in {str(item) for item in arguments[0]}
    return None


def rule_failures(rules: Mapping[str, Any], values: Mapping[str, str]) -> list[str]:
    """The template's Rules that CloudFormation would fail with these parameter values."""
    failures: list[str] = []
    for name, rule in rules.items():
        if "RuleCondition" in rule and evaluate(rule["RuleCondition"], values) is not True:
            continue
        for assertion in rule.get("Assertions", []):
            if evaluate(assertion.get("Assert"), values) is False:
                failures.append(f"rule {name}: {assertion.get('AssertDescription', 'assertion failed')}")
    return failures


def shown(spec: Mapping[str, Any], value: str) -> str:
    return "****" if str(spec.get("NoEcho", "false")).lower() == "true" else value


def plan(
    parameters: Mapping[str, Mapping[str, Any]],
    samconfig: Mapping[str, Any],
    environment: str,
    rules: Mapping[str, Any] | None = None,
) -> Plan:
    """Check one environment's overrides and decide between a plain and a guided deploy."""
    where = f"samconfig.toml [{environment}]"
    settings = environment_settings(samconfig, environment) or {}
    try:
        overrides = parse_overrides(settings.get("parameter_overrides", []), where)
    except ValueError as error:
        return Plan(environment, (str(error),), ())
    errors: list[str] = []
    for name, value in overrides.items():
        spec = parameters.get(name)
        if spec is None:
            errors.append(f"{where} {name}: not a parameter of template.yaml (it has: {', '.join(parameters)})")
            continue
        placeholder = is_placeholder(value)
        if placeholder:
            errors.append(f"{where} {name}={shown(spec, value)}: a placeholder ({placeholder}); set your own value")
            continue
        wrong = violation(name, spec, value)
        if wrong:
            errors.append(f"{where} {name}={shown(spec, value)}: {wrong}")
    missing = [
        name
        for name, spec in parameters.items()
        if name not in overrides
        and (
            "Default" not in spec or violation(name, spec, str(spec["Default"])) or is_placeholder(str(spec["Default"]))
        )
    ]
    if not errors:
        values = {name: str(spec["Default"]) for name, spec in parameters.items() if "Default" in spec}
        values.update(overrides)
        for name in missing:
            values.pop(name, None)
        errors.extend(f"{where} {failure}" for failure in rule_failures(rules or {}, values))
    if "stack_name" not in settings:
        missing.append("stack_name")
    return Plan(environment, tuple(errors), tuple(missing))


# --------------------------------------------------------------------------- what to add
# Fill-in markers for the lines a user must add: is_placeholder refuses them, so a copied line cannot deploy.
FILL_IN = {
    "GitHubOrgs": "<your-org>",
    "GitHubTokenSecretArn": "<full ARN of the secret pr-auditor/github>",
}


def samconfig_lines(result: Plan, samconfig: Mapping[str, Any]) -> list[str]:
    """The exact samconfig.toml lines that give the environment what it lacks: its section header, the stack
    name if missing, and the whole parameter_overrides list (the items already there, then the missing ones)."""
    settings = environment_settings(samconfig, result.environment) or {}
    try:
        present = parse_overrides(settings.get("parameter_overrides", []), result.environment)
    except ValueError:
        present = {}
    lines = [f"[{result.environment}.deploy.parameters]"]
    if "stack_name" in result.missing:
        suffix = "" if result.environment == "default" else f"-{result.environment}"
        lines.append(f'stack_name = "pr-auditor{suffix}"')
    added = [name for name in result.missing if name != "stack_name"]
    if added:
        lines.append("parameter_overrides = [")
        lines.extend(f'    "{name}={value}",' for name, value in present.items())
        lines.extend(f'    "{name}={FILL_IN.get(name, "<value>")}",' for name in added)
        lines.append("]")
    return lines


# --------------------------------------------------------------------------- command line
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/deploy.py", description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--config-env", default="default", help="samconfig.toml environment (default: default)")
    parser.add_argument("--samconfig", type=Path, default=ROOT / "samconfig.toml")
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--sam", default="sam", help="the sam executable")
    parser.add_argument(
        "--guided", action="store_true", help="let sam deploy --guided ask for missing values (needs a terminal)"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="check the environment only")
    mode.add_argument("--dry-run", action="store_true", help="check, then print the sam command instead of running it")
    args = parser.parse_args(argv)

    samconfig = tomllib.loads(args.samconfig.read_text(encoding="utf-8")) if args.samconfig.exists() else {}
    parameters, rules = template_sections(args.template)
    result = plan(parameters, samconfig, args.config_env, rules)
    if result.errors:
        for line in result.errors:
            print(f"make deploy: {line}", file=sys.stderr)
        print("make deploy: nothing was deployed; fix samconfig.toml", file=sys.stderr)
        return 2
    if result.missing and not args.guided:
        for line in missing_report(result, samconfig):
            print(line, file=sys.stderr)
        print("make deploy: nothing was deployed", file=sys.stderr)
        return 2
    command = [args.sam, *result.sam_arguments()]
    if args.check:
        return 0
    if args.dry_run:
        print(shlex.join(command))
        return 0
    print(f"== {shlex.join(['sam', *result.sam_arguments()])}", flush=True)
    os.execvp(command[0], command)  # noqa: S606 - sam replaces this process: its prompts and exit code are the user's


def missing_report(result: Plan, samconfig: Mapping[str, Any]) -> list[str]:
    """What to add, as lines for stderr: never a guided prompt unless asked for (GUIDED=1)."""
    where = f"samconfig.toml [{result.environment}]"
    if environment_settings(samconfig, result.environment) is None:
        head = f"make deploy: {where} does not exist; add these lines to samconfig.toml, with your values:"
    else:
        head = (
            f"make deploy: {where} does not set {', '.join(result.missing)} (no usable default);"
            " put these lines in samconfig.toml, replacing that section's parameter_overrides, with your values:"
        )
    hints = []
    if "GitHubTokenSecretArn" in result.missing:
        hints.append(
            "make deploy: the secret's full ARN (with its 6-character suffix):"
            " aws secretsmanager describe-secret --secret-id pr-auditor/github --query ARN --output text"
        )
    return [
        head,
        *(f"    {line}" for line in samconfig_lines(result, samconfig)),
        *hints,
        "make deploy: or run make deploy GUIDED=1 at a terminal: sam deploy --guided asks and saves the answers",
    ]


if __name__ == "__main__":
    sys.exit(main())
