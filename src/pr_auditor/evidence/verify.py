"""``pr-auditor verify``: walk the evidence archive's hash chains from the bucket (or a local copy) alone.

For every (scope, stream) chain it checks, in seq order: each manifest is well-formed and where its key says;
the seq numbers run 1, 2, 3… without a gap and each manifest names the key and SHA-256 of the one before;
each records object's SHA-256 equals its manifest's; the counts the manifest states equal what the records
object holds; and, on the scheduled stream, that the windows cover [since, until) with no gap and no
overlap beyond the configured re-scan overlap. One verdict line, then the first problem found. Exit 0 when
every chain is intact, 1 when one was tampered with or has gaps, 2 for bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from pr_auditor.audit.ports import ObjectStore
from pr_auditor.aws.evidence_store import S3Store
from pr_auditor.core.errors import ArchiveError, ConfigError, MissingBucketError
from pr_auditor.core.model import iso
from pr_auditor.core.parse import parse_time
from pr_auditor.evidence.archive import (
    MANIFESTS,
    RECORDS,
    STREAMS,
    chains_in,
    count_records,
    decode_records,
    in_order,
    manifest_prefix,
    meets,
    parse_instant,
    seq_of,
    sha256_hex,
)
from pr_auditor.evidence.dir_store import DirStore
from pr_auditor.evidence.signing import KEYS, TrustedKeys, canonical_json, keys_in

DEFAULT_OVERLAP = timedelta(minutes=120)
EXIT_INTACT, EXIT_BROKEN = 0, 1
# Within one seq, problems are reported in this order: what the manifest is, how it links, its records.
STRUCTURE, LINK, RECORDS_HASH, COUNTS, COVERAGE = range(5)
log = logging.getLogger("pr_auditor")
_REQUIRED = ("seq", "scope", "stream", "window", "records_key", "records_sha256", "counts")


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    seq: int
    rank: int
    text: str


# --------------------------------------------------------------------------- pure checks (table-tested)
@dataclass(frozen=True, slots=True)
class Link:
    """One manifest as the chain sees it: where it is, the hash of its bytes, what it says came before."""

    seq: int
    key: str
    sha256: str
    previous_key: str | None
    previous_sha256: str | None


def link_problems(links: Sequence[Link]) -> list[Problem]:
    """Do the manifests form one unbroken chain? Seq runs 1, 2, 3… and each manifest names the key and
    SHA-256 of the one before it. A removed (or delete-marker-hidden) manifest leaves a seq gap; an edited
    manifest no longer matches the hash its successor recorded. Fix: restore the object version that Object
    Lock retained (``aws s3api list-object-versions``)."""
    problems: list[Problem] = []
    before: Link | None = None
    for link in links:
        expected = before.seq + 1 if before else 1
        if link.seq != expected:
            missing = f"seq {expected}" if link.seq == expected + 1 else f"seqs {expected}..{link.seq - 1}"
            problems.append(Problem(link.seq, LINK, f"manifest {missing} missing: the chain is broken"))
        elif before is None and (link.previous_key or link.previous_sha256):
            problems.append(Problem(link.seq, LINK, f"the first manifest links to {link.previous_key}"))
        elif before is not None and link.previous_key != before.key:
            problems.append(Problem(link.seq, LINK, f"links to {link.previous_key}, not to {before.key}"))
        elif before is not None and link.previous_sha256 != before.sha256:
            problems.append(
                Problem(
                    link.seq,
                    LINK,
                    f"previous_manifest_sha256 {_short(link.previous_sha256)} does not match seq {before.seq} "
                    f"({_short(before.sha256)}): seq {before.seq} or this link was edited",
                )
            )
        before = link
    return problems


@dataclass(frozen=True, slots=True)
class Span:
    seq: int
    since: datetime
    until: datetime


def coverage_problems(
    windows: Sequence[Span], *, since: datetime | None, until: datetime | None, overlap: timedelta
) -> list[Problem]:
    """Do the windows, in chain order, cover [since, until) with no gap, and does each window start either
    where the previous one ended (the next chunk of the same run) or exactly the configured overlap before
    (a new run re-scanning the trailing overlap: the watermark is the previous chunk's end)? Without
    since/until: from the first window to the last. A gap means a period with no evidence; a re-scan
    shorter than the overlap means a chunk in between was removed and the chain rebuilt around it (with
    hourly runs and a 120-minute overlap, one removed chunk leaves no gap, only a 60-minute re-scan); a
    longer one means a chunk was audited twice (a retried write) or the overlap setting differs (pass
    ``--overlap-minutes``)."""
    relevant = [w for w in windows if (until is None or w.since < until) and (since is None or w.until > since)]
    if not relevant:
        wanted = f"[{iso(since) if since else '…'}, {iso(until) if until else '…'})"
        return [Problem(0, COVERAGE, f"no chunk covers {wanted}")] if since or until else []
    problems: list[Problem] = []
    covered = since if since is not None else relevant[0].since
    previous: Span | None = None
    for window in relevant:
        if window.since > covered:
            problems.append(
                Problem(window.seq, COVERAGE, f"[{iso(covered)}, {iso(window.since)}) is covered by no chunk")
            )
        rescan = previous.until - window.since if previous is not None else timedelta(0)
        if previous is not None and rescan > overlap:
            problems.append(
                Problem(
                    window.seq,
                    COVERAGE,
                    f"window starts {_minutes(rescan)} before seq {previous.seq}'s ends, "
                    f"more than the {_minutes(overlap)} overlap",
                )
            )
        elif previous is not None and timedelta(0) < rescan < overlap:
            problems.append(
                Problem(
                    window.seq,
                    COVERAGE,
                    f"window starts {_minutes(rescan)} before seq {previous.seq}'s ends, neither right after it "
                    f"nor the {_minutes(overlap)} re-scan: a chunk between them is missing",
                )
            )
        covered = max(covered, window.until)
        previous = window
    if until is not None and covered < until:
        problems.append(
            Problem(relevant[-1].seq, COVERAGE, f"[{iso(covered)}, {iso(until)}) is covered by no chunk (chain ends)")
        )
    return problems


def count_problems(seq: int, stated: Any, actual: Mapping[str, Any]) -> list[Problem]:
    """Do the manifest's counts equal what its records object holds? A difference with an intact records
    hash means the manifest's counts were edited (or written by a faulty writer)."""
    difference = _first_difference("counts", stated, actual)
    return [Problem(seq, COUNTS, difference)] if difference else []


def _first_difference(path: str, stated: Any, actual: Any) -> str | None:
    if isinstance(stated, Mapping) and isinstance(actual, Mapping):
        for key in sorted(set(stated) | set(actual)):
            found = _first_difference(f"{path}.{key}", stated.get(key), actual.get(key))
            if found:
                return found
        return None
    if stated != actual:
        return f"{path}: the manifest says {stated}, the records object holds {actual}"
    return None


# --------------------------------------------------------------------------- walking the archive
@dataclass(frozen=True, slots=True)
class ChunkCheck:
    """What one manifest and its records object gave (small: a year of these fits in memory)."""

    link: Link | None
    span: Span | None
    records_key: str | None
    in_range: bool
    records: int
    problems: tuple[Problem, ...]
    #: Why the object is not the writer's (unsigned, another key, a bad signature); None for a signed one.
    foreign: str | None = None
    #: (record_id, the first 16 bytes of the SHA-256 of the record's canonical JSON) of every record with an id
    #: in the records object: enough to tell two contents apart, a quarter of a hex digest's memory.
    fingerprints: tuple[tuple[str, bytes], ...] = ()


def _foreign(seq: int, key: str, why: str) -> ChunkCheck:
    text = f"foreign object {key}: {why}; not evidence (the auditor did not write it)"
    return ChunkCheck(None, None, None, False, 0, (Problem(seq, STRUCTURE, text),), foreign=why)


def check_chunk(
    store: ObjectStore,
    key: str,
    *,
    scope: str,
    stream: str,
    since: datetime | None,
    until: datetime | None,
    keys: TrustedKeys | None = None,
) -> ChunkCheck:
    seq = seq_of(key) or 0
    if seq_of(key) is None:
        return _foreign(0, key, "not a manifest's key (<seq>.json)")
    data = store.read(key)
    if data is None:
        return ChunkCheck(None, None, None, False, 0, (Problem(seq, STRUCTURE, f"{key} vanished while verifying"),))
    try:
        manifest = json.loads(data)
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        return _foreign(seq, key, f"not a manifest ({exc})")
    why = (keys or TrustedKeys()).why_foreign(manifest)
    if why is not None:
        return _foreign(seq, key, why)
    try:
        if any(field not in manifest for field in _REQUIRED):
            raise ValueError(f"not a manifest (needs {', '.join(_REQUIRED)})")
        span = Span(seq, parse_instant(manifest["window"]["since"]), parse_instant(manifest["window"]["until"]))
    except (ValueError, TypeError, KeyError) as exc:
        # Still a link (with no predecessor of its own), so its successor's hash can be checked against it.
        unreadable = Link(seq, key, sha256_hex(data), None, None)
        return ChunkCheck(unreadable, None, None, False, 0, (Problem(seq, STRUCTURE, f"{key}: {exc}"),))
    link = Link(
        seq, key, sha256_hex(data), manifest.get("previous_manifest_key"), manifest.get("previous_manifest_sha256")
    )
    records_key = str(manifest["records_key"])
    problems = [
        Problem(seq, STRUCTURE, f"{key} says {name} is {manifest[name]!r}, its key says {expected!r}")
        for name, expected in (("seq", seq), ("scope", scope), ("stream", stream))
        if manifest[name] != expected
    ]
    in_range = meets(manifest["window"], since, until)
    if not records_key.startswith(f"{RECORDS}{scope}/{stream}/") or ".." in records_key.split("/"):
        problems.append(Problem(seq, STRUCTURE, f"records_key {records_key!r} is not in {RECORDS}{scope}/{stream}/"))
        return ChunkCheck(link, span, records_key, in_range, 0, tuple(problems))
    records = 0
    if in_range:
        body = store.read(records_key)
        if body is None:
            problems.append(Problem(seq, RECORDS_HASH, f"records object {records_key} is missing"))
        elif sha256_hex(body) != manifest["records_sha256"]:
            problems.append(
                Problem(
                    seq,
                    RECORDS_HASH,
                    f"records object {records_key} was changed: sha256 {_short(sha256_hex(body))}, "
                    f"the manifest says {_short(manifest['records_sha256'])}",
                )
            )
        else:
            try:
                lines = decode_records(body)
            except (ValueError, OSError) as exc:
                problems.append(Problem(seq, RECORDS_HASH, f"records object {records_key} does not decode: {exc}"))
            else:
                actual = count_records(lines)
                records = int(actual["records"])
                problems.extend(count_problems(seq, manifest["counts"], actual))
                fingerprints = tuple(
                    (record["record_id"], hashlib.sha256(canonical_json(record)).digest()[:16])
                    for record in lines
                    if isinstance(record.get("record_id"), str)
                )
                return ChunkCheck(link, span, records_key, in_range, records, tuple(problems), None, fingerprints)
    return ChunkCheck(link, span, records_key, in_range, records, tuple(problems))


@dataclass(frozen=True, slots=True)
class ChainResult:
    scope: str
    stream: str
    chunks: int
    records: int
    since: datetime | None
    until: datetime | None
    head: Link | None
    problems: tuple[Problem, ...]
    warnings: tuple[str, ...]
    #: record_id → (content hash, records object) of every record in this chain's signed chunks.
    stories: tuple[tuple[str, bytes, str], ...] = ()

    @property
    def name(self) -> str:
        return f"{self.scope}/{self.stream}"


def verify_chain(
    store: ObjectStore,
    scope: str,
    stream: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    overlap: timedelta = DEFAULT_OVERLAP,
    workers: int = 8,
    trusted: TrustedKeys | None = None,
) -> ChainResult:
    keys = sorted(store.list_keys(manifest_prefix(scope, stream)), key=lambda k: (seq_of(k) or 0, k))
    log.info("verifying %s/%s: %d manifests", scope, stream, len(keys))

    def check(key: str) -> ChunkCheck:
        return check_chunk(store, key, scope=scope, stream=stream, since=since, until=until, keys=trusted)

    checks = list(in_order(check, keys, workers=workers))
    problems = [problem for c in checks for problem in c.problems]
    links = [c.link for c in checks if c.link is not None]
    problems += link_problems(links) + fork_problems(links)
    spans = [c.span for c in checks if c.span is not None and c.in_range]
    if not keys:
        problems.append(Problem(0, STRUCTURE, f"no manifests under {MANIFESTS}{scope}/{stream}/"))
    elif stream == "scheduled":
        problems += coverage_problems(spans, since=since, until=until, overlap=overlap)
    referenced = {c.records_key: c.link.seq for c in checks if c.records_key and c.link}
    orphans = [key for key in store.list_keys(f"{RECORDS}{scope}/{stream}/") if key not in referenced]
    warnings = [f"{key} has no manifest (a chunk whose write failed, or whose manifest is missing)" for key in orphans]
    try:
        rewritten = [
            key
            for prefix in (f"{MANIFESTS}{scope}/{stream}/", f"{RECORDS}{scope}/{stream}/")
            for key in store.rewritten_keys(prefix)
        ]
    except ArchiveError as exc:
        rewritten = []
        warnings.append(f"overwrites not checked: cannot list object versions ({exc})")
    problems += [
        Problem(
            seq_of(key) or referenced.get(key, 0),
            STRUCTURE,
            f"{key} was overwritten or deleted after it was written (Object Lock kept the original version)",
        )
        for key in rewritten
    ]
    return ChainResult(
        scope=scope,
        stream=stream,
        chunks=len(spans),
        records=sum(c.records for c in checks),
        since=min((s.since for s in spans), default=None),
        until=max((s.until for s in spans), default=None),
        head=links[-1] if links else None,
        problems=tuple(sorted(problems)),
        warnings=tuple(warnings),
        stories=tuple((rid, digest, c.records_key or "") for c in checks for rid, digest in c.fingerprints),
    )


def fork_problems(links: Sequence[Link]) -> list[Problem]:
    """Two signed manifests at one seq: the writer reserves each seq once (the head in the state table),
    so a second one means the signing key was used outside the writer."""
    by_seq: dict[int, list[str]] = {}
    for link in links:
        by_seq.setdefault(link.seq, []).append(link.key)
    return [
        Problem(seq, LINK, f"{len(keys)} signed manifests at seq {seq}: {', '.join(keys)}")
        for seq, keys in sorted(by_seq.items())
        if len(keys) > 1
    ]


def story_problems(chains: Sequence[ChainResult]) -> list[str]:
    """One story per record: the same ``record_id`` with other content in another object (any chain or
    stream) is a conflict, named with both objects. The same content twice (a retried chunk) is fine."""
    first: dict[str, tuple[bytes, str]] = {}
    problems: list[str] = []
    for chain in chains:
        for record_id, digest, key in chain.stories:
            seen = first.setdefault(record_id, (digest, key))
            if seen[0] != digest:
                problems.append(f"record {record_id} tells two stories: {seen[1]} and {key} differ")
    return problems


@dataclass(frozen=True, slots=True)
class Verification:
    chains: tuple[ChainResult, ...]
    since: datetime | None
    until: datetime | None
    #: Problems of the archive as a whole: its public keys, and records told two ways.
    archive_problems: tuple[str, ...] = ()

    @property
    def problems(self) -> list[str]:
        chained = [f"{chain.name} seq {p.seq}: {p.text}" for chain in self.chains for p in chain.problems]
        return [*self.archive_problems, *chained]

    @property
    def foreign(self) -> list[str]:
        """The tamper evidence: every object found where only the auditor writes and not written by it."""
        return [p.text for chain in self.chains for p in chain.problems if p.text.startswith("foreign object ")]

    @property
    def intact(self) -> bool:
        return bool(self.chains) and not self.problems

    def lines(self) -> list[str]:
        chunks = sum(c.chunks for c in self.chains)
        records = sum(c.records for c in self.chains)
        since = self.since or min((c.since for c in self.chains if c.since), default=None)
        until = self.until or max((c.until for c in self.chains if c.until), default=None)
        period = f"{iso(since)}..{iso(until)}" if since and until else "no period"
        several = f" in {len(self.chains)} chains" if len(self.chains) > 1 else ""
        facts = f"{chunks:,} chunks{several}, {period}, {records:,} records"
        problems = self.problems or ["no chain found in the archive"]
        if self.intact:
            lines = [f"chain intact: {facts}"]
        else:
            lines = [f"chain NOT intact ({len(problems):,} problems): {facts}", f"first problem: {problems[0]}"]
            evidence = [*self.foreign, *(p for p in self.archive_problems if " tells two stories: " in p)]
            lines += [f"tamper evidence: {text}" for text in evidence[:20]]
            if len(evidence) > 20:
                lines.append(f"tamper evidence: … and {len(evidence) - 20} more")
        warnings = [w for c in self.chains for w in c.warnings]
        lines += [f"warning: {w}" for w in warnings[:5]]
        if len(warnings) > 5:
            lines.append(f"warning: … and {len(warnings) - 5} more")
        lines += [f"head {c.name}: seq {c.head.seq}, sha256 {c.head.sha256}" for c in self.chains if c.head]
        return lines


def verify_archive(
    store: ObjectStore,
    *,
    scope: str | None = None,
    stream: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    overlap: timedelta = DEFAULT_OVERLAP,
    workers: int = 8,
    public_key: TrustedKeys | None = None,
) -> Verification:
    """Verify every chain (or those asked for). The trusted key is ``public_key`` (the auditor's own copy,
    ``--public-key``) or else the archive's ``keys/``; more than one key there is reported (a stack has
    one signing key; pin it)."""
    trusted = public_key if public_key is not None else keys_in(store)
    archive_problems = [f"{KEYS}: {text}" for text in trusted.rejected]
    if public_key is None and len(trusted.keys) != 1 and chains_in(store, scope=scope, stream=stream):
        found = ", ".join(sorted(trusted.keys)) or "none"
        archive_problems.append(f"{KEYS}: expected the one public key of the stack, found {found} (pass --public-key)")
    with contextlib.suppress(ArchiveError):  # unlistable versions are reported per chain as a warning
        archive_problems += [
            f"{key} was overwritten or deleted after it was written" for key in store.rewritten_keys(KEYS)
        ]
    chains = tuple(
        verify_chain(
            store,
            chain_scope,
            chain_stream,
            since=since,
            until=until,
            overlap=overlap,
            workers=workers,
            trusted=trusted,
        )
        for chain_scope, chain_stream in chains_in(store, scope=scope, stream=stream)
    )
    return Verification(chains, since, until, tuple(archive_problems + story_problems(chains)))


# --------------------------------------------------------------------------- the CLI command
def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--bucket", help="the evidence bucket (needs boto3 and read access)")
    where.add_argument("--dir", type=Path, help="a local copy of the archive with the same layout (aws s3 sync)")
    parser.add_argument(
        "--public-key",
        type=Path,
        help="the signing key's public key (PEM; the stack's SigningKeyArn, `aws kms get-public-key`): trust "
        "only it. Default: the archive's own keys/ folder",
    )
    parser.add_argument("--scope", help="one scope (sorted, comma-joined organisations); default: every scope")
    parser.add_argument("--stream", choices=STREAMS, help="one stream; default: every stream")
    parser.add_argument("--since", help="inclusive, ISO-8601: the scheduled windows must cover [since, until)")
    parser.add_argument("--until", help="exclusive, ISO-8601")
    parser.add_argument(
        "--overlap-minutes", type=int, default=120, help="the stack's OverlapMinutes: allowed re-scan (default 120)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace, out: TextIO) -> int:
    since = parse_time(args.since, name="--since") if args.since else None
    until = parse_time(args.until, name="--until") if args.until else None
    if since and until and since >= until:
        raise ConfigError(f"--since ({args.since}) must be before --until ({args.until})")
    if args.overlap_minutes < 0:
        raise ConfigError(f"--overlap-minutes: expected 0 or more, got {args.overlap_minutes}")
    store: ObjectStore = S3Store(args.bucket) if args.bucket else DirStore(args.dir)
    public_key = _public_key(args.public_key) if args.public_key else None
    try:
        result = verify_archive(
            store,
            scope=args.scope,
            stream=args.stream,
            since=since,
            until=until,
            overlap=timedelta(minutes=args.overlap_minutes),
            public_key=public_key,
        )
    except MissingBucketError as exc:
        raise ConfigError(str(exc)) from None
    except ArchiveError as exc:
        raise ConfigError(f"cannot read the archive: {exc}") from None
    for line in result.lines():
        out.write(line + "\n")
    return EXIT_INTACT if result.intact else EXIT_BROKEN


def _public_key(path: Path) -> TrustedKeys:
    try:
        return TrustedKeys.from_pem(None, path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"--public-key {path}: cannot read ({exc.strerror})") from None
    except ValueError as exc:
        raise ConfigError(f"--public-key {path}: not a P-256 public key in PEM ({exc})") from None


def _short(digest: Any) -> str:
    if not digest:
        return "null"
    text = str(digest)
    return f"{text[:12]}…" if len(text) > 12 else text


def _minutes(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 60:g} min"
