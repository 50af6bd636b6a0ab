"""The evidence archive on moto's S3 (real boto3 calls): the locked bucket refuses to lose evidence, chunks
written through S3Archive verify, and every kind of doctored copy is caught by ``pr-auditor verify``.

What moto 5.2 does and does not implement of Object Lock (measured): it refuses to delete a locked version
(single and batch delete, with or without ``BypassGovernanceRetention``), applies the bucket's default
COMPLIANCE retention to new versions, and honours ``If-None-Match: *``. It does NOT refuse to shorten a
COMPLIANCE retention (``PutObjectRetention``; S3 answers AccessDenied), does not refuse to suspend
versioning on a lock-enabled bucket (S3 answers InvalidBucketState), and ``GetObjectRetention`` answers 500.
Those refusals are S3's own and are not tested here; the retention is read through ``HeadObject``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from pr_auditor.audit.ports import Document, MemoryState, ObjectStore
from pr_auditor.aws.evidence_store import S3Store
from pr_auditor.aws.state_table import StateDocuments, StateTable
from pr_auditor.cli import main
from pr_auditor.evidence.archive import S3Archive, iter_archived_records, manifest_key, sha256_hex
from pr_auditor.evidence.dir_store import DirStore
from pr_auditor.evidence.verify import verify_archive

from evidence import (
    BUCKET,
    FORGER,
    SIGNER,
    START,
    BucketCopy,
    Copy,
    DirCopy,
    create_evidence_bucket,
    download,
    hourly_chunks,
    manifest,
    rewrite_manifest,
    rewrite_records,
)
from harness import REGION, aws_environment, create_state_table
from template_model import load_template

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
CHUNKS = 12  # 2026-01-01T00:00Z .. 12:00Z, hourly, each re-scanning the 120 minutes before it


@pytest.fixture
def s3() -> Iterator[Any]:
    aws_environment()
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        create_evidence_bucket(client)
        yield client


@pytest.fixture
def archived(s3: Any) -> Any:
    """A bucket holding 12 hourly chunks of the scheduled stream, written by the real writer."""
    archive = S3Archive(BUCKET, MemoryState(), client=s3, clock=lambda: NOW, signer=SIGNER)
    for chunk in hourly_chunks(CHUNKS):
        archive.write_chunk(chunk)
    return s3


def verify(*args: str) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = main(["verify", "--quiet", *args], out=out)
    return code, out.getvalue().splitlines()


# --------------------------------------------------------------------------- the bucket keeps what it was given
def test_the_evidence_bucket_is_versioned_with_a_default_compliance_retention(s3: Any) -> None:
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    rule = s3.get_object_lock_configuration(Bucket=BUCKET)["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    assert rule["Mode"] == "COMPLIANCE" and rule["Days"] == 731
    version = s3.put_object(Bucket=BUCKET, Key="k", Body=b"evidence")["VersionId"]
    head = s3.head_object(Bucket=BUCKET, Key="k", VersionId=version)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] > datetime.now(UTC) + timedelta(days=730)


@pytest.mark.parametrize("bypass", [False, True], ids=["plain", "bypass-governance"])
def test_a_locked_version_cannot_be_deleted(s3: Any, bypass: bool) -> None:
    version = s3.put_object(Bucket=BUCKET, Key="k", Body=b"evidence")["VersionId"]
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=BUCKET, Key="k", VersionId=version, BypassGovernanceRetention=bypass)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert s3.get_object(Bucket=BUCKET, Key="k", VersionId=version)["Body"].read() == b"evidence"


def test_a_batch_delete_of_locked_versions_is_refused_version_by_version(s3: Any) -> None:
    versions = [s3.put_object(Bucket=BUCKET, Key=f"k{n}", Body=b"x")["VersionId"] for n in range(2)]
    answer = s3.delete_objects(
        Bucket=BUCKET, Delete={"Objects": [{"Key": f"k{n}", "VersionId": v} for n, v in enumerate(versions)]}
    )
    assert [error["Code"] for error in answer["Errors"]] == ["AccessDenied", "AccessDenied"]
    assert "Deleted" not in answer
    assert len(s3.list_object_versions(Bucket=BUCKET)["Versions"]) == 2


def test_an_overwrite_or_a_plain_delete_leaves_the_locked_version_intact(s3: Any) -> None:
    """S3 has no in-place overwrite: a second put adds a version and a plain delete adds a delete marker.
    The locked original stays readable by its version id, so a forgery can be undone."""
    original = s3.put_object(Bucket=BUCKET, Key="k", Body=b"evidence")["VersionId"]
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"forged")
    s3.delete_object(Bucket=BUCKET, Key="k")
    with pytest.raises(ClientError):
        s3.get_object(Bucket=BUCKET, Key="k")  # hidden behind the delete marker …
    assert s3.get_object(Bucket=BUCKET, Key="k", VersionId=original)["Body"].read() == b"evidence"  # … not gone


def test_the_writer_never_puts_a_second_version_on_an_archive_key(archived: Any) -> None:
    key = manifest_key("acme", "scheduled", 1)
    with pytest.raises(ClientError) as refused:
        archived.put_object(Bucket=BUCKET, Key=key, Body=b"{}", IfNoneMatch="*")  # what S3Store sends
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
    assert len(archived.list_object_versions(Bucket=BUCKET, Prefix=key)["Versions"]) == 1


def test_archive_objects_carry_the_buckets_retention_and_their_sha256(archived: Any) -> None:
    key = manifest_key("acme", "scheduled", 3)
    head = archived.head_object(Bucket=BUCKET, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE" and head["ContentType"] == "application/json"
    records_key = manifest(BucketCopy(archived), 3)["records_key"]
    body = archived.get_object(Bucket=BUCKET, Key=records_key)["Body"].read()
    assert sha256_hex(body) == manifest(BucketCopy(archived), 3)["records_sha256"]


# --------------------------------------------------------------------------- verify: an intact archive
def test_verify_passes_on_what_the_writer_wrote(archived: Any) -> None:
    code, lines = verify("--bucket", BUCKET)
    assert code == 0
    assert (
        lines[0] == "chain intact: 12 chunks, 2025-12-31T23:00:00Z..2026-01-01T12:00:00Z, 36 records"
    )  # seq 2 re-scans 2h back
    head = archived.get_object(Bucket=BUCKET, Key=manifest_key("acme", "scheduled", CHUNKS))["Body"].read()
    assert lines[1] == f"head acme/scheduled: seq 12, sha256 {sha256_hex(head)}"


def test_verify_passes_on_a_downloaded_copy(archived: Any, tmp_path: Path) -> None:
    download(archived, BUCKET, tmp_path)
    assert verify("--dir", str(tmp_path))[0] == 0


def test_verify_checks_that_a_period_is_covered(archived: Any) -> None:
    inside = verify("--bucket", BUCKET, "--since", "2026-01-01T03:00:00Z", "--until", "2026-01-01T06:00:00Z")
    assert inside[0] == 0
    assert "2026-01-01T03:00:00Z..2026-01-01T06:00:00Z" in inside[1][0]
    code, lines = verify("--bucket", BUCKET, "--since", "2026-01-01", "--until", "2026-01-02", "--scope", "acme")
    assert code == 1
    assert lines[1] == (
        "first problem: acme/scheduled seq 12: [2026-01-01T12:00:00Z, 2026-01-02T00:00:00Z) is covered by no "
        "chunk (chain ends)"
    )


def test_a_smaller_configured_overlap_reports_the_rescans_as_overlaps(archived: Any) -> None:
    code, lines = verify("--bucket", BUCKET, "--overlap-minutes", "60")
    assert code == 1
    assert lines[1] == (
        "first problem: acme/scheduled seq 2: window starts 120 min before seq 1's ends, more than the 60 min overlap"
    )


# --------------------------------------------------------------------------- verify: doctored copies, each its own test
@dataclass
class Forged:
    """An archive as a forger finds it: the bucket itself (write access, but Object Lock), or the auditor's
    downloaded copy, with the ``verify`` arguments that read it."""

    copy: Copy
    args: list[str]
    store: ObjectStore

    def verify(self) -> tuple[int, str, list[str]]:
        """Exit code, the CLI's first-problem line, and every problem found."""
        code, lines = verify(*self.args)
        return code, lines[1], verify_archive(self.store).problems


@pytest.fixture(params=["bucket", "downloaded"])
def forged(request: pytest.FixtureRequest, archived: Any, tmp_path: Path) -> Forged:
    if request.param == "bucket":
        return Forged(BucketCopy(archived), ["--bucket", BUCKET], S3Store(BUCKET, client=archived))
    root = download(archived, BUCKET, tmp_path)
    return Forged(DirCopy(root), ["--dir", str(root)], DirStore(root))


def assert_detected(forged: Forged, problem: str, *, changed: list[str]) -> None:
    """``problem`` is found; on the bucket, the first problem is that a written-once key has a new version
    or a delete marker (Object Lock kept the original), in a downloaded copy it is ``problem`` itself."""
    code, first, problems = forged.verify()
    assert code == 1
    assert problem in problems
    if isinstance(forged.copy, BucketCopy):
        assert "was overwritten or deleted after it was written" in first
        for key in changed:
            assert any(f"{key} was overwritten or deleted" in p for p in problems), problems
    else:
        assert first == f"first problem: {problem}"


def test_a_changed_record_is_detected(forged: Forged) -> None:
    def approve(records: list[dict[str, Any]]) -> None:
        finding = next(r for r in records if r.get("verdict") == "non_compliant")
        finding.update(verdict="compliant", violations=[])

    records_key = manifest(forged.copy, 5)["records_key"]
    rewrite_records(forged.copy, records_key, approve)
    changed = [p for p in verify_archive(forged.store).problems if "was changed" in p]
    assert len(changed) == 1
    assert changed[0].startswith(f"acme/scheduled seq 5: records object {records_key} was changed: sha256 ")
    assert_detected(forged, changed[0], changed=[records_key])


def test_a_removed_manifest_is_detected(forged: Forged) -> None:
    key = manifest_key("acme", "scheduled", 5)
    forged.copy.delete(key)
    assert_detected(forged, "acme/scheduled seq 6: manifest seq 5 missing: the chain is broken", changed=[key])


def test_a_missing_window_is_detected_even_when_the_forger_rebuilt_the_chain_with_the_signing_key(
    forged: Forged,
) -> None:
    """The careful forger, who could even use the signing key, removes chunk 5 and renumbers, re-hashes and
    re-signs every later manifest, so every hash, link and signature checks out. With hourly runs
    re-scanning 120 minutes, the hour is still inside a window; what gives it away is that seq 5 (formerly
    6) re-scans 60 minutes of seq 4, not the configured 120. (Without the key, every rebuilt manifest is
    foreign: test_a_chain_rebuilt_with_another_key_is_foreign.)"""
    archive = forged.copy
    removed = manifest(archive, 5)["records_key"]
    archive.delete(removed)
    previous_sha = sha256_hex(archive.get(manifest_key("acme", "scheduled", 4)))
    for seq in range(6, CHUNKS + 1):
        document = manifest(archive, seq) | {
            "seq": seq - 1,
            "previous_manifest_key": manifest_key("acme", "scheduled", seq - 2),
        }
        document["previous_manifest_sha256"] = previous_sha
        previous_sha = rewrite_manifest(archive, seq - 1, document, signer=SIGNER)
    archive.delete(manifest_key("acme", "scheduled", CHUNKS))
    problem = (
        "acme/scheduled seq 5: window starts 60 min before seq 4's ends, neither right after it nor the 120 min "
        "re-scan: a chunk between them is missing"
    )
    assert_detected(forged, problem, changed=[manifest_key("acme", "scheduled", 5)])
    if isinstance(forged.copy, DirCopy):
        assert verify_archive(forged.store).problems == [problem]  # every hash and link checks out


def test_a_changed_count_is_detected(forged: Forged) -> None:
    document = manifest(forged.copy, 5)
    document["counts"]["by_kind"]["pull_request"]["non_compliant"] -= 1
    rewrite_manifest(forged.copy, 5, document, signer=SIGNER)  # even with the signing key
    problem = (
        "acme/scheduled seq 5: counts.by_kind.pull_request.non_compliant: the manifest says 0, the records object "
        "holds 1"
    )
    assert_detected(forged, problem, changed=[manifest_key("acme", "scheduled", 5)])
    assert any(
        p.startswith("acme/scheduled seq 6: previous_manifest_sha256") for p in verify_archive(forged.store).problems
    )


def test_an_edited_previous_hash_is_detected(forged: Forged) -> None:
    document = manifest(forged.copy, 5) | {"previous_manifest_sha256": "0" * 64}
    rewrite_manifest(forged.copy, 5, document, signer=SIGNER)  # even with the signing key
    problems = verify_archive(forged.store).problems
    link = next(p for p in problems if "previous_manifest_sha256 000000000000" in p)
    assert link.startswith("acme/scheduled seq 5: previous_manifest_sha256 000000000000… does not match seq 4")
    assert_detected(forged, link, changed=[manifest_key("acme", "scheduled", 5)])


def test_an_orphan_records_object_is_a_warning_not_tampering(forged: Forged) -> None:
    key = "records/acme/scheduled/2026/01/01/20260101T120000Z_20260101T130000Z_crashed.jsonl.gz"
    forged.copy.put(key, b"\x1f\x8b")
    code, lines = verify(*forged.args)
    assert code == 0
    assert lines[1] == f"warning: {key} has no manifest (a chunk whose write failed, or whose manifest is missing)"


# --------------------------------------------------------------------------- bad input (exit 2)
@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--bucket", "no-such-evidence"], "bucket no-such-evidence: no such bucket", id="missing bucket"),
        pytest.param(["--bucket", BUCKET, "--since", "last tuesday"], "--since: not an ISO-8601 timestamp", id="bad date"),
        pytest.param(["--bucket", BUCKET, "--since", "2026-02-01", "--until", "2026-01-01"], "must be before --until", id="backwards"),
        pytest.param(["--bucket", BUCKET, "--overlap-minutes", "-5"], "--overlap-minutes: expected 0 or more", id="negative overlap"),
        pytest.param([], "one of the arguments --bucket --dir is required", id="no archive"),
        pytest.param(["--dir", "/nonexistent/archive"], "--dir /nonexistent/archive: no such folder", id="missing folder"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_one_line(
    s3: Any, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert verify(*args)[0] == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("pr-auditor: error: ") and message in error[0]


def test_an_empty_archive_is_not_intact(s3: Any) -> None:
    code, lines = verify("--bucket", BUCKET)
    assert code == 1
    assert lines[1] == "first problem: no chain found in the archive"


# --------------------------------------------------------------------------- the report's reader
def test_archived_records_are_read_back_through_the_manifests(archived: Any) -> None:
    records = list(iter_archived_records(archived, BUCKET, scope="acme", since=START, until=START + timedelta(hours=2)))
    numbers = [r["number"] for r in records if r["kind"] == "pull_request"]
    # Hours 0 and 1, and hours 2 and 3, whose windows re-scan back into hour 1.
    assert numbers == list(range(1, 13))
    assert [r["kind"] for r in records].count("run_summary") == 4


def test_the_reader_refuses_a_records_object_that_does_not_match_its_manifest(archived: Any) -> None:
    rewrite_records(BucketCopy(archived), manifest(BucketCopy(archived), 2)["records_key"], lambda rs: rs.pop())
    with pytest.raises(Exception, match="missing or changed"):
        list(iter_archived_records(archived, BUCKET))


# --------------------------------------------------------------------------- with the stack's state table
@dataclass
class RacingState:
    """The state table, with another writer slipping in right after this one reads the chain head."""

    inner: StateDocuments
    racer: Callable[[], object] | None = None

    def load(self, name: str) -> tuple[Document | None, int]:
        found = self.inner.load(name)
        racer, self.racer = self.racer, None
        if racer is not None:
            racer()
        return found

    def save(self, name: str, document: Document, *, revision: int) -> None:
        self.inner.save(name, document, revision=revision)


@pytest.fixture
def state(s3: Any) -> StateDocuments:
    name = create_state_table(load_template()["Resources"]["AuditStateTable"]["Properties"], "state")
    return StateDocuments(StateTable(name, client=boto3.client("dynamodb", region_name=REGION), clock=lambda: NOW))


def test_the_chain_head_lives_in_the_state_table(s3: Any, state: StateDocuments) -> None:
    archive = S3Archive(BUCKET, state, client=s3, clock=lambda: NOW, signer=SIGNER)
    keys = [archive.write_chunk(chunk) for chunk in hourly_chunks(3)]
    head, revision = state.load("chain#acme#scheduled")
    assert head is not None and head["key"] == keys[-1] and head["seq"] == 3 and revision == 6
    assert "pending" not in head  # reserved, stored, settled
    assert head["sha256"] == sha256_hex(s3.get_object(Bucket=BUCKET, Key=keys[-1])["Body"].read())
    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName="state", Key={"pk": {"S": "doc#chain#acme#scheduled"}}
    )
    assert "Item" in item


def test_a_writer_that_loses_the_race_for_the_head_takes_the_next_seq_and_the_chain_stays_intact(
    s3: Any, state: StateDocuments
) -> None:
    first, second, third = hourly_chunks(3)
    S3Archive(BUCKET, state, client=s3, signer=SIGNER).write_chunk(first)
    rival = S3Archive(BUCKET, state, client=s3, signer=SIGNER)
    racing = RacingState(state, racer=lambda: rival.write_chunk(second))
    # The rival reserves seq 2 after this writer read the head: its reservation conflicts, it reads again.
    assert S3Archive(BUCKET, racing, client=s3, signer=SIGNER).write_chunk(third) == manifest_key(
        "acme", "scheduled", 3
    )
    assert len(list(S3Store(BUCKET, client=s3).list_keys("manifests/"))) == 3  # no fork: one manifest per seq
    code, lines = verify("--bucket", BUCKET)
    assert code == 0 and lines[0].startswith("chain intact: 3 chunks")


# --------------------------------------------------------------------------- signatures: offline, with the public key only
def public_key_file(tmp_path: Path) -> Path:
    path = tmp_path / "signing-key.pem"
    path.write_bytes(SIGNER.public_key_pem())
    return path


def test_verify_on_a_downloaded_copy_with_only_the_public_key_passes_offline(archived: Any, tmp_path: Path) -> None:
    copy = download(archived, BUCKET, tmp_path / "copy")
    code, lines = verify("--dir", str(copy), "--public-key", str(public_key_file(tmp_path)))
    assert code == 0 and lines[0].startswith("chain intact: 12 chunks")


def test_a_chain_rebuilt_and_signed_with_another_key_is_foreign(archived: Any, tmp_path: Path) -> None:
    """The forger rebuilds every manifest (hashes and links all consistent) and signs them with a key of
    their own under the writer's key id, and even replaces keys/ in the copy: the auditor's own copy of
    the public key says no manifest is the writer's."""
    copy = download(archived, BUCKET, tmp_path / "copy")
    forged = DirCopy(copy)
    previous: tuple[str, str] | None = None
    for seq in range(1, CHUNKS + 1):
        document = manifest(forged, seq) | {
            "previous_manifest_key": previous[0] if previous else None,
            "previous_manifest_sha256": previous[1] if previous else None,
        }
        previous = (manifest_key("acme", "scheduled", seq), rewrite_manifest(forged, seq, document, signer=FORGER))
    forged.put(f"keys/{SIGNER.key_id}.pem", FORGER.public_key_pem())
    assert verify("--dir", str(copy))[0] == 0  # the copy vouches for itself: that is why the key is pinned
    code, lines = verify("--dir", str(copy), "--public-key", str(public_key_file(tmp_path)))
    assert code == 1
    foreign = [line for line in lines if line.startswith("tamper evidence: foreign object ")]
    assert len(foreign) == CHUNKS
    assert foreign[0] == (
        f"tamper evidence: foreign object {manifest_key('acme', 'scheduled', 1)}: its signature (key "
        f"'{SIGNER.key_id}') does not verify; not evidence (the auditor did not write it)"
    )


def test_a_public_key_file_that_is_not_one_is_bad_input(archived: Any, tmp_path: Path) -> None:
    (tmp_path / "key.pem").write_text("not a key")
    assert verify("--bucket", BUCKET, "--public-key", str(tmp_path / "key.pem"))[0] == 2
