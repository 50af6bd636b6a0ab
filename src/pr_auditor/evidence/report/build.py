"""Stream records into the evidence pack: population.csv, exceptions.csv, sample.csv, summary.json, report.html.

One pass over the records: each change is written to population.csv as it is read and then forgotten; what
stays in memory is the set of identities seen (to drop repeats), the counters, the sample (N records) and the
run windows. Exceptions go to a temporary file as they are read, with only their time and place in that file
kept in memory; exceptions.csv and the page's exception table are then written from it in time order.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from pr_auditor.core.console import logs_insights_url
from pr_auditor.core.model import iso
from pr_auditor.evidence.report.core import (
    EXCEPTION_COLUMNS,
    POPULATION_COLUMNS,
    SAMPLE_COLUMNS,
    Record,
    Row,
    Sampler,
    change_identity,
    change_time,
    dedupe_key,
    exception_row,
    is_change,
    is_exception,
    population_row,
    sample_row,
)
from pr_auditor.evidence.report.html import render_report
from pr_auditor.evidence.report.tally import Story, Tally

FILES = ("population.csv", "exceptions.csv", "sample.csv", "summary.json", "report.html")
SUMMARY_SCHEMA_VERSION = 1
SAMPLE_METHOD = (
    'the changes with the smallest sha256("<seed>:<record_id>") (hex), smallest first; '
    "redraw it from population.csv with the same seed."
)


@dataclass(frozen=True, slots=True)
class ReportRequest:
    since: datetime
    until: datetime
    out: Path
    sample_size: int
    seed: str
    generated_at: datetime
    source: Mapping[str, Any]  # {"description": "...", ...}: how the records were read
    region: str | None = None
    log_group: str | None = None
    policies: tuple[PolicyFile, ...] = ()  # policy files to show on the page, with their versions


@dataclass(frozen=True, slots=True)
class PolicyFile:
    """A policy file given to the report: where it came from, its version (hash) and canonical form."""

    path: str
    policy_version: str
    canonical: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ReportResult:
    summary: dict[str, Any]
    html: Path


def _csv(stream: TextIO, columns: tuple[str, ...]) -> csv.DictWriter[str]:
    writer = csv.DictWriter(stream, fieldnames=columns, lineterminator="\r\n")  # RFC 4180
    writer.writeheader()
    return writer


def link_text(record: Record) -> str:
    """The short text a change's link shows instead of its URL: ``org/repo#12``, ``org/repo@abc1234``."""
    repository = str(record.get("repository") or record.get("kind"))
    if record.get("number") is not None:
        return f"{repository}#{record['number']}"
    sha = record.get("sha") or record.get("after_sha") or record.get("new_head") or record.get("merge_commit_sha")
    return f"{repository}@{str(sha)[:7]}" if sha else repository


def exception_view(record: Record, when: datetime) -> dict[str, Any]:
    """What the page shows of one change (plain data, escaped by the template)."""
    return change_identity(record, when) | {
        "title": record.get("title"),
        "url": record.get("url"),
        "link_text": link_text(record),
        "verdict": record.get("verdict"),
        "emergency": bool(record.get("emergency")),
        "emergency_label": record.get("emergency_label"),
        "violations": [{"code": v.get("code"), "detail": v.get("detail")} for v in record.get("violations") or []],
        "approvers": list(record.get("approvers") or []),
        "discounted_approvals": list(record.get("discounted_approvals") or []),
    }


class _Exceptions:
    """The period's exceptions, parked in a file as they are read (one JSON line each: the CSV row and the
    page's view); in memory only each one's time, id and offset, so both can be written in time order."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stream: TextIO = path.open("w", encoding="utf-8")
        self._index: list[tuple[str, str, int]] = []

    def add(self, record: Record, when: datetime) -> None:
        view = exception_view(record, when)
        self._index.append((view["changed_at"], str(view["record_id"]), self._stream.tell()))
        line = json.dumps({"row": exception_row(record, when), "view": view}, ensure_ascii=False)
        self._stream.write(line + "\n")

    def in_time_order(self) -> Iterator[dict[str, Any]]:
        """Each parked exception ({"row", "view"}), earliest first (ties by record id)."""
        self._stream.close()
        with self._path.open(encoding="utf-8") as stream:
            for _, _, offset in sorted(self._index):
                stream.seek(offset)
                entry: dict[str, Any] = json.loads(stream.readline())
                yield entry

    def close(self) -> None:
        self._stream.close()


def build_report(records: Iterable[Record], request: ReportRequest, *, chain: Mapping[str, Any]) -> ReportResult:
    """Read ``records`` once and write the five files of the evidence pack into ``request.out``.

    The files are written in a hidden folder inside ``out`` and moved into place only when all five are
    complete, so a run that fails half-way (a bad line, an unreadable archive chunk) leaves no partial pack
    that could pass for a whole one (an earlier complete pack in ``out`` stays as it was)."""
    request.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".partial-", dir=request.out))
    try:
        summary = _write_pack(records, request, chain, work)
        for name in FILES:
            os.replace(work / name, request.out / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ReportResult(summary=summary, html=request.out / "report.html")


def _write_pack(
    records: Iterable[Record], request: ReportRequest, chain: Mapping[str, Any], work: Path
) -> dict[str, Any]:
    tally = Tally(request.since, request.until)
    for policy in request.policies:
        tally.policy.add_text(policy.policy_version, dict(policy.canonical))
    sampler: Sampler[tuple[Record, datetime]] = Sampler(request.sample_size, request.seed)
    exceptions = _Exceptions(work / "exceptions.jsonl")
    try:
        with (work / "population.csv").open("w", encoding="utf-8", newline="") as population_file:
            population = _csv(population_file, POPULATION_COLUMNS)
            for record, when in _changes_in_period(records, tally):
                tally.add_change(record, when)
                population.writerow(population_row(record, when))
                sampler.offer(str(record.get("record_id") or dedupe_key(record)), (record, when))
                if is_exception(record):
                    exceptions.add(record, when)
    finally:
        exceptions.close()
    with (work / "exceptions.csv").open("w", encoding="utf-8", newline="") as exceptions_file:
        writer = _csv(exceptions_file, EXCEPTION_COLUMNS)
        writer.writerows(entry["row"] for entry in exceptions.in_time_order())
    sample = _write_sample(work / "sample.csv", sampler, request)
    sample_facts = {
        "size": len(sample),
        "requested": request.sample_size,
        "seed": request.seed,
        "method": SAMPLE_METHOD,
    }
    summary: dict[str, Any] = {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "generated_at": iso(request.generated_at),
        "source": dict(request.source),
    } | tally.summary(chain=chain, sample=sample_facts)
    in_force = {p["policy_version"] for p in summary["policy_versions"]}
    summary["policy_files"] = [
        {"path": p.path, "policy_version": p.policy_version, "in_force": p.policy_version in in_force}
        for p in request.policies
    ]
    with (work / "summary.json").open("w", encoding="utf-8") as stream:
        json.dump(summary, stream, indent=2, ensure_ascii=False)
        stream.write("\n")
    with (work / "report.html").open("w", encoding="utf-8") as stream:
        views = (entry["view"] for entry in exceptions.in_time_order())
        render_report(stream, summary=summary, exceptions=views, sample=sample)
    return summary


def _changes_in_period(records: Iterable[Record], tally: Tally) -> Iterator[tuple[Record, datetime]]:
    """Each change in the period once, with its time; repeats, run summaries, policy changes, other kinds
    and changes outside the period go to ``tally`` and are not yielded. A change that carries no time of its
    own (a history rewrite says only which run found it) waits for the end, when every run's window is known,
    and counts from the start of its run's window; one whose run is unknown is listed as undated."""
    seen: dict[str, Story] = {}  # a digest and two fields per record id: memory stays small
    undated: list[Record] = []
    for record in records:
        tally.input.records_read += 1
        key = dedupe_key(record)
        story = Story.of(record)
        if key in seen:
            if seen[key].digest == story.digest:
                tally.input.duplicates += 1  # the same record twice: a retried chunk
            else:
                tally.input.add_conflict(key, seen[key], story)  # listed, never dropped silently
            continue
        seen[key] = story
        if record.get("kind") == "run_summary":
            tally.add_run_summary(record)
        elif record.get("kind") == "policy_change":
            tally.add_policy_change(record)
        elif not is_change(record):
            tally.input.other_kinds[str(record.get("kind"))] += 1
        elif (when := change_time(record)) is None:
            undated.append(record)
        elif tally.in_period(when):
            yield record, when
        else:
            tally.input.outside_period += 1
    for record in undated:
        window = tally.coverage.run_windows.get(str(record.get("run_id")))
        if window is None:
            tally.input.undated.append(str(record.get("record_id") or dedupe_key(record)))
        elif tally.in_period(window[0]):
            yield record, window[0]
        else:
            tally.input.outside_period += 1


def _write_sample(
    path: Path, sampler: Sampler[tuple[Record, datetime]], request: ReportRequest
) -> list[dict[str, Any]]:
    """Write sample.csv (in draw order); returns what the page shows of each sampled change (the record's own
    values), in time order."""
    rows: list[Row] = []
    views: list[dict[str, Any]] = []
    for rank, (key, (record, when)) in enumerate(sampler.drawn(), start=1):
        link = None
        if request.region and request.log_group:
            link = logs_insights_url(
                region=request.region,
                log_group=request.log_group,
                record_id=str(record.get("record_id") or dedupe_key(record)),
                start=when,
                end=request.generated_at,
            )
        rows.append(sample_row(record, when, rank=rank, key=key, logs_insights_url=link))
        views.append(exception_view(record, when) | {"sample_rank": rank, "logs_insights_url": link})
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = _csv(stream, SAMPLE_COLUMNS)
        writer.writerows(rows)
    return sorted(views, key=lambda view: (view["changed_at"], view["sample_rank"]))
