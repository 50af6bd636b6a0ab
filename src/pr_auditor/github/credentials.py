"""What a GitHub credential is (a token, or a GitHub App), with no client library behind it: settings read
them at a cold start, and PyGithub (with its JWT and cryptography) is imported only when a client is made
(``auth.open_github``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TokenCredentials:
    """A personal access token (classic or fine-grained) or another bearer token. Never printed."""

    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class AppCredentials:
    """A GitHub App: its ID (or client ID), its private key (PEM), optionally the one installation to use."""

    app_id: str
    private_key: str = field(repr=False)
    installation_id: int | None = None


Credentials = TokenCredentials | AppCredentials
