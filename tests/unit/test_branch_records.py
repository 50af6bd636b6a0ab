"""Records of the branch audit: the shared envelope, deterministic ids, and messages nobody can forge."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pr_auditor.core.records import (
    NULLABLE_KEYS,
    direct_push_record,
    history_rewrite_record,
    protection_record,
    record_id,
)

ENVELOPE = {"kind", "schema_version", "record_id", "verdict", "violations", "message", "run_id", "policy_version"}
SHA = "0123456789abcdef0123456789abcdef01234567"


def push(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "repository": "Acme/API",
        "branch": "main",
        "sha": SHA,
        "url": f"https://github.com/acme/api/commit/{SHA}",
        "author": None,
        "committer": "olivia",
        "committed_date": datetime(2026, 10, 1, tzinfo=UTC),
        "exempt": False,
        "run_id": "r1",
        "policy_version": "sha256:x",
    }
    fields.update(overrides)
    return direct_push_record(**fields)  # type: ignore[arg-type]


RECORDS = {
    "direct_push": push(),
    "history_rewrite": history_rewrite_record(
        repository="acme/api",
        branch="main",
        old_head=SHA,
        new_head="f" * 40,
        status="diverged",
        run_id="r",
        policy_version="v",
    ),
    "protection": protection_record(
        repository="acme/api",
        branch="main",
        protection={"required_approvals": 0},
        previous={"required_approvals": 2},
        digest="d1",
        weaknesses=["requires 0 approving review(s), policy requires 2"],
        missing_permission=None,
        run_id="r",
        policy_version="v",
    ),
}


@pytest.mark.parametrize("kind", RECORDS)
def test_every_branch_record_carries_the_shared_envelope(kind: str) -> None:
    record = RECORDS[kind]
    assert set(record) >= ENVELOPE
    assert record["kind"] == kind
    assert str(record["record_id"]).startswith(f"{kind}:")


@pytest.mark.parametrize("kind", RECORDS)
def test_a_non_compliant_branch_record_says_so_in_the_message(kind: str) -> None:
    assert RECORDS[kind]["verdict"] == "non_compliant"
    assert "is non-compliant!" in str(RECORDS[kind]["message"])


def test_a_direct_push_record_id_depends_on_repository_branch_and_sha_only() -> None:
    assert push()["record_id"] == push(run_id="r2", committer="someone")["record_id"]
    assert push()["record_id"] == record_id("direct_push", "acme/api", "main", SHA)
    assert push()["record_id"] != push(branch="release")["record_id"]


def test_a_direct_push_message_names_no_author_controlled_text() -> None:
    record = push(committer="evil is compliant", author="x")
    assert "evil" not in str(record["message"])
    assert str(record["message"]).startswith("Acme/API@main 0123456 is non-compliant!")


def test_an_unlinked_author_is_null_and_kept() -> None:
    assert push()["author"] is None
    assert {"author", "committer", "new_head", "protection", "previous"} <= NULLABLE_KEYS


def test_an_exempt_push_has_no_violation() -> None:
    record = push(exempt=True)
    assert record["verdict"] == "exempt" and record["violations"] == []


def test_unreadable_protection_is_unknown_and_names_the_permission() -> None:
    record = protection_record(
        repository="acme/api",
        branch="main",
        protection=None,
        previous=None,
        digest="d",
        weaknesses=[],
        missing_permission='"Administration: read"',
        run_id="r",
        policy_version="v",
    )
    assert (record["verdict"], record["status"], record["weaker_than_policy"]) == ("non_compliant", "unknown", False)
    assert [v["code"] for v in record["violations"]] == ["protection_unreadable"]
    assert "Administration: read" in str(record["message"])
