"""The stand-in's HTTP server: stdlib ``ThreadingHTTPServer`` on 127.0.0.1, GitHub Enterprise style.

``StandIn(state).start()`` → ``base_url`` is ``http://127.0.0.1:PORT/api/v3`` so PyGithub derives
GraphQL at ``http://127.0.0.1:PORT/api/graphql``. Every URL in a response carries the origin the
client used (the ``Host`` header), so PyGithub's URL guard accepts ``Link`` headers and ``url``
fields.

Per request: optional latency (``state.latency_ms``), authentication (``Authorization: token X``
or ``Bearer X`` against ``state.tokens`` or a live GitHub App installation token; anything else → 401
"Bad credentials", GraphQL too; the App's own routes take its JWT instead, see ``apps``),
fault injection (``state.faults``), rate-limit budget (``state.rate``), dispatch, GitHub-like
headers, and a :class:`~standin.model.RequestRecord` in ``state.requests``.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import app_api, graphql_api, rest_api
from .model import Fault, GitHubState, RateBucket, RequestKind, RequestRecord, User

GRAPHQL_PATH = "/api/graphql"
REST_PREFIX = "/api/v3"
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID {rid}."
)
PRIMARY_MESSAGE = (
    "API rate limit exceeded for user ID {uid}. If you reach out to GitHub Support for help, "
    "please include the request ID {rid}."
)
RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"

_request_ids = itertools.count(1)


class _Disconnect:
    """Sentinel body: close the connection without answering."""


DISCONNECT = _Disconnect()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    standin: StandIn


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server
    server_version = "GitHub.com-standin"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # ------------------------------------------------------------------ core
    def _handle(self, method: str) -> None:
        t0 = time.perf_counter()
        state = self.server.standin.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        path = split.path
        params = parse_qs(split.query, keep_blank_values=True)
        kind: RequestKind = (
            "graphql" if path == GRAPHQL_PATH else "search" if path.startswith(REST_PREFIX + "/search/") else "rest"
        )
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        origin = f"http://{host}"
        rid = f"5A1D:{next(_request_ids):06X}:STANDIN"
        if state.latency_ms > 0:
            time.sleep(state.latency_ms / 1000.0)
        fault_kind: str | None = None
        cost = 0
        try:
            status, body, headers, fault_kind, cost = self._dispatch(
                state, method, path, params, raw, kind, origin, rid
            )
        except Exception as exc:  # a stand-in bug: answer 500 and say so on stderr
            traceback.print_exc(file=sys.stderr)
            status, body, headers = 500, {"message": f"GitHub stand-in error: {exc!r}"}, {}
        if isinstance(body, _Disconnect):
            self.close_connection = True
            state.record(RequestRecord(method, path, 0, kind, (time.perf_counter() - t0) * 1000, fault_kind))
            return
        headers.setdefault("X-GitHub-Request-Id", rid)
        # recorded before answering, so a client that got its response sees it counted
        operation = _operation(raw) if kind == "graphql" else None
        elapsed = (time.perf_counter() - t0) * 1000
        state.record(RequestRecord(method, path, status, kind, elapsed, fault_kind, cost, operation))
        self._send(status, body, headers)

    def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    @staticmethod
    def _rate_headers(bucket: RateBucket, *, remaining: int | None = None, reset: int | None = None) -> dict[str, str]:
        rem = bucket.remaining if remaining is None else remaining
        return {
            "X-RateLimit-Limit": str(bucket.limit),
            "X-RateLimit-Remaining": str(rem),
            "X-RateLimit-Reset": str(bucket.reset if reset is None else reset),
            "X-RateLimit-Used": str(bucket.limit - rem),
            "X-RateLimit-Resource": bucket.resource,
        }

    def _credential(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        return token.strip() if scheme.lower() in ("token", "bearer") else None

    def _visible_orgs(self, state: GitHubState) -> frozenset[str] | None:
        """What the request may see: everything for a token in ``state.tokens``, one organisation for a
        live installation token; None when the credential is not accepted."""
        token = self._credential()
        if token is None:
            return None
        if token in state.tokens:
            return frozenset()  # no restriction
        installation = state.apps.installation_token(token, state.clock())
        return frozenset({installation.org.lower()}) if installation is not None else None

    def _dispatch(
        self,
        state: GitHubState,
        method: str,
        path: str,
        params: dict[str, list[str]],
        raw: bytes,
        kind: RequestKind,
        origin: str,
        rid: str,
    ) -> tuple[int, Any, dict[str, str], str | None, int]:
        bucket = state.bucket_for(kind)
        if kind == "rest" and app_api.is_app_route(path):
            status, app_body = app_api.handle(
                state.apps, method, path, self._credential() or "", origin=origin, now=state.clock()
            )
            return status, app_body, {}, None, 0
        visible = self._visible_orgs(state)
        if visible is None:
            return 401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}, {}, None, 0
        refused = self._over_secondary_budget(state, method, raw, kind, bucket, rid)
        if refused is not None:
            return (*refused, "secondary_budget", 0)

        is_search = kind == "search" or (
            kind == "graphql" and graphql_api.selects_search(raw.decode("utf-8", "replace"))
        )
        fault = state.faults.take(kind, path, is_search=is_search)
        fault_kind = fault.kind if fault else None
        early = self._transport_fault(state, fault, kind, bucket, rid) if fault else None
        if early is not None:
            return (*early, fault_kind, 0)

        if kind == "graphql":
            if method != "POST":
                return (
                    404,
                    {"message": "Not Found", "documentation_url": "https://docs.github.com/graphql"},
                    {},
                    None,
                    0,
                )
            cache = state.answer_cache if fault is None else None
            if cache is not None and raw in cache:
                return cache[raw]  # type: ignore[no-any-return]
            res = graphql_api.handle(
                state, raw, origin=origin, fault=fault, request_id=rid, visible_orgs=visible or None
            )
            headers = self._rate_headers(res.bucket or bucket)
            answer = res.status, res.payload, headers, fault_kind, res.cost
            if cache is not None and res.status == 200:
                cache[raw] = answer
            return answer

        free = path.rstrip("/") == REST_PREFIX + "/rate_limit"
        if not free:
            ok, bucket = state.consume(kind, 1)
            if not ok:
                uid = (state.users.get(state.viewer) or User(state.viewer)).id
                body = {"message": PRIMARY_MESSAGE.format(uid=uid, rid=rid), "documentation_url": RATE_DOCS}
                return 403, body, self._rate_headers(bucket, remaining=0), fault_kind, 0
        resp = rest_api.handle(state, method, path, params, origin=origin, fault=fault)
        headers = {**self._rate_headers(bucket), **resp.headers}
        return resp.status, resp.body, headers, fault_kind, 1

    def _over_secondary_budget(
        self, state: GitHubState, method: str, raw: bytes, kind: RequestKind, bucket: RateBucket, rid: str
    ) -> tuple[int, Any, dict[str, str]] | None:
        """GitHub's secondary limit in points per minute (``state.secondary``): over it, a 403 with
        ``Retry-After``, as GitHub answers (the same body as the ``secondary_rate_limit`` fault)."""
        if state.secondary is None:
            return None
        family = "graphql" if kind == "graphql" else "rest"
        write = method != "GET" and not (family == "graphql" and not _is_mutation(raw))
        with state._lock:
            wait = state.secondary.charge(family, 5 if write else 1, time.monotonic())
        if wait is None:
            return None
        body = {
            "message": SECONDARY_MESSAGE.format(rid=rid),
            "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/"
            "rate-limits-for-the-rest-api#about-secondary-rate-limits",
        }
        return 403, body, {**self._rate_headers(bucket), "Retry-After": str(max(1, math.ceil(wait)))}

    def _transport_fault(
        self, state: GitHubState, fault: Fault, kind: RequestKind, bucket: RateBucket, rid: str
    ) -> tuple[int, Any, dict[str, str]] | None:
        """Faults answered before dispatch; ``None`` for faults the API handlers apply."""
        bucket.refresh()
        if fault.kind in ("http_500", "http_502", "http_503"):
            status = int(fault.kind[-3:])
            if kind == "graphql" and status == 502:
                body: Any = {"data": None, "errors": [{"message": graphql_api.SOMETHING_WRONG.format(rid=rid)}]}
            else:
                body = {"message": {500: "Server Error", 502: "Server Error", 503: "Service Unavailable"}[status]}
            return status, body, {}
        if fault.kind == "disconnect":
            return 0, DISCONNECT, {}
        if fault.kind == "redirect":
            return fault.status, {"message": "Moved Permanently"}, {"Location": fault.location}
        if fault.kind == "timeout":
            time.sleep(fault.delay_s)
            return None
        if fault.kind == "secondary_rate_limit":
            body = {
                "message": SECONDARY_MESSAGE.format(rid=rid),
                "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/"
                "rate-limits-for-the-rest-api#about-secondary-rate-limits",
            }
            return 403, body, {**self._rate_headers(bucket), "Retry-After": str(fault.retry_after)}
        if fault.kind == "primary_rate_limit":
            uid = (state.users.get(state.viewer) or User(state.viewer)).id
            reset = int(time.time()) + fault.reset_in
            body = {"message": PRIMARY_MESSAGE.format(uid=uid, rid=rid), "documentation_url": RATE_DOCS}
            return 403, body, self._rate_headers(bucket, remaining=0, reset=reset)
        return None


def _graphql_text(raw: bytes) -> str:
    try:
        document = json.loads(raw or b"{}")
    except ValueError:
        return ""
    query = document.get("query") if isinstance(document, dict) else None
    return query if isinstance(query, str) else ""


def _operation(raw: bytes) -> str | None:
    """``query AuditSearch($q: String!) {...}`` → ``AuditSearch``; None for an anonymous query."""
    match = re.match(r"\s*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)", _graphql_text(raw))
    return match.group(1) if match else None


def _is_mutation(raw: bytes) -> bool:
    return re.match(r"\s*mutation\b", _graphql_text(raw)) is not None


class StandIn:
    """A running GitHub stand-in. ``with StandIn(state) as gh_server: ...`` or ``start()``/``stop()``."""

    def __init__(self, state: GitHubState | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state if state is not None else GitHubState()
        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> StandIn:
        graphql_api.schema()  # build GitHub's schema now, not inside the first request
        rest_api.example("simple-user")  # and load the OpenAPI examples
        server = _Server((self._host, self._port), _Handler)
        server.standin = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="github-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("stand-in not started")
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """REST base URL to give PyGithub (``Github(base_url=...)``) / ``GITHUB_API_URL``."""
        return self.origin + REST_PREFIX

    @property
    def graphql_url(self) -> str:
        return self.origin + GRAPHQL_PATH
