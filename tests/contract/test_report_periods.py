"""Which period a change belongs to in `pr-auditor report`: a PR by its merge, a branch finding by when it was
pushed — not by when the audit detected it, nor by the commit's own (client-set) date."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pr_auditor.cli import main
from pr_auditor.core.model import iso
from pr_auditor.core.records import direct_push_record

from report_records import write_jsonl

MONDAY = datetime(2026, 11, 16, tzinfo=UTC)
PUSHED = MONDAY + timedelta(hours=22)
DETECTED = MONDAY + timedelta(days=1, hours=9)  # the next morning: the hourly runs were failing overnight


def late_push() -> dict[str, Any]:
    record = direct_push_record(
        repository="acme/api",
        branch="main",
        sha="c0ffee" * 6 + "c0ff",
        url="https://github.com/acme/api/commit/c0ffee",
        author="mallory",
        committer="mallory",
        committed_date=MONDAY - timedelta(days=30),  # backdated by the client
        exempt=False,
        run_id="run-tuesday",
        policy_version="sha256:0000000000000000",
    )
    record.update(pushed_at=iso(PUSHED), detected_at=iso(DETECTED))
    return record


def population(tmp_path: Path, since: datetime, until: datetime, capsys: pytest.CaptureFixture[str]) -> list[str]:
    write_jsonl(tmp_path / "records.jsonl", [late_push()])
    out = tmp_path / f"pack-{since:%d}"
    argv = ["report", "--since", iso(since), "--until", iso(until), "--input", str(tmp_path / "records.jsonl")]
    code = main([*argv, "--out", str(out), "--seed", "s"], out=io.StringIO())
    assert code == 0, capsys.readouterr().err
    with (out / "population.csv").open(encoding="utf-8", newline="") as stream:
        return [row["changed_at"] for row in csv.DictReader(stream)]


def test_a_push_detected_late_appears_in_the_period_it_was_pushed_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a direct push made on Monday night and detected on Tuesday morning
    # When the auditor asks for Monday, then for Tuesday
    monday = population(tmp_path, MONDAY, MONDAY + timedelta(days=1), capsys)
    tuesday = population(tmp_path, MONDAY + timedelta(days=1), MONDAY + timedelta(days=2), capsys)
    # Then the push is Monday's change, dated when it was pushed, and not Tuesday's
    assert monday == [iso(PUSHED)]
    assert tuesday == []


def test_a_push_without_a_push_time_falls_in_the_period_it_was_detected_in_never_its_commit_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = late_push()
    del record["pushed_at"]
    write_jsonl(tmp_path / "records.jsonl", [record])
    argv = ["report", "--since", iso(MONDAY - timedelta(days=31)), "--until", iso(MONDAY + timedelta(days=1))]
    code = main([*argv, "--input", str(tmp_path / "records.jsonl"), "--out", str(tmp_path / "p")], out=io.StringIO())
    assert code == 0, capsys.readouterr().err
    with (tmp_path / "p" / "population.csv").open(encoding="utf-8", newline="") as stream:
        assert list(csv.DictReader(stream)) == []  # not in the month its commit date claims
