"""`pr-auditor report --bucket` on moto's S3 (real boto3 calls): the period is read from the evidence archive the
real writer filled, the hash chain is verified on the way, and a doctored archive never yields a pack that
passes for clean evidence."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from pr_auditor.audit.ports import MemoryState
from pr_auditor.cli import main
from pr_auditor.core.model import iso
from pr_auditor.evidence.archive import S3Archive, manifest_key

from evidence import BUCKET, SIGNER, START, BucketCopy, create_evidence_bucket, hourly_chunks, rewrite_records
from harness import REGION, aws_environment

pytestmark = pytest.mark.integration
CHUNKS = 24
PERIOD = ["--since", iso(START), "--until", iso(START + timedelta(hours=CHUNKS))]


@pytest.fixture
def s3() -> Iterator[Any]:
    aws_environment()
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        create_evidence_bucket(client)
        archive = S3Archive(
            BUCKET, MemoryState(), client=client, clock=lambda: datetime(2026, 1, 2, tzinfo=UTC), signer=SIGNER
        )
        for chunk in hourly_chunks(CHUNKS):
            archive.write_chunk(chunk)
        yield client


def report(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    out = io.StringIO()
    code = main(
        ["report", *PERIOD, "--bucket", BUCKET, "--out", str(tmp_path / "pack"), "--seed", "s", *extra], out=out
    )
    return code, out.getvalue(), capsys.readouterr().err


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def test_the_pack_is_read_from_the_archive_with_the_chain_verified(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stdout, err = report(tmp_path, capsys, "--region", REGION)
    assert code == 0, err
    assert stdout.strip() == str(tmp_path / "pack" / "report.html")
    chunks = list(hourly_chunks(CHUNKS))
    archived = {r["record_id"] for chunk in chunks for r in chunk.records}
    assert {row["record_id"] for row in rows(tmp_path / "pack" / "population.csv")} == archived
    non_compliant = {r["record_id"] for chunk in chunks for r in chunk.records if r["verdict"] == "non_compliant"}
    assert {row["record_id"] for row in rows(tmp_path / "pack" / "exceptions.csv")} == non_compliant
    summary = json.loads((tmp_path / "pack" / "summary.json").read_text())
    assert summary["source"] == {"description": f"the evidence archive s3://{BUCKET}", "bucket": BUCKET, "scope": None}
    assert summary["completeness"]["chain"]["verified"] is True
    assert summary["completeness"]["chain"]["detail"].startswith("chain intact")
    assert summary["completeness"]["windows_covered"] is True
    assert summary["completeness"]["completed_runs"] == CHUNKS


def test_a_record_changed_in_the_archive_stops_the_report_and_leaves_no_pack(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chunk = list(hourly_chunks(CHUNKS))[5]
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=manifest_key("acme", "scheduled", 6))["Body"].read())

    def approve(records: list[dict[str, Any]]) -> None:
        finding = next(r for r in records if r.get("verdict") == "non_compliant")
        finding.update(verdict="compliant", violations=[], approvers=["mallory"])

    assert manifest["run_id"] == chunk.run_id
    rewrite_records(BucketCopy(s3), manifest["records_key"], approve)
    code, stdout, err = report(tmp_path, capsys, "--quiet")
    assert code == 1
    assert stdout == ""
    assert err.startswith("pr-auditor: error: ") and "(run pr-auditor verify)" in err
    assert len(err.strip().splitlines()) == 1, err
    assert not list((tmp_path / "pack").glob("*.csv"))


def test_a_removed_manifest_is_reported_as_a_broken_chain(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    BucketCopy(s3).delete(manifest_key("acme", "scheduled", 7))
    code, _, err = report(tmp_path, capsys)
    summary = json.loads((tmp_path / "pack" / "summary.json").read_text())
    assert code == 0
    assert summary["completeness"]["chain"]["verified"] is False
    assert "NOT intact" in summary["completeness"]["chain"]["detail"]
    assert "hash chain did NOT verify" in err


def test_a_bucket_that_does_not_exist_is_bad_input(s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    code = main(
        ["report", *PERIOD, "--bucket", "no-such-evidence", "--out", str(tmp_path / "pack"), "--quiet"], out=out
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("pr-auditor: error: ") and "no-such-evidence" in err and len(err.strip().splitlines()) == 1
    assert not list((tmp_path / "pack").glob("*.csv"))
