"""GitHub App authentication end to end on the stand-in: JWT → installation token (one per organisation) →
GraphQL search; the token is refreshed before it expires; the key and the tokens never reach a log line."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from aws_lambda_powertools.utilities import parameters
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github import Auth, GithubIntegration
from moto import mock_aws

from pr_auditor import handler
from pr_auditor.audit.runs import AuditFailedError, AuditRequest, run_audit
from pr_auditor.cli import main
from pr_auditor.core.errors import AuthError, ConfigError, UnknownOrgError
from pr_auditor.core.model import Window
from pr_auditor.core.policy import DEFAULT_POLICY
from pr_auditor.github.auth import AppCredentials, open_github
from pr_auditor.github.transport import Connection
from pr_auditor.settings import credentials_from_secret

from harness import (
    LambdaContext,
    aws_environment,
    captured_function_logs,
    deploy,
    function_clock,
    function_environment,
)
from standin.apps import App
from standin.generate import add_pr, make_state, review
from standin.model import GitHubState, Repository
from standin.server import StandIn

pytestmark = pytest.mark.integration

APP_ID = 4242
MERGED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
WINDOW = Window(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
INSTALLATIONS = {101: "acme", 202: "globex"}


def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_key_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


PRIVATE_KEY = private_key_pem()


@pytest.fixture
def github() -> Iterator[tuple[GitHubState, StandIn]]:
    # Given two organisations, one PR merged in each, and an App installed on both (and no plain token)
    state = make_state(org="acme", repos=("api",), tokens=())
    state.add_repo(Repository("globex", "web", pushers={"alice", "bob"}))
    add_pr(state, "api", reviews=[review("bob")], merged_at=MERGED)
    add_pr(state, Repository("globex", "web", pushers={"alice", "bob"}), reviews=[review("bob")], merged_at=MERGED)
    app = state.apps.register(App(APP_ID, public_key_pem(PRIVATE_KEY)))
    for installation_id, org in INSTALLATIONS.items():
        app.install(org, installation_id)
    with StandIn(state) as server:
        yield state, server


def connection(server: StandIn) -> Connection:
    return Connection(api_url=server.base_url, throttle_seconds=0, retries=1, backoff_seconds=0.01, max_wait_seconds=5)


def app(private_key: str = PRIVATE_KEY, installation_id: int | None = None) -> AppCredentials:
    return AppCredentials(str(APP_ID), private_key, installation_id)


def audit(server: StandIn, orgs: tuple[str, ...], credentials: AppCredentials | None = None) -> list[dict[str, object]]:
    source, resolved = open_github(credentials or app(), connection(server), orgs)
    records: list[dict[str, object]] = []
    run_audit(AuditRequest(resolved, WINDOW, "run-1"), source=source, policy=DEFAULT_POLICY, emit=records.append)
    return records


def token_requests(state: GitHubState) -> int:
    return sum(1 for r in state.requests if r.method == "POST" and r.path.endswith("/access_tokens"))


def test_an_app_audits_each_organisation_with_its_own_installation_token(github: tuple[GitHubState, StandIn]) -> None:
    state, server = github
    records = audit(server, ("acme", "globex"))
    audited = sorted(str(r["repository"]) for r in records if r["kind"] == "pull_request")
    assert audited == ["acme/api", "globex/web"]
    summary = records[-1]
    assert summary["status"] == "completed"
    # one installation lookup and one token per organisation; every GraphQL request carried a token
    assert token_requests(state) == 2
    assert sorted({t.org for t in state.apps.tokens.values()}) == ["acme", "globex"]
    assert summary["github_requests"] == state.count("graphql", status=200) == 4  # access check + search, each


def test_an_installation_token_cannot_search_another_organisation(github: tuple[GitHubState, StandIn]) -> None:
    _, server = github
    integration = GithubIntegration(auth=Auth.AppAuth(APP_ID, PRIVATE_KEY), base_url=server.base_url)
    token = integration.get_access_token(101).token  # acme's
    query = {"query": 'query { search(query: "is:pr org:globex", type: ISSUE, first: 1) { issueCount } }'}
    answer = requests.post(server.graphql_url, json=query, headers={"Authorization": f"token {token}"}, timeout=10)
    assert answer.status_code == 200
    assert answer.json()["data"] is None
    assert "cannot be searched" in answer.json()["errors"][0]["message"]


def test_with_no_organisations_configured_the_apps_installations_are_audited(
    github: tuple[GitHubState, StandIn],
) -> None:
    _, server = github
    _, orgs = open_github(app(), connection(server), ())
    assert orgs == ("acme", "globex")
    records = audit(server, ())
    assert records[-1]["orgs"] == ["acme", "globex"]


def test_a_pinned_installation_audits_its_organisation_only(github: tuple[GitHubState, StandIn]) -> None:
    _, server = github
    records = audit(server, (), app(installation_id=202))
    assert [r["repository"] for r in records if r["kind"] == "pull_request"] == ["globex/web"]
    with pytest.raises(ConfigError, match="installation_id 202 is the App's installation on globex, not on acme"):
        open_github(app(installation_id=202), connection(server), ("acme",))


def test_an_organisation_without_the_app_fails_the_run_as_an_unknown_organisation(
    github: tuple[GitHubState, StandIn],
) -> None:
    state, server = github
    state.add_repo(Repository("initech", "core"))
    source, orgs = open_github(app(), connection(server), ("acme", "initech"))
    records: list[dict[str, object]] = []
    with pytest.raises(AuditFailedError, match="the GitHub App is not installed on initech") as caught:
        run_audit(AuditRequest(orgs, WINDOW, "run-1"), source=source, policy=DEFAULT_POLICY, emit=records.append)
    assert isinstance(caught.value.__cause__, UnknownOrgError)
    assert records[-1]["status"] == "failed"  # the failure is recorded, so the failed-run alarm fires


def test_a_key_that_is_not_the_apps_is_rejected_before_any_search(github: tuple[GitHubState, StandIn]) -> None:
    state, server = github
    with pytest.raises(AuditFailedError, match="rejected the App's JWT") as caught:
        audit(server, ("acme",), app(private_key=private_key_pem()))
    assert isinstance(caught.value.__cause__, AuthError)
    assert state.count("graphql") == 0


def test_an_expired_installation_token_is_rejected(github: tuple[GitHubState, StandIn]) -> None:
    state, server = github
    integration = GithubIntegration(auth=Auth.AppAuth(APP_ID, PRIVATE_KEY), base_url=server.base_url)
    token = integration.get_access_token(101).token
    query = {"query": "query { viewer { login } }"}
    headers = {"Authorization": f"bearer {token}"}
    assert requests.post(server.graphql_url, json=query, headers=headers, timeout=10).status_code == 200
    # When the stand-in's clock passes the token's expiry
    issued = datetime.now(UTC)
    state.clock = lambda: issued + timedelta(hours=1, seconds=1)
    answer = requests.post(server.graphql_url, json=query, headers=headers, timeout=10)
    assert answer.status_code == 401
    assert answer.json()["message"] == "Bad credentials"


@pytest.mark.parametrize(
    ("token_ttl", "expected"),
    [
        pytest.param(timedelta(hours=1), "one token per organisation", id="fresh-token-reused"),
        pytest.param(timedelta(seconds=15), "a token per request", id="token-near-expiry-refreshed"),
    ],
)
def test_an_installation_token_is_refreshed_before_it_expires(
    github: tuple[GitHubState, StandIn], token_ttl: timedelta, expected: str
) -> None:
    state, server = github
    # Given tokens that live an hour, or only 15 s (inside PyGithub's 20 s refresh margin)
    state.apps.token_ttl = token_ttl
    records = audit(server, ("acme", "globex"))
    assert records[-1]["status"] == "completed"
    graphql = state.count("graphql", status=200)
    if expected == "one token per organisation":
        assert token_requests(state) == 2
    else:
        # every GraphQL request went out with a token fetched just before it: none was ever used expired
        assert token_requests(state) == graphql == 4
    assert state.count("graphql", status=401) == 0


def test_the_lambda_reads_an_app_from_its_secret_and_audits_every_installation(
    github: tuple[GitHubState, StandIn], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    state, server = github
    aws_environment()
    with mock_aws():
        parameters.clear_caches()
        parameters.base.DEFAULT_PROVIDERS.clear()  # boto3 clients must be created inside this moto context
        route = deploy(token="unused", policy_text="required_approvals: 1\n")
        # Given the stack's secret holds the App, and GITHUB_ORGS is "*"
        secret = json.dumps({"app_id": APP_ID, "private_key": PRIVATE_KEY})
        route.client("secretsmanager").put_secret_value(SecretId=route.secret_arn, SecretString=secret)
        env = function_environment(route, server.base_url, GITHUB_ORGS="*", START_AT="2026-11-20T00:00:00Z")
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        handler.settings.cache_clear()
        handler.state_table.cache_clear()
        try:
            event = json.loads((Path(__file__).parents[2] / "events" / "scheduled.json").read_text())
            event |= {"time": "2026-11-21T00:00:00Z"}
            with captured_function_logs(handler.logger) as lines, function_clock(event):
                result = handler.lambda_handler(event, LambdaContext())
        finally:
            handler.settings.cache_clear()
            handler.state_table.cache_clear()
    records = [json.loads(line) for line in lines]
    # Then both organisations the App is installed on are audited, each with its own installation token
    assert sorted(r["repository"] for r in records if r.get("kind") == "pull_request") == ["acme/api", "globex/web"]
    [summary] = [r for r in records if r.get("kind") == "run_summary"]
    assert summary["orgs"] == ["acme", "globex"]
    assert result["chunks_completed"] == 1
    assert token_requests(state) == 2
    printed = "\n".join(lines) + capsys.readouterr().out
    assert not [token for token in state.apps.tokens if token in printed]
    assert "PRIVATE KEY" not in printed


def test_the_private_key_and_the_tokens_never_reach_a_log_line(
    github: tuple[GitHubState, StandIn],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state, server = github
    key_file = tmp_path / "app.pem"
    key_file.write_text(PRIVATE_KEY)
    for name, value in {
        "GITHUB_APP_ID": str(APP_ID),
        "GITHUB_APP_PRIVATE_KEY_FILE": str(key_file),
        "GITHUB_API_URL": server.base_url,
        "GITHUB_THROTTLE_SECONDS": "0",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    state.apps.token_ttl = timedelta(seconds=15)  # refreshes too, so several tokens are in play
    # When the CLI audits every installation with everything logged at DEBUG (PyGithub, urllib3 included)
    caplog.set_level(logging.DEBUG)
    for name in ("github", "urllib3", "pr_auditor"):
        caplog.set_level(logging.DEBUG, logger=name)
    code = main(["audit", "--org", "*", "--since", "2026-11-20T00:00:00Z", "--until", "2026-11-21T00:00:00Z"])
    assert code == 0
    out, err = capsys.readouterr()
    assert [json.loads(line)["kind"] for line in out.splitlines()].count("pull_request") == 2
    logged = "\n".join([record.getMessage() for record in caplog.records] + [caplog.text, err])
    assert any("access_tokens" in record.getMessage() for record in caplog.records)  # DEBUG really was on
    # Then no line holds the key's body, an installation token, or a JWT (base64 of '{"' begins "eyJ")
    key_lines = [line for line in PRIVATE_KEY.splitlines() if line and not line.startswith("-----")]
    assert not [line for line in key_lines if line in logged]
    assert len(state.apps.tokens) >= 4
    assert not [token for token in state.apps.tokens if token in logged]
    assert "eyJ" not in logged


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        pytest.param(
            '{"app_id": "abc", "private_key": "x"}', "app_id must be the GitHub App's numeric ID", id="bad-id"
        ),
        pytest.param(
            '{"app_id": 1, "private_key": "not a key"}', "private_key must be the App's private key", id="no-pem"
        ),
        pytest.param('{"app_id": 1}', "private_key must be", id="no-key"),
        pytest.param(
            json.dumps({"app_id": 1, "private_key": PRIVATE_KEY, "installation_id": "x"}),
            "installation_id must be a positive whole number",
            id="bad-installation",
        ),
        pytest.param("[1]", "expected a JSON object", id="json-list"),
        pytest.param('{"token": ""}', "empty", id="empty-token"),
        pytest.param('{"token": "t", "app_id": 1}', "holds both a token and a GitHub App", id="token-and-app"),
    ],
)
def test_a_malformed_secret_is_named_by_key_and_never_echoed(secret: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        credentials_from_secret(secret)
    assert "MII" not in str(caught.value)  # a key's body is never repeated in the message


def test_a_secret_holding_an_app_becomes_app_credentials_and_a_token_stays_a_token() -> None:
    parsed = credentials_from_secret(json.dumps({"app_id": "4242", "private_key": PRIVATE_KEY, "installation_id": 7}))
    assert isinstance(parsed, AppCredentials)
    assert (parsed.app_id, parsed.installation_id) == ("4242", 7)
    assert PRIVATE_KEY.strip() not in repr(parsed)
    assert credentials_from_secret('{"token": "ghp_x"}') == credentials_from_secret("ghp_x")
