"""Policy files: valid ones load with defaults and overrides; every malformed one names the key."""

from __future__ import annotations

import pytest

from pr_auditor.core.errors import PolicyError
from pr_auditor.core.policy import DEFAULT_POLICY, parse_policy

from policy_cases import ALIAS_BOMB, MALFORMED


@pytest.mark.parametrize(("text", "message"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_policy_is_rejected_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(text)


def test_an_explicit_empty_mapping_is_the_documented_defaults() -> None:
    rules = parse_policy("{}").default
    assert rules.required_approvals == 1
    assert rules.emergency_labels == ("emergency",)
    assert rules.count_stale_approvals is False
    assert rules.bot_approvals_count is False
    assert rules.exempt_authors == ()
    assert rules.ticket_pattern is None
    assert rules.branches is None
    assert parse_policy("{}").version == DEFAULT_POLICY.version


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


# --- hostile input: every case ends at once with a one-line error (timings are in tests/bench.py) ---


def test_the_alias_bomb_is_rejected_before_it_expands() -> None:
    assert len(ALIAS_BOMB.encode()) == 449
    with pytest.raises(PolicyError, match=r"^YAML anchors and aliases are not allowed \(line 2, column 4\)$"):
        parse_policy(ALIAS_BOMB)


@pytest.mark.parametrize(
    "text",
    ["", "   \n", "# nothing but a comment\n", "null\n", "~\n", "---\n...\n"],
    ids=["empty", "blank", "comment-only", "null", "tilde", "empty-document"],
)
def test_a_document_without_content_is_an_error_not_the_defaults(text: str) -> None:
    with pytest.raises(PolicyError, match=r"^policy: the document is empty .* write \{\} for the defaults$"):
        parse_policy(text)


def test_a_policy_over_64_kib_is_rejected_by_its_size() -> None:
    megabyte = "exempt_authors: [" + ", ".join(["someone"] * 120_000) + "]\n"
    assert len(megabyte) > 1_000_000
    with pytest.raises(PolicyError, match=r"^policy: larger than 64 KiB$"):
        parse_policy(megabyte)


def test_multibyte_text_is_measured_in_bytes() -> None:
    with pytest.raises(PolicyError, match="larger than 64 KiB"):
        parse_policy("emergency_labels: [" + "\u00e9" * 40_000 + "]")


def test_deep_nesting_is_rejected_before_pyyaml_recurses() -> None:
    with pytest.raises(PolicyError, match=r"^nested more than 10 levels deep"):
        parse_policy("exempt_authors: " + "[" * 30_000 + "]" * 30_000)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ticket_pattern: '(" + "x" * 60_000 + "'", r"^ticket_pattern: invalid regular expression '\(x{39}'…"),
        ("required_approvals: " + "9" * 60_000, r"^policy: a value could not be read"),
        (
            "required_approvals: '" + "y" * 60_000 + "'",
            r"^required_approvals: expected a whole number >= 0, got 'y{40}'…$",
        ),
        ("emergency_labels: [" + "1" * 4000 + "]", r"^emergency_labels\[0\]: expected a non-empty string, got 1{40}…$"),
        ("? " + "z" * 60_000 + "\n: 1", r"^'z{40}'…: unknown key"),
        ("repositories:\n  ? " + "q" * 60_000 + "\n  : {}", r"^repositories\.'q{40}'…: expected a repository"),
        ("exempt_authors: {a: " + "b" * 60_000 + "}", r"^exempt_authors: expected a list of strings, got a dict$"),
    ],
    ids=["long-pattern", "long-number", "long-string", "long-list-item", "long-key", "long-repository", "long-mapping"],
)
def test_errors_quote_at_most_a_short_prefix_of_a_value(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message) as caught:
        parse_policy(text)
    assert len(str(caught.value)) < 240  # the longest: a 40-character prefix and the list of allowed keys
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [(r"(OPS)-\d+ \1", "invalid escape sequence"), (r"(?=OPS)\w+", "invalid perl operator"), (r"(?<!x)OPS", "invalid")],
    ids=["backreference", "lookahead", "lookbehind"],
)
def test_a_pattern_re2_cannot_run_is_a_policy_error_naming_the_key(pattern: str, reason: str) -> None:
    with pytest.raises(PolicyError, match=rf"^ticket_pattern: invalid regular expression .* for RE2 .*{reason}"):
        parse_policy(f"ticket_pattern: '{pattern}'\n")


def test_a_catastrophic_pattern_on_a_64_kb_body_gives_a_verdict() -> None:
    rules = parse_policy("ticket_pattern: '(a+)+$'\n").default
    assert rules.ticket_pattern is not None
    assert rules.ticket_pattern.search("a" * 65_535 + "!") is False
    assert rules.ticket_pattern.search("b" * 100 + "a" * 65_000) is True


def test_the_pattern_looks_at_the_first_64_ki_characters_only() -> None:
    rules = parse_policy("ticket_pattern: 'OPS-[0-9]+'\n").default
    assert rules.ticket_pattern is not None
    assert rules.ticket_pattern.search("x" * 65_000 + " OPS-1") is True
    assert rules.ticket_pattern.search("x" * 65_536 + " OPS-1") is False
