"""Metrics: what the daemon reports shows up in a real scrape over HTTP on 127.0.0.1, and /healthz tells the truth."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import Metrics, error_kind
from bot.models import Delivery, PollReport


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_error_kind_is_short_and_bounded():
    assert error_kind("http 503") == "http_503"
    assert error_kind("timeout: read timed out after 20 s") == "timeout"
    assert error_kind(None) == "none"
    assert error_kind("!!!") == "other"
    assert len(error_kind("x" * 500)) == 40


async def test_scrape_over_http_shows_polls_matches_deliveries_and_queue():
    metrics = Metrics(clock=lambda: 1_700_000_000.0)
    metrics.observe_poll(PollReport(feed_id="عنب بلدي", outcome="new", fetched=20, new=3, matched=1, alerts=1,
                                    duration=0.4))
    metrics.observe_poll(PollReport(feed_id="عنب بلدي", outcome="not_modified", duration=0.1))
    metrics.observe_poll(PollReport(feed_id="bbc", outcome="failed", error="http 503", duration=2.0))
    metrics.observe_matches({"s400": 2, "officials": 1})
    metrics.alerts_queued(3)
    metrics.observe_deliveries([Delivery(alert_id=1, sent=True, message_id=9),
                                Delivery(alert_id=2, sent=False, permanent_error="chat not found"),
                                Delivery(alert_id=3, sent=False, error="timed out", retry_after=3),
                                Delivery(alert_id=4, sent=False, skipped="muted")], 1.5)
    metrics.set_pending(1)
    metrics.set_edits({"pending": 2, "done": 5, "failed": 0})

    server = await metrics.start_server("127.0.0.1:0", lambda: [])
    try:
        assert server.port > 0
        async with httpx.AsyncClient() as client:
            reply = await client.get(f"http://127.0.0.1:{server.port}/metrics")
    finally:
        await server.aclose()
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    got = samples(reply.text)
    enab = (("feed", "عنب بلدي"),)
    assert got[("bot_polls_total", (("feed", "عنب بلدي"), ("outcome", "new")))] == 1
    assert got[("bot_polls_total", (("feed", "عنب بلدي"), ("outcome", "not_modified")))] == 1
    assert got[("bot_polls_total", (("feed", "bbc"), ("outcome", "failed")))] == 1
    assert got[("bot_fetch_errors_total", (("feed", "bbc"), ("kind", "http_503")))] == 1
    assert got[("bot_articles_seen_total", enab)] == 20
    assert got[("bot_articles_new_total", enab)] == 3
    assert got[("bot_poll_duration_seconds_count", ())] == 3
    assert got[("bot_poll_duration_seconds_sum", ())] == 2.5
    assert got[("bot_feed_last_success_timestamp_seconds", enab)] == 1_700_000_000.0
    assert ("bot_feed_last_success_timestamp_seconds", (("feed", "bbc"),)) not in got  # never succeeded
    assert got[("bot_matches_total", (("watchlist", "s400"),))] == 2
    assert got[("bot_matches_total", (("watchlist", "officials"),))] == 1
    assert got[("bot_alerts_queued_total", ())] == 3
    assert got[("bot_alerts_sent_total", ())] == 1
    assert got[("bot_alerts_failed_total", ())] == 1
    assert got[("bot_alerts_retried_total", ())] == 1
    assert got[("bot_delivery_duration_seconds_count", ())] == 1
    assert got[("bot_outbox_pending", ())] == 1
    assert got[("bot_alerts_skipped_total", ())] == 1
    assert got[("bot_edits", (("status", "pending"),))] == 2 and got[("bot_edits", (("status", "done"),))] == 5


async def test_an_empty_drain_records_no_delivery_latency():
    metrics = Metrics()
    metrics.observe_deliveries([], 0.2)
    assert samples(metrics.render().decode())[("bot_delivery_duration_seconds_count", ())] == 0


async def test_each_metrics_has_its_own_registry_not_the_global_one():
    a, b = Metrics(), Metrics()  # a second instance would raise "Duplicated timeseries" on a shared registry
    a.alerts_queued(5)
    assert samples(b.render().decode())[("bot_alerts_queued_total", ())] == 0
    assert "bot_alerts_queued_total" not in {s.name for f in REGISTRY.collect() for s in f.samples}


async def test_healthz_is_200_ok_when_healthy_and_503_with_problems_when_not():
    problems: list[str] = []
    calls = 0

    def health() -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("database is locked")
        return list(problems)

    server = await Metrics().start_server("127.0.0.1:0", health)
    url = f"http://127.0.0.1:{server.port}"
    try:
        async with httpx.AsyncClient() as client:
            ok = await client.get(url + "/healthz")
            problems.append("feed bbc: no successful poll for 3h")
            bad = await client.get(url + "/healthz")
            crashed = await client.get(url + "/healthz")
            missing = await client.get(url + "/nope")
            post = await client.post(url + "/metrics")
    finally:
        await server.aclose()
    assert (ok.status_code, ok.text) == (200, "ok\n")
    assert (bad.status_code, bad.text) == (503, "feed bbc: no successful poll for 3h\n")
    assert crashed.status_code == 503 and "database is locked" in crashed.text
    assert missing.status_code == 404
    assert post.status_code == 405


async def test_server_survives_a_client_that_hangs_up_and_closes_cleanly():
    server = await Metrics().start_server("127.0.0.1:0", lambda: [])
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.close()  # no request at all
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"http://127.0.0.1:{server.port}/healthz")).status_code == 200
    await server.aclose()
    async with httpx.AsyncClient() as client:
        try:
            await client.get(f"http://127.0.0.1:{server.port}/healthz", timeout=2)
            refused = False
        except httpx.ConnectError:
            refused = True
    assert refused
