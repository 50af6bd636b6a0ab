"""The archive writer over a local folder and the in-memory state store: the chain it builds, and what a
failure at each step leaves behind (nothing in the chain, at most an orphan records object)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pr_auditor.audit.ports import ArchiveChunk, ConflictError, Document, MemoryState, ObjectStore, StateStore
from pr_auditor.core.errors import ArchiveError, StateError
from pr_auditor.evidence.archive import EvidenceArchive, iter_records, manifest_key, sha256_hex
from pr_auditor.evidence.dir_store import DirStore
from pr_auditor.evidence.verify import verify_archive

from evidence import FORGER, SIGNER, START, DirCopy, hourly_chunks, manifest, rewrite_manifest

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


@dataclass
class FailingStore:
    """A folder whose writes under ``fail_prefix`` fail (S3 down, access denied) while the rest work."""

    inner: DirStore
    fail_prefix: str = "\0"

    def put_new(self, key: str, body: bytes, *, content_type: str) -> None:
        if key.startswith(self.fail_prefix):
            raise ArchiveError(f"{key}: put_object failed (InternalError)")
        self.inner.put_new(key, body, content_type=content_type)

    def read(self, key: str) -> bytes | None:
        return self.inner.read(key)

    def list_keys(self, prefix: str) -> Iterator[str]:
        return self.inner.list_keys(prefix)

    def list_children(self, prefix: str) -> list[str]:
        return self.inner.list_children(prefix)

    def rewritten_keys(self, prefix: str) -> list[str]:
        return self.inner.rewritten_keys(prefix)


@dataclass
class FlakyState:
    """The state table, failing the next ``save`` with ``error``."""

    inner: MemoryState = field(default_factory=MemoryState)
    error: Exception | None = None

    def load(self, name: str) -> tuple[Document | None, int]:
        return self.inner.load(name)

    def save(self, name: str, document: Document, *, revision: int) -> None:
        error, self.error = self.error, None
        if error is not None:
            raise error
        self.inner.save(name, document, revision=revision)


_: tuple[ObjectStore, StateStore] = (FailingStore(DirStore(Path())), FlakyState())


def chunks(count: int) -> list[ArchiveChunk]:
    return list(hourly_chunks(count))


def test_each_chunk_adds_the_next_manifest_linked_to_the_one_before(tmp_path: Path) -> None:
    state = MemoryState()
    archive = EvidenceArchive(DirStore(tmp_path), state, clock=lambda: NOW, signer=SIGNER)
    keys = [archive.write_chunk(chunk) for chunk in chunks(3)]
    assert keys == [manifest_key("acme", "scheduled", seq) for seq in (1, 2, 3)]
    first, second = (json.loads((tmp_path / key).read_bytes()) for key in keys[:2])
    assert first["previous_manifest_key"] is None and first["previous_manifest_sha256"] is None
    assert second["previous_manifest_key"] == keys[0]
    assert second["previous_manifest_sha256"] == sha256_hex((tmp_path / keys[0]).read_bytes())
    assert second["records_sha256"] == sha256_hex((tmp_path / second["records_key"]).read_bytes())
    assert second["counts"]["records"] == 3 and second["counts"]["run_summaries"] == 1
    assert second["window"] == chunks(2)[1].window and second["policy_version"] == "sha256:feed"
    assert second["written_at"] == "2026-11-30T12:00:00Z" and second["status"] == "completed"
    head, revision = state.load("chain#acme#scheduled")
    assert head == {"key": keys[2], "sha256": sha256_hex((tmp_path / keys[2]).read_bytes()), "seq": 3,
                    "written_at": "2026-11-30T12:00:00Z"}  # fmt: skip
    assert revision == 6  # each write reserves the head (with the manifest's text), then settles it
    assert verify_archive(DirStore(tmp_path)).intact


def test_streams_and_scopes_are_separate_chains(tmp_path: Path) -> None:
    archive = EvidenceArchive(DirStore(tmp_path), MemoryState(), signer=SIGNER)
    archive.write_chunk(chunks(1)[0])
    backfill = next(hourly_chunks(1, stream="backfill"))
    other_scope = next(hourly_chunks(1, scope="acme,acme-labs"))
    assert archive.write_chunk(backfill) == "manifests/acme/backfill/000000000001.json"
    assert archive.write_chunk(other_scope) == "manifests/acme,acme-labs/scheduled/000000000001.json"
    result = verify_archive(DirStore(tmp_path))
    assert [c.name for c in result.chains] == ["acme/backfill", "acme/scheduled", "acme,acme-labs/scheduled"]
    assert result.intact


def test_a_failed_manifest_write_is_finished_by_the_retry_and_written_once(tmp_path: Path) -> None:
    store = FailingStore(DirStore(tmp_path), fail_prefix="manifests/")
    state = MemoryState()
    first, second = chunks(2)
    with pytest.raises(ArchiveError, match="put_object failed"):
        EvidenceArchive(store, state, signer=SIGNER).write_chunk(first)
    head, _ = state.load("chain#acme#scheduled")
    assert head is not None and head["seq"] == 1 and "pending" in head  # reserved, not yet stored
    store.fail_prefix = "\0"
    # the retry (here the same run id: same records key) stores the reserved manifest: the chunk, once
    assert EvidenceArchive(store, state, signer=SIGNER).write_chunk(first) == manifest_key("acme", "scheduled", 1)
    EvidenceArchive(store, state, signer=SIGNER).write_chunk(second)
    result = verify_archive(DirStore(tmp_path))
    assert result.intact
    assert [c.chunks for c in result.chains] == [2]


def test_a_reserved_manifest_of_a_chunk_given_up_is_stored_by_the_next_write(tmp_path: Path) -> None:
    """The manifest was reserved in the head, and the run stopped before storing it: the next write (another
    chunk) stores it first (it is in the chain: its hash is in the head), then writes its own after it."""
    store = FailingStore(DirStore(tmp_path), fail_prefix="manifests/")
    state = MemoryState()
    first, second = chunks(2)
    with pytest.raises(ArchiveError):
        EvidenceArchive(store, state, signer=SIGNER).write_chunk(first)
    store.fail_prefix = "\0"
    assert EvidenceArchive(store, state, signer=SIGNER).write_chunk(second) == manifest_key("acme", "scheduled", 2)
    assert verify_archive(DirStore(tmp_path)).intact


def test_a_failed_records_write_writes_no_manifest(tmp_path: Path) -> None:
    store = FailingStore(DirStore(tmp_path), fail_prefix="records/")
    with pytest.raises(ArchiveError):
        EvidenceArchive(store, MemoryState(), signer=SIGNER).write_chunk(chunks(1)[0])
    assert list(DirStore(tmp_path).list_keys("")) == []


def test_a_retry_with_other_records_under_the_same_key_fails_rather_than_overwrite(tmp_path: Path) -> None:
    archive = EvidenceArchive(DirStore(tmp_path), MemoryState(), signer=SIGNER)
    chunk = chunks(1)[0]
    archive.write_chunk(chunk)
    fewer = ArchiveChunk(chunk.scope, chunk.stream, chunk.window, chunk.run_id, chunk.records[:1], chunk.summary)
    with pytest.raises(ArchiveError, match="exists already with other records"):
        archive.write_chunk(fewer)


def test_a_writer_that_lost_the_race_for_the_head_reads_it_again_and_takes_the_next_seq(tmp_path: Path) -> None:
    state = FlakyState()
    store = DirStore(tmp_path)
    first, second = chunks(2)
    EvidenceArchive(store, state, signer=SIGNER).write_chunk(first)
    state.error = ConflictError("chain#acme#scheduled")  # another writer moved the head in between
    assert EvidenceArchive(store, state, signer=SIGNER).write_chunk(second) == manifest_key("acme", "scheduled", 2)
    assert verify_archive(store).intact


def test_a_writer_that_always_loses_the_race_gives_up_its_chunk(tmp_path: Path) -> None:
    class Contested(FlakyState):
        def save(self, name: str, document: Document, *, revision: int) -> None:
            raise ConflictError(name)

    with pytest.raises(ArchiveError, match="another writer kept moving the head"):
        EvidenceArchive(DirStore(tmp_path), Contested(), signer=SIGNER).write_chunk(chunks(1)[0])


def test_a_head_that_cannot_be_reserved_adds_nothing_to_the_chain(tmp_path: Path) -> None:
    state = FlakyState(error=StateError("audit state table: put_item failed (ThrottlingException)"))
    archive = EvidenceArchive(DirStore(tmp_path), state, signer=SIGNER)
    first, second = chunks(2)
    with pytest.raises(ArchiveError, match="ThrottlingException"):
        archive.write_chunk(first)
    assert list(DirStore(tmp_path).list_keys("manifests/")) == []
    assert archive.write_chunk(second) == manifest_key("acme", "scheduled", 1)
    assert verify_archive(DirStore(tmp_path)).intact


def test_junk_at_the_next_key_is_skipped_never_adopted_and_verify_lists_it(tmp_path: Path) -> None:
    state = MemoryState()
    first, second, third = chunks(3)
    EvidenceArchive(DirStore(tmp_path), state, signer=SIGNER).write_chunk(first)
    junk = manifest_key("acme", "scheduled", 2)
    (tmp_path / junk).write_text('{"previous_manifest_key": "elsewhere"}')
    written = EvidenceArchive(DirStore(tmp_path), state, signer=SIGNER).write_chunk(second)
    assert written != junk and written.startswith("manifests/acme/scheduled/000000000002-")
    EvidenceArchive(DirStore(tmp_path), state, signer=SIGNER).write_chunk(third)
    result = verify_archive(DirStore(tmp_path))
    assert result.foreign == [f"foreign object {junk}: unsigned; not evidence (the auditor did not write it)"]
    assert result.problems == [f"acme/scheduled seq 2: {result.foreign[0]}"]  # the chain itself is whole
    assert result.chains[0].chunks == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"stream": "nightly"}, "expected one of scheduled, backfill, sweep", id="unknown stream"),
        pytest.param({"scope": "acme/api"}, "without '/'", id="slash in scope"),
        pytest.param({"window": {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}}, "since must be before until", id="backwards window"),
        pytest.param({"window": {"since": "yesterday", "until": "2026-01-01T00:00:00Z"}}, "expected ISO-8601", id="not a time"),
    ],
)  # fmt: skip
def test_a_malformed_chunk_is_refused_before_anything_is_written(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    chunk = chunks(1)[0]
    fields = {"scope": chunk.scope, "stream": chunk.stream, "window": chunk.window, "run_id": chunk.run_id,
              "records": chunk.records, "summary": chunk.summary} | change  # fmt: skip
    with pytest.raises(ArchiveError, match=message):
        EvidenceArchive(DirStore(tmp_path), MemoryState(), signer=SIGNER).write_chunk(ArchiveChunk(**fields))  # type: ignore[arg-type]
    assert not any(tmp_path.iterdir())


def test_records_are_read_back_once_each_through_the_manifests(tmp_path: Path) -> None:
    archive = EvidenceArchive(DirStore(tmp_path), MemoryState(), signer=SIGNER)
    first, second, third = hourly_chunks(3, overlap=timedelta(0))
    carried = ArchiveChunk(third.scope, third.stream, third.window, third.run_id,
                           (*third.records, first.records[0]), third.summary)  # fmt: skip
    for chunk in (first, second, carried):
        archive.write_chunk(chunk)
    everything = list(iter_records(DirStore(tmp_path)))
    pull_requests = [r for r in everything if r["kind"] == "pull_request"]
    assert [r["number"] for r in pull_requests] == list(range(1, 10))  # the carried-over copy is not repeated
    assert sum(r["kind"] == "run_summary" for r in everything) == 3
    # The first hour: its own chunk, and the third chunk because it carries a record audited in that hour.
    hour = list(iter_records(DirStore(tmp_path), since=START, until=START + timedelta(hours=1)))
    assert {r["number"] for r in hour if r["kind"] == "pull_request"} == {1, 2, 3, 7, 8, 9}


def test_verify_can_be_narrowed_to_one_stream_or_scope(tmp_path: Path) -> None:
    archive = EvidenceArchive(DirStore(tmp_path), MemoryState(), signer=SIGNER)
    archive.write_chunk(chunks(1)[0])
    archive.write_chunk(next(hourly_chunks(1, scope="globex", stream="backfill")))
    backfills = verify_archive(DirStore(tmp_path), stream="backfill")
    assert [c.name for c in backfills.chains] == ["globex/backfill"] and backfills.intact
    missing = verify_archive(DirStore(tmp_path), scope="acme", stream="sweep")
    assert not missing.intact
    assert missing.problems == ["acme/sweep seq 0: no manifests under manifests/acme/sweep/"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        pytest.param({"seq": 7}, "acme/scheduled seq 1: manifests/acme/scheduled/000000000001.json says seq is 7, its key says 1", id="seq"),
        pytest.param({"stream": "backfill"}, "acme/scheduled seq 1: manifests/acme/scheduled/000000000001.json says stream is 'backfill', its key says 'scheduled'", id="stream"),
        pytest.param({"records_key": "records/acme/scheduled/../../../outside"}, "acme/scheduled seq 1: records_key 'records/acme/scheduled/../../../outside' is not in records/acme/scheduled/", id="records elsewhere"),
        pytest.param({"window": "all of 2026"}, "acme/scheduled seq 1: manifests/acme/scheduled/000000000001.json: string indices must be integers, not 'str'", id="window not an object"),
    ],
)  # fmt: skip
def test_a_manifest_that_contradicts_its_place_is_reported(
    tmp_path: Path, change: dict[str, object], problem: str
) -> None:
    EvidenceArchive(DirStore(tmp_path), MemoryState(), signer=SIGNER).write_chunk(chunks(1)[0])
    copy = DirCopy(tmp_path)
    edited = manifest(copy, 1) | change
    rewrite_manifest(copy, 1, edited)  # edited by someone without the key: foreign, whatever it says
    key = manifest_key("acme", "scheduled", 1)
    assert verify_archive(DirStore(tmp_path)).problems[0] == (
        f"acme/scheduled seq 1: foreign object {key}: its signature (key 'test-signing-key') does not verify; "
        "not evidence (the auditor did not write it)"
    )
    rewrite_manifest(copy, 1, edited, signer=SIGNER)  # signed with the writer's own key: the writer's checks
    assert verify_archive(DirStore(tmp_path)).problems[0] == problem


def test_a_chain_whose_head_is_gone_is_restored_from_its_last_signed_manifest_not_restarted(tmp_path: Path) -> None:
    state = MemoryState()
    store = DirStore(tmp_path)
    first, second, third = chunks(3)
    archive = EvidenceArchive(store, state, signer=SIGNER)
    archive.write_chunk(first)
    last = archive.write_chunk(second)
    # someone emptied the table, and left a forged manifest (another key) and junk above the real head
    del state.documents["chain#acme#scheduled"]
    forged = manifest(DirCopy(tmp_path), 2) | {"seq": 3}
    rewrite_manifest(DirCopy(tmp_path), 3, forged, signer=FORGER)
    (tmp_path / manifest_key("acme", "scheduled", 4)).write_text("junk")
    restored = archive.restore_heads("acme")
    assert restored == [{"scope": "acme", "stream": "scheduled", "manifest_key": last, "seq": 2,
                         "sha256": sha256_hex((tmp_path / last).read_bytes())}]  # fmt: skip
    assert archive.restore_heads("acme") == []  # restored once: the next run finds the head in place
    written = archive.write_chunk(third)
    assert json.loads((tmp_path / written).read_bytes())["previous_manifest_key"] == last


def test_a_chain_never_written_restores_nothing(tmp_path: Path) -> None:
    assert EvidenceArchive(DirStore(tmp_path), MemoryState(), signer=SIGNER).restore_heads("acme") == []
