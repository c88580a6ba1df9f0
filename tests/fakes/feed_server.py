"""A real HTTP feed server on 127.0.0.1 for tests: static feeds with ETag/304, plus scripted misbehaviour.

Test scaffolding only; knows nothing about the bot. Every wait is bounded and ends at shutdown.
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_WAIT = 10.0  # no handler ever sleeps longer than this, whatever a test asks for


@dataclass
class Response:
    """One scripted answer. `body` is sent `repeat` times (huge bodies without huge memory)."""

    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line (slow server / read timeout)
    drip: tuple[int, float] | None = None  # (bytes, seconds): send the body this many bytes per interval
    hang: float = 0.0  # seconds to stall after the headers, before the body ("forever-ish", bounded)
    gzip: bool = False  # compress the body and declare Content-Encoding: gzip
    content_encoding: str | None = None  # body is already encoded this way; just declare it
    content_type: str | None = "application/rss+xml; charset=utf-8"
    repeat: int = 1
    content_length: bool = True  # False: no Content-Length, body runs until the connection closes


@dataclass
class _Static:
    body: bytes
    content_type: str
    headers: dict[str, str]
    status: int
    etag: str
    last_modified: str
    modified_at: float


class FeedServer:
    """ThreadingHTTPServer on 127.0.0.1, port 0, in a daemon thread; use as a context manager."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._static: dict[str, _Static] = {}
        self._scripts: dict[str, list[Response]] = {}
        self._stopping = threading.Event()
        self.requests: list[dict] = []
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="feed-server", daemon=True)

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()  # wakes every sleeping handler
        if self._thread.is_alive():  # shutdown() would wait forever for a loop that never started
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def url(self, path: str) -> str:
        return self.base_url + path

    def set(self, path: str, body: bytes | str, *, content_type: str = "application/rss+xml; charset=utf-8",
            headers: dict[str, str] | None = None, status: int = 200) -> None:
        """Serve this at `path` until replaced; 200s get a strong ETag and Last-Modified and honour 304."""
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        now = time.time()
        static = _Static(data, content_type, dict(headers or {}), status,
                         '"' + hashlib.sha256(data).hexdigest()[:20] + '"',
                         email.utils.formatdate(now, usegmt=True), now)
        with self._lock:
            self._static[path] = static

    def script(self, path: str, responses: list[Response]) -> None:
        """Serve these once each, in order, before falling back to what `set` gave for `path`."""
        with self._lock:
            self._scripts.setdefault(path, []).extend(responses)

    def hits(self, path: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r["path"] == path)

    # ------------------------------------------------------------ used by the handler thread

    def _record(self, path: str, target: str, method: str, headers: dict[str, str]) -> dict:
        """path (no query), target (as requested), method, lower-cased headers, body bytes sent so far."""
        entry = {"path": path, "target": target, "method": method, "headers": headers, "sent": 0}
        with self._lock:
            self.requests.append(entry)
        return entry

    def _next(self, path: str) -> Response | _Static | None:
        with self._lock:
            queue = self._scripts.get(path)
            if queue:
                return queue.pop(0)
            return self._static.get(path)

    def _wait(self, seconds: float) -> bool:
        """Sleep up to `seconds` (capped); False when the server is stopping."""
        return not self._stopping.wait(min(max(seconds, 0.0), MAX_WAIT))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # server_close must not wait for a handler that is still dripping
    owner: FeedServer

    def handle_error(self, request, client_address) -> None:  # a client hanging up is not news
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        entry = owner._record(path, self.path, self.command, {k.lower(): v for k, v in self.headers.items()})
        answer = owner._next(path)
        try:
            if answer is None:
                self._send(entry, Response(status=404, body=b"not found", content_type="text/plain"))
            elif isinstance(answer, _Static):
                self._send_static(entry, answer)
            else:
                self._send(entry, answer)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True  # the client stopped reading: that is often the point of the test

    def _send_static(self, entry: dict, static: _Static) -> None:
        headers = {"ETag": static.etag, "Last-Modified": static.last_modified, **static.headers}
        if static.status == 200 and self._not_modified(static):
            self._send(entry, Response(status=304, headers=headers, content_type=None))
        else:
            self._send(entry, Response(status=static.status, body=static.body, headers=headers,
                                       content_type=static.content_type))

    def _not_modified(self, static: _Static) -> bool:
        tags = self.headers.get("If-None-Match")
        if tags is not None:
            return static.etag in [t.strip() for t in tags.split(",")] or tags.strip() == "*"
        since = self.headers.get("If-Modified-Since")
        if not since:
            return False
        try:
            return int(static.modified_at) <= email.utils.parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError, IndexError):
            return False

    def _send(self, entry: dict, r: Response) -> None:
        owner = self.server.owner
        if r.delay and not owner._wait(r.delay):
            self.close_connection = True
            return
        body = r.body.encode("utf-8") if isinstance(r.body, str) else bytes(r.body)
        headers, repeat = dict(r.headers), r.repeat
        if r.gzip:
            body, headers["Content-Encoding"], repeat = gzip.compress(body * repeat, mtime=0), "gzip", 1
        elif r.content_encoding:
            headers["Content-Encoding"] = r.content_encoding
        no_body = r.status in (204, 304) or self.command == "HEAD"
        self.send_response(r.status)
        if r.content_type and not no_body:
            self.send_header("Content-Type", r.content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        if r.content_length and r.status != 304:
            self.send_header("Content-Length", str(len(body) * repeat))
        elif not no_body:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.flush()
        if no_body or (r.hang and not owner._wait(r.hang)):
            return
        self._write_body(entry, body, repeat, r.drip)

    def _write_body(self, entry: dict, body: bytes, repeat: int, drip: tuple[int, float] | None) -> None:
        owner = self.server.owner
        step, interval = drip if drip else (64 * 1024, 0.0)
        for _ in range(repeat):
            for start in range(0, len(body), step):
                self.wfile.write(body[start:start + step])
                self.wfile.flush()
                entry["sent"] += len(body[start:start + step])
                if interval and not owner._wait(interval):
                    self.close_connection = True
                    return
