"""The stand-in's GitHub App routes: JWT checks as GitHub makes them, bodies shaped by GitHub's examples."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from standin.apps import App
from standin.generate import make_state
from standin.server import StandIn

APP_ID = 77


def pem_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


PRIVATE, PUBLIC = pem_pair()
OTHER_PRIVATE, _ = pem_pair()


@pytest.fixture
def server() -> Iterator[StandIn]:
    state = make_state(org="acme", repos=("api",))
    state.apps.register(App(APP_ID, PUBLIC)).install("acme", 9)
    with StandIn(state) as running:
        yield running


def app_jwt(key: str = PRIVATE, *, issuer: str = str(APP_ID), lifetime: int = 300) -> str:
    now = int(time.time())
    return jwt.encode({"iat": now - 60, "exp": now + lifetime, "iss": issuer}, key, algorithm="RS256")


def get(server: StandIn, path: str, token: str) -> requests.Response:
    return requests.get(server.base_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda: app_jwt(OTHER_PRIVATE), id="signed-by-another-key"),
        pytest.param(lambda: app_jwt(issuer="78"), id="unknown-app"),
        pytest.param(lambda: app_jwt(lifetime=3600), id="lives-past-ten-minutes"),
        pytest.param(lambda: app_jwt(lifetime=-120), id="expired"),
        pytest.param(lambda: "test-token", id="a-token-is-not-a-jwt"),
    ],
)
def test_a_jwt_github_would_refuse_is_401(server: StandIn, make_token: Callable[[], str]) -> None:
    answer = get(server, "/app/installations", make_token())
    assert answer.status_code == 401
    assert answer.json()["message"] == "A JSON web token could not be decoded"


def test_the_apps_installation_on_an_organisation_has_githubs_shape(server: StandIn) -> None:
    answer = get(server, "/orgs/acme/installation", app_jwt())
    assert answer.status_code == 200
    body = answer.json()
    assert (body["id"], body["app_id"], body["account"]["login"], body["target_type"]) == (
        9,
        APP_ID,
        "acme",
        "Organization",
    )
    assert body["access_tokens_url"] == f"{server.base_url}/app/installations/9/access_tokens"
    assert get(server, "/orgs/globex/installation", app_jwt()).status_code == 404


def test_an_installation_token_works_until_it_expires_and_a_jwt_is_no_token(server: StandIn) -> None:
    created = requests.post(
        f"{server.base_url}/app/installations/9/access_tokens",
        headers={"Authorization": f"Bearer {app_jwt()}"},
        timeout=10,
    )
    assert created.status_code == 201
    token = created.json()["token"]
    assert token.startswith("ghs_")
    assert created.json()["expires_at"].endswith("Z")
    query = {"query": 'query { organization(login: "acme") { login } }'}
    ok = requests.post(server.graphql_url, json=query, headers={"Authorization": f"token {token}"}, timeout=10)
    assert ok.json()["data"] == {"organization": {"login": "acme"}}
    refused = requests.post(
        server.graphql_url, json=query, headers={"Authorization": f"Bearer {app_jwt()}"}, timeout=10
    )
    assert refused.status_code == 401
