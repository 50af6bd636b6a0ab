"""GitHub Apps on the stand-in: the App's JWT, its installations, and installation tokens (the data;
``app_api`` answers the requests).

Endpoints (REST, under ``/api/v3``, bodies from GitHub's OpenAPI examples ``installation``,
``base-installation-items`` and ``installation-token``):

* ``GET /app/installations`` and ``GET /app/installations/{id}`` — the App's installations;
* ``GET /orgs/{org}/installation`` — the App's installation on an organisation (404 if not installed);
* ``POST /app/installations/{id}/access_tokens`` — a new installation token (201).

These need the App's JWT (``Authorization: Bearer <jwt>``): RS256, verified against the App's public key,
``iss`` the App ID (or client ID), ``exp`` in the future and at most ten minutes after ``iat``, as GitHub
requires. Anything else is 401 "A JSON web token could not be decoded", GitHub's message. A JWT is
accepted nowhere else (GitHub answers 401 to a JWT on GraphQL too).

An installation token (``ghs_…``) authenticates GraphQL and REST like any token until its ``expires_at``
(``token_ttl`` after issue, by ``state.clock``: a test moves the clock to expire it), after which it is
401 "Bad credentials". On GraphQL it sees one organisation, the installation's: another organisation is
"not found" and a search naming one fails as GitHub's does (the stand-in does not scope REST).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import jwt

MAX_JWT_LIFETIME = timedelta(minutes=10)


@dataclass
class App:
    """A registered GitHub App: its public key (PEM) and the organisations it is installed on."""

    app_id: int
    public_key: str
    slug: str = "pr-auditor"
    client_id: str = "Iv23liStandIn0001"
    installations: dict[int, str] = field(default_factory=dict)  # installation ID → organisation login

    def install(self, org: str, installation_id: int) -> App:
        self.installations[installation_id] = org
        return self


@dataclass(frozen=True)
class InstallationToken:
    token: str
    installation_id: int
    org: str
    expires_at: datetime


@dataclass
class AppRegistry:
    """Apps and the installation tokens issued to them (kept in ``GitHubState.apps``)."""

    apps: dict[int, App] = field(default_factory=dict)
    tokens: dict[str, InstallationToken] = field(default_factory=dict)
    token_ttl: timedelta = timedelta(hours=1)

    def register(self, app: App) -> App:
        self.apps[app.app_id] = app
        return app

    def installation_token(self, token: str, now: datetime) -> InstallationToken | None:
        """The installation token, if it was issued and has not expired at ``now``."""
        found = self.tokens.get(token)
        return found if found is not None and now < found.expires_at else None

    def app_for_jwt(self, token: str) -> App | None:
        """The App whose private key signed this JWT, if it is valid now (signature, iss, iat/exp)."""
        try:
            issuer = str(jwt.decode(token, options={"verify_signature": False}).get("iss", ""))
        except jwt.PyJWTError:
            return None
        app = next((a for a in self.apps.values() if issuer in (str(a.app_id), a.client_id)), None)
        if app is None:
            return None
        try:
            claims = jwt.decode(
                token,
                app.public_key,
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "iss"]},
                leeway=60,  # GitHub tolerates clock drift; PyGithub back-dates iat by 60 s for it
            )
        except jwt.PyJWTError:
            return None
        if int(claims["exp"]) - int(claims["iat"]) > MAX_JWT_LIFETIME.total_seconds() + 60:
            return None
        return app

    def issue(self, app: App, installation_id: int, now: datetime) -> InstallationToken:
        token = InstallationToken(
            token="ghs_" + secrets.token_urlsafe(27),
            installation_id=installation_id,
            org=app.installations[installation_id],
            expires_at=now + self.token_ttl,
        )
        self.tokens[token.token] = token
        return token
