"""Rule suites: the pushes GitHub evaluated against rulesets, read for those that bypassed them.

Facts relied on (docs/bypasses.md; GitHub's REST reference, "Rule suites"):
``GET /orgs/{org}/rulesets/rule-suites`` lists every repository's suites in one answer, and
``GET /repos/{owner}/{repo}/rulesets/rule-suites`` one repository's; both filter by ``rule_suite_result``
and ``time_period`` (``hour``, ``day``, ``week``, ``month``: GitHub looks back one month at most), page by
``page``/``per_page`` (100 at most). A list item names the repository by ``repository_name`` only (without
the owner) and has no rule evaluations: ``…/rule-suites/{id}`` adds ``rule_evaluations``. Where the
organisation endpoint does not answer (a user account, an older GitHub Enterprise Server, no organisation
rights), each repository is read instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from pr_auditor.audit.ports import NotReadable
from pr_auditor.core.errors import UnavailableError
from pr_auditor.core.model import RuleEvaluation, RuleSuite
from pr_auditor.github.transport import PAGE_SIZE, Transport


class RuleSuiteReader:
    """Implements ``RuleSuiteSource`` over the transport. ``requests`` counts this source's requests only
    (the transport's own counter, shared with the other readers, counts them too)."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._per_repository: set[str] = set()  # organisations whose own endpoint did not answer
        self.requests = 0

    def bypasses(self, org: str, *, period: str) -> list[RuleSuite] | NotReadable:
        params = {"rule_suite_result": "bypass", "time_period": period, "per_page": PAGE_SIZE}
        if org.casefold() not in self._per_repository:
            status, items = self._list(f"/orgs/{quote(org)}/rulesets/rule-suites", params)
            if status == 200:
                return [decode_suite(item, owner=org) for item in items]
            self._per_repository.add(org.casefold())
        suites: list[RuleSuite] = []
        answered = False
        for repository in self._repositories(org):
            status, items = self._list(f"/repos/{repository}/rulesets/rule-suites", params)
            if status == 200:
                answered = True
                suites.extend(decode_suite(item, owner=org) for item in items)
        if not answered:
            return NotReadable(f"rule suites of {org}: neither the organisation nor a repository answered")
        return suites

    def evaluated(self, org: str, suite: RuleSuite) -> RuleSuite:
        name = suite.repository.split("/", 1)[1]
        path = (
            f"/repos/{quote(org)}/{quote(name)}/rulesets/rule-suites/{suite.id}"
            if org.casefold() in self._per_repository
            else f"/orgs/{quote(org)}/rulesets/rule-suites/{suite.id}"
        )
        status, body, _ = self._get(path, {})
        if status != 200 or not isinstance(body, dict):
            raise UnavailableError(f"rule suite {suite.id} of {suite.repository}: GitHub answered {status}")
        return decode_suite(body, owner=org)

    def _repositories(self, org: str) -> list[str]:
        """Every repository of the account (``/users/{owner}/repos`` serves organisations and users alike)."""
        names: list[str] = []
        path: str | None = f"/users/{quote(org)}/repos"
        params: Mapping[str, Any] = {"per_page": PAGE_SIZE, "type": "owner"}
        while path is not None:
            status, body, headers = self._get(path, params)
            if status != 200 or not isinstance(body, list):
                return names
            names.extend(str(item["full_name"]) for item in body if isinstance(item, dict))
            path, params = next_link(headers), {}
        return names

    def _list(self, path: str, params: Mapping[str, Any]) -> tuple[int, list[dict[str, Any]]]:
        items: list[dict[str, Any]] = []
        url: str | None = path
        while url is not None:
            status, body, headers = self._get(url, params)
            if status != 200:
                return status, []
            if not isinstance(body, list):
                raise UnavailableError(f"GitHub answered {path} with something other than a list")
            items.extend(item for item in body if isinstance(item, dict))
            url, params = next_link(headers), {}
        return 200, items

    def _get(self, path: str, params: Mapping[str, Any]) -> tuple[int, Any, dict[str, str]]:
        self.requests += 1
        return self._transport.attempt(self._transport.rest_answer, path, params)


def next_link(headers: Mapping[str, str]) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header (page numbers or cursors alike), None on the last page."""
    link = next((value for key, value in headers.items() if key.lower() == "link"), "")
    for part in link.split(","):
        url, _, rel = part.partition(";")
        if 'rel="next"' in rel:
            return url.strip().removeprefix("<").removesuffix(">")
    return None


def decode_suite(item: Mapping[str, Any], *, owner: str) -> RuleSuite:
    """A rule-suite item (list or by id) → ``RuleSuite``; the repository gets its owner back."""
    return RuleSuite(
        id=int(item["id"]),
        repository=f"{owner}/{item['repository_name']}",
        actor=item.get("actor_name"),
        ref=str(item.get("ref") or ""),
        before_sha=str(item.get("before_sha") or ""),
        after_sha=str(item.get("after_sha") or ""),
        pushed_at=datetime.fromisoformat(str(item["pushed_at"]).replace("Z", "+00:00")),
        result=str(item.get("result") or ""),
        evaluations=tuple(
            RuleEvaluation(
                rule_type=str(e.get("rule_type") or ""),
                source_type=str((e.get("rule_source") or {}).get("type") or ""),
                source_id=(e.get("rule_source") or {}).get("id"),
                source_name=(e.get("rule_source") or {}).get("name"),
                enforcement=str(e.get("enforcement") or ""),
                result=str(e.get("result") or ""),
                details=e.get("details"),
            )
            for e in item.get("rule_evaluations") or []
            if isinstance(e, dict)
        ),
    )
