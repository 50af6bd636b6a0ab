"""The evidence archive's signer in AWS: an asymmetric KMS key (``ECC_NIST_P256``, ``SIGN_VERIFY``) behind the
``Signer`` port. The private key never leaves KMS, and the key policy lets only the function's role call
``kms:Sign`` (template.yaml), so nobody else, the account's administrators included, can sign a manifest.

What is signed: the manifest's 32-byte SHA-256, sent as a ``RAW`` message with ``ECDSA_SHA_256``, so KMS hashes
it once more and signs that. ``MessageType=DIGEST`` would skip the second hash; it is not used because moto
(the tests' KMS) does not implement it and signs the digest as a raw message anyway, so the tests would
verify a different construction from the deployed one. With ``RAW`` the construction is the same everywhere:
``openssl dgst -sha256 -verify key.pem -signature sig.der digest.bin`` checks it. KMS limits a RAW message to
4,096 bytes; a digest is 32.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from pr_auditor.audit.ports import Signer
from pr_auditor.core.errors import ArchiveError, ConfigError

ALGORITHM = "ECDSA_SHA_256"


class KmsSigner:
    """Signs with the KMS key ``key_id`` (an id or ARN); the public key is fetched once (``GetPublicKey``)."""

    algorithm = ALGORITHM

    def __init__(self, key_id: str, *, client: Any = None) -> None:
        self.key_arn = key_id
        self.key_id = key_id.rsplit("/", 1)[-1]  # the key's id: the public key's object is keys/<key id>.pem
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                import boto3  # in the Lambda runtime
            except ImportError:  # pragma: no cover - depends on the installation
                raise ConfigError(
                    "signing with KMS needs boto3: pip install '.[aws]' in the pr-auditor clone"
                ) from None
            self._client = boto3.client("kms")
        return self._client

    def sign(self, message: bytes) -> bytes:
        answer = self._call("sign", KeyId=self.key_arn, Message=message, MessageType="RAW", SigningAlgorithm=ALGORITHM)
        signature: bytes = answer["Signature"]
        return signature

    def public_key_pem(self) -> bytes:
        return self._public_key_pem

    @cached_property
    def _public_key_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        answer = self._call("get_public_key", KeyId=self.key_arn)
        if ALGORITHM not in answer.get("SigningAlgorithms", []):
            raise ArchiveError(f"KMS key {self.key_id}: does not sign with {ALGORITHM} (an ECC_NIST_P256 key does)")
        key = serialization.load_der_public_key(answer["PublicKey"])
        return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def _call(self, operation: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise ArchiveError(f"KMS key {self.key_id}: {operation} failed ({code})") from None
        except BotoCoreError as exc:
            raise ArchiveError(f"KMS key {self.key_id}: {operation} failed ({type(exc).__name__})") from None


_: Signer = KmsSigner("key", client=object())
