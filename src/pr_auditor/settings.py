"""Environment → validated Settings, once at cold start (or CLI start). Errors name the variable."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

from pr_auditor.audit.invocation import DEFAULT_BACKFILL_MAX_DAYS
from pr_auditor.audit.runs import Schedule
from pr_auditor.core.errors import ConfigError
from pr_auditor.core.parse import ALL_ORGS, parse_orgs, parse_time
from pr_auditor.github import pacing
from pr_auditor.github.connection import Connection
from pr_auditor.github.credentials import AppCredentials, Credentials, TokenCredentials

_APP_ID = re.compile(r"^(?:[1-9][0-9]{0,19}|Iv[0-9A-Za-z.]{4,40})$")  # App ID, or the App's client ID
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.+-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL)

__all__ = [
    "ALL_ORGS",
    "Settings",
    "connection_from_env",
    "parse_api_url",
    "parse_orgs",
    "settings_from_env",
    "token_from_secret",
]


@dataclass(frozen=True, slots=True)
class Settings:
    orgs: tuple[str, ...]
    connection: Connection
    token_secret: str
    policy_parameter: str | None
    schedule_minutes: int
    overlap_minutes: int
    state_table: str | None = None
    start_at: datetime | None = None
    chunk_minutes: int = 1440
    dedupe_ttl_days: int = 400
    backfill_max_days: int = DEFAULT_BACKFILL_MAX_DAYS  # the longest window one backfill event may ask for
    evidence_bucket: str | None = None
    alarm_topic_arn: str | None = None
    sweep_days: int = 7
    sweep_every_hours: int = 24
    #: Read the organisation audit log (GitHub Enterprise Cloud, an owner's ``read:audit_log``): opt-in.
    read_audit_log: bool = False
    #: The asymmetric KMS key that signs the evidence manifests (required with ``evidence_bucket``).
    signing_key_id: str | None = None

    def schedule(self, now: datetime) -> Schedule:
        """Window planning for a run at ``now``: the first run starts one schedule period back unless
        START_AT says where the audit begins."""
        return Schedule(
            overlap=timedelta(minutes=self.overlap_minutes),
            chunk=timedelta(minutes=self.chunk_minutes),
            first_start=self.start_at or now - timedelta(minutes=self.schedule_minutes),
            sweep_period=timedelta(days=self.sweep_days),
            sweep_every=timedelta(hours=self.sweep_every_hours),
        )


def parse_api_url(value: str, *, name: str = "GITHUB_API_URL") -> str:
    """REST base URL: https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server."""
    url = value.strip().rstrip("/")
    parts = urlparse(url)
    local = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise ConfigError(f"{name}: expected an https:// URL, got {value!r}")
    if not parts.hostname:
        raise ConfigError(f"{name}: no host in {value!r}")
    return url


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}: expected {low}..{high}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a number, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name}: expected a number >= 0, got {raw!r}")
    return value


def connection_from_env(env: Mapping[str, str], *, max_wait_seconds: float) -> Connection:
    return Connection(
        api_url=parse_api_url(env.get("GITHUB_API_URL") or "https://api.github.com"),
        throttle_seconds=_float(env, "GITHUB_THROTTLE_SECONDS", 0.0),
        retries=_int(env, "GITHUB_RETRIES", 4, low=0, high=10),
        backoff_seconds=_float(env, "GITHUB_BACKOFF_SECONDS", 1.0),
        max_wait_seconds=_float(env, "GITHUB_MAX_WAIT_SECONDS", max_wait_seconds),
        graphql_points_per_minute=points_per_minute(env, "GITHUB_GRAPHQL_POINTS_PER_MINUTE", graphql=True),
        rest_points_per_minute=points_per_minute(env, "GITHUB_REST_POINTS_PER_MINUTE", graphql=False),
    )


def points_per_minute(env: Mapping[str, str], name: str, *, graphql: bool) -> float:
    """A pacer budget: at least 1, and low enough that a bucket's burst plus a minute's refill stays within
    GitHub's secondary limit for the endpoint family (2,000 GraphQL, 900 REST points a minute)."""
    default = pacing.GRAPHQL_POINTS_PER_MINUTE if graphql else pacing.REST_POINTS_PER_MINUTE
    github_limit = pacing.GITHUB_GRAPHQL_POINTS_PER_MINUTE if graphql else pacing.GITHUB_REST_POINTS_PER_MINUTE
    value = _float(env, name, default)
    if value < 1 or pacing.most_points_in_a_minute(value) > github_limit:
        highest = int(github_limit / pacing.most_points_in_a_minute(1))
        raise ConfigError(f"{name}: expected 1..{highest} (GitHub allows {github_limit} a minute), got {value:g}")
    return value


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """The Lambda's configuration, validated before any work."""
    secret = env.get("GITHUB_TOKEN_SECRET", "").strip()
    if not secret:
        raise ConfigError("GITHUB_TOKEN_SECRET: required (ARN or name of the Secrets Manager secret)")
    return Settings(
        orgs=parse_orgs(env.get("GITHUB_ORGS", ""), name="GITHUB_ORGS", allow_all=True),
        # A rate-limit wait must end well inside the 15-minute Lambda timeout.
        connection=connection_from_env(env, max_wait_seconds=120.0),
        token_secret=secret,
        policy_parameter=env.get("POLICY_PARAMETER", "").strip() or None,
        schedule_minutes=_int(env, "SCHEDULE_MINUTES", 60, low=1, high=7 * 24 * 60),
        overlap_minutes=_int(env, "OVERLAP_MINUTES", 120, low=0, high=7 * 24 * 60),
        state_table=env.get("STATE_TABLE", "").strip() or None,
        start_at=parse_time(env["START_AT"], name="START_AT") if env.get("START_AT", "").strip() else None,
        chunk_minutes=_int(env, "CHUNK_MINUTES", 1440, low=15, high=7 * 24 * 60),
        dedupe_ttl_days=_int(env, "DEDUPE_TTL_DAYS", 400, low=1, high=3650),
        backfill_max_days=_int(env, "BACKFILL_MAX_DAYS", DEFAULT_BACKFILL_MAX_DAYS, low=1, high=3650),
        evidence_bucket=env.get("EVIDENCE_BUCKET", "").strip() or None,
        alarm_topic_arn=env.get("ALARM_TOPIC_ARN", "").strip() or None,
        # The reconciliation sweep: how far back it re-searches, and how often (0 switches it off).
        sweep_days=_int(env, "SWEEP_DAYS", 7, low=1, high=90),
        sweep_every_hours=_int(env, "SWEEP_EVERY_HOURS", 24, low=0, high=24 * 30),
        read_audit_log=_switch(env, "READ_AUDIT_LOG"),
        signing_key_id=signing_key_from_env(env),
    )


def _switch(env: Mapping[str, str], name: str) -> bool:
    """An on/off setting: ``true`` or ``false`` (any case; empty is false)."""
    raw = env.get(name, "").strip().lower()
    if raw not in ("", "true", "false"):
        raise ConfigError(f"{name}: expected true or false")
    return raw == "true"


def signing_key_from_env(env: Mapping[str, str]) -> str | None:
    """SIGNING_KEY_ID: the KMS key that signs the evidence manifests; an archive without it is refused (an
    unsigned manifest would be foreign to ``verify``)."""
    key = env.get("SIGNING_KEY_ID", "").strip() or None
    if key is None and env.get("EVIDENCE_BUCKET", "").strip():
        raise ConfigError("SIGNING_KEY_ID: required with EVIDENCE_BUCKET (the KMS key that signs the manifests)")
    return key


def require_orgs(orgs: tuple[str, ...], credentials: Credentials, *, name: str) -> tuple[str, ...]:
    """A token cannot list "every organisation": only a GitHub App knows where it is installed."""
    if not orgs and isinstance(credentials, TokenCredentials):
        raise ConfigError(f"{name}: name the organisations ('*' means every installation, with GitHub App auth only)")
    return orgs


def credentials_from_secret(value: str | bytes | None) -> Credentials:
    """The Secrets Manager secret: a token (plain text or ``{"token": ...}``) or a GitHub App
    (``{"app_id": ..., "private_key": "-----BEGIN ... PRIVATE KEY-----...", "installation_id": ...}``,
    installation_id optional). Errors name the key, never its value."""
    if isinstance(value, bytes):
        value = value.decode()
    text = (value or "").strip()
    if not text.startswith(("{", "[", '"')):
        return TokenCredentials(_token(text))
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        raise ConfigError("GitHub secret: JSON that does not parse") from None
    if not isinstance(document, dict):
        raise ConfigError(
            'GitHub secret: expected a JSON object ({"token": ...} or {"app_id": ..., "private_key": ...})'
        )
    if "token" in document and ("app_id" in document or "private_key" in document):
        raise ConfigError("GitHub secret: holds both a token and a GitHub App; keep one")
    if "app_id" in document or "private_key" in document:
        return app_credentials(
            document.get("app_id"), document.get("private_key"), document.get("installation_id"), source="GitHub secret"
        )
    return TokenCredentials(_token(str(document.get("token") or "").strip()))


def token_from_secret(value: str | bytes | None) -> str:
    """The token in a token secret (plain text or ``{"token": ...}``). Never logged."""
    credentials = credentials_from_secret(value)
    if not isinstance(credentials, TokenCredentials):
        raise ConfigError("GitHub secret: holds a GitHub App, not a token")
    return credentials.token


def _token(text: str) -> str:
    if not text:
        raise ConfigError('GitHub secret: empty (expected the token, {"token": ...} or a GitHub App)')
    return text


def app_credentials(app_id: object, private_key: object, installation_id: object, *, source: str) -> AppCredentials:
    """Validated App credentials; ``source`` names where they came from in error messages."""
    key_name = "GITHUB_APP_PRIVATE_KEY" if source == "environment" else "private_key"
    id_name = "GITHUB_APP_ID" if source == "environment" else "app_id"
    installation_name = "GITHUB_APP_INSTALLATION_ID" if source == "environment" else "installation_id"
    app = str(app_id if app_id is not None else "").strip()
    if not _APP_ID.match(app):
        raise ConfigError(f"{source}: {id_name} must be the GitHub App's numeric ID (or its client ID)")
    key = str(private_key or "").strip()
    if not _PEM.search(key):
        raise ConfigError(
            f"{source}: {key_name} must be the App's private key in PEM (-----BEGIN ... PRIVATE KEY-----)"
        )
    installation: int | None = None
    if installation_id is not None and str(installation_id).strip():
        raw = str(installation_id).strip()
        if not raw.isdigit() or int(raw) <= 0:
            raise ConfigError(f"{source}: {installation_name} must be a positive whole number")
        installation = int(raw)
    return AppCredentials(app_id=app, private_key=key + "\n", installation_id=installation)


def credentials_from_env(env: Mapping[str, str]) -> Credentials:
    """The CLI's credentials: GITHUB_TOKEN, or GITHUB_APP_ID with GITHUB_APP_PRIVATE_KEY (the PEM itself)
    or GITHUB_APP_PRIVATE_KEY_FILE (its path), and optionally GITHUB_APP_INSTALLATION_ID."""
    token = env.get("GITHUB_TOKEN", "").strip()
    app_id = env.get("GITHUB_APP_ID", "").strip()
    if token and app_id:
        raise ConfigError("GITHUB_TOKEN and GITHUB_APP_ID are both set: use one way to authenticate")
    if token:
        return TokenCredentials(token)
    if not app_id:
        raise ConfigError("GITHUB_TOKEN is not set (or set GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY for a GitHub App)")
    key = env.get("GITHUB_APP_PRIVATE_KEY", "")
    path = env.get("GITHUB_APP_PRIVATE_KEY_FILE", "").strip()
    if key.strip() and path:
        raise ConfigError("GITHUB_APP_PRIVATE_KEY and GITHUB_APP_PRIVATE_KEY_FILE are both set: use one")
    if path:
        try:
            key = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"GITHUB_APP_PRIVATE_KEY_FILE: cannot read {path} ({exc.strerror})") from None
    return app_credentials(app_id, key, env.get("GITHUB_APP_INSTALLATION_ID"), source="environment")


_VARIABLE = re.compile(r"^([A-Z][A-Z0-9_]*):")


def setting_error(exc: ConfigError) -> ConfigError:
    """The error of a bad setting as a line may carry it: the variable's name, never its value (an
    environment variable may hold what an operator pasted by mistake). Every settings error starts with
    the variable's name."""
    found = _VARIABLE.match(str(exc))
    name = found.group(1) if found else "the function's environment"
    return ConfigError(f"{name}: invalid setting (its value is not shown; see the function's configuration)")
