"""Prometheus metrics for the daemon, and the small HTTP server for GET /metrics and GET /healthz.

Knows nothing of fetching, matching, storage or Telegram: it counts the values the daemon hands it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable, Mapping, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.models import Delivery, PollReport

_KIND = re.compile(r"[^a-z0-9]+")


def error_kind(error: str | None) -> str:
    """A short, bounded label for a fetch error: "http 503" → "http_503", "timeout: read" → "timeout"."""
    if not error:
        return "none"
    head = error.split(":", 1)[0].strip().lower()
    return _KIND.sub("_", head).strip("_")[:40] or "other"


class Metrics:
    """Every metric of one daemon, in its own registry (never prometheus_client's global one)."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self.registry = r = CollectorRegistry()
        self.polls = Counter("bot_polls", "Feed polls, by feed and outcome.", ["feed", "outcome"], registry=r)
        self.fetch_errors = Counter("bot_fetch_errors", "Failed polls, by feed and kind of error.",
                                    ["feed", "kind"], registry=r)
        self.poll_seconds = Histogram("bot_poll_duration_seconds", "Time for one poll (fetch to queued alerts).",
                                      buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 60), registry=r)
        self.articles_seen = Counter("bot_articles_seen", "Items read from feeds.", ["feed"], registry=r)
        self.articles_new = Counter("bot_articles_new", "Items not seen before.", ["feed"], registry=r)
        self.last_success = Gauge("bot_feed_last_success_timestamp_seconds",
                                  "Unix time of the last successful poll of each feed.", ["feed"], registry=r)
        self.matches = Counter("bot_matches", "Articles matched, by watchlist.", ["watchlist"], registry=r)
        self.queued = Counter("bot_alerts_queued", "Alerts written to the outbox.", registry=r)
        self.sent = Counter("bot_alerts_sent", "Alerts delivered to Telegram.", registry=r)
        self.failed = Counter("bot_alerts_failed", "Alerts given up on (permanent errors).", registry=r)
        self.retried = Counter("bot_alerts_retried", "Delivery attempts left pending to retry.", registry=r)
        self.delivery_seconds = Histogram("bot_delivery_duration_seconds", "Time for one outbox drain.",
                                          buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120), registry=r)
        self.pending = Gauge("bot_outbox_pending", "Alerts waiting in the outbox.", registry=r)
        self.skipped = Counter("bot_alerts_skipped", "Alerts not sent: the chat had muted them when due.",
                               registry=r)
        self.edits = Gauge("bot_edits", "'Also reported by' edits of sent alerts, by status.", ["status"],
                           registry=r)

    # ------------------------------------------------------------ what the daemon calls

    def observe_poll(self, report: PollReport) -> None:
        feed = report.feed_id
        self.polls.labels(feed, report.outcome).inc()
        self.poll_seconds.observe(max(report.duration, 0.0))
        self.articles_seen.labels(feed).inc(report.fetched)
        self.articles_new.labels(feed).inc(report.new)
        if report.outcome == "failed":
            self.fetch_errors.labels(feed, error_kind(report.error)).inc()
        else:
            self.last_success.labels(feed).set(self.clock())

    def observe_matches(self, watchlist_counts: Mapping[str, int]) -> None:
        for watchlist, count in watchlist_counts.items():
            self.matches.labels(watchlist).inc(count)

    def observe_deliveries(self, deliveries: Sequence[Delivery], latency_seconds: float) -> None:
        if not deliveries:
            return
        self.sent.inc(sum(1 for d in deliveries if d.sent))
        self.failed.inc(sum(1 for d in deliveries if not d.sent and d.permanent_error))
        self.retried.inc(sum(1 for d in deliveries if not d.sent and not d.permanent_error
                             and d.held_until is None and d.skipped is None))  # held/muted: not attempts
        self.skipped.inc(sum(1 for d in deliveries if d.skipped is not None))
        self.delivery_seconds.observe(max(latency_seconds, 0.0))

    def set_pending(self, n: int) -> None:
        self.pending.set(n)

    def set_edits(self, counts: Mapping[str, int]) -> None:
        for status, n in counts.items():
            self.edits.labels(status).set(n)

    def alerts_queued(self, n: int) -> None:
        self.queued.inc(n)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def start_server(self, listen: str, health: Callable[[], list[str]]) -> MetricsServer:
        """Serve GET /metrics and GET /healthz on "host:port" (port 0 picks a free one; see .port)."""
        host, _, port = listen.rpartition(":")
        server = MetricsServer(self, health)
        await server.start(host.strip("[]") or "127.0.0.1", int(port))
        return server


class MetricsServer:
    """A minimal HTTP/1.0 server on the daemon's event loop: one request per connection."""

    def __init__(self, metrics: Metrics, health: Callable[[], list[str]]):
        self.metrics, self.health = metrics, health
        self.server: asyncio.base_events.Server | None = None
        self.host, self.port = "", 0

    async def start(self, host: str, port: int) -> None:
        self.server = await asyncio.start_server(self._handle, host, port)
        self.host, self.port = self.server.sockets[0].getsockname()[:2]

    def respond(self, method: str, path: str) -> tuple[int, str, bytes]:
        path = path.split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return 405, "text/plain; charset=utf-8", b"method not allowed\n"
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, self.metrics.render()
        if path == "/healthz":
            try:
                problems = self.health()
            except Exception as exc:  # a broken check is itself a problem to report, not a crash
                problems = [f"health check crashed: {exc!r}"]
            body = ("ok\n" if not problems else "".join(f"{p}\n" for p in problems)).encode()
            return (503 if problems else 200), "text/plain; charset=utf-8", body
        return 404, "text/plain; charset=utf-8", b"not found: try /metrics or /healthz\n"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), timeout=10)
            while await asyncio.wait_for(reader.readline(), timeout=10) not in (b"\r\n", b"\n", b""):
                pass  # headers are not needed
            parts = request.decode("latin-1").split()
            status, ctype, body = self.respond(*parts[:2]) if len(parts) >= 2 else (400, "text/plain", b"")
            reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                      503: "Service Unavailable"}[status]
            head = (f"HTTP/1.0 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                    "Connection: close\r\n\r\n").encode()
            writer.write(head + (b"" if parts[:1] == ["HEAD"] else body))
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()

    async def aclose(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
