"""Credentials → PyGithub clients: one for a token, or one per organisation installation of a GitHub App.

Facts relied on (docs/github-facts.md, "GitHub App authentication"): an App authenticates as itself with a
short-lived RS256 JWT signed by its private key (PyGithub's ``Auth.AppAuth``); it finds an organisation's
installation with ``GET /orgs/{org}/installation`` (or lists all with ``GET /app/installations``) and
exchanges the JWT for an installation token with ``POST /app/installations/{id}/access_tokens``. An
installation token sees only the organisation it was installed on and expires after an hour; PyGithub's
``AppInstallationAuth`` fetches a new one before a request once the current one is within 20 seconds of
expiry. The key, the JWT and the tokens only travel in ``Authorization`` headers, which PyGithub masks in
its debug log; nothing here logs them.
"""

from __future__ import annotations

from dataclasses import dataclass

from github import Auth, GithubException, GithubIntegration
from github.Installation import Installation

from pr_auditor.core.errors import AuthError, ConfigError, UnavailableError, UnknownOrgError
from pr_auditor.github.connection import Connection, client_options
from pr_auditor.github.credentials import AppCredentials as AppCredentials
from pr_auditor.github.credentials import Credentials as Credentials
from pr_auditor.github.credentials import TokenCredentials as TokenCredentials
from pr_auditor.github.per_org import PerOrgSource
from pr_auditor.github.source import GitHubSource
from pr_auditor.github.transport import Transport


@dataclass(frozen=True, slots=True)
class OrgInstallation:
    """An organisation the App is installed on, and that installation's ID."""

    org: str
    installation_id: int


def app_integration(app: AppCredentials, connection: Connection) -> GithubIntegration:
    """The App acting as itself (JWT): it may only look up and open its installations."""
    return GithubIntegration(auth=Auth.AppAuth(app.app_id, app.private_key), **client_options(connection))


def find_installations(
    integration: GithubIntegration, app: AppCredentials, orgs: tuple[str, ...]
) -> list[OrgInstallation]:
    """The installations to audit: one per configured organisation or, with none configured, every
    organisation the App is installed on. ``installation_id`` in the secret pins a single installation."""
    try:
        if app.installation_id is not None:
            pinned = _organisation(integration.get_app_installation(app.installation_id))
            if pinned is None:
                raise ConfigError(f"installation_id {app.installation_id}: not an installation on an organisation")
            others = sorted({org.casefold() for org in orgs} - {pinned.org.casefold()})
            if others:
                raise ConfigError(
                    f"installation_id {app.installation_id} is the App's installation on {pinned.org}, "
                    f"not on {', '.join(others)}: remove installation_id from the secret to audit several"
                )
            return [OrgInstallation(orgs[0] if orgs else pinned.org, pinned.installation_id)]
        if orgs:
            return [_org_installation(integration, org) for org in orgs]
        found = [item for item in map(_organisation, integration.get_installations()) if item is not None]
    except GithubException as exc:
        raise _app_error(exc) from exc
    if not found:
        raise UnknownOrgError("the GitHub App is not installed on any organisation")
    return found


def _org_installation(integration: GithubIntegration, org: str) -> OrgInstallation:
    try:
        installation = integration.get_org_installation(org)
    except GithubException as exc:
        if exc.status == 404:
            raise UnknownOrgError(f"the GitHub App is not installed on {org} (or {org} does not exist)") from exc
        raise
    return OrgInstallation(org, int(installation.id))


def _organisation(installation: Installation) -> OrgInstallation | None:
    """An installation on an organisation → (login, ID); an installation on a user account → None."""
    account = installation.raw_data.get("account") or {}
    if installation.raw_data.get("target_type") != "Organization" or not account.get("login"):
        return None
    return OrgInstallation(str(account["login"]), int(installation.id))


def _app_error(exc: GithubException) -> Exception:
    """The App's own requests failed: the JWT (app_id, private key) or the installation is wrong."""
    if exc.status == 401:
        return AuthError("GitHub rejected the App's JWT (401): check app_id and private_key in the secret")
    if exc.status in (403, 404):
        return AuthError(f"GitHub refused the App's request ({exc.status}): check app_id and installation_id")
    return UnavailableError(f"GitHub failed while looking up the App's installations (HTTP {exc.status})")


def open_github(
    credentials: Credentials, connection: Connection, orgs: tuple[str, ...]
) -> tuple[GitHubSource | PerOrgSource, tuple[str, ...]]:
    """The PR source for the credentials, and the organisations to audit (for a GitHub App with no
    organisations configured: every organisation it is installed on, looked up now). For named
    organisations the App's installations are looked up by the audit's access check, so a missing
    installation fails the run like an unknown organisation."""
    if isinstance(credentials, TokenCredentials):
        return GitHubSource(Transport.open(credentials.token, connection)), orgs  # the token is checked here
    integration = app_integration(credentials, connection)
    app_auth = Auth.AppAuth(credentials.app_id, credentials.private_key)

    def source(installation_id: int) -> GitHubSource:
        # AppInstallationAuth fetches the installation token, and a new one before it expires.
        return GitHubSource(Transport.open(app_auth.get_installation_auth(installation_id), connection))

    def open_org(org: str) -> GitHubSource:
        try:
            return source(_org_installation(integration, org).installation_id)
        except GithubException as exc:
            raise _app_error(exc) from exc

    if orgs and credentials.installation_id is None:
        return PerOrgSource(open_org), orgs
    found = find_installations(integration, credentials, orgs)
    opened = {item.org: source(item.installation_id) for item in found}
    return PerOrgSource(open_org, opened), orgs or tuple(opened)
