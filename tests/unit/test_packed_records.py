"""A chunk's records wait for its evidence object packed (compressed JSON lines), and come back unchanged."""

from __future__ import annotations

import pytest

from pr_auditor.audit.ports import PackedRecords


def records(count: int) -> list[dict[str, object]]:
    return [
        {"record_id": f"r{i}", "kind": "pull_request", "labels": ["a", "b"], "merged_by": None} for i in range(count)
    ]


def test_records_read_back_equal_the_ones_packed_across_blocks() -> None:
    # Given more records than one block holds
    written = records(PackedRecords.BLOCK * 2 + 7)
    packed = PackedRecords(written)
    # Then they come back in order, equal, as many as went in; indexing works as on a list
    assert list(packed) == written
    assert len(packed) == len(written)
    assert packed[0] == written[0]
    assert packed[-1] == written[-1]
    with pytest.raises(IndexError):
        packed[len(written)]


def test_packing_keeps_far_less_than_the_json_text() -> None:
    written = records(5000)
    packed = PackedRecords(written)
    text = sum(len(str(r)) for r in written)
    held = sum(len(block) for block in packed._blocks) + sum(len(line) for line in packed._open)
    assert held * 5 < text


def test_extend_appends_in_order() -> None:
    first, second = PackedRecords(records(3)), PackedRecords(records(300))
    first.extend(second)
    assert [r["record_id"] for r in first] == ["r0", "r1", "r2", *[f"r{i}" for i in range(300)]]
