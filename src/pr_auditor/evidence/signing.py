"""Signed manifests: what is signed, how a signature is checked, and where the public keys live.

A manifest is canonical JSON. Its signature covers every field but ``signature`` itself (so the key id and the
algorithm are signed too): the message is the SHA-256 of the canonical JSON of the manifest without
``signature``, signed with ECDSA P-256 under ``ECDSA_SHA_256`` (the signer hashes the 32-byte message once
more). ``signature`` is the DER signature in base64. The public key of key id ``K`` is ``keys/K.pem`` in the
archive (SubjectPublicKeyInfo PEM), written once by the writer; ``verify`` trusts a key given on the command
line, or else the archive's own ``keys/``.

A manifest that is unsigned, signed by a key that is not trusted, or whose signature does not verify is
*foreign*: the writer never adopts it, readers never count it, and ``verify`` lists it as tamper evidence.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pr_auditor.audit.ports import ObjectStore, Signer

ALGORITHM = "ECDSA_SHA_256"
KEYS = "keys/"
SIGNATURE = "signature"
_KEY_FILE = re.compile(r"keys/([A-Za-z0-9._-]+)\.pem")


def canonical_json(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def public_key_object(key_id: str) -> str:
    """Where the public key of ``key_id`` lives in the archive."""
    return f"{KEYS}{re.sub(r'[^A-Za-z0-9._-]', '-', key_id)}.pem"


def signing_message(manifest: Mapping[str, Any]) -> bytes:
    """The 32 bytes that are signed: SHA-256 of the canonical manifest without its ``signature``."""
    return hashlib.sha256(canonical_json({k: v for k, v in manifest.items() if k != SIGNATURE})).digest()


def sign_manifest(manifest: Mapping[str, Any], signer: Signer) -> bytes:
    """The manifest's bytes as stored: with the signer's key id, the algorithm and the signature."""
    document = {**manifest, "signing_key_id": signer.key_id, "signature_algorithm": signer.algorithm}
    document[SIGNATURE] = base64.b64encode(signer.sign(signing_message(document))).decode("ascii")
    return canonical_json(document)


def load_public_key(pem: bytes) -> Any:
    """A P-256 public key from PEM; ValueError if it is not one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("not an ECC P-256 public key")
    return key


@dataclass
class TrustedKeys:
    """The public keys whose signatures make a manifest the writer's (key id → key)."""

    keys: dict[str, Any] = field(default_factory=dict)
    #: Why a key file of the archive was not trusted (shown by ``verify`` as tamper evidence).
    rejected: list[str] = field(default_factory=list)

    @classmethod
    def of_signer(cls, signer: Signer) -> TrustedKeys:
        return cls({signer.key_id: load_public_key(signer.public_key_pem())})

    @classmethod
    def from_pem(cls, key_id: str | None, pem: bytes) -> TrustedKeys:
        """One key given by the auditor (a file); its id is taken from the manifests that name it."""
        return cls({key_id or "*": load_public_key(pem)})

    def why_foreign(self, manifest: Mapping[str, Any]) -> str | None:
        """None when the manifest carries a valid signature by a trusted key; else why it is foreign."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        signature, key_id = manifest.get(SIGNATURE), manifest.get("signing_key_id")
        if not isinstance(signature, str) or not isinstance(key_id, str):
            return "unsigned"
        if manifest.get("signature_algorithm") != ALGORITHM:
            return f"signature algorithm {manifest.get('signature_algorithm')!r}, not {ALGORITHM}"
        key = self.keys.get(key_id, self.keys.get("*"))
        if key is None:
            return f"signed with key {key_id!r}, which is not the archive's key"
        try:
            key.verify(base64.b64decode(signature, validate=True), signing_message(manifest), ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, binascii.Error, ValueError):
            return f"its signature (key {key_id!r}) does not verify"
        return None


def keys_in(store: ObjectStore) -> TrustedKeys:
    """The public keys the archive holds under ``keys/``. More than one key is itself suspicious (a stack
    has one signing key): every one is kept, and ``verify`` says so; pass ``--public-key`` to pin one."""
    trusted = TrustedKeys()
    for name in store.list_keys(KEYS):
        found = _KEY_FILE.fullmatch(name)
        body = store.read(name)
        if not found or body is None:
            trusted.rejected.append(f"{name}: not a public key file (keys/<key id>.pem)")
            continue
        try:
            trusted.keys[found.group(1)] = load_public_key(body)
        except ValueError as exc:
            trusted.rejected.append(f"{name}: {exc}")
    return trusted
