"""The evidence archive's pure parts: layout, deterministic encoding, counts, and verify's chain, coverage
and count checks as tables."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta

import pytest

from pr_auditor.evidence.archive import (
    chain_name,
    count_records,
    decode_records,
    encode_records,
    manifest_key,
    records_key,
    seq_of,
    span_of,
)
from pr_auditor.evidence.verify import (
    COUNTS,
    COVERAGE,
    LINK,
    Link,
    Problem,
    Span,
    count_problems,
    coverage_problems,
    link_problems,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
H = timedelta(hours=1)
OVERLAP = timedelta(minutes=120)


# --------------------------------------------------------------------------- layout and encoding
def test_keys_follow_the_documented_layout() -> None:
    window = {"since": "2026-03-04T05:00:00Z", "until": "2026-03-04T06:00:00Z"}
    assert records_key("acme,acme-labs", "scheduled", window, "1f2e/run:3") == (
        "records/acme,acme-labs/scheduled/2026/03/04/20260304T050000Z_20260304T060000Z_1f2e-run-3.jsonl.gz"
    )
    assert manifest_key("acme", "backfill", 42) == "manifests/acme/backfill/000000000042.json"
    assert seq_of("manifests/acme/backfill/000000000042.json") == 42
    assert seq_of("manifests/acme/backfill/notes.txt") is None
    assert chain_name("acme", "sweep") == "chain#acme#sweep"


def test_the_same_records_always_give_the_same_bytes_and_stay_ascii() -> None:
    records = [{"kind": "pull_request", "title": "caf\u00e9 \u2603", "verdict": "compliant", "b": 1, "a": 2}]
    first, second = encode_records(records), encode_records([dict(reversed(records[0].items()))])
    assert first == second  # key order does not matter; gzip's mtime is 0
    assert first[4:8] == b"\0\0\0\0"
    text = gzip.decompress(first)
    assert text.isascii() and b"\\u00e9" in text
    assert decode_records(first) == records


def test_counts_are_per_kind_and_verdict_with_the_run_summarys_own_counts() -> None:
    lines = [
        {"kind": "pull_request", "verdict": "compliant"},
        {"kind": "pull_request", "verdict": "non_compliant"},
        {"kind": "pull_request", "verdict": "compliant"},
        {"kind": "direct_push", "verdict": "non_compliant"},
        {"kind": "run_summary", "counts": {"audited": 3, "compliant": 2}},
    ]
    assert count_records(lines) == {
        "records": 4,
        "by_kind": {"direct_push": {"non_compliant": 1}, "pull_request": {"compliant": 2, "non_compliant": 1}},
        "run_summaries": 1,
        "run_summary": {"audited": 3, "compliant": 2},
    }


def test_the_span_stretches_over_records_carried_over_from_earlier_windows() -> None:
    window = {"since": "2026-01-02T00:00:00Z", "until": "2026-01-03T00:00:00Z"}
    carried = {"window": {"since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z"}}
    assert span_of(window, [carried, {"kind": "protection"}]) == {
        "since": "2026-01-01T00:00:00Z",
        "until": "2026-01-03T00:00:00Z",
    }


# --------------------------------------------------------------------------- the chain
def chain(length: int) -> list[Link]:
    links: list[Link] = []
    for seq in range(1, length + 1):
        before = links[-1] if links else None
        links.append(
            Link(seq, f"m/{seq}", f"hash-{seq}", before.key if before else None, before.sha256 if before else None)
        )
    return links


def edited(links: list[Link], index: int, **changes: object) -> list[Link]:
    link = links[index]
    fields = {"seq": link.seq, "key": link.key, "sha256": link.sha256, "previous_key": link.previous_key,
              "previous_sha256": link.previous_sha256} | changes  # fmt: skip
    return [*links[:index], Link(**fields), *links[index + 1 :]]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("links", "expected"),
    [
        pytest.param(chain(5), [], id="intact"),
        pytest.param(chain(1), [], id="a single manifest"),
        pytest.param([], [], id="empty"),
        pytest.param(chain(5)[:2] + chain(5)[3:], [Problem(4, LINK, "manifest seq 3 missing: the chain is broken")], id="middle removed"),
        pytest.param(chain(5)[:1] + chain(5)[4:], [Problem(5, LINK, "manifest seqs 2..4 missing: the chain is broken")], id="three removed"),
        pytest.param(chain(5)[2:], [Problem(3, LINK, "manifest seqs 1..2 missing: the chain is broken")], id="start removed"),
        pytest.param(edited(chain(3), 1, sha256="other"), [Problem(3, LINK, "previous_manifest_sha256 hash-2 does not match seq 2 (other): seq 2 or this link was edited")], id="manifest edited"),
        pytest.param(edited(chain(3), 2, previous_sha256="forged"), [Problem(3, LINK, "previous_manifest_sha256 forged does not match seq 2 (hash-2): seq 2 or this link was edited")], id="link edited"),
        pytest.param(edited(chain(3), 2, previous_key="m/1"), [Problem(3, LINK, "links to m/1, not to m/2")], id="links past its predecessor"),
        pytest.param(edited(chain(2), 0, previous_key="m/0", previous_sha256="x"), [Problem(1, LINK, "the first manifest links to m/0")], id="first links back"),
    ],
)  # fmt: skip
def test_link_problems(links: list[Link], expected: list[Problem]) -> None:
    assert link_problems(links) == expected


# --------------------------------------------------------------------------- coverage of the scheduled stream
def hourly(*hours: int, overlap: timedelta = OVERLAP) -> list[Span]:
    return [
        Span(seq, T0 + h * H - (overlap if seq > 1 else timedelta(0)), T0 + (h + 1) * H)
        for seq, h in enumerate(hours, 1)
    ]


@pytest.mark.parametrize(
    ("windows", "since", "until", "expected"),
    [
        pytest.param(hourly(0, 1, 2, 3), None, None, [], id="contiguous with the trailing overlap"),
        pytest.param(hourly(0, 1, 2, 3, overlap=timedelta(0)), None, None, [], id="contiguous without overlap"),
        pytest.param(hourly(0, 1, 2, 3), T0, T0 + 4 * H, [], id="covers exactly the period asked for"),
        pytest.param(hourly(0, 1, 2, 3), T0 + H, T0 + 3 * H, [], id="a period inside the chain"),
        pytest.param(hourly(0, 1, 3, 4, overlap=timedelta(0)), None, None, [Problem(3, COVERAGE, "[2026-01-01T02:00:00Z, 2026-01-01T03:00:00Z) is covered by no chunk")], id="a window missing"),
        pytest.param(hourly(0, 1, 3, 4), None, None, [Problem(3, COVERAGE, "window starts 60 min before seq 2's ends, neither right after it nor the 120 min re-scan: a chunk between them is missing")], id="one chunk removed inside the overlap"),
        pytest.param(hourly(0, 1, 4, 5), None, None, [], id="two removed look like the next chunk of one run (a limit)"),
        pytest.param([Span(1, T0, T0 + 24 * H), Span(2, T0 + 22 * H, T0 + 23 * H), Span(3, T0 + 23 * H, T0 + 24 * H)], None, None, [], id="chunks shorter than the overlap"),
        pytest.param(hourly(1, 2), T0, T0 + 3 * H, [Problem(1, COVERAGE, "[2026-01-01T00:00:00Z, 2026-01-01T01:00:00Z) is covered by no chunk")], id="starts late"),
        pytest.param(hourly(0, 1), T0, T0 + 3 * H, [Problem(2, COVERAGE, "[2026-01-01T02:00:00Z, 2026-01-01T03:00:00Z) is covered by no chunk (chain ends)")], id="ends early"),
        pytest.param(hourly(0, 1, 2, overlap=timedelta(hours=3)), None, None, [Problem(2, COVERAGE, "window starts 180 min before seq 1's ends, more than the 120 min overlap"), Problem(3, COVERAGE, "window starts 180 min before seq 2's ends, more than the 120 min overlap")], id="overlap beyond the configured one"),
        pytest.param([], None, None, [], id="no windows and no period asked for"),
        pytest.param(hourly(0, 1), T0 + 5 * H, T0 + 6 * H, [Problem(0, COVERAGE, "no chunk covers [2026-01-01T05:00:00Z, 2026-01-01T06:00:00Z)")], id="nothing in the period"),
    ],
)  # fmt: skip
def test_coverage_problems(
    windows: list[Span], since: datetime | None, until: datetime | None, expected: list[Problem]
) -> None:
    assert coverage_problems(windows, since=since, until=until, overlap=OVERLAP) == expected


def test_a_hole_smaller_than_the_overlap_is_still_a_gap_when_nothing_covers_it() -> None:
    windows = [Span(1, T0, T0 + H), Span(2, T0 + 2 * H, T0 + 3 * H)]  # the second should have started at 23:00
    assert coverage_problems(windows, since=None, until=None, overlap=OVERLAP) == [
        Problem(2, COVERAGE, "[2026-01-01T01:00:00Z, 2026-01-01T02:00:00Z) is covered by no chunk")
    ]


# --------------------------------------------------------------------------- counts
STATED = {
    "records": 3,
    "by_kind": {"pull_request": {"compliant": 2, "non_compliant": 1}},
    "run_summary": {"audited": 3},
}


@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        pytest.param(STATED, None, id="equal"),
        pytest.param(STATED | {"records": 2}, "counts.records: the manifest says 3, the records object holds 2", id="fewer records"),
        pytest.param(STATED | {"by_kind": {"pull_request": {"compliant": 3}}}, "counts.by_kind.pull_request.compliant: the manifest says 2, the records object holds 3", id="a verdict changed"),
        pytest.param(STATED | {"run_summary": None}, "counts.run_summary: the manifest says {'audited': 3}, the records object holds None", id="summary gone"),
    ],
)  # fmt: skip
def test_count_problems(actual: dict[str, object], expected: str | None) -> None:
    assert count_problems(7, STATED, actual) == ([Problem(7, COUNTS, expected)] if expected else [])
