"""No credential survives a log line: Given text as a library logs it, Then the credential is gone and the
rest of the line stays readable."""

from __future__ import annotations

import json
import logging

import pytest

from pr_auditor.core.redact import REDACTED, RedactingRecordFactory, Redactor

TOKEN = "ghp_" + "A1b2C3d4" * 4
KEY = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n-----END PRIVATE KEY-----\n"
ODD = "0123456789abcdef0123456789abcdef01234567"  # a token of no known shape (an old 40-hex one)


def botocore_body(secret: str) -> str:
    """How botocore logs a GetSecretValue answer at DEBUG: the repr of the JSON body's bytes."""
    body = json.dumps({"ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:s", "SecretString": secret}).encode()
    return f"Response body:\n{body!r}"


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        (f"token {TOKEN} used", TOKEN),
        ("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOjQyfQ.c2lnbmF0dXJl seen", "eyJ"),
        (botocore_body(json.dumps({"token": ODD})), ODD),
        (botocore_body(json.dumps({"app_id": 1, "private_key": KEY})), "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"),
        (f"key {KEY!r} in a repr", "BKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj"),
    ],
    ids=["token-shape", "jwt", "secret-string-of-any-shape", "app-key-in-a-botocore-body", "pem-in-a-repr"],
)
def test_a_credential_in_a_log_text_is_redacted(text: str, gone: str) -> None:
    cleaned = Redactor().redact(text)
    assert gone not in cleaned and REDACTED in cleaned


def test_a_remembered_secret_is_redacted_wherever_it_appears_line_by_line() -> None:
    redactor = Redactor()
    redactor.remember([ODD, KEY])
    assert redactor.redact(f"x={ODD}; part BKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj") == f"x={REDACTED}; part {REDACTED}"


def test_ordinary_text_is_left_alone() -> None:
    text = "audit run completed: 3 PRs audited, 1 non-compliant (SecretStringLength=12)"
    assert Redactor().redact(text) == text


def test_the_record_factory_redacts_arguments_before_any_handler_sees_them() -> None:
    factory = RedactingRecordFactory(logging.LogRecord, Redactor())
    record = factory("botocore.parsers", logging.DEBUG, __file__, 1, "Response body: %s", (TOKEN,), None)
    assert record.getMessage() == f"Response body: {REDACTED}"
    untouched = factory("x", logging.INFO, __file__, 1, "%d PRs", (3,), None)
    assert (untouched.msg, untouched.args) == ("%d PRs", (3,))
