"""The evidence archive's guards in template.yaml, read as data: the signing key's policy (only the function
signs), and the evidence bucket's policy (one writer, and only the deployer may weaken the bucket), checked
against every S3 operation botocore knows, so a new S3 write operation fails here until it is classified."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import botocore.session
import pytest

import template_model as tm

ACCOUNT = tm.PSEUDO_PARAMETERS["AWS::AccountId"]
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/pr-auditor-AuditorRole-1A2B3C4D5E6F"
BUCKET_ARN = "arn:aws:s3:::pr-auditor-evidencebucket-0a1b2c3d4e5f"
ADMIN_ARN = f"arn:aws:iam::{ACCOUNT}:role/deployer"
ROOT_ARN = f"arn:aws:iam::{ACCOUNT}:root"
OTHERS = {
    "an administrator role": f"arn:aws:iam::{ACCOUNT}:role/Admin",
    "an operator": f"arn:aws:iam::{ACCOUNT}:user/ops",
    "a role named like the function's": f"{ROLE_ARN}-copy",
}

# Every S3 operation that changes something, by the IAM actions that authorise it (copies and multipart
# uploads are authorised as s3:PutObject). Object writes: only the function's role.
OBJECT_WRITES: dict[str, list[str]] = {
    "PutObject": ["s3:PutObject"],
    "CopyObject": ["s3:PutObject"],
    "CreateMultipartUpload": ["s3:PutObject"],
    "UploadPart": ["s3:PutObject"],
    "UploadPartCopy": ["s3:PutObject"],
    "CompleteMultipartUpload": ["s3:PutObject"],
    "AbortMultipartUpload": ["s3:AbortMultipartUpload"],
    "PutObjectAcl": ["s3:PutObjectAcl", "s3:PutObjectVersionAcl"],
    "PutObjectTagging": ["s3:PutObjectTagging", "s3:PutObjectVersionTagging"],
    "DeleteObjectTagging": ["s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"],
    "PutObjectRetention": ["s3:PutObjectRetention", "s3:BypassGovernanceRetention"],
    "PutObjectLegalHold": ["s3:PutObjectLegalHold"],
    "DeleteObject": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
    "DeleteObjects": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
    "RestoreObject": ["s3:RestoreObject"],
}
# Bucket-level changes that would weaken the evidence: only the deploying role (or the root user).
BUCKET_WEAKENING: dict[str, list[str]] = {
    "PutBucketPolicy": ["s3:PutBucketPolicy"],
    "DeleteBucketPolicy": ["s3:DeleteBucketPolicy"],
    "PutObjectLockConfiguration": ["s3:PutBucketObjectLockConfiguration"],
    "PutBucketVersioning": ["s3:PutBucketVersioning"],
    "PutBucketLifecycle": ["s3:PutLifecycleConfiguration"],
    "PutBucketLifecycleConfiguration": ["s3:PutLifecycleConfiguration"],
    "DeleteBucketLifecycle": ["s3:PutLifecycleConfiguration"],
    "PutBucketEncryption": ["s3:PutEncryptionConfiguration"],
    "DeleteBucketEncryption": ["s3:PutEncryptionConfiguration"],
    "PutBucketAcl": ["s3:PutBucketAcl"],
    "PutBucketOwnershipControls": ["s3:PutBucketOwnershipControls"],
    "DeleteBucketOwnershipControls": ["s3:PutBucketOwnershipControls"],
    "PutPublicAccessBlock": ["s3:PutBucketPublicAccessBlock"],
    "DeletePublicAccessBlock": ["s3:PutBucketPublicAccessBlock"],
    "PutBucketReplication": ["s3:PutReplicationConfiguration"],
    "DeleteBucketReplication": ["s3:PutReplicationConfiguration"],
    "DeleteBucket": ["s3:DeleteBucket"],
}
# Changes that neither write evidence nor weaken its protection (reports, notifications, tags of the bucket,
# website/CORS of a private bucket), or that do not apply to a general-purpose bucket.
NOT_EVIDENCE = {
    "CreateBucket": "creates another bucket",
    "CreateSession": "S3 Express directory buckets only",
    "RenameObject": "S3 Express directory buckets only",
    "WriteGetObjectResponse": "S3 Object Lambda access points only",
    "SelectObjectContent": "a read (s3:GetObject)",
    "PutObjectAnnotation": "S3 Express directory buckets only (object annotations)",
    "DeleteObjectAnnotation": "S3 Express directory buckets only (object annotations)",
    "UpdateObjectEncryption": "changes the key an object is encrypted with, not its bytes; Object Lock keeps it",
    "PutBucketAbac": "attribute-based access control switch; the policy's Deny statements still apply",
    "PutBucketAccelerateConfiguration": "transfer acceleration",
    "PutBucketRequestPayment": "who pays for requests",
    "PutBucketLogging": "server access logs of the bucket",
    "PutBucketNotification": "event notifications",
    "PutBucketNotificationConfiguration": "event notifications",
    "PutBucketTagging": "bucket tags",
    "DeleteBucketTagging": "bucket tags",
    "PutBucketCors": "CORS of a private bucket",
    "DeleteBucketCors": "CORS of a private bucket",
    "PutBucketWebsite": "website hosting of a bucket with every public access blocked",
    "DeleteBucketWebsite": "website hosting",
    **{
        f"{verb}Bucket{kind}Configuration": "storage class analysis, inventory and metrics reports"
        for verb in ("Put", "Delete")
        for kind in ("Analytics", "IntelligentTiering", "Inventory", "Metrics")
    },
    **{
        f"{verb}BucketMetadata{kind}Configuration": "S3 Metadata tables (a copy of the metadata elsewhere)"
        for verb in ("Create", "Delete")
        for kind in ("", "Table")
    },
    **{
        f"UpdateBucketMetadata{kind}TableConfiguration": "S3 Metadata tables (a copy of the metadata elsewhere)"
        for kind in ("Annotation", "Inventory", "Journal")
    },
}
READS = ("Get", "List", "Head")


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return tm.translated()


def substituted(value: Any, names: dict[str, Any]) -> Any:
    """Resource references (GetAtt/Ref/Sub of ``names``) replaced by stand-in values."""
    text = json.dumps(value)
    for reference, stand_in in names.items():
        text = text.replace(reference, stand_in)
    return json.loads(text)


def bucket_policy(cfn: dict[str, Any], *, admin: str = "") -> dict[str, Any]:
    document = cfn["Resources"]["EvidenceBucketPolicy"]["Properties"]["PolicyDocument"]
    document = substituted(
        document,
        {
            json.dumps({"Fn::GetAtt": ["AuditorRole", "Arn"]}): json.dumps(ROLE_ARN),
            json.dumps({"Fn::GetAtt": ["EvidenceBucket", "Arn"]}): json.dumps(BUCKET_ARN),
            json.dumps({"Fn::Sub": "${EvidenceBucket.Arn}/*"}): json.dumps(f"{BUCKET_ARN}/*"),
        },
    )
    params = tm.parameter_values(tm.load_template()) | {"EvidenceAdminArn": admin}
    resolved: dict[str, Any] = tm.resolve(cfn, document, params)
    return resolved


def as_list(value: Any) -> list[Any]:
    return [v for v in (value if isinstance(value, list) else [value]) if v != {"Ref": "AWS::NoValue"}]


def denied(policy: dict[str, Any], principal: str, action: str, resource: str, *, tls: bool = True) -> bool:
    """Does an explicit Deny of the policy apply? (Exactly the operators the policy uses.)"""
    for statement in policy["Statement"]:
        if statement["Effect"] != "Deny" or statement["Principal"] != "*":
            continue
        actions = {a.lower() for a in as_list(statement["Action"])}
        if action.lower() not in actions and "s3:*" not in actions:
            continue
        if not any(fnmatch.fnmatchcase(resource, pattern) for pattern in as_list(statement["Resource"])):
            continue
        conditions = statement.get("Condition", {})
        assert set(conditions) <= {"ArnNotEquals", "Bool"}, conditions
        if "Bool" in conditions and conditions["Bool"] == {"aws:SecureTransport": "false"} and tls:
            continue
        if all(principal not in as_list(v) for v in conditions.get("ArnNotEquals", {}).values()):
            return True
    return False


def test_every_s3_operation_botocore_knows_is_classified() -> None:
    operations = botocore.session.get_session().get_service_model("s3").operation_names
    changing = {op for op in operations if not op.startswith(READS)}
    classified = set(OBJECT_WRITES) | set(BUCKET_WEAKENING) | set(NOT_EVIDENCE)
    assert changing - classified == set(), "classify the new S3 operations"
    assert classified - changing == set(), "botocore no longer knows these"


@pytest.mark.parametrize("operation", sorted(OBJECT_WRITES))
def test_every_object_write_is_denied_to_everyone_but_the_function(cfn: dict[str, Any], operation: str) -> None:
    policy = bucket_policy(cfn, admin=ADMIN_ARN)
    for action in OBJECT_WRITES[operation]:
        assert not denied(policy, ROLE_ARN, action, f"{BUCKET_ARN}/manifests/x.json"), action
        for principal in (*OTHERS.values(), ADMIN_ARN, ROOT_ARN):
            assert denied(policy, principal, action, f"{BUCKET_ARN}/manifests/x.json"), (principal, action)


@pytest.mark.parametrize("admin", ["", ADMIN_ARN], ids=["no deployer given", "a deployer given"])
@pytest.mark.parametrize("operation", sorted(BUCKET_WEAKENING))
def test_every_weakening_of_the_bucket_is_denied_to_everyone_but_the_deployer(
    cfn: dict[str, Any], operation: str, admin: str
) -> None:
    policy = bucket_policy(cfn, admin=admin)
    for action in BUCKET_WEAKENING[operation]:
        assert not denied(policy, ROOT_ARN, action, BUCKET_ARN), action
        assert denied(policy, ADMIN_ARN, action, BUCKET_ARN) is (admin == ""), action
        for principal in (*OTHERS.values(), ROLE_ARN):
            assert denied(policy, principal, action, BUCKET_ARN), (principal, action)


def test_reads_stay_open_to_auditors_over_tls_and_nothing_is_allowed_by_the_policy(cfn: dict[str, Any]) -> None:
    policy = bucket_policy(cfn)
    for action in ("s3:GetObject", "s3:ListBucket", "s3:ListBucketVersions", "s3:GetObjectVersion"):
        assert not denied(policy, OTHERS["an operator"], action, BUCKET_ARN)
        assert not denied(policy, OTHERS["an operator"], action, f"{BUCKET_ARN}/keys/k.pem")
        assert denied(policy, OTHERS["an operator"], action, BUCKET_ARN, tls=False)
    assert {statement["Effect"] for statement in policy["Statement"]} == {"Deny"}


# --------------------------------------------------------------------------- the signing key
def key_policy(cfn: dict[str, Any]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = cfn["Resources"]["SigningKey"]["Properties"]["KeyPolicy"]["Statement"]
    return statements


def test_the_signing_key_is_an_ecc_p256_signing_key_kept_with_the_evidence(cfn: dict[str, Any]) -> None:
    key = cfn["Resources"]["SigningKey"]
    assert key["Properties"]["KeySpec"] == "ECC_NIST_P256" and key["Properties"]["KeyUsage"] == "SIGN_VERIFY"
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"
    assert "EnableKeyRotation" not in key["Properties"]  # asymmetric keys do not rotate


def test_only_the_functions_role_is_allowed_to_sign(cfn: dict[str, Any]) -> None:
    allows = [s for s in key_policy(cfn) if s["Effect"] == "Allow"]
    signers = [s for s in allows if any(a in ("kms:Sign", "kms:*") for a in as_list(s["Action"]))]
    assert [s["Principal"] for s in signers] == [{"AWS": {"Fn::GetAtt": ["AuditorRole", "Arn"]}}]
    for statement in allows:
        for action in as_list(statement["Action"]):
            # no wildcard that covers Sign or CreateGrant (a grant could hand Sign to anyone)
            assert action not in ("kms:*", "kms:S*", "kms:Si*") and not action.startswith("kms:Sign*"), action


def test_the_account_administers_the_key_but_is_denied_sign_and_grants(cfn: dict[str, Any]) -> None:
    (account,) = [s for s in key_policy(cfn) if s["Sid"] == "AccountAdministersButNeverSigns"]
    assert account["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    assert {"kms:Put*", "kms:Disable*", "kms:ScheduleKeyDeletion", "kms:Get*"} <= set(account["Action"])
    (deny,) = [s for s in key_policy(cfn) if s["Effect"] == "Deny"]
    assert deny["Principal"] == "*" and sorted(deny["Action"]) == ["kms:CreateGrant", "kms:Sign"]
    assert deny["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": ["AuditorRole", "Arn"]}}}


def test_the_function_is_told_its_signing_key(cfn: dict[str, Any]) -> None:
    variables = cfn["Resources"]["AuditorFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["SIGNING_KEY_ID"] == {"Fn::GetAtt": ["SigningKey", "Arn"]}
