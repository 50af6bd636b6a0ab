"""The App endpoints of the stand-in (see ``apps`` for what they model)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .apps import AppRegistry
from .rest_api import _rewrite, example, iso

JWT_ERROR = "A JSON web token could not be decoded"
DOCS = "https://docs.github.com/rest"


def is_app_route(path: str) -> bool:
    """REST routes that take the App's JWT rather than a token."""
    parts = [p for p in path.split("/") if p][2:]  # drop "api", "v3"
    return (parts[:1] == ["app"]) or (len(parts) == 3 and parts[0] == "orgs" and parts[2] == "installation")


def handle(
    registry: AppRegistry, method: str, path: str, bearer: str, *, origin: str, now: datetime
) -> tuple[int, Any]:
    """One App request → (status, body)."""
    app = registry.app_for_jwt(bearer)
    if app is None:
        return 401, {"message": JWT_ERROR, "documentation_url": DOCS}
    parts = [p for p in path.split("/") if p][2:]
    hosts = [("https://api.github.com", origin + "/api/v3"), ("https://github.com", origin)]

    def installation(installation_id: int) -> dict[str, Any]:
        org = app.installations[installation_id]
        body: dict[str, Any] = _rewrite(example("installation"), hosts)
        account = body["account"]
        account.update(login=org, url=f"{origin}/api/v3/orgs/{org}", html_url=f"{origin}/{org}", type="Organization")
        body.update(
            id=installation_id,
            app_id=app.app_id,
            app_slug=app.slug,
            client_id=app.client_id,
            target_type="Organization",
            repository_selection="all",
            access_tokens_url=f"{origin}/api/v3/app/installations/{installation_id}/access_tokens",
            html_url=f"{origin}/organizations/{org}/settings/installations/{installation_id}",
            permissions={"administration": "read", "contents": "read", "metadata": "read", "pull_requests": "read"},
        )
        return body

    def find(installation_id: str) -> int | None:
        number = int(installation_id) if installation_id.isdigit() else -1
        return number if number in app.installations else None

    if method == "GET" and parts == ["app", "installations"]:
        return 200, [installation(i) for i in sorted(app.installations)]
    if method == "GET" and len(parts) == 3 and parts[:2] == ["app", "installations"]:
        found = find(parts[2])
        return (200, installation(found)) if found is not None else (404, _not_found())
    if method == "GET" and len(parts) == 3 and parts[0] == "orgs":
        found = next((i for i, org in app.installations.items() if org.lower() == parts[1].lower()), None)
        return (200, installation(found)) if found is not None else (404, _not_found())
    if method == "POST" and len(parts) == 4 and parts[:2] == ["app", "installations"] and parts[3] == "access_tokens":
        found = find(parts[2])
        if found is None:
            return 404, _not_found()
        issued = registry.issue(app, found, now)
        body = _rewrite(example("installation-token"), hosts)
        body.pop("repositories", None)
        body.update(
            token=issued.token,
            expires_at=iso(issued.expires_at),
            permissions=installation(found)["permissions"],
            repository_selection="all",
        )
        return 201, body
    return 404, _not_found()


def _not_found() -> dict[str, str]:
    return {"message": "Not Found", "documentation_url": DOCS}
