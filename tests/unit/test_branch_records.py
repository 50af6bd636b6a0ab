"""Records of the branch audit: the shared envelope, deterministic ids, and messages nobody can forge."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pr_auditor.core.records import (
    NULLABLE_KEYS,
    direct_push_record,
    head_change_record,
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
    "head_change": head_change_record(
        repository="acme/api", branch="main", old_head=SHA, new_head="f" * 40, run_id="r", policy_version="v"
    ),
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


def test_a_direct_push_says_who_pushed_beside_what_the_commit_claims_and_how_it_was_found() -> None:
    record = push(pusher="mallory", pushed_at=datetime(2026, 11, 21, 10, 20, tzinfo=UTC), detected_by="activity")
    assert (record["pusher"], record["committer"], record["pushed_at"], record["detected_by"]) == (
        "mallory",
        "olivia",
        "2026-11-21T10:20:00Z",
        "activity",
    )
    assert "claimed_identity" not in record


def test_a_forged_exempt_identity_is_named_in_the_record_and_its_detail() -> None:
    record = push(committer="release[bot]", pusher="mallory", claimed_identity="release[bot]", detected_by="activity")
    assert record["verdict"] == "non_compliant" and record["claimed_identity"] == "release[bot]"
    detail = record["violations"][0]["detail"]  # type: ignore[index]
    assert "claims to be release[bot]" in detail and "pushed by mallory" in detail


def test_a_head_walk_push_has_no_pusher_and_no_push_time_and_both_keys_survive_writers() -> None:
    record = push()
    assert record["pusher"] is None and record["pushed_at"] is None and record["detected_by"] == "head_walk"
    assert {"pusher", "pushed_at"} <= NULLABLE_KEYS


def test_an_unexplained_head_change_is_non_compliant_with_its_own_code() -> None:
    record = RECORDS["head_change"]
    assert record["verdict"] == "non_compliant"
    assert record["violations"][0]["code"] == "unexplained_head_change"  # type: ignore[index]
    assert "is non-compliant!" in str(record["message"])
