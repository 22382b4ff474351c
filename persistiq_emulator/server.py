"""A standard-library HTTP server that answers like the PersistIQ v1 API.

It follows shared/persistiq-api.md, awkward parts included: by default `next_page` is a URL
that drops the request's filters, a 401 echoes the key that was sent, a 429 has no
`Retry-After`, and unknown query parameters (such as `next_page=...`) are ignored.

Endpoints (all GET; endpoints.py has the filters of each):
`/v1/users`, `/v1/leads`, `/v1/leads/{id}` (one lead by id or email, under `lead`),
`/v1/campaigns`, `/v1/campaigns/{campaign_id}/leads` (records key `campaign_leads`),
`/v1/campaigns/{campaign_id}/replies`, `/v1/events`, `/v1/lead_statuses`, `/v1/lead_fields`,
`/v1/tags` and `/v1/dnc_domains`. `lead_statuses` and `lead_fields` ignore `page` and answer
every record at once (has_more false, next_page null); the others page.

Each request, in order: `latency` sleep; an injected response if one matches (not rate-limit
counted, before auth); 404 outside `/v1/`; 401 on a wrong/missing `x-api-key` (not counted);
the rate limit (every authenticated request counts, 429s and random faults included); a random
fault (`fault_rate`); 404 for other paths or non-GET methods (paths match exactly, so
`/v1/leads/` is a 404); 400 for a bad `page` (not an integer >= 1) on an endpoint that pages, or
an unparseable `updated_after`/`created_after`/`start_at`/`end_at`; 404 for every campaign's
list named in `missing_campaign_lists` (`"leads"`, `"replies"`: an endpoint PersistIQ moved, or
a proxy that does not forward it); 404 `not_found` for a campaign in the path that does not
exist ("Campaign c_... not found"); then the page. A repeated
query parameter: the last one wins.

`start_at`/`end_at` (events, replies) bound a window whose ends are both inclusive
(`window_ends="inclusive"`, the default: start_at <= t <= end_at) or both exclusive
(`"exclusive"`: start_at < t < end_at); records with a null time are in no window, or with
`untimed_in_windows` in every one. `page_sizes` sets the records a page of one list (e.g.
`{"events": 500}`); the others have `page_size`.
Records are served ordered by id; pages are slices of one cached filtered list per
(endpoint, campaign id, filters, window_ends, untimed_in_windows, store version).
"""

from __future__ import annotations

import math
import random
import socket
import threading
import time
import traceback
from collections.abc import Collection, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from persistiq_emulator.data import WINDOW_ENDS, EmulatorStore, public
from persistiq_emulator.endpoints import (
    ENDPOINTS,
    FILTERS,
    BadRequest,
    FilteredRecords,
    FilteredRecordsCache,
    NotFound,
    parse_filters,
    route,
)
from persistiq_emulator.endpoints import json_bytes as _json_bytes
from persistiq_emulator.generate import make_dataset

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
FAULT_STATUSES = (500, 502, 503, 504)
NEXT_PAGE_STYLES = ("url", "number")
ERROR_REASONS = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    429: "too_many_requests",
}


@dataclass(frozen=True)
class RequestRecord:
    """One request the emulator answered; `status` is 0 when the connection was dropped."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    user_agent: str | None
    time: float  # when it arrived
    answered: float = 0.0  # when its answer was ready


@dataclass
class Response:
    """A response to write as-is, or a connection to drop."""

    status: int
    body: bytes = b""
    content_type: str = JSON_CONTENT_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    drop_connection: bool = False


@dataclass
class _Injection:
    response: Response
    path: str | None
    remaining: int


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """A PersistIQ-style error body: {"status":"error","error":{"reason","message"}}."""
    reason = ERROR_REASONS.get(status, "internal_error")
    body = _json_bytes({"status": "error", "error": {"reason": reason, "message": message}})
    return Response(status, body, headers=dict(headers or {}))


LEAD_PATH = "/v1/leads/"  # GET /v1/leads/{id or email}: one lead


class FixedWindowRateLimiter:
    """Counts requests in fixed windows that start at the first request after the last ended."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window_start: float | None = None
        self._count = 0

    def hit(self, limit: int, window: float, count: bool = True) -> tuple[bool, dict[str, str]]:
        """Count one request (if `count`); return (allowed, X-RateLimit-* headers)."""
        now = time.time()
        with self._lock:
            if self._window_start is None or now >= self._window_start + window:
                self._window_start, self._count = now, 0
            if count:
                self._count += 1
            used = self._count
            reset = math.ceil(self._window_start + window)
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(limit - used, 0)),
            "X-RateLimit-Reset": str(reset),
        }
        return used <= limit, headers


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "PersistIQ-Emulator"
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Silence the default per-request stderr line."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        arrived = time.time()
        target = urlsplit(self.path)
        query = dict(parse_qsl(target.query, keep_blank_values=True))  # last value wins
        emulator = self.server.emulator
        try:
            response = emulator.respond(self.command, target.path, query, self.headers)
        except Exception as error:  # an emulator bug: say so over HTTP and on stderr
            traceback.print_exc()
            response = error_response(500, f"Emulator error: {error!r}")
        status = 0 if response.drop_connection else response.status
        user_agent = self.headers.get("User-Agent")
        emulator._record(
            RequestRecord(
                self.command, target.path, query, status, user_agent, arrived, time.time()
            )
        )
        if response.drop_connection:
            self.close_connection = True
            with suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(self._encode(response))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def _encode(self, response: Response) -> bytes:
        try:
            phrase = HTTPStatus(response.status).phrase
        except ValueError:
            phrase = "Unknown"
        lines = [
            f"HTTP/1.1 {response.status} {phrase}",
            f"Server: {self.server_version}",
            f"Date: {self.date_time_string()}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
            *(f"{name}: {value}" for name, value in response.headers.items()),
        ]
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], emulator: PersistIQEmulator) -> None:
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address) -> None:  # noqa: ANN001
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:  # noqa: ANN001
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        """End kept-alive connections so a stopped emulator really stops answering."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class PersistIQEmulator:
    """A local PersistIQ v1 API over real HTTP; settings may be changed while it runs."""

    def __init__(
        self,
        store: EmulatorStore | None = None,
        api_key: str = "test-api-key",
        page_size: int = 100,
        next_page_style: str = "url",
        next_page_keeps_params: bool = False,
        rate_limit: int | None = None,
        rate_limit_window: float = 60.0,
        fault_rate: float = 0.0,
        fault_seed: int = 0,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        window_ends: str = "inclusive",
        missing_campaign_lists: Collection[str] = (),
        page_sizes: Mapping[str, int] | None = None,
        untimed_in_windows: bool = False,
    ) -> None:
        self.store = store if store is not None else make_dataset()
        self.api_key = api_key
        self.page_size = page_size
        # Records a page by list (records key), where it differs from page_size.
        self.page_sizes = dict(page_sizes or {})
        self.untimed_in_windows = untimed_in_windows
        self.next_page_style = next_page_style
        self.window_ends = window_ends
        self.next_page_keeps_params = next_page_keeps_params
        self.missing_campaign_lists = frozenset(missing_campaign_lists)
        self.rate_limit = rate_limit
        self.rate_limit_window = rate_limit_window
        self.fault_rate = fault_rate
        self.latency = latency
        self.host = host
        self._requested_port = port
        self._bound_port: int | None = None
        self._fault_rng = random.Random(fault_seed)
        self._lock = threading.Lock()
        self._requests: list[RequestRecord] = []
        self._injections: list[_Injection] = []
        self._limiter = FixedWindowRateLimiter()
        self._cache = FilteredRecordsCache()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> PersistIQEmulator:
        """Bind and serve in a daemon thread; returns self."""
        if self._server is None:
            self._server = _Server((self.host, self._requested_port), self)
            self._bound_port = self._server.server_address[1]
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"persistiq-emulator-{self._bound_port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket and any kept-alive connections; idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_open_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> PersistIQEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._bound_port is None:
            raise RuntimeError("emulator not started")
        return self._bound_port

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1/"

    @property
    def next_page_style(self) -> str:
        return self._next_page_style

    @next_page_style.setter
    def next_page_style(self, style: str) -> None:
        if style not in NEXT_PAGE_STYLES:
            raise ValueError(f"next_page_style must be one of {NEXT_PAGE_STYLES}, not {style!r}")
        self._next_page_style = style

    @property
    def window_ends(self) -> str:
        """Whether `start_at`/`end_at` windows include their ends: "inclusive" or "exclusive"."""
        return self._window_ends

    @window_ends.setter
    def window_ends(self, ends: str) -> None:
        if ends not in WINDOW_ENDS:
            raise ValueError(f"window_ends must be one of {WINDOW_ENDS}, not {ends!r}")
        self._window_ends = ends

    # -- request log and fault injection ---------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def count(self, path: str | None = None, status: int | None = None) -> int:
        """How many logged requests match `path` and `status` (None matches any)."""
        return sum(
            1
            for record in self.requests
            if (path is None or record.path == path) and (status is None or record.status == status)
        )

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)

    def inject(
        self,
        status: int = 503,
        body: bytes | str | dict | list | None = None,
        times: int = 1,
        path: str | None = None,
        content_type: str = JSON_CONTENT_TYPE,
        headers: dict[str, str] | None = None,
        drop_connection: bool = False,
    ) -> None:
        """Answer the next `times` requests to `path` (None: any path) with exactly this.

        `body` is sent verbatim (bytes/str) or as JSON (dict/list); None sends a standard
        error body for `status`. `drop_connection` closes the socket without any response.
        Injected responses come before auth and are not rate-limit counted. Queued
        injections are consumed first come, first served.
        """
        if body is None:
            response = error_response(status, f"Injected {status}", headers)
        else:
            if isinstance(body, dict | list):
                raw = _json_bytes(body)
            else:
                raw = body.encode() if isinstance(body, str) else bytes(body)
            response = Response(status, raw, content_type, dict(headers or {}))
        response.content_type = content_type
        response.drop_connection = drop_connection
        with self._lock:
            self._injections.append(_Injection(response, path, times))

    def clear_injections(self) -> None:
        with self._lock:
            self._injections.clear()

    def _take_injection(self, path: str) -> Response | None:
        with self._lock:
            for injection in self._injections:
                if injection.path is None or injection.path == path:
                    injection.remaining -= 1
                    if injection.remaining <= 0:
                        self._injections.remove(injection)
                    return injection.response
        return None

    # -- answering -------------------------------------------------------------------------

    def respond(
        self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> Response:
        """Compute the response to one request (see the module docstring for the order)."""
        if self.latency:
            time.sleep(self.latency)
        injected = self._take_injection(path)
        if injected is not None:
            return injected
        if not path.startswith("/v1/"):
            return error_response(404, f"Not found: {path}")
        rate_limit = self.rate_limit
        sent_key = headers.get("x-api-key")
        if sent_key != self.api_key:
            rate_headers = {}
            if rate_limit is not None:
                _, rate_headers = self._limiter.hit(rate_limit, self.rate_limit_window, False)
            return error_response(401, f"Failed to find api key: {sent_key or ''}", rate_headers)
        rate_headers = {}
        if rate_limit is not None:
            allowed, rate_headers = self._limiter.hit(rate_limit, self.rate_limit_window)
            if not allowed:
                message = (
                    f"You performed more than {rate_limit} requests per minute. "
                    f"Limit will be reseted at {rate_headers['X-RateLimit-Reset']}."
                )
                return error_response(429, message, rate_headers)
        fault_status = self._draw_fault()
        if fault_status is not None:
            return error_response(fault_status, "Something went wrong", rate_headers)
        if method == "GET" and path.startswith(LEAD_PATH) and "/" not in path[len(LEAD_PATH) :]:
            return self._one_lead(unquote(path[len(LEAD_PATH) :]), rate_headers)
        routed = route(path)
        if method != "GET" or routed is None:
            return error_response(404, f"Not found: {method} {path}", rate_headers)
        resource, campaign_id = routed
        if campaign_id is not None and path.rsplit("/", 1)[-1] in self.missing_campaign_lists:
            return error_response(404, f"Not found: {method} {path}", rate_headers)
        endpoint = ENDPOINTS[resource]
        try:
            page = _parse_page(query.get("page")) if endpoint.paged else None
            filters = parse_filters(resource, query)
        except BadRequest as error:
            return error_response(400, str(error), rate_headers)
        try:
            snapshot = self._cache.get(
                self.store,
                resource,
                filters,
                campaign_id,
                self.window_ends,
                self.untimed_in_windows,
            )
        except NotFound as error:
            return error_response(404, str(error), rate_headers)
        body = self._page_body(endpoint.key, path, query, snapshot, page)
        return Response(200, body, headers=rate_headers)

    def _one_lead(self, id_or_email: str, rate_headers: dict[str, str]) -> Response:
        """``GET /v1/leads/{id}``: the lead under ``lead`` (the API description's shape)."""
        lead = self.store.lead(id_or_email) if id_or_email else None
        if lead is None:
            return error_response(404, f"Lead {id_or_email} not found", rate_headers)
        body = {"status": "success", "error": None, "lead": public(lead)}
        return Response(200, _json_bytes(body), headers=rate_headers)

    def _draw_fault(self) -> int | None:
        fault_rate = self.fault_rate
        if not fault_rate:
            return None
        with self._lock:
            if self._fault_rng.random() >= fault_rate:
                return None
            return self._fault_rng.choice(FAULT_STATUSES)

    def _page_body(
        self,
        key: str,
        path: str,
        query: Mapping[str, str],
        snapshot: FilteredRecords,
        page: int | None,
    ) -> bytes:
        """The envelope with page `page` of `snapshot` under `key`; page None: every record."""
        if page is None:
            page, start, size = 1, 0, len(snapshot.records)
        else:
            size = max(int(self.page_sizes.get(key, self.page_size)), 1)
            start = (page - 1) * size
        has_more = start + size < len(snapshot.records)
        next_page: int | str | None = None
        if has_more and self.next_page_style == "number":
            next_page = page + 1
        elif has_more:
            params = {k: v for k, v in query.items() if k != "page"}
            if not self.next_page_keeps_params:
                params = {}
            params["page"] = str(page + 1)
            next_page = f"{self.root_url}{path}?{urlencode(params)}"
        head = {"status": "success", "errors": [], "has_more": has_more, "next_page": next_page}
        # Same bytes as json.dumps of the whole envelope with `key` as the last key.
        return b"".join(
            (
                _json_bytes(head)[:-1],
                b",",
                _json_bytes(key),
                b":",
                snapshot.chunk_json(start, size),
                b"}",
            )
        )


def _parse_page(raw: str | None) -> int:
    if raw is None:
        return 1
    try:
        page = int(raw)
    except ValueError:
        raise BadRequest(f"Invalid page: {raw!r}") from None
    if page < 1:
        raise BadRequest(f"Invalid page: {raw!r}")
    return page


__all__ = [
    "ENDPOINTS",
    "FILTERS",
    "BadRequest",
    "FilteredRecordsCache",
    "NotFound",
    "PersistIQEmulator",
    "RequestRecord",
    "Response",
]
