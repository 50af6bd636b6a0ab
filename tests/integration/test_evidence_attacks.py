"""Attacks on the evidence archive through the deployed path, each as someone holding one ordinary permission:
the real handler (scheduled events) with its KMS signer on moto's KMS, the GitHub stand-in, the state table
and the Object Lock bucket on moto. moto does not enforce bucket or key policies, so the attacker's puts
succeed here, as they would for anyone the bucket policy still allowed: what is tested is that such
objects are foreign (never adopted, never counted, never a stall) and that ``verify`` names them.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from pr_auditor import handler
from pr_auditor.audit.ports import LocalSigner
from pr_auditor.cli import main
from pr_auditor.evidence.archive import (
    encode_records,
    iter_archived_records,
    manifest_key,
    records_key,
    sha256_hex,
)
from pr_auditor.evidence.signing import canonical_json, public_key_object, sign_manifest

from evidence import download
from harness import (
    AwsRoute,
    LambdaContext,
    alarms_in_alarm,
    captured_function_logs,
    deployed_function,
    metric_values,
    read_queue,
    scheduled_event,
    ship,
)
from standin.generate import add_pr, make_state

pytestmark = pytest.mark.integration

TOKEN = "ghp_evidenceATTACKS0123456789abcdefSECRET"
FIRST = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@dataclass
class Stack:
    route: AwsRoute
    clock: list[datetime]
    runs: int = 0
    lines: list[str] = field(default_factory=list)  # what the last run logged

    @property
    def s3(self) -> Any:
        return self.route.client("s3")

    def scheduled_run(self, at: datetime) -> list[dict[str, Any]]:
        """The schedule invoking the handler at ``at`` (its clock 20 s later); the records it logged."""
        self.clock[0] = at + timedelta(seconds=20)
        self.runs += 1
        with captured_function_logs(handler.logger) as lines:
            handler.lambda_handler(
                scheduled_event(at, event_id=f"e{self.runs}"), LambdaContext(aws_request_id=f"run-{self.runs}")
            )
        self.lines = lines
        return [json.loads(line) for line in lines if line.startswith("{")]

    def put(self, key: str, body: bytes) -> None:
        """What a holder of s3:PutObject on the bucket can do (Object Lock requires a checksum header)."""
        self.s3.put_object(Bucket=self.route.evidence_bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256")

    def get(self, key: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=self.route.evidence_bucket, Key=key)["Body"].read()
        return body

    def keys(self, prefix: str) -> list[str]:
        found = self.s3.list_objects_v2(Bucket=self.route.evidence_bucket, Prefix=prefix).get("Contents", [])
        return [item["Key"] for item in found]

    def public_key_pem(self, tmp_path: Path) -> Path:
        """The auditor's own copy of the public key, from KMS (the stack's SigningKeyArn output)."""
        der = self.route.client("kms").get_public_key(KeyId=self.route.signing_key_id)["PublicKey"]
        pem = serialization.load_der_public_key(der).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        path = tmp_path / "signing-key.pem"
        path.write_bytes(pem)
        return path

    def verify(self, *args: str) -> tuple[int, list[str]]:
        out = io.StringIO()
        code = main(["verify", "--quiet", *args], out=out)
        return code, out.getvalue().splitlines()


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    state = make_state(org="acme", repos=("api",), tokens=(TOKEN,))
    add_pr(state, "api", number=7, reviews=[], merged_at=FIRST - timedelta(minutes=30))  # no approval: a finding
    with deployed_function(monkeypatch, state, token=TOKEN, policy_text="required_approvals: 1\n") as route:
        clock = [FIRST]
        monkeypatch.setattr(handler, "wall_clock", lambda: clock[0])
        yield Stack(route, clock)


def finding_of(records: list[dict[str, Any]]) -> dict[str, Any]:
    (finding,) = [r for r in records if r.get("kind") == "pull_request" and r.get("verdict") == "non_compliant"]
    return finding


def test_the_manifests_are_signed_by_the_stacks_kms_key_and_its_public_key_is_in_the_bucket(
    stack: Stack, tmp_path: Path
) -> None:
    # Given a scheduled run that archived its chunk
    stack.scheduled_run(FIRST)
    # Then the manifest names the KMS key and carries a signature, and keys/<key id>.pem is the key's public key
    manifest = json.loads(stack.get(manifest_key("acme", "scheduled", 1)))
    key_id = stack.route.signing_key_id.rsplit("/", 1)[-1]
    assert manifest["signing_key_id"] == key_id and manifest["signature_algorithm"] == "ECDSA_SHA_256"
    assert base64.b64decode(manifest["signature"])[0] == 0x30  # a DER ECDSA signature
    assert stack.get(public_key_object(key_id)) == stack.public_key_pem(tmp_path).read_bytes()
    assert stack.verify("--bucket", stack.route.evidence_bucket)[0] == 0


def test_shadow_chain_a_compliant_copy_of_a_finding_in_another_stream_fails_verify_naming_the_foreign_object(
    stack: Stack, tmp_path: Path
) -> None:
    # Given a scheduled run that recorded an unapproved merge as non-compliant
    finding = finding_of(stack.scheduled_run(FIRST))
    # When someone with s3:PutObject writes a second chain (stream backfill) holding a compliant copy under
    # the same record_id, with a manifest that copies the real one's shape but cannot carry its signature
    forged = finding | {"verdict": "compliant", "violations": [], "approvers": ["mallory"]}
    window = {"since": "2026-11-21T08:00:00Z", "until": "2026-11-21T10:00:00Z"}
    body = encode_records([forged, {"kind": "run_summary", "run_id": "shadow", "counts": {}}])
    shadow_records = records_key("acme", "backfill", window, "shadow")
    stack.put(shadow_records, body)
    real = json.loads(stack.get(manifest_key("acme", "scheduled", 1)))
    shadow = real | {"stream": "backfill", "records_key": shadow_records, "records_sha256": sha256_hex(body)}
    stack.put(manifest_key("acme", "backfill", 1), canonical_json(shadow))
    # Then verify fails and names the shadow manifest as foreign
    code, lines = stack.verify("--bucket", stack.route.evidence_bucket)
    assert code == 1
    assert (
        f"tamper evidence: foreign object {manifest_key('acme', 'backfill', 1)}: its signature (key "
        f"'{real['signing_key_id']}') does not verify; not evidence (the auditor did not write it)"
    ) in lines
    # And the report's reader never counts it: the finding stays non-compliant, told once
    archived = [r for r in iter_archived_records(stack.s3, stack.route.evidence_bucket) if r.get("record_id")]
    assert [(r["record_id"], r["verdict"]) for r in archived] == [(finding["record_id"], "non_compliant")]


def test_shadow_chain_signed_with_the_attackers_own_key_is_foreign_under_the_pinned_key(
    stack: Stack, tmp_path: Path
) -> None:
    # Given a scheduled run that recorded a finding, and the auditor's own copy of the public key
    finding = finding_of(stack.scheduled_run(FIRST))
    pinned = stack.public_key_pem(tmp_path)
    # When the attacker signs a shadow chain with a key of their own, and adds that key to keys/
    mallory = LocalSigner.generate("mallory")
    stack.put(public_key_object("mallory"), mallory.public_key_pem())
    forged = finding | {"verdict": "compliant", "violations": []}
    window = {"since": "2026-11-21T08:00:00Z", "until": "2026-11-21T10:00:00Z"}
    body = encode_records([forged, {"kind": "run_summary", "run_id": "shadow", "counts": {}}])
    shadow_records = records_key("acme", "backfill", window, "shadow")
    stack.put(shadow_records, body)
    real = json.loads(stack.get(manifest_key("acme", "scheduled", 1)))
    unsigned = {k: v for k, v in real.items() if k not in ("signature", "signing_key_id", "signature_algorithm")}
    shadow = unsigned | {
        "stream": "backfill",
        "records_key": shadow_records,
        "records_sha256": sha256_hex(body),
        "counts": {
            "records": 1,
            "by_kind": {"pull_request": {"compliant": 1}},
            "run_summaries": 1,
            "run_summary": {},
        },
    }
    shadow_key = manifest_key("acme", "backfill", 1)
    stack.put(shadow_key, sign_manifest(shadow, mallory))
    # Then verify from the bucket alone fails: two keys where the stack has one, and the record told twice,
    # naming both objects
    code, lines = stack.verify("--bucket", stack.route.evidence_bucket)
    assert code == 1
    assert any("keys/: expected the one public key of the stack, found " in line for line in lines)
    assert (
        f"tamper evidence: record {finding['record_id']} tells two stories: {shadow_records} and "
        f"{real['records_key']} differ"  # chains in name order: acme/backfill before acme/scheduled
    ) in lines
    # And with the pinned key (offline, on a downloaded copy), the shadow manifest is named foreign
    copy = download(stack.s3, stack.route.evidence_bucket, tmp_path / "copy")
    code, lines = stack.verify("--dir", str(copy), "--public-key", str(pinned))
    assert code == 1
    assert (
        f"tamper evidence: foreign object {shadow_key}: signed with key 'mallory', which is not the archive's key; "
        "not evidence (the auditor did not write it)"
    ) not in lines  # pinned: any key id, one key; so it is the signature that fails
    assert any(line.startswith(f"tamper evidence: foreign object {shadow_key}: its signature") for line in lines)


def test_junk_at_the_next_key_the_next_run_completes_and_verify_lists_the_junk(stack: Stack) -> None:
    # Given a scheduled run that wrote seq 1
    stack.scheduled_run(FIRST)
    # When someone puts junk at the key the writer would use next (Object Lock keeps it for years)
    junk = manifest_key("acme", "scheduled", 2)
    stack.put(junk, b"not evidence")
    # Then the next run completes: it skips the taken key and writes seq 2 under a key with a random part
    records = stack.scheduled_run(FIRST + timedelta(hours=1))
    (summary,) = [r for r in records if r.get("kind") == "run_summary"]
    assert summary["status"] == "completed"
    (written,) = [
        k for k in stack.keys("manifests/acme/scheduled/") if k not in (junk, manifest_key("acme", "scheduled", 1))
    ]
    assert written.startswith("manifests/acme/scheduled/000000000002-")
    # And a third run links to it, not to the junk
    stack.scheduled_run(FIRST + timedelta(hours=2))
    third = json.loads(stack.get(manifest_key("acme", "scheduled", 3)))
    assert third["previous_manifest_key"] == written
    # And verify lists the junk as tamper evidence, the chain itself whole
    code, lines = stack.verify("--bucket", stack.route.evidence_bucket)
    assert code == 1
    assert lines[1] == (
        f"first problem: acme/scheduled seq 2: foreign object {junk}: not a manifest (Expecting value: line 1 "
        "column 1 (char 0)); not evidence (the auditor did not write it)"
    )
    assert lines[0].startswith("chain NOT intact (1 problems): 3 chunks")


def test_state_reset_a_run_that_finds_the_chain_heads_gone_records_a_finding_and_continues_the_chain(
    stack: Stack,
) -> None:
    # Given two scheduled runs (seq 1 and 2)
    stack.scheduled_run(FIRST)
    stack.scheduled_run(FIRST + timedelta(hours=1))
    read_queue(stack.route)  # the finding's message of the first run
    # When the state documents are deleted (an emptied or restored table: the chain heads are gone)
    dynamodb = stack.route.client("dynamodb")
    for stream in ("scheduled",):
        dynamodb.delete_item(TableName=stack.route.state_table, Key={"pk": {"S": f"doc#chain#acme#{stream}"}})
    records = stack.scheduled_run(FIRST + timedelta(hours=2))
    # Then the run records a state_reset finding, naming the manifest the chain continues from
    (reset,) = [r for r in records if r.get("kind") == "state_reset"]
    last = manifest_key("acme", "scheduled", 2)
    assert reset["restored_from"] == {"manifest_key": last, "seq": 2, "sha256": sha256_hex(stack.get(last))}
    assert reset["verdict"] == "non_compliant" and reset["violations"][0]["code"] == "state_reset"
    # And its alarm fires (the template's filter on the shipped lines), and ops get one message about it
    values = metric_values(stack.route, ship(stack.route, stack.lines))
    assert values["StateResets"] == 1
    assert "StateResetAlarm" in {alarm.logical_id for alarm in alarms_in_alarm(stack.route, values)}
    messages = [m["alarm"] for m in read_queue(stack.route) if m["alarm"].get("kind") == "state_reset"]
    assert [m["record_id"] for m in messages] == [reset["record_id"]]
    # And the chain continues (seq 3 after seq 2), never restarts at seq 1
    third = json.loads(stack.get(manifest_key("acme", "scheduled", 3)))
    assert third["previous_manifest_key"] == last
    assert stack.verify("--bucket", stack.route.evidence_bucket)[0] == 0


def test_state_reset_a_backfill_that_finds_the_chain_heads_gone_records_it_too(stack: Stack) -> None:
    # Given a scheduled run (seq 1), and then the chain heads deleted from the state table
    stack.scheduled_run(FIRST)
    stack.route.client("dynamodb").delete_item(
        TableName=stack.route.state_table, Key={"pk": {"S": "doc#chain#acme#scheduled"}}
    )
    # When a backfill runs before the next scheduled run
    stack.clock[0] = FIRST + timedelta(minutes=10)
    event = {"action": "backfill", "since": "2026-11-20T00:00:00Z", "until": "2026-11-21T00:00:00Z"}
    with captured_function_logs(handler.logger) as lines:
        handler.lambda_handler(event, LambdaContext(aws_request_id="backfill-1"))
    records = [json.loads(line) for line in lines if line.startswith("{")]
    # Then it records the state_reset, and the scheduled chain continues at seq 2 on the next run
    (reset,) = [r for r in records if r.get("kind") == "state_reset"]
    assert reset["stream"] == "scheduled" and reset["restored_from"]["seq"] == 1
    stack.scheduled_run(FIRST + timedelta(hours=1))
    second = json.loads(stack.get(manifest_key("acme", "scheduled", 2)))
    assert second["previous_manifest_key"] == manifest_key("acme", "scheduled", 1)
    assert stack.verify("--bucket", stack.route.evidence_bucket)[0] == 0
