"""`pr-auditor report` — the evidence pack as a contract: CSV headers and row counts equal the records given,
every violation reaches exceptions.csv, the HTML (parsed) holds the exception rows and the chart and
references nothing over the network, titles are escaped, the sample is reproducible, repeats are dropped,
bad input is one line and exit 2."""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
from collections import Counter
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from pr_auditor.cli import main
from pr_auditor.core.errors import UnavailableError
from pr_auditor.core.model import Window, iso
from pr_auditor.core.policy import canonical_policy, policy_changes, policy_from_mapping
from pr_auditor.core.records import direct_push_record, history_rewrite_record, policy_change_record
from pr_auditor.evidence.report.core import EXCEPTION_COLUMNS, POPULATION_COLUMNS, SAMPLE_COLUMNS

from report_records import PERIOD, archetypes, change, period_records, run_summary, write_jsonl

PERIOD_ARGS = ["--since", iso(PERIOD.since), "--until", iso(PERIOD.until)]
XSS_TITLE = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    out = io.StringIO()
    code = main(["report", *argv], out=out)
    return code, out.getvalue(), capsys.readouterr().err


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as stream:
        reader = csv.DictReader(stream)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


class Page(HTMLParser):
    """What the report page holds, as a browser's parser sees it."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict[str, str | None]]] = []
        self.exception_rows: dict[str, str] = {}  # record id → the row's text
        self.references: list[str] = []  # every src/href (any namespace) a browser would fetch
        self.links: list[tuple[str, str]] = []  # (href, text) of every <a>: navigation only, never fetched
        self.svg_in_chart = 0
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._row: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for name, value in attrs:
            if tag == "a" and name == "href" and value is not None:
                self.links.append((value, ""))
            elif name in ("src", "href", "xlink:href", "srcset", "action", "data", "poster") and value is not None:
                self.references.append(value)
        if tag == "svg" and any(a.get("id") == "chart" for _, a in self.stack):
            self.svg_in_chart += 1
        if tag == "tr" and "exception" in (attributes.get("class") or "").split():
            self._row = str(attributes.get("data-record-id"))
            self.exception_rows[self._row] = ""
        self.stack.append((tag, attributes))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            opened, _ = self.stack.pop()
            if opened == tag:
                break
        if tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1][0] == "a" and self.links:
            self.links[-1] = (self.links[-1][0], self.links[-1][1] + data)
        if self._row is not None:
            self.exception_rows[self._row] += data
        if self.stack and self.stack[-1][0] == "script":
            self.scripts.append(data)
        if self.stack and self.stack[-1][0] == "style":
            self.styles.append(data)


def parse_page(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


@pytest.fixture
def records() -> list[dict[str, Any]]:
    """Three weeks of a real mix of changes, one with a hostile title and one direct push, plus run summaries."""
    period = Window(PERIOD.since, PERIOD.since + timedelta(days=21))
    found = list(period_records(300, period=period, seed=1))
    bases = archetypes()
    found.append(
        change(
            bases["unreviewed"],
            repository="acme/web",
            number=9001,
            merged_at=period.since + timedelta(days=3),
            title=XSS_TITLE,
        )
    )
    found.append(
        direct_push_record(
            repository="acme/api",
            branch="main",
            sha="c0ffee" * 6 + "c0ff",
            url="https://github.com/acme/api/commit/c0ffee",
            author="mallory",
            committer="mallory",
            committed_date=period.since + timedelta(days=4),
            exempt=False,
            run_id="run-x",
            policy_version=bases["approved"]["policy_version"],
        )
    )
    # a force push carries no time of its own: it is placed at the start of the window of the run that found it
    found.append(
        history_rewrite_record(
            repository="acme/web",
            branch="main",
            old_head="a" * 40,
            new_head="b" * 40,
            status="diverged",
            run_id=f"run-{iso(period.since + timedelta(days=2))}",
            policy_version=bases["approved"]["policy_version"],
        )
    )
    return found


@pytest.fixture
def pack(records: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    write_jsonl(tmp_path / "records.jsonl", records)
    out = tmp_path / "pack"
    code, stdout, err = run(
        [*PERIOD_ARGS, "--input", str(tmp_path / "records.jsonl"), "--out", str(out), "--seed", "s1"], capsys
    )
    assert code == 0, err
    assert stdout == f"{out / 'report.html'}\n"
    return out


def changes_of(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["kind"] in ("pull_request", "direct_push", "history_rewrite")]


def is_exception(record: dict[str, Any]) -> bool:
    return record["verdict"] == "non_compliant" or record.get("emergency") is True


def test_the_pack_holds_exactly_the_five_files(pack: Path) -> None:
    assert sorted(p.name for p in pack.iterdir()) == [
        "exceptions.csv",
        "population.csv",
        "report.html",
        "sample.csv",
        "summary.json",
    ]


def test_csv_headers_are_the_contract_and_row_counts_equal_the_records_given(
    pack: Path, records: list[dict[str, Any]]
) -> None:
    changes = changes_of(records)
    header, population = read_csv(pack / "population.csv")
    assert tuple(header) == POPULATION_COLUMNS
    assert sorted(row["record_id"] for row in population) == sorted(r["record_id"] for r in changes)
    header, exceptions = read_csv(pack / "exceptions.csv")
    assert tuple(header) == EXCEPTION_COLUMNS
    assert sorted(row["record_id"] for row in exceptions) == sorted(r["record_id"] for r in changes if is_exception(r))
    header, sample = read_csv(pack / "sample.csv")
    assert tuple(header) == SAMPLE_COLUMNS
    assert len(sample) == 25
    assert {row["record_id"] for row in sample} <= {r["record_id"] for r in changes}


def test_exceptions_csv_carries_every_violation_with_its_detail_and_the_discounted_approvals(
    pack: Path, records: list[dict[str, Any]]
) -> None:
    _, rows = read_csv(pack / "exceptions.csv")
    by_id = {row["record_id"]: row for row in rows}
    for record in changes_of(records):
        if not is_exception(record):
            continue
        row = by_id[record["record_id"]]
        assert row["violations"].splitlines() == [f"{v['code']}: {v['detail']}" for v in record["violations"]]
        assert row["discounted_approvals"].splitlines() == record.get("discounted_approvals", [])
        assert row["approvers"] == ";".join(record.get("approvers", []))
    assert any("carol: stale" in row["discounted_approvals"] for row in rows)
    push = next(r for r in records if r["kind"] == "direct_push")
    assert (by_id[push["record_id"]]["violation_codes"], by_id[push["record_id"]]["committer"]) == (
        "no_pull_request",
        "mallory",
    )
    rewrite = next(r for r in records if r["kind"] == "history_rewrite")
    assert by_id[rewrite["record_id"]]["violation_codes"] == "force_push"
    assert by_id[rewrite["record_id"]]["changed_at"] == iso(PERIOD.since + timedelta(days=2))
    assert by_id[rewrite["record_id"]]["sha"] == "b" * 40


def test_summary_counts_per_verdict_repository_code_and_week_add_up_to_the_population(
    pack: Path, records: list[dict[str, Any]]
) -> None:
    summary = json.loads((pack / "summary.json").read_text())
    changes = changes_of(records)
    counts = summary["counts"]
    assert summary["changes"] == len(changes)
    assert summary["exceptions"] == sum(is_exception(r) for r in changes)
    assert counts["by_verdict"] == dict(Counter(r["verdict"] for r in changes))
    assert counts["by_violation_code"] == dict(Counter(v["code"] for r in changes for v in r["violations"]))
    assert {name: c["changes"] for name, c in counts["by_repository"].items()} == dict(
        Counter(r["repository"] for r in changes)
    )
    assert [w["week"] for w in counts["by_week"]] == [f"2026-W{n}" for n in range(31, 45)]  # quiet weeks too
    assert [w["week"] for w in counts["by_week"] if w["changes"]] == ["2026-W31", "2026-W32", "2026-W33", "2026-W34"]
    assert sum(w["changes"] for w in counts["by_week"]) == len(changes)
    assert sum(w["exceptions"] for w in counts["by_week"]) == summary["exceptions"]
    assert [p["policy_version"] for p in summary["policy_versions"]] == [records[0]["policy_version"]]


def test_summary_completeness_says_the_chain_was_not_checked_for_local_files_and_lists_gaps(pack: Path) -> None:
    completeness = json.loads((pack / "summary.json").read_text())["completeness"]
    assert completeness["chain"]["verified"] is None
    assert "local files" in completeness["chain"]["detail"]
    # the fixture's run summaries cover the first 21 days of the 90-day period only
    assert completeness["windows_covered"] is False
    assert completeness["gaps"] == [{"since": iso(PERIOD.since + timedelta(days=21)), "until": iso(PERIOD.until)}]
    assert completeness["failed_runs"] == []


def test_the_html_holds_every_exception_row_and_the_chart(pack: Path, records: list[dict[str, Any]]) -> None:
    page = parse_page(pack / "report.html")
    exceptions = [r for r in changes_of(records) if is_exception(r)]
    assert sorted(page.exception_rows) == sorted(r["record_id"] for r in exceptions)
    unreviewed = next(r for r in exceptions if r["violations"][0]["code"] == "insufficient_approvals")
    assert unreviewed["violations"][0]["detail"] in page.exception_rows[unreviewed["record_id"]]
    assert page.svg_in_chart == 1


def test_the_html_fetches_nothing_over_the_network_and_its_links_only_navigate(pack: Path) -> None:
    page = parse_page(pack / "report.html")
    text = (pack / "report.html").read_text(encoding="utf-8")
    assert all(ref.startswith(("#", "data:")) for ref in page.references), page.references
    assert page.links and all(href.startswith("https://github.com/") for href, _ in page.links), page.links[:3]
    assert "@import" not in text
    assert "url(http" not in text.replace(" ", "") and "url(//" not in text.replace(" ", "")
    assert all("http" not in style for style in page.styles)


def test_a_title_with_markup_is_shown_as_text_never_run(pack: Path) -> None:
    text = (pack / "report.html").read_text(encoding="utf-8")
    page = parse_page(pack / "report.html")
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in text
    assert XSS_TITLE not in text
    assert not any("pwned" in script for script in page.scripts)
    row = next(text for text in page.exception_rows.values() if "pwned" in text)
    assert XSS_TITLE in row  # the parser decodes the entities back to the title, as data


def test_the_same_seed_draws_the_same_sample_and_another_seed_another(
    records: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_jsonl(tmp_path / "in.jsonl", records)
    write_jsonl(tmp_path / "reversed.jsonl", reversed(records))

    def sample(name: str, seed: str, source: str = "in.jsonl") -> list[str]:
        code, _, err = run(
            [*PERIOD_ARGS, "--input", str(tmp_path / source), "--out", str(tmp_path / name), "--seed", seed], capsys
        )
        assert code == 0, err
        return [row["record_id"] for row in read_csv(tmp_path / name / "sample.csv")[1]]

    first = sample("a", "audit-2026")
    assert sample("b", "audit-2026") == first
    assert sample("c", "audit-2026", source="reversed.jsonl") == first
    assert sample("d", "audit-2027") != first


def test_without_a_seed_a_random_one_is_drawn_and_recorded(
    records: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_jsonl(tmp_path / "in.jsonl", records)
    code, _, _ = run(
        [*PERIOD_ARGS, "--input", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "p"), "--sample", "5"], capsys
    )
    assert code == 0
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    seed = summary["sample"]["seed"]
    assert seed and summary["sample"]["size"] == 5
    code, _, _ = run(
        [
            *PERIOD_ARGS,
            "--input",
            str(tmp_path / "in.jsonl"),
            "--out",
            str(tmp_path / "q"),
            "--sample",
            "5",
            "--seed",
            seed,
        ],
        capsys,
    )
    assert read_csv(tmp_path / "q" / "sample.csv")[1] == read_csv(tmp_path / "p" / "sample.csv")[1]


def test_a_repeated_record_counts_once_across_files_plain_and_gzip(
    records: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_jsonl(tmp_path / "first.jsonl", records)
    with gzip.open(tmp_path / "again.jsonl.gz", "wt", encoding="utf-8") as stream:  # a crash re-emitted a third
        for record in records[::3]:
            stream.write(json.dumps(record) + "\n")
    code, _, err = run(
        [
            *PERIOD_ARGS,
            "--input",
            str(tmp_path / "first.jsonl"),
            "--input",
            str(tmp_path / "again.jsonl.gz"),
            "--out",
            str(tmp_path / "p"),
        ],
        capsys,
    )
    assert code == 0, err
    _, population = read_csv(tmp_path / "p" / "population.csv")
    assert len(population) == len(changes_of(records))
    assert len({row["record_id"] for row in population}) == len(population)
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert summary["input"]["duplicates_dropped"] == len(records[::3])


def test_the_same_record_id_with_other_content_is_listed_as_a_conflict_never_dropped_silently(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a finding, and a second object telling the same record_id as compliant (a shadow copy)
    finding = change(archetypes()["unreviewed"], repository="acme/api", number=7, merged_at=PERIOD.since)
    shadow = finding | {"verdict": "compliant", "violations": [], "run_id": "shadow"}
    write_jsonl(tmp_path / "in.jsonl", [finding, finding, shadow])
    # When the pack is built
    code, _, err = run([*PERIOD_ARGS, "--input", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "p")], capsys)
    assert code == 0, err
    # Then the repeat is a dropped duplicate, the other story a conflict, listed in summary.json and on the page
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert summary["input"]["duplicates_dropped"] == 1 and summary["input"]["conflicts"] == 1
    (conflict,) = summary["conflicts"]
    assert conflict["record_id"] == finding["record_id"] and conflict["kind"] == "pull_request"
    assert (conflict["counted"]["verdict"], conflict["other"]) == (
        "non_compliant",
        {"verdict": "compliant", "run_id": "shadow"},
    )
    page = (tmp_path / "p" / "report.html").read_text()
    assert 'id="conflicts"' in page and finding["record_id"] in page


def test_records_without_record_id_dedupe_by_repository_number_and_merge_commit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    legacy = {
        k: v
        for k, v in change(archetypes()["approved"], repository="acme/api", number=5, merged_at=PERIOD.since).items()
        if k != "record_id"
    }
    write_jsonl(tmp_path / "in.jsonl", [legacy, legacy | {"repository": "ACME/api"}, legacy | {"number": 6}])
    code, _, err = run([*PERIOD_ARGS, "--input", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "p")], capsys)
    assert code == 0, err
    assert len(read_csv(tmp_path / "p" / "population.csv")[1]) == 2


def test_only_changes_inside_the_period_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = archetypes()["approved"]
    edges = [PERIOD.since - timedelta(seconds=1), PERIOD.since, PERIOD.until - timedelta(seconds=1), PERIOD.until]
    write_jsonl(
        tmp_path / "in.jsonl", [change(base, repository="acme/api", number=i, merged_at=t) for i, t in enumerate(edges)]
    )
    code, _, _ = run([*PERIOD_ARGS, "--input", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "p")], capsys)
    assert code == 0
    numbers = [row["number"] for row in read_csv(tmp_path / "p" / "population.csv")[1]]
    assert numbers == ["1", "2"]
    assert json.loads((tmp_path / "p" / "summary.json").read_text())["input"]["changes_outside_period"] == 2


def test_a_failed_run_in_the_period_is_reported_and_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    day = Window(PERIOD.since, PERIOD.since + timedelta(days=1))
    write_jsonl(tmp_path / "in.jsonl", [run_summary(day, run_id="r-failed", error=UnavailableError("GitHub 502"))])
    code, _, err = run(
        [
            "--since",
            iso(day.since),
            "--until",
            iso(day.until),
            "--input",
            str(tmp_path / "in.jsonl"),
            "--out",
            str(tmp_path / "p"),
        ],
        capsys,
    )
    assert code == 0
    completeness = json.loads((tmp_path / "p" / "summary.json").read_text())["completeness"]
    assert [run["run_id"] for run in completeness["failed_runs"]] == ["r-failed"]
    assert "1 failed run(s) in the period" in err and "gap(s)" in err


def test_a_formula_in_a_title_is_neutralised_in_the_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hostile = change(
        archetypes()["unreviewed"],
        repository="acme/api",
        number=1,
        merged_at=PERIOD.since,
        title='=HYPERLINK("http://evil","x")',
    )
    write_jsonl(tmp_path / "in.jsonl", [hostile])
    assert run([*PERIOD_ARGS, "--input", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "p")], capsys)[0] == 0
    for name in ("population.csv", "exceptions.csv", "sample.csv"):
        assert read_csv(tmp_path / "p" / name)[1][0]["title"] == "'" + hostile["title"]


def _bad_line(tmp_path: Path) -> Path:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"kind": "run_summary"}\nnot json\n')
    return path


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--since", "2026-10-30", "--until", "2026-08-01", "--input", "{records}", "--out", "{out}"], "since (2026-10-30) must be before until"),
        (["--since", "2026-08-01", "--until", "soon", "--input", "{records}", "--out", "{out}"], "until: not an ISO-8601 timestamp"),
        ([*PERIOD_ARGS, "--input", "{missing}", "--out", "{out}"], "no such file"),
        ([*PERIOD_ARGS, "--out", "{out}"], "give either --bucket BUCKET or --input FILE"),
        ([*PERIOD_ARGS, "--input", "{records}", "--bucket", "b", "--out", "{out}"], "give either --bucket BUCKET or --input FILE"),
        ([*PERIOD_ARGS, "--input", "{records}"], "--out"),
        ([*PERIOD_ARGS, "--input", "{records}", "--out", "{out}", "--sample", "-1"], "--sample: expected a count >= 0"),
        ([*PERIOD_ARGS, "--input", "{records}", "--out", "{records}"], "exists and is not a folder"),
        ([*PERIOD_ARGS, "--input", "{records}", "--scope", "acme", "--out", "{out}"], "--scope: only with --bucket"),
        ([*PERIOD_ARGS, "--input", "{bad}", "--out", "{out}"], "bad.jsonl:2: not JSON"),
    ],
    ids=["until-before-since", "unparsable-until", "missing-file", "no-source", "two-sources", "no-out",
         "negative-sample", "out-is-a-file", "scope-without-bucket", "a-line-that-is-not-json"],
)  # fmt: skip
def test_bad_input_exits_2_with_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_jsonl(tmp_path / "records.jsonl", [])
    paths = {
        "records": tmp_path / "records.jsonl",
        "missing": tmp_path / "nope.jsonl",
        "out": tmp_path / "out",
        "bad": _bad_line(tmp_path),
    }
    code, stdout, err = run([arg.format(**paths) for arg in argv], capsys)
    assert code == 2
    assert stdout == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("pr-auditor: error: ") and message in err


def test_without_the_report_extra_the_error_names_the_pip_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_jsonl(tmp_path / "records.jsonl", [])
    monkeypatch.setitem(sys.modules, "pygal", None)  # `import pygal` now raises ImportError
    code, _, err = run([*PERIOD_ARGS, "--input", str(tmp_path / "records.jsonl"), "--out", str(tmp_path / "p")], capsys)
    assert code == 2
    assert (
        err.strip()
        == "pr-auditor: error: report needs pygal, from the report extra: pip install '.[report]' in the pr-auditor clone"
    )
    assert not (tmp_path / "p").exists()


def test_an_empty_period_still_makes_a_complete_pack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_jsonl(tmp_path / "records.jsonl", [])
    code, _, err = run([*PERIOD_ARGS, "--input", str(tmp_path / "records.jsonl"), "--out", str(tmp_path / "p")], capsys)
    assert code == 0, err
    assert [len(read_csv(tmp_path / "p" / n)[1]) for n in ("population.csv", "exceptions.csv", "sample.csv")] == [
        0,
        0,
        0,
    ]
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert summary["changes"] == 0 and len(summary["counts"]["by_week"]) == 14
    assert parse_page(tmp_path / "p" / "report.html").svg_in_chart == 1


def test_the_sample_links_to_logs_insights_when_the_log_group_is_known(
    records: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_jsonl(tmp_path / "in.jsonl", records)
    base = [*PERIOD_ARGS, "--input", str(tmp_path / "in.jsonl"), "--sample", "3", "--seed", "x"]
    assert run([*base, "--out", str(tmp_path / "plain")], capsys)[0] == 0
    assert [row["logs_insights_url"] for row in read_csv(tmp_path / "plain" / "sample.csv")[1]] == ["", "", ""]
    assert (
        run(
            [
                *base,
                "--out",
                str(tmp_path / "linked"),
                "--log-group",
                "/aws/lambda/pr-auditor",
                "--region",
                "eu-west-1",
            ],
            capsys,
        )[0]
        == 0
    )
    for row in read_csv(tmp_path / "linked" / "sample.csv")[1]:
        assert row["logs_insights_url"].startswith(
            "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:logs-insights"
        )
        assert row["record_id"].split(":")[1] in row["logs_insights_url"]
        assert row["url"].startswith("https://github.com/acme")


def test_a_hostile_title_is_escaped_in_the_sample_table_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hostile = change(
        archetypes()["unreviewed"], repository="acme/api", number=1, merged_at=PERIOD.since, title=XSS_TITLE
    )
    write_jsonl(tmp_path / "in.jsonl", [hostile])
    code, _, err = run(
        [*PERIOD_ARGS, "--input", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "p"), "--sample", "1"], capsys
    )
    assert code == 0, err
    text = (tmp_path / "p" / "report.html").read_text(encoding="utf-8")
    assert text.count("&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;") == 2
    assert "<img src=x" not in text and "<script>alert" not in text


def test_a_run_that_fails_half_way_leaves_no_partial_pack_and_keeps_the_previous_one(
    records: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_jsonl(tmp_path / "good.jsonl", records)
    out = tmp_path / "pack"
    assert run([*PERIOD_ARGS, "--input", str(tmp_path / "good.jsonl"), "--out", str(out)], capsys)[0] == 0
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    broken = tmp_path / "broken.jsonl"
    broken.write_text((tmp_path / "good.jsonl").read_text() + "{truncated\n")
    code, _, err = run([*PERIOD_ARGS, "--input", str(broken), "--out", str(out)], capsys)
    assert code == 2 and f"{broken}:{len(records) + 1}: not JSON" in err
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before  # no hidden leftovers either


def test_policy_changes_in_the_period_are_listed_with_who_when_and_whether_they_relaxed_the_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = policy_from_mapping({"required_approvals": 2})
    new = policy_from_mapping({"required_approvals": 1})

    def changed(at: datetime | None) -> dict[str, Any]:
        return policy_change_record(
            scope="acme",
            previous_version=old.version,
            policy_version=new.version,
            changes=policy_changes(canonical_policy(old), canonical_policy(new)),
            origin={"changed_by": "arn:aws:iam::123456789012:user/ops", "changed_at": iso(at)} if at else {},
            run_id="run-p",
        )

    inside = changed(PERIOD.since + timedelta(days=10))
    outside = changed(PERIOD.until + timedelta(days=1)) | {"record_id": "policy_change:later"}
    undated = changed(None) | {"record_id": "policy_change:undated"}
    write_jsonl(tmp_path / "in.jsonl", [inside, outside, undated])
    code, _, err = run([*PERIOD_ARGS, "--input", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "p")], capsys)
    assert code == 0, err
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert summary["policy_changes"] == [
        {
            "changed_at": iso(PERIOD.since + timedelta(days=10)),
            "changed_by": "arn:aws:iam::123456789012:user/ops",
            "previous_policy_version": old.version,
            "policy_version": new.version,
            "keys": ["required_approvals"],
            "relaxed": True,
            "record_id": inside["record_id"],
        }
    ]
    assert summary["input"]["other_records"] == {"policy_change": 2}
    page = (tmp_path / "p" / "report.html").read_text(encoding="utf-8")
    assert 'id="policy-changes"' in page and "arn:aws:iam::123456789012:user/ops" in page


def test_a_change_no_run_can_place_in_time_is_listed_as_undated_and_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    orphan = history_rewrite_record(
        repository="acme/web", branch="main", old_head="a" * 40, new_head=None, status="unknown_old_head",
        run_id="run-never-summarised", policy_version="sha256:x",
    )  # fmt: skip
    write_jsonl(tmp_path / "in.jsonl", [orphan])
    code, _, err = run([*PERIOD_ARGS, "--input", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "p")], capsys)
    assert code == 0, err
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert summary["input"]["undated_changes"] == [orphan["record_id"]]
    assert summary["changes"] == 0
    assert "1 change(s) with no time" in err


# --- the page people read: time order, links, words, the chart's bucket, the policy, the chain head ---------


class Rows(HTMLParser):
    """The cells' text of each row of one table (by id), as a browser's parser sees them."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id = table_id
        self.depth = 0  # 1 inside the table, more inside a table nested in it
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            if self.depth or dict(attrs).get("id") == self.table_id:
                self.depth += 1
        elif self.depth == 1 and tag == "tr":
            self.rows.append([])
        elif self.depth == 1 and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.depth:
            self.depth -= 1
        elif tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table(path: Path, table_id: str) -> list[list[str]]:
    parser = Rows(table_id)
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.rows


def test_exceptions_are_in_time_order_on_the_page_and_in_the_csv(pack: Path, records: list[dict[str, Any]]) -> None:
    # Given records read out of time order (the direct push, the rewrite and the hostile PR were appended last)
    _, rows = read_csv(pack / "exceptions.csv")
    times = [row["changed_at"] for row in rows]
    assert times == sorted(times) and len(set(times)) > 10
    page_times = [cells[0].replace(" ", "T") for cells in table(pack / "report.html", "exceptions")[1:]]
    assert page_times == times
    assert [row["record_id"] for row in rows] == list(parse_page(pack / "report.html").exception_rows)


def test_every_change_on_the_page_is_a_link_showing_its_short_name(pack: Path, records: list[dict[str, Any]]) -> None:
    links = dict(parse_page(pack / "report.html").links)
    for record in [r for r in changes_of(records) if is_exception(r) and r.get("url")]:
        expected = f"{record['repository']}#{record['number']}" if record.get("number") else None
        assert record["url"] in links, record["url"]
        if expected:
            assert links[record["url"]] == expected
    assert links["https://github.com/acme/api/commit/c0ffee"] == "acme/api@c0ffeec"


def test_a_forged_url_that_is_not_http_is_shown_as_text_never_linked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = change(archetypes()["unreviewed"], repository="acme/api", number=5, merged_at=PERIOD.since + timedelta(1))
    write_jsonl(tmp_path / "in.jsonl", [bad | {"url": "javascript:alert(1)"}])
    assert run([*PERIOD_ARGS, "--input", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "p")], capsys)[0] == 0
    assert parse_page(tmp_path / "p" / "report.html").links == []
    assert "acme/api#5" in (tmp_path / "p" / "report.html").read_text(encoding="utf-8")


def test_the_sample_table_shows_date_and_approvers_earliest_first(pack: Path) -> None:
    header, *rows = table(pack / "report.html", "sample")
    assert header == ["#", "merged / changed", "change", "title", "verdict", "approvers", "evidence"]
    dates = [cells[1] for cells in rows]
    assert len(rows) == 25 and dates == sorted(dates)
    assert any(cells[5] == "bob" for cells in rows) and any(cells[5] == "none" for cells in rows)


def test_tiles_and_verdicts_are_words_not_enum_names(pack: Path) -> None:
    text = (pack / "report.html").read_text(encoding="utf-8")
    tiles = text[text.index('<div class="tiles">') : text.index("<h2>Completeness")]
    assert "non-compliant" in tiles and "non_compliant" not in tiles
    assert all(
        cells[3] in ("non-compliant", "compliant", "exempt") for cells in table(pack / "report.html", "exceptions")[1:]
    )


def test_three_weeks_chart_by_week_with_findings_by_kind_and_code(pack: Path) -> None:
    summary = json.loads((pack / "summary.json").read_text())
    by_bucket = summary["counts"]["by_bucket"]
    assert by_bucket["unit"] == "week"
    assert sum(b["changes"] for b in by_bucket["buckets"]) == summary["changes"]
    kinds_and_codes = summary["counts"]["by_kind_and_code"]
    assert kinds_and_codes["direct_push: no_pull_request"] == 1
    assert kinds_and_codes["history_rewrite: force_push"] == 1
    assert kinds_and_codes["pull_request: insufficient_approvals"] > 10
    svg = (pack / "report.html").read_text(encoding="utf-8")
    assert "Findings per ISO week, by kind of change and violation" in svg
    assert "direct_push: no_pull_request" in svg


def test_a_one_day_period_is_charted_by_day(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    day = Window(PERIOD.since, PERIOD.since + timedelta(days=1))
    write_jsonl(tmp_path / "in.jsonl", period_records(40, period=day))
    args = ["--since", iso(day.since), "--until", iso(day.until), "--input", str(tmp_path / "in.jsonl")]
    assert run([*args, "--out", str(tmp_path / "p")], capsys)[0] == 0
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert summary["counts"]["by_bucket"]["unit"] == "day"
    assert [b["bucket"] for b in summary["counts"]["by_bucket"]["buckets"]] == [day.since.strftime("%Y-%m-%d")]


def test_the_policy_in_force_is_shown_with_its_text_from_a_policy_file_or_what_its_changes_say(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a period judged under one policy, relaxed half-way, and the later policy's file
    old = policy_from_mapping({"required_approvals": 2})
    new = policy_from_mapping({"required_approvals": 1})
    base = archetypes()["approved"] | {"policy_version": old.version}
    relaxed = policy_change_record(
        scope="acme",
        previous_version=old.version,
        policy_version=new.version,
        changes=policy_changes(canonical_policy(old), canonical_policy(new)),
        origin={"changed_by": "ops", "changed_at": iso(PERIOD.since + timedelta(days=5))},
        run_id="run-p",
    )
    one = change(base, repository="acme/api", number=1, merged_at=PERIOD.since + timedelta(days=1))
    write_jsonl(tmp_path / "in.jsonl", [one, relaxed])
    (tmp_path / "policy.yaml").write_text("required_approvals: 1\n", encoding="utf-8")
    argv = [*PERIOD_ARGS, "--input", str(tmp_path / "in.jsonl"), "--policy", str(tmp_path / "policy.yaml")]
    # When the report is built with the policy file
    assert run([*argv, "--out", str(tmp_path / "p")], capsys)[0] == 0
    # Then both versions are listed: the new one with the file's text, the old one with what the change says
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    versions = {v["policy_version"]: v for v in summary["policy_versions"]}
    assert list(versions) == [old.version, new.version]
    assert versions[new.version]["text"] == canonical_policy(new)
    assert versions[old.version]["known_settings"] == {"required_approvals": 2}
    assert summary["policy_files"] == [
        {"path": str(tmp_path / "policy.yaml"), "policy_version": new.version, "in_force": True}
    ]
    rows = table(tmp_path / "p" / "report.html", "policy-versions")[1:]
    assert rows[0][0] == old.version and "required_approvals = 2" in rows[0][3]
    assert rows[1][0] == new.version and '"required_approvals": 1' in rows[1][3]


def test_a_bad_policy_file_is_one_line_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_jsonl(tmp_path / "in.jsonl", [])
    (tmp_path / "policy.yaml").write_text("required_approvals: -1\n", encoding="utf-8")
    argv = [*PERIOD_ARGS, "--input", str(tmp_path / "in.jsonl"), "--policy", str(tmp_path / "policy.yaml")]
    code, _, err = run([*argv, "--out", str(tmp_path / "p")], capsys)
    assert code == 2
    assert err.strip().count("\n") == 0 and f"--policy {tmp_path / 'policy.yaml'}: " in err


def test_local_files_have_no_chain_head_and_the_page_says_how_to_get_one(pack: Path) -> None:
    summary = json.loads((pack / "summary.json").read_text())
    assert summary["completeness"]["chain"]["heads"] == []
    text = (pack / "report.html").read_text(encoding="utf-8")
    assert 'id="chain-head"' in text and "pr-auditor verify --bucket" in text


def test_a_policy_change_that_carries_both_texts_shows_each_version_in_full(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = policy_from_mapping({"required_approvals": 2, "ticket_pattern": "OPS-[0-9]+"})
    new = policy_from_mapping({"required_approvals": 1})
    record = policy_change_record(
        scope="acme",
        previous_version=old.version,
        policy_version=new.version,
        changes=policy_changes(canonical_policy(old), canonical_policy(new)),
        origin={"changed_by": "ops", "changed_at": iso(PERIOD.since + timedelta(days=3))},
        run_id="run-p",
        policy=canonical_policy(new),
        previous_policy=canonical_policy(old),
    )
    write_jsonl(tmp_path / "in.jsonl", [record])
    assert run([*PERIOD_ARGS, "--input", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "p")], capsys)[0] == 0
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    texts = {v["policy_version"]: v["text"] for v in summary["policy_versions"]}
    assert texts == {old.version: canonical_policy(old), new.version: canonical_policy(new)}
    page = (tmp_path / "p" / "report.html").read_text(encoding="utf-8")
    assert "OPS-[0-9]+" in page and page.count('<pre class="policy">') == 2
