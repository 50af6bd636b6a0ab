"""Policy files: valid ones load with defaults and overrides; every malformed one names the key."""

from __future__ import annotations

import pytest

from pr_auditor.errors import PolicyError
from pr_auditor.policy import DEFAULT_POLICY, parse_policy

MALFORMED = [
    ("unknown-top-level-key", "required_approval: 2\n", r"^required_approval: unknown key"),
    ("approvals-not-a-number", "required_approvals: two\n", r"^required_approvals: expected a whole number"),
    ("approvals-negative", "required_approvals: -1\n", r"^required_approvals: expected a whole number"),
    ("approvals-boolean", "required_approvals: true\n", r"^required_approvals: expected a whole number"),
    ("labels-not-a-list", "emergency_labels: emergency\n", r"^emergency_labels: expected a list of strings"),
    ("label-empty-string", "emergency_labels: ['']\n", r"^emergency_labels\[0\]: expected a non-empty string"),
    ("stale-not-boolean", "count_stale_approvals: 'yes'\n", r"^count_stale_approvals: expected true or false"),
    ("bots-not-boolean", "bot_approvals_count: 1\n", r"^bot_approvals_count: expected true or false"),
    ("exempt-not-a-list", "exempt_authors: dependabot\n", r"^exempt_authors: expected a list"),
    ("bad-regex", "ticket_pattern: '[A-Z+-\\d'\n", r"^ticket_pattern: invalid regular expression"),
    ("regex-not-a-string", "ticket_pattern: 12\n", r"^ticket_pattern: expected a regular expression"),
    ("branches-empty", "branches: []\n", r"^branches: an empty list would put every branch out of scope"),
    ("branch-not-a-string", "branches: [main, 3]\n", r"^branches\[1\]: expected a non-empty string"),
    ("repositories-not-a-mapping", "repositories: [acme/api]\n", r"^repositories: expected a mapping"),
    ("repository-name-malformed", "repositories: {api: {required_approvals: 2}}\n", r"^repositories\.api: expected"),
    (
        "unknown-key-in-override",
        "repositories: {acme/api: {required_aprovals: 2}}\n",
        r"^repositories\.acme/api\.required_aprovals: unknown key",
    ),
    (
        "bad-value-in-override",
        "repositories: {acme/api: {required_approvals: many}}\n",
        r"^repositories\.acme/api\.required_approvals: expected a whole number",
    ),
    ("nested-repositories", "repositories: {acme/api: {repositories: {}}}\n", r"repositories: unknown key"),
    ("duplicate-repository-case", "repositories: {acme/api: {}, ACME/API: {}}\n", r"listed twice"),
    ("not-a-mapping", "- required_approvals\n", r"^policy: expected a mapping"),
    ("not-yaml", "required_approvals: [1\n", r"not valid YAML or JSON at line"),
    ("json-unknown-key", '{"required_approvals": 1, "emergency": true}', r"^emergency: unknown key"),
]


@pytest.mark.parametrize(("text", "message"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_policy_is_rejected_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(text)


def test_empty_policy_is_the_documented_defaults() -> None:
    rules = parse_policy("").default
    assert rules.required_approvals == 1
    assert rules.emergency_labels == ("emergency",)
    assert rules.count_stale_approvals is False
    assert rules.bot_approvals_count is False
    assert rules.exempt_authors == ()
    assert rules.ticket_pattern is None
    assert rules.branches is None
    assert parse_policy("").version == DEFAULT_POLICY.version


def test_repository_override_inherits_top_level_values_and_matches_case_insensitively() -> None:
    policy = parse_policy(
        """
        required_approvals: 2
        exempt_authors: [dependabot]
        repositories:
          acme/Payments:
            required_approvals: 3
        """
    )
    override = policy.for_repository("ACME/payments")
    assert (override.required_approvals, override.exempt_authors) == (3, ("dependabot",))
    assert policy.for_repository("acme/other").required_approvals == 2


def test_version_ignores_formatting_but_changes_with_content() -> None:
    yaml_text = "required_approvals: 2\nemergency_labels: [Emergency, hotfix]\n"
    json_text = '{"emergency_labels": ["hotfix", "emergency"], "required_approvals": 2}'
    assert parse_policy(yaml_text).version == parse_policy(json_text).version
    assert parse_policy(yaml_text).version != parse_policy("required_approvals: 3\n").version
    assert parse_policy(yaml_text).version.startswith("sha256:")
