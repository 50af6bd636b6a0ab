"""The organisation audit log, where GitHub serves it: who overrode branch protection, who changed a rule.

Facts relied on (docs/bypasses.md; GitHub Enterprise Cloud REST reference, "Get the audit log for an
organization"): ``GET /orgs/{org}/audit-log`` needs GitHub Enterprise Cloud and an owner's
``read:audit_log``; elsewhere GitHub answers 403 or 404, which is reported, never a failure. ``phrase``
takes the audit-log search syntax (``action:CATEGORY`` or ``action:NAME``, ``created:>=ISO``); ``include=all``
adds Git events to web events; ``order=asc`` lists oldest first; paging is by cursor through the ``Link``
header (``after``), 100 a page at most. ``@timestamp`` and ``created_at`` are milliseconds since the epoch;
``_document_id`` identifies an event; ``repo`` is ``owner/name``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from pr_auditor.audit.ports import NotReadable
from pr_auditor.core.errors import UnavailableError
from pr_auditor.core.model import AuditEvent
from pr_auditor.github.rule_suites import next_link
from pr_auditor.github.transport import PAGE_SIZE, Transport

#: The keys every event has; the rest are the action's own (``branch``, ``before``, ``after``, ``from`` ...).
_ENVELOPE = frozenset({"@timestamp", "created_at", "_document_id", "action", "actor", "actor_id", "actor_location"})


class AuditLogReader:
    """Implements ``AuditLogSource`` over the transport; ``requests`` counts this source's requests only."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self.requests = 0

    def events(self, org: str, *, since: datetime, category: str) -> list[AuditEvent] | NotReadable:
        params: Mapping[str, Any] = {
            "phrase": f"action:{category} created:>={since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}",
            "include": "all",
            "order": "asc",
            "per_page": PAGE_SIZE,
        }
        found: list[AuditEvent] = []
        url: str | None = f"/orgs/{quote(org)}/audit-log"
        while url is not None:
            status, body, headers = self._get(url, params)
            if status in (403, 404):
                return NotReadable(f"audit log of {org}: GitHub answered {status}")
            if not isinstance(body, list):
                raise UnavailableError("GitHub answered the audit log with something other than a list")
            found.extend(decode_event(item) for item in body if isinstance(item, dict))
            url, params = next_link(headers), {}
        return found

    def pull_request_for(self, repository: str, sha: str) -> dict[str, Any] | None:
        """``GET /repos/{o}/{r}/commits/{sha}/pulls``: the merged PR whose merge commit is ``sha``."""
        status, body, _ = self._get(f"/repos/{repository}/commits/{quote(sha)}/pulls", {})
        if status != 200 or not isinstance(body, list):
            return None
        for pull in body:
            if isinstance(pull, dict) and pull.get("merge_commit_sha") == sha and pull.get("merged_at"):
                return {"number": int(pull["number"]), "url": pull.get("html_url")}
        return None

    def _get(self, path: str, params: Mapping[str, Any]) -> tuple[int, Any, dict[str, str]]:
        self.requests += 1
        return self._transport.attempt(self._transport.rest_answer, path, params)


def decode_event(item: Mapping[str, Any]) -> AuditEvent:
    """An audit-log event → ``AuditEvent`` (time from ``@timestamp``, else ``created_at``, in ms)."""
    millis = item.get("@timestamp") or item.get("created_at") or 0
    repository = item.get("repo") or item.get("repository")
    return AuditEvent(
        document_id=str(item.get("_document_id") or ""),
        action=str(item.get("action") or ""),
        actor=item.get("actor"),
        at=datetime.fromtimestamp(int(millis) / 1000, UTC),
        repository=str(repository) if repository else None,
        fields={key: value for key, value in item.items() if key not in _ENVELOPE},
    )
