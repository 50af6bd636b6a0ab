"""Policy files: valid ones load with defaults and overrides; every malformed one names the key."""

from __future__ import annotations

import pytest

from pr_auditor.errors import PolicyError
from pr_auditor.policy import DEFAULT_POLICY, parse_policy

from policy_cases import MALFORMED


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


def test_exempt_pushers_load_and_leave_the_version_of_policies_without_them_unchanged() -> None:
    with_key = parse_policy("exempt_pushers: [release-bot]")
    assert with_key.default.exempt_pushers == ("release-bot",)
    assert with_key.version != DEFAULT_POLICY.version
    assert parse_policy("exempt_pushers: []").version == DEFAULT_POLICY.version


def test_exempt_pushers_must_be_a_list_of_logins() -> None:
    with pytest.raises(PolicyError, match="exempt_pushers"):
        parse_policy("exempt_pushers: release-bot")
