"""`/metrics` (Prometheus text) and `/health` (JSON) over HTTP from a daemon thread of the bot process.

The server never calls into the trading loop: it renders the shared MetricsRegistry and the latest
health document the loop published (`HealthBoard.publish`), so a slow scrape cannot delay a cycle and
a stuck loop shows up as a health document that stops getting younger (503 "no cycle for N s").
"""

from __future__ import annotations

import json
import socketserver
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import structlog

from gpt_trader.features.monitor.metrics import MetricsRegistry

log = structlog.get_logger("monitor.http")

StartResponse = Callable[..., Any]
#: health statuses that answer 200; anything else (halted, stale, refused, starting, stopped) is 503
HEALTHY = frozenset({"ok", "reducing"})


class HealthBoard:
    """The latest health document, published by the trading loop and read by the HTTP thread.

    Why a board and not a callback: the HTTP thread must never touch the loop's objects."""

    def __init__(self, stale_after_s: float) -> None:
        self.stale_after_s = stale_after_s
        self._lock = threading.Lock()
        self._doc: dict[str, Any] = {"status": "starting", "reason": "no cycle has completed yet"}
        self._at: float | None = None

    def publish(self, doc: dict[str, Any]) -> None:
        with self._lock:
            self._doc = dict(doc)
            self._at = time.monotonic()

    def current(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, document). A document older than `stale_after_s` is itself a failure."""
        with self._lock:
            doc, at = dict(self._doc), self._at
        if at is not None and doc.get("status") in HEALTHY:
            age = time.monotonic() - at
            if age > self.stale_after_s:
                doc = {**doc, "status": "stale", "reason": f"no cycle for {age:.0f}s (> {self.stale_after_s:.0f}s)"}
        return (200 if doc.get("status") in HEALTHY else 503), doc


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return  # a scrape every few seconds is not news; errors are logged by the app


class MonitoringServer:
    """Serves `/metrics` and `/health` on host:port (port 0 picks a free port: read `.port`)."""

    def __init__(self, metrics: MetricsRegistry, board: HealthBoard, *, host: str = "127.0.0.1", port: int = 0) -> None:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        self._generate = generate_latest
        self._content_type = CONTENT_TYPE_LATEST
        self._registry = metrics.prometheus_registry()
        self._metrics = metrics
        self._board = board
        self._server = make_server(host, port, self._app, _ThreadingWSGIServer, handler_class=_QuietHandler)
        self.host = host
        self.port = int(self._server.server_port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> MonitoringServer:
        self._thread.start()
        log.info("metrics endpoint listening", metrics=f"{self.url}/metrics", health=f"{self.url}/health")
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        try:
            if path == "/metrics":
                body = self._generate(self._registry)
                start_response("200 OK", [("Content-Type", self._content_type)])
                return [body]
            if path == "/health":
                code, doc = self._board.current()
                status = "200 OK" if code == 200 else "503 Service Unavailable"
                start_response(status, [("Content-Type", "application/json")])
                return [json.dumps(doc, sort_keys=True, default=str).encode()]
        except Exception as exc:  # the endpoint must answer, never take the thread down
            self._metrics.inc("monitor.http_errors")
            log.error("metrics endpoint failed", path=path, error=type(exc).__name__)
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [b"internal error\n"]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /metrics or /health\n"]
