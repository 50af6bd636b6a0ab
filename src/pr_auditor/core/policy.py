"""Policy file (YAML or JSON) → a validated, versioned Policy with per-repository overrides. No I/O.

The policy is input that an attacker who can edit the SSM parameter (or a careless one) controls, so it is
cheap to reject: at most 64 KiB, no YAML anchors or aliases (the "billion laughs" expansion), at most 10
levels deep, errors that quote at most 40 characters of a value, and a ``ticket_pattern`` compiled for RE2,
a linear-time engine, matched against at most the first 64 Ki characters of each text (see docs/policy-input.md).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

import re2
import yaml

from pr_auditor.core.errors import PolicyError

MAX_POLICY_BYTES = 64 * 1024
MAX_DEPTH = 10  # the deepest valid policy is 4 levels: document → repositories → repository → list
MAX_SHOWN = 40  # characters of a value quoted in an error
#: Characters of each text (title, body, head branch) that ``ticket_pattern`` looks at. GitHub caps a PR
#: description at 65,536 characters, so in practice the whole text.
MAX_TICKET_TEXT = 65_536

_REPO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$")


@dataclass(frozen=True, slots=True, eq=False)
class TicketPattern:
    """``ticket_pattern``, compiled for RE2: matching time grows linearly with the text, whatever the pattern,
    so a 64 KB body cannot stall a run with a pattern like ``(a+)+$``. RE2 has no backreferences or
    lookaround; such a pattern is rejected when the policy is loaded."""

    pattern: str
    compiled: Any

    @staticmethod
    def compile(pattern: str) -> TicketPattern:
        options = re2.Options()
        options.log_errors = False  # RE2 would print its own error to stderr; ours names the key instead
        return TicketPattern(pattern, re2.compile(pattern, options=options))

    def search(self, text: str) -> bool:
        """Does the pattern occur in the first ``MAX_TICKET_TEXT`` characters of ``text``?"""
        return self.compiled.search(text[:MAX_TICKET_TEXT]) is not None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TicketPattern) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash(self.pattern)


@dataclass(frozen=True, slots=True)
class RepoPolicy:
    """The rules that apply to one repository (defaults, overridden by its ``repositories`` entry)."""

    required_approvals: int = 1
    emergency_labels: tuple[str, ...] = ("emergency",)
    count_stale_approvals: bool = False
    bot_approvals_count: bool = False
    exempt_authors: tuple[str, ...] = ()
    ticket_pattern: TicketPattern | None = None
    branches: tuple[str, ...] | None = None  # None: the repository's default branch only
    exempt_pushers: tuple[str, ...] = ()  # who may push directly (a release bot), by pusher login
    allow_contributor_approvals: bool = False  # count approvals by people who wrote commits of the PR

    def branch_in_scope(self, base: str, default_branch: str) -> bool:
        if self.branches is None:
            return base == default_branch
        return any(fnmatchcase(base, glob) for glob in self.branches)

    def is_emergency_label(self, label: str) -> bool:
        return label.casefold() in {name.casefold() for name in self.emergency_labels}

    def is_exempt_login(self, login: str) -> bool:
        """Exempt-author match, case-insensitive; ``dependabot`` in a policy also names ``dependabot[bot]``."""
        wanted = login.casefold()
        for entry in self.exempt_authors:
            entry = entry.casefold()
            if wanted in (entry, f"{entry}[bot]"):
                return True
        return False


@dataclass(frozen=True, slots=True)
class Policy:
    default: RepoPolicy
    overrides: Mapping[str, RepoPolicy]
    version: str

    def for_repository(self, repository: str) -> RepoPolicy:
        # GitHub owner and repository names are case-insensitive.
        return self.overrides.get(repository.casefold(), self.default)


# --- validation: one checker per key; each returns the typed value or raises with the key's path ---


def shown(value: Any) -> str:
    """A value as an error may quote it: scalars as a prefix of at most ``MAX_SHOWN`` characters, anything
    else by its type only. A policy value can be 64 KiB; an error stays one short line."""
    if isinstance(value, str):
        return repr(value[:MAX_SHOWN]) + ("…" if len(value) > MAX_SHOWN else "")
    if value is None or isinstance(value, bool | float):
        return repr(value)
    if isinstance(value, int):
        text = str(value) if abs(value) < 10**MAX_SHOWN else f"{str(value)[:MAX_SHOWN]}…"
        return text
    return f"a {type(value).__name__}"


def _bool(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise PolicyError(f"{path}: expected true or false, got {shown(value)}")
    return value


def _count(path: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PolicyError(f"{path}: expected a whole number >= 0, got {shown(value)}")
    return value


def _names(path: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise PolicyError(f"{path}: expected a list of strings, got {shown(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise PolicyError(f"{path}[{index}]: expected a non-empty string, got {shown(item)}")
    return tuple(item.strip() for item in value)


def _branches(path: str, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    globs = _names(path, value)
    if not globs:
        raise PolicyError(f"{path}: an empty list would put every branch out of scope; omit the key instead")
    return globs


def _pattern(path: str, value: Any) -> TicketPattern | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise PolicyError(f"{path}: expected a regular expression string or null, got {shown(value)}")
    try:
        return TicketPattern.compile(value)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PolicyError(
            f"{path}: invalid regular expression {shown(value)} for RE2 (no backreferences or lookaround): "
            f"{reason[:MAX_SHOWN]}"
        ) from None


_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "required_approvals": _count,
    "emergency_labels": _names,
    "count_stale_approvals": _bool,
    "bot_approvals_count": _bool,
    "exempt_authors": _names,
    "ticket_pattern": _pattern,
    "branches": _branches,
    "exempt_pushers": _names,
    "allow_contributor_approvals": _bool,
}
assert set(_CHECKS) == {f.name for f in fields(RepoPolicy)}


def _repo_policy(path: str, raw: Mapping[str, Any], base: RepoPolicy) -> RepoPolicy:
    values: dict[str, Any] = {}
    for key, value in raw.items():
        check = _CHECKS.get(key)
        if check is None:
            raise PolicyError(f"{_join(path, key)}: unknown key (allowed: {', '.join(sorted(_CHECKS))})")
        values[key] = check(_join(path, key), value)
    return replace(base, **values)


def _join(path: str, key: Any) -> str:
    name = key if isinstance(key, str) and len(key) <= MAX_SHOWN else shown(key)
    return f"{path}.{name}" if path else name


def _mapping(path: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise PolicyError(f"{path or 'policy'}: expected a mapping of keys to values, got {type(value).__name__}")
    return value


def policy_from_mapping(raw: Any) -> Policy:
    """Validate a decoded policy document. Raises PolicyError naming the offending key's path."""
    document = dict(_mapping("", raw))
    repositories = _mapping("repositories", document.pop("repositories", None) or {})
    default = _repo_policy("", document, RepoPolicy())
    overrides: dict[str, RepoPolicy] = {}
    for name, entry in repositories.items():
        path = _join("repositories", name)
        if not isinstance(name, str) or not _REPO_NAME.match(name):
            raise PolicyError(f"{path}: expected a repository as 'org/repo'")
        if name.casefold() in overrides:
            raise PolicyError(f"{path}: listed twice (names are case-insensitive)")
        overrides[name.casefold()] = _repo_policy(path, _mapping(path, entry), default)
    return Policy(default=default, overrides=overrides, version=_version(default, overrides))


class _PolicyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing anchors and aliases before they are composed (an alias bomb of a few
    hundred bytes expands to gigabytes once anything walks it) and nesting deeper than ``MAX_DEPTH``
    (PyYAML composes recursively). A policy has no use for either."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise PolicyError(f"YAML anchors and aliases are not allowed ({_where(event.start_mark)})")
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise PolicyError(f"nested more than {MAX_DEPTH} levels deep ({_where(event.start_mark)})")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"


def parse_policy(text: str) -> Policy:
    """Parse YAML or JSON text (JSON is valid YAML 1.2 for our purposes). An empty, ``null`` or comment-only
    document is an error, so that a truncated parameter never means "the defaults"; write ``{}`` for them."""
    if len(text) > MAX_POLICY_BYTES or len(text.encode("utf-8", errors="replace")) > MAX_POLICY_BYTES:
        raise PolicyError(f"policy: larger than {MAX_POLICY_BYTES // 1024} KiB")
    loader = _PolicyLoader(text)
    try:
        raw = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at {_where(mark)}" if mark else ""
        raise PolicyError(f"not valid YAML or JSON{where}") from None
    except ValueError:
        # e.g. an integer longer than Python converts (4,300 digits): not a policy anyone meant
        raise PolicyError("policy: a value could not be read (a number too long?)") from None
    finally:
        loader.dispose()
    if raw is None:
        raise PolicyError("policy: the document is empty (or only comments or null); write {} for the defaults")
    return policy_from_mapping(raw)


def _canonical(policy: RepoPolicy) -> dict[str, Any]:
    return {
        "required_approvals": policy.required_approvals,
        "emergency_labels": sorted(label.casefold() for label in policy.emergency_labels),
        "count_stale_approvals": policy.count_stale_approvals,
        "bot_approvals_count": policy.bot_approvals_count,
        "exempt_authors": sorted(login.casefold() for login in policy.exempt_authors),
        "ticket_pattern": policy.ticket_pattern.pattern if policy.ticket_pattern else None,
        "branches": list(policy.branches) if policy.branches is not None else None,
        # only when set, so that adding the key did not change the version of existing policies
        **({"exempt_pushers": sorted(p.casefold() for p in policy.exempt_pushers)} if policy.exempt_pushers else {}),
        **({"allow_contributor_approvals": True} if policy.allow_contributor_approvals else {}),
    }


def _version(default: RepoPolicy, overrides: Mapping[str, RepoPolicy]) -> str:
    """Content hash of the *effective* policy: formatting, key order and comments do not change it."""
    document = {
        "default": _canonical(default),
        "repositories": {name: _canonical(p) for name, p in sorted(overrides.items())},
    }
    digest = hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f"sha256:{digest[:16]}"


def canonical_policy(policy: Policy) -> dict[str, Any]:
    """The effective policy as plain data (what ``version`` hashes), kept to explain a later change."""
    return {
        "default": _canonical(policy.default),
        "repositories": {name: _canonical(p) for name, p in sorted(policy.overrides.items())},
    }


def policy_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each changed key of two canonical policies, old → new, and whether the change relaxes the rules."""
    changes: list[dict[str, Any]] = []
    old_default, new_default = old.get("default") or {}, new.get("default") or {}
    old_repos, new_repos = old.get("repositories") or {}, new.get("repositories") or {}
    # A repository without an override follows the default: compare an added or removed override with it.
    scopes = [("", old_default, new_default)] + [
        (f"repositories.{name}.", old_repos.get(name) or old_default, new_repos.get(name) or new_default)
        for name in sorted(set(old_repos) | set(new_repos))
    ]
    for prefix, before, after in scopes:
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                changes.append(
                    {
                        "key": prefix + key,
                        "old": before.get(key),
                        "new": after.get(key),
                        "relaxes": relaxes(key, before.get(key), after.get(key)),
                    }
                )
    return changes


def relaxes(key: str, old: Any, new: Any) -> bool:
    """Does changing ``key`` from ``old`` to ``new`` let more changes pass? Fewer required approvals,
    stale, bot or contributors' approvals counted, more exempt authors or pushers, fewer emergency labels. A changed
    ticket pattern or branch scope cannot be judged by its text, so it counts as relaxing: ops look."""
    if old == new:
        return False
    if key == "required_approvals" and isinstance(old, int) and isinstance(new, int):
        return new < old
    if key in {"count_stale_approvals", "bot_approvals_count", "allow_contributor_approvals"}:
        return bool(new) and not old
    if key in {"exempt_authors", "exempt_pushers"}:
        return bool(set(new or ()) - set(old or ()))
    if key == "emergency_labels":
        return bool(set(old or ()) - set(new or ()))
    return True


DEFAULT_POLICY = policy_from_mapping({})


def policy_from_canonical(canonical: Mapping[str, Any]) -> Policy:
    """The policy a stored canonical form describes (the inverse of ``canonical_policy``: same version)."""
    document = dict(canonical.get("default") or {})
    document["repositories"] = dict(canonical.get("repositories") or {})
    return policy_from_mapping(document)


@dataclass(frozen=True, slots=True)
class PolicyHistory:
    """The policies recorded in force, oldest first, each from the moment a run recorded it. A change is
    judged under the policy in force when it happened: the parameter's value counts only from the moment a
    run recorded it, so relaxing it for one backfill cannot launder what was merged before."""

    entries: tuple[tuple[datetime, Policy], ...]

    def in_force_at(self, moment: datetime, *, fallback: Policy) -> Policy:
        """The policy recorded last at or before ``moment``; before the first record, the first policy
        (nothing older is known); ``fallback`` when there is no history at all."""
        chosen = self.entries[0][1] if self.entries else fallback
        for recorded_at, policy in self.entries:
            if recorded_at > moment:
                break
            chosen = policy
        return chosen
