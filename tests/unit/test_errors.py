"""errors.describe: the text of a failure that may reach a record is short, one line, and chosen by us."""

from __future__ import annotations

import pytest

from pr_auditor.core.errors import MAX_DESCRIPTION, AuditError, ConfigError, SourceError, UnavailableError, describe


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (SourceError("GitHub answered HTTP 502"), "GitHub answered HTTP 502"),
        (
            ConfigError("GITHUB_ORGS: at least one organisation is required"),
            "GITHUB_ORGS: at least one organisation is required",
        ),
        (UnavailableError("two\nlines\u2028here"), "two lines here"),
        (AuditError("caf\u00e9"), "caf\\xe9"),
        (AuditError(""), "AuditError"),
        (ValueError("https://x-access-token:ghp_SECRET@github.com said <html>"), "ValueError"),
        (KeyError("issueCount"), "KeyError"),
        (UnicodeEncodeError("latin-1", "\u2603", 0, 1, "ordinal not in range(256)"), "UnicodeEncodeError"),
        (KeyboardInterrupt(), "KeyboardInterrupt"),
    ],
    ids=[
        "ours",
        "config",
        "ours-multiline",
        "ours-non-ascii",
        "ours-empty",
        "foreign-with-secret",
        "foreign-key",
        "foreign-unicode",
        "base-exception",
    ],
)
def test_describe_keeps_our_messages_and_names_anything_else_by_its_type(exc: BaseException, expected: str) -> None:
    assert describe(exc) == expected


def test_describe_truncates_our_long_messages() -> None:
    text = describe(SourceError("x" * 70_000))
    assert len(text) == MAX_DESCRIPTION and text.endswith("...")
