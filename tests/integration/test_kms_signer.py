"""The KMS signer adapter on moto's KMS (real boto3 calls): an ECC_NIST_P256 key signs a manifest's digest,
and the signature verifies offline with the public key alone, exactly as ``verify`` checks it.

moto 5.2 does not implement ``MessageType=DIGEST`` (moto/kms/models.py says so; it hashes the digest again,
like ``RAW``), so the adapter sends the 32-byte digest as a ``RAW`` message: the same construction on moto
and on KMS. The test below shows what DIGEST would have given on moto, so a moto that implements it is noticed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from moto import mock_aws

from pr_auditor.aws.signer import KmsSigner
from pr_auditor.core.errors import ArchiveError
from pr_auditor.evidence.signing import TrustedKeys, load_public_key, sign_manifest

from harness import REGION, aws_environment, create_signing_key
from template_model import load_template

pytestmark = pytest.mark.integration


@pytest.fixture
def kms() -> Iterator[Any]:
    aws_environment()
    with mock_aws():
        yield boto3.client("kms", region_name=REGION)


@pytest.fixture
def key_arn(kms: Any) -> str:
    return create_signing_key(load_template()["Resources"]["SigningKey"]["Properties"])


def test_a_manifest_signed_with_the_kms_key_verifies_with_its_public_key_alone(kms: Any, key_arn: str) -> None:
    signer = KmsSigner(key_arn, client=kms)
    data = sign_manifest({"seq": 1, "scope": "acme"}, signer)
    manifest = json.loads(data)
    assert manifest["signing_key_id"] == key_arn.rsplit("/", 1)[-1]
    trusted = TrustedKeys({signer.key_id: load_public_key(signer.public_key_pem())})
    assert trusted.why_foreign(manifest) is None
    assert trusted.why_foreign(manifest | {"seq": 2}) == f"its signature (key '{signer.key_id}') does not verify"


def test_moto_signs_a_digest_message_as_raw_which_is_why_the_adapter_sends_raw(kms: Any, key_arn: str) -> None:
    digest = hashlib.sha256(b"manifest").digest()
    public = load_public_key(KmsSigner(key_arn, client=kms).public_key_pem())
    signature = kms.sign(KeyId=key_arn, Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")
    with pytest.raises(InvalidSignature):  # what KMS would sign for DIGEST: the digest itself
        public.verify(signature["Signature"], digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    public.verify(signature["Signature"], digest, ec.ECDSA(hashes.SHA256()))  # what moto signs: RAW


def test_a_key_that_does_not_exist_fails_with_the_key_named_and_nothing_else(kms: Any) -> None:
    signer = KmsSigner("arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000", client=kms)
    with pytest.raises(ArchiveError, match=r"^KMS key 00000000-0000-0000-0000-000000000000: sign failed \(\w+\)$"):
        signer.sign(b"x" * 32)
