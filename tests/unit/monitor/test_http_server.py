"""`/metrics` and `/health` over real HTTP on 127.0.0.1 (port 0 = a free port)."""

from __future__ import annotations

import time

import httpx

from gpt_trader.features.monitor.http_server import HealthBoard, MonitoringServer
from gpt_trader.features.monitor.metrics import MetricsRegistry


def test_metrics_and_health_endpoints() -> None:
    metrics = MetricsRegistry()
    metrics.inc("cycles", 3)
    board = HealthBoard(stale_after_s=60)
    server = MonitoringServer(metrics, board, port=0).start()
    try:
        assert server.port > 0 and server.host == "127.0.0.1"
        with httpx.Client(base_url=server.url) as client:
            body = client.get("/metrics")
            assert body.status_code == 200 and "gpt_trader_cycles_total 3.0" in body.text
            assert body.headers["content-type"].startswith("text/plain")
            starting = client.get("/health")
            assert starting.status_code == 503 and starting.json()["status"] == "starting"
            board.publish({"status": "ok", "reason": ""})
            assert client.get("/health").status_code == 200
            board.publish({"status": "reducing", "reason": "api_errors"})
            assert client.get("/health").status_code == 200
            board.publish({"status": "halted", "reason": "daily_loss: over the limit"})
            halted = client.get("/health")
            assert halted.status_code == 503 and halted.json() == {
                "status": "halted",
                "reason": "daily_loss: over the limit",
            }
            assert client.get("/nope").status_code == 404
    finally:
        server.stop()


def test_a_health_document_that_stops_getting_younger_is_a_failure() -> None:
    board = HealthBoard(stale_after_s=0.05)
    board.publish({"status": "ok", "reason": ""})
    assert board.current()[0] == 200
    time.sleep(0.1)
    code, doc = board.current()
    assert code == 503 and doc["status"] == "stale" and "no cycle for" in doc["reason"]
