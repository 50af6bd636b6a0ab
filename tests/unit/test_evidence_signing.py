"""Signed manifests, pure: what makes a manifest the writer's, and what makes it foreign; the setting that
names the signing key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pr_auditor.core.errors import ConfigError
from pr_auditor.evidence.dir_store import DirStore
from pr_auditor.evidence.signing import TrustedKeys, keys_in, public_key_object, sign_manifest
from pr_auditor.settings import settings_from_env

from evidence import FORGER, SIGNER

MANIFEST = {"seq": 1, "scope": "acme", "stream": "scheduled", "records_sha256": "ab" * 32}
TRUSTED = TrustedKeys.of_signer(SIGNER)


def signed(**change: object) -> dict[str, object]:
    document: dict[str, object] = json.loads(sign_manifest(MANIFEST, SIGNER))
    return document | change


@pytest.mark.parametrize(
    ("document", "why"),
    [
        pytest.param(signed(), None, id="signed by the writer"),
        pytest.param(MANIFEST, "unsigned", id="unsigned"),
        pytest.param(signed(seq=2), "its signature (key 'test-signing-key') does not verify", id="edited after signing"),
        pytest.param(signed(signing_key_id="mallory"), "signed with key 'mallory', which is not the archive's key", id="another key id"),
        pytest.param(signed(signature_algorithm="RSASSA_PSS_SHA_256"), "signature algorithm 'RSASSA_PSS_SHA_256', not ECDSA_SHA_256", id="another algorithm"),
        pytest.param(signed(signature="not base64!"), "its signature (key 'test-signing-key') does not verify", id="garbage signature"),
        pytest.param(json.loads(sign_manifest(MANIFEST, FORGER)), "its signature (key 'test-signing-key') does not verify", id="another key under the writer's id"),
    ],
)  # fmt: skip
def test_a_manifest_is_the_writers_only_with_a_valid_signature_by_the_trusted_key(
    document: dict[str, object], why: str | None
) -> None:
    assert TRUSTED.why_foreign(document) == why


def test_the_archives_keys_folder_is_read_and_a_file_that_is_not_a_key_is_rejected(tmp_path: Path) -> None:
    store = DirStore(tmp_path)
    store.put_new(public_key_object(SIGNER.key_id), SIGNER.public_key_pem(), content_type="application/x-pem-file")
    store.put_new("keys/notes.txt", b"hello", content_type="text/plain")
    store.put_new("keys/other.pem", b"not a key", content_type="application/x-pem-file")
    trusted = keys_in(store)
    assert list(trusted.keys) == [SIGNER.key_id]
    assert [reason.split(":")[0] for reason in trusted.rejected] == ["keys/notes.txt", "keys/other.pem"]


def test_an_evidence_bucket_without_a_signing_key_is_refused_naming_the_variable() -> None:
    env = {"GITHUB_TOKEN_SECRET": "arn:secret", "GITHUB_ORGS": "acme", "EVIDENCE_BUCKET": "evidence-bucket"}
    with pytest.raises(ConfigError, match=r"^SIGNING_KEY_ID: required with EVIDENCE_BUCKET"):
        settings_from_env(env)
    assert settings_from_env(env | {"SIGNING_KEY_ID": "arn:aws:kms:eu-west-1:1:key/k"}).signing_key_id is not None
