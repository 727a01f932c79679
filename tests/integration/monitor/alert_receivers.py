"""Local stand-ins for Slack's incoming webhook and PagerDuty's Events API v2: aiohttp servers on
127.0.0.1 (own thread and event loop, so a caller that blocks its loop still gets answers) that record
every JSON body they receive. `fail_next` answers the next N requests with 503 (retry tests)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web


class AlertReceivers:
    """Slack at `/slack/hook`, PagerDuty at `/v2/enqueue`; `env()` points the bot at them."""

    def __init__(self) -> None:
        self.slack: list[dict[str, Any]] = []
        self.pagerduty: list[dict[str, Any]] = []
        self.fail_next = 0
        self.attempts = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="alert-receivers", daemon=True)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request, into: list[dict[str, Any]]) -> web.Response:
        self.attempts += 1
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=503, text="try later")
        into.append(json.loads(await request.read()))
        return web.json_response({"status": "success", "message": "Event processed"}, status=202)

    async def _start(self) -> None:
        app = web.Application()

        async def slack(request: web.Request) -> web.Response:
            return await self._handle(request, self.slack)

        async def pagerduty(request: web.Request) -> web.Response:
            return await self._handle(request, self.pagerduty)

        app.router.add_post("/slack/hook", slack)
        app.router.add_post("/v2/enqueue", pagerduty)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> AlertReceivers:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def env(self, routing_key: str = "R0UTINGKEY-secret-123") -> dict[str, str]:
        return {
            "GPT_TRADER_SLACK_WEBHOOK_URL": f"{self.url}/slack/hook",
            "GPT_TRADER_PAGERDUTY_ROUTING_KEY": routing_key,
            "GPT_TRADER_PAGERDUTY_URL": f"{self.url}/v2/enqueue",
        }


async def wait_for(pred: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll `pred` without blocking the running loop."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
