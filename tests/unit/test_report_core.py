"""The report's pure core: which records are changes and exceptions, identity, time, weeks, CSV cells,
coverage gaps, the chart's buckets, findings by kind and code, the policy versions in force, the seeded sample
and the Logs Insights link."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import pytest

from pr_auditor.core.console import logs_insights_url
from pr_auditor.core.errors import UnavailableError
from pr_auditor.core.model import Window
from pr_auditor.evidence.report.core import (
    EXCEPTION_COLUMNS,
    POPULATION_COLUMNS,
    SAMPLE_COLUMNS,
    RecordError,
    Sampler,
    bucket_of,
    bucket_unit,
    buckets_between,
    cell,
    change_time,
    dedupe_key,
    exception_row,
    is_change,
    is_exception,
    iso_week,
    population_row,
    sample_key,
    weeks_between,
)
from pr_auditor.evidence.report.tally import Tally, gaps

from report_records import archetypes, run_summary

T0 = datetime(2026, 8, 3, tzinfo=UTC)  # a Monday
H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"kind": "pull_request", "verdict": "compliant", "emergency": False}, False),
        ({"kind": "pull_request", "verdict": "non_compliant", "emergency": False}, True),
        ({"kind": "pull_request", "verdict": "exempt", "emergency": False}, False),
        ({"kind": "pull_request", "verdict": "compliant", "emergency": True}, True),
        ({"kind": "direct_push", "verdict": "non_compliant"}, True),
    ],
    ids=["compliant", "non-compliant", "exempt", "emergency-even-if-compliant", "direct-push-finding"],
)
def test_an_exception_is_a_non_compliant_or_emergency_change(record: dict[str, Any], expected: bool) -> None:
    assert is_exception(record) is expected


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("pull_request", True), ("direct_push", True), ("history_rewrite", True), ("run_summary", False),
     ("protection", False), ("policy_change", False), (None, False)],
)  # fmt: skip
def test_changes_are_pull_requests_direct_pushes_and_history_rewrites(kind: str | None, expected: bool) -> None:
    assert is_change({"kind": kind}) is expected


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"record_id": "pull_request:abc", "repository": "x/y", "number": 1}, "pull_request:abc"),
        (
            {"kind": "pull_request", "repository": "Acme/API", "number": 7, "merge_commit_sha": "f00"},
            "pull_request|acme/api|7|f00",
        ),
        (
            {"kind": "run_summary", "run_id": "r1", "window": {"since": "a", "until": "b"}, "status": "completed"},
            "run_summary|r1|a|b|completed",
        ),
    ],
    ids=["record-id-wins", "legacy-pr-by-repository-number-commit", "run-summary-by-run-and-window"],
)
def test_dedupe_key(record: dict[str, Any], expected: str) -> None:
    assert dedupe_key(record) == expected


def test_records_of_an_unknown_shape_dedupe_on_their_whole_content() -> None:
    assert dedupe_key({"kind": "x", "a": 1, "b": 2}) == dedupe_key({"b": 2, "a": 1, "kind": "x"})
    assert dedupe_key({"kind": "x", "a": 1}) != dedupe_key({"kind": "x", "a": 2})


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"merged_at": "2026-08-03T10:00:00Z"}, T0 + 10 * H),
        ({"committed_date": "2026-08-03T12:00:00+02:00"}, T0 + 10 * H),
        ({"detected_at": "2026-08-03T10:00:00"}, T0 + 10 * H),
        ({"window": {"since": "2026-08-03T00:00:00Z", "until": "2026-08-04T00:00:00Z"}}, T0),
    ],
    ids=["pr-merged-at", "push-committed-date-with-offset", "naive-is-utc", "window-start-as-last-resort"],
)
def test_change_time(record: dict[str, Any], expected: datetime) -> None:
    assert change_time(record) == expected


def test_a_change_with_no_time_of_its_own_has_none_and_a_bad_time_is_an_error_naming_the_key() -> None:
    assert change_time({"kind": "history_rewrite", "record_id": "history_rewrite:x"}) is None
    with pytest.raises(RecordError, match="merged_at: not an ISO-8601 timestamp"):
        change_time({"merged_at": "yesterday"})


@pytest.mark.parametrize(
    ("moment", "week"),
    [(T0, "2026-W32"), (T0 - timedelta(seconds=1), "2026-W31"), (datetime(2027, 1, 1, tzinfo=UTC), "2026-W53")],
    ids=["monday-starts-a-week", "sunday-ends-one", "new-years-day-in-the-last-iso-week"],
)
def test_iso_week(moment: datetime, week: str) -> None:
    assert iso_week(moment) == week


def test_weeks_between_lists_every_week_the_period_touches_quiet_ones_included() -> None:
    assert weeks_between(T0 - timedelta(days=1), T0 + timedelta(days=15)) == [
        "2026-W31",
        "2026-W32",
        "2026-W33",
        "2026-W34",
    ]
    assert weeks_between(T0, T0 + timedelta(days=7)) == ["2026-W32"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        (True, "true"),
        (3, "3"),
        ("Fix login", "Fix login"),
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1 for this", "'+1 for this"),
        ("-rf", "'-rf"),
        ("@SUM(A1)", "'@SUM(A1)"),
    ],
    ids=["null", "bool", "int", "text", "formula", "plus", "minus", "at"],
)
def test_a_csv_cell_never_starts_a_spreadsheet_formula(value: Any, expected: str) -> None:
    assert cell(value) == expected


def test_rows_have_exactly_the_contract_columns() -> None:
    record = archetypes()["self-approved-and-stale"]
    when = change_time(record)
    assert tuple(population_row(record, when)) == POPULATION_COLUMNS
    assert tuple(exception_row(record, when)) == EXCEPTION_COLUMNS
    assert len(set(SAMPLE_COLUMNS)) == len(SAMPLE_COLUMNS)


def test_an_exception_row_carries_every_violation_and_every_discounted_approval_with_its_reason() -> None:
    record = dict(archetypes()["self-approved-and-stale"])
    record["violations"] = [*record["violations"], {"code": "missing_ticket", "detail": "no ticket in title"}]
    row = exception_row(record, change_time(record))
    assert row["violation_codes"] == "insufficient_approvals;missing_ticket"
    assert row["violations"].splitlines()[1] == "missing_ticket: no ticket in title"
    assert row["violations"].startswith("insufficient_approvals: 0 of 1 required approvals")
    assert row["discounted_approvals"].splitlines() == [
        "alice: author",
        "carol: stale — approved 1a2b3c4, merged head 5d6e7f8",
    ]


def test_an_emergency_row_says_who_added_the_label_and_when() -> None:
    record = archetypes()["emergency-after-merge"]
    row = exception_row(record, change_time(record))
    assert (row["emergency"], row["emergency_label"], row["emergency_present_at_merge"]) == (
        "true",
        "emergency",
        "false",
    )
    assert (row["emergency_added_by"], row["emergency_added_at"]) == ("ops-lead", "2026-11-20T12:45:00Z")


# --- coverage ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("covered", "expected"),
    [
        ([(T0, T0 + 24 * H)], []),
        ([(T0 - H, T0 + 10 * H), (T0 + 8 * H, T0 + 25 * H)], []),
        ([(T0, T0 + 10 * H), (T0 + 12 * H, T0 + 24 * H)], [(T0 + 10 * H, T0 + 12 * H)]),
        ([(T0 + 2 * H, T0 + 20 * H)], [(T0, T0 + 2 * H), (T0 + 20 * H, T0 + 24 * H)]),
        ([], [(T0, T0 + 24 * H)]),
        ([(T0 + 12 * H, T0 + 24 * H), (T0, T0 + 12 * H)], []),
    ],
    ids=["exact", "overlapping-runs", "hole-in-the-middle", "edges-missing", "no-runs", "touching-out-of-order"],
)
def test_gaps_are_the_parts_of_the_period_no_completed_run_covered(
    covered: list[tuple[datetime, datetime]], expected: list[tuple[datetime, datetime]]
) -> None:
    assert gaps((T0, T0 + 24 * H), covered) == expected


def test_a_failed_run_is_listed_and_leaves_a_gap_unless_a_later_run_covers_its_window() -> None:
    tally = Tally(T0, T0 + 3 * H)
    tally.add_run_summary(run_summary(Window(T0, T0 + H), run_id="r1"))
    tally.add_run_summary(run_summary(Window(T0 + H, T0 + 2 * H), run_id="r2", error=UnavailableError("GitHub 502")))
    tally.add_run_summary(run_summary(Window(T0 + 2 * H, T0 + 3 * H), run_id="r3"))
    tally.add_run_summary(run_summary(Window(T0 + 5 * H, T0 + 6 * H), run_id="after-the-period"))
    summary = tally.summary(chain={"verified": None, "detail": ""}, sample={})
    completeness = summary["completeness"]
    assert completeness["windows_covered"] is False
    assert completeness["gaps"] == [{"since": "2026-08-03T01:00:00Z", "until": "2026-08-03T02:00:00Z"}]
    assert completeness["failed_runs"] == [
        {
            "run_id": "r2",
            "window": {"since": "2026-08-03T01:00:00Z", "until": "2026-08-03T02:00:00Z"},
            "error": "UnavailableError: GitHub 502",
        }
    ]
    tally.add_run_summary(run_summary(Window(T0 + H, T0 + 2 * H), run_id="r2-retried"))
    assert tally.summary(chain={}, sample={})["completeness"]["windows_covered"] is True


def test_policy_versions_in_force_are_listed_with_their_first_and_last_change() -> None:
    tally = Tally(T0, T0 + 24 * H)
    for hour, version in ((1, "sha256:a"), (5, "sha256:a"), (9, "sha256:b")):
        tally.add_change({"kind": "pull_request", "verdict": "compliant", "policy_version": version}, T0 + hour * H)
    assert tally.summary(chain={}, sample={})["policy_versions"] == [
        {
            "policy_version": "sha256:a",
            "changes": 2,
            "first_change": "2026-08-03T01:00:00Z",
            "last_change": "2026-08-03T05:00:00Z",
            "text": None,
            "known_settings": {},
        },
        {
            "policy_version": "sha256:b",
            "changes": 1,
            "first_change": "2026-08-03T09:00:00Z",
            "last_change": "2026-08-03T09:00:00Z",
            "text": None,
            "known_settings": {},
        },
    ]


# --- the sample -------------------------------------------------------------------------------------------


def _draw(ids: list[str], size: int, seed: str) -> list[str]:
    sampler: Sampler[str] = Sampler(size, seed)
    for record_id in ids:
        sampler.offer(record_id, record_id)
    return [record_id for _, record_id in sampler.drawn()]


def test_the_sample_is_the_same_for_the_same_seed_whatever_order_the_records_come_in() -> None:
    ids = [f"pull_request:{i:032x}" for i in range(500)]
    shuffled = ids[:]
    random.Random(3).shuffle(shuffled)
    assert _draw(ids, 25, "audit-2026") == _draw(shuffled, 25, "audit-2026")
    assert _draw(ids, 25, "audit-2026") != _draw(ids, 25, "audit-2027")


def test_the_sample_is_the_smallest_sample_keys_so_an_auditor_can_redraw_it_alone() -> None:
    ids = [f"pull_request:{i:032x}" for i in range(200)]
    expected = sorted(ids, key=lambda record_id: sample_key("s", record_id))[:10]
    assert _draw(ids, 10, "s") == expected


def test_a_sample_larger_than_the_population_is_the_whole_population_and_zero_is_none() -> None:
    assert sorted(_draw(["a", "b", "c"], 10, "s")) == ["a", "b", "c"]
    assert _draw(["a", "b", "c"], 0, "s") == []


# --- the Logs Insights link -------------------------------------------------------------------------------


def _decode(url: str) -> str:
    """Undo the console's encoding: ``$`` → ``%``, URI-decode, JS-unescape (``%XX``)."""
    fragment = url.split("#logsV2:logs-insights", 1)[1]
    return unquote(unquote(fragment.replace("$", "%")))


def test_the_logs_insights_link_opens_the_records_query_on_the_log_group_over_the_period() -> None:
    url = logs_insights_url(
        region="eu-west-1",
        log_group="/aws/lambda/pr-auditor-prod",
        record_id="pull_request:0123abcd",
        start=T0,
        end=T0 + 24 * H,
    )
    assert url.startswith(
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:logs-insights$3FqueryDetail$3D"
    )
    decoded = _decode(url)
    assert decoded.startswith("?queryDetail=~(end~'2026-08-04T00*3a00*3a00.000Z~start~'2026-08-03T00*3a00*3a00.000Z~")
    assert "~timeType~'ABSOLUTE~tz~'UTC~" in decoded
    assert decoded.endswith("~source~(~'*2faws*2flambda*2fpr-auditor-prod))")
    editor = re.search(r"editorString~'([^~]*)~", decoded)
    assert editor is not None
    assert unquote(editor.group(1).replace("*", "%")) == (
        'fields @timestamp, @message\n| filter record_id = "pull_request:0123abcd"\n| sort @timestamp asc'
    )
    assert not set(url) & set(" \n\"'<>")


# --- the chart's bucket, findings by kind and code, what is known of each policy version -----------------


@pytest.mark.parametrize(
    ("days", "unit"),
    [
        pytest.param(1, "day", id="one-day"),
        pytest.param(13, "day", id="under-two-weeks"),
        pytest.param(14, "week", id="two-weeks"),
        pytest.param(92, "week", id="a-calendar-quarter"),
        pytest.param(93, "month", id="past-a-quarter"),
        pytest.param(365, "month", id="a-year"),
    ],
)
def test_the_chart_bucket_is_a_day_under_two_weeks_a_week_up_to_a_quarter_a_month_beyond(days: int, unit: str) -> None:
    assert bucket_unit(T0, T0 + timedelta(days=days)) == unit


def test_buckets_cover_the_period_in_order_quiet_ones_included() -> None:
    assert buckets_between(T0, T0 + timedelta(days=3), "day") == ["2026-08-03", "2026-08-04", "2026-08-05"]
    assert buckets_between(T0, T0 + timedelta(days=100), "month") == ["2026-08", "2026-09", "2026-10", "2026-11"]
    assert bucket_of(T0 + timedelta(days=6, hours=23), "week") == "2026-W32"


def test_findings_are_counted_by_kind_and_code_per_bucket() -> None:
    # Given a one-day period with a PR breaking two rules, an emergency PR breaking none and a direct push
    tally = Tally(T0, T0 + 24 * H)
    two_rules = [{"code": "insufficient_approvals"}, {"code": "changes_requested"}]
    tally.add_change({"kind": "pull_request", "verdict": "non_compliant", "violations": two_rules}, T0 + H)
    tally.add_change({"kind": "pull_request", "verdict": "compliant", "emergency": True, "violations": []}, T0 + H)
    push = {"kind": "direct_push", "verdict": "non_compliant", "violations": [{"code": "no_pull_request"}]}
    tally.add_change(push, T0 + 2 * H)
    tally.add_change({"kind": "pull_request", "verdict": "compliant", "violations": []}, T0 + 3 * H)
    counts = tally.summary(chain={}, sample={})["counts"]
    # Then the bucket is the day, and the findings say what kind of change broke which rule
    assert counts["by_bucket"]["unit"] == "day"
    [day] = counts["by_bucket"]["buckets"]
    assert day == {
        "bucket": "2026-08-03",
        "changes": 4,
        "exceptions": 3,
        "findings": {
            "direct_push: no_pull_request": 1,
            "pull_request: changes_requested": 1,
            "pull_request: emergency": 1,
            "pull_request: insufficient_approvals": 1,
        },
    }
    assert counts["by_kind_and_code"] == day["findings"]


def test_each_version_in_force_carries_its_text_when_a_record_has_it_else_the_settings_changes_name() -> None:
    # Given changes judged under version a, then a policy change a → b in the period naming one key
    tally = Tally(T0, T0 + 24 * H)
    tally.add_change({"kind": "pull_request", "verdict": "compliant", "policy_version": "sha256:a"}, T0 + H)
    change = {"key": "required_approvals", "old": 2, "new": 1, "relaxes": True}
    record = {"kind": "policy_change", "changed_at": "2026-08-03T05:00:00Z", "previous_policy_version": "sha256:a"}
    record |= {"policy_version": "sha256:b", "changes": [change], "relaxed": True}
    tally.add_policy_change(record | {"policy": {"default": {"required_approvals": 1}, "repositories": {}}})
    versions = {v["policy_version"]: v for v in tally.summary(chain={}, sample={})["policy_versions"]}
    # Then both versions are listed: b with its text, a with what the change says of it
    assert list(versions) == ["sha256:a", "sha256:b"]
    assert versions["sha256:b"]["text"] == {"default": {"required_approvals": 1}, "repositories": {}}
    assert versions["sha256:a"]["text"] is None
    assert versions["sha256:a"]["known_settings"] == {"required_approvals": 2}
    assert versions["sha256:b"]["changes"] == 0
