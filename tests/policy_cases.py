"""Malformed policy files and the message each must produce (shared by the unit and CLI tests)."""

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
    ("regex-backreference", "ticket_pattern: '(OPS)-\\1'\n", r"^ticket_pattern: invalid regular expression .* RE2"),
    ("alias", "a: &x [1]\nexempt_authors: *x\n", r"^YAML anchors and aliases are not allowed"),
    ("empty-document", "# only a comment\n", r"^policy: the document is empty"),
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
    ("not-yaml", "required_approvals: [1\n", r"^not valid YAML or JSON at line 2, column 1$"),
    ("json-unknown-key", '{"required_approvals": 1, "emergency": true}', r"^emergency: unknown key"),
]


def _alias_bomb(size: int) -> str:
    """A "billion laughs" YAML document: nine anchors, each a list of nine aliases of the one before
    (9^9 leaves once expanded), padded by a leading comment to exactly ``size`` bytes."""
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(8):
        this, previous = chr(98 + i), chr(97 + i)
        lines.append(f"{this}: &{this} [{', '.join(['*' + previous] * 9)}]")
    body = "\n".join(lines) + "\n"
    padding = size - len(body) - 2
    assert padding >= 0
    return "#" + " " * padding + "\n" + body


#: The size of the alias bomb that took 6 GB of RSS before aliases were refused.
ALIAS_BOMB = _alias_bomb(449)
