"""Every exchange simulator a test starts is audited: `/admin/audit?account_id=*` must report ok.

Why: the simulator's money audit recomputes each balance from deposits, fills, fees and funding; a test
that leaves the venue's books inconsistent has found a bug even when its own assertions pass.

One mechanism for every way a simulator starts:
- in-process (`ExchangeSimulator.start`, whatever fixture or `async with` calls it): `install()` wraps
  `start` to register the simulator and `stop` to audit it (over its own admin API) before it stops;
- in another process (`python -m gpt_trader.exchange_sim`): the test calls `REGISTRY.track_url(admin_url)`
  after launch and `REGISTRY.release_url(admin_url)` before stopping it.
After each test, the autouse fixture in `tests/conftest.py` audits every simulator still running and fails
the test on any failure recorded during it (including audits at stop time).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from gpt_trader.exchange_sim.server import ExchangeSimulator


async def fetch_audit(admin_url: str) -> dict[str, Any]:
    """GET `<admin_url>/audit?account_id=*` (every account) over real HTTP(S) on loopback."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{admin_url}/audit",
            params={"account_id": "*"},
            ssl=False,  # the simulator's self-signed loopback certificate
            timeout=aiohttp.ClientTimeout(total=20),
        ) as resp,
    ):
        text = await resp.text()
        if resp.status != 200:
            raise AssertionError(f"{admin_url}/audit answered {resp.status}: {text[:500]}")
        result: dict[str, Any] = json.loads(text)
        return result


def _failed(label: str, result: dict[str, Any]) -> str | None:
    if result.get("ok") is True:
        return None
    bad = {
        acct: {k: v for k, v in r.items() if k != "assets"}
        | {"assets": {a: row for a, row in r["assets"].items() if not row["ok"]}}
        for acct, r in result.get("accounts", {}).items()
        if not r.get("ok")
    }
    return f"simulator audit not ok ({label}): {json.dumps(bad, sort_keys=True)}"


@dataclass
class _Tracked:
    label: str
    admin_url: str
    # runs the audit coroutine where it may run: on the simulator's own loop (in-process) or a fresh one
    runner: Callable[[Callable[[], Awaitable[dict[str, Any]]]], dict[str, Any] | None]


class SimAuditRegistry:
    """The simulators running now, and the audit failures seen since the last check."""

    def __init__(self) -> None:
        self._live: dict[str, _Tracked] = {}
        self._failures: list[str] = []
        self._lock = threading.Lock()
        self.audits = 0  # how many audits ran (a test checks the mechanism itself)

    # ------------------------------------------------------------------ registration
    def track_sim(self, sim: ExchangeSimulator) -> None:
        loop = asyncio.get_running_loop()

        def runner(make: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any] | None:
            if loop.is_closed():
                return None
            if loop.is_running():
                if _loop_of_this_thread() is loop:
                    return None  # cannot block our own loop; the stop hook audits it
                return asyncio.run_coroutine_threadsafe(_as_coro(make), loop).result(30)
            return loop.run_until_complete(_as_coro(make))

        self._add(_Tracked(label=f"in-process {sim.admin_url}", admin_url=sim.admin_url, runner=runner))

    def track_url(self, admin_url: str, label: str = "") -> None:
        def runner(make: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
            return asyncio.run(_as_coro(make))

        self._add(_Tracked(label=label or f"process {admin_url}", admin_url=admin_url, runner=runner))

    def release_url(self, admin_url: str) -> None:
        """Audit a simulator in another process one last time and forget it (call before stopping it)."""
        with self._lock:
            tracked = self._live.pop(admin_url, None)
        if tracked is not None:
            self._record(tracked.label, tracked.runner(lambda: fetch_audit(tracked.admin_url)))

    async def audit_and_forget(self, sim: ExchangeSimulator) -> None:
        """The stop hook (runs on the simulator's loop): audit over HTTP while it still serves."""
        with self._lock:
            tracked = self._live.pop(sim.admin_url, None)
        if tracked is None:
            return
        try:
            result = await fetch_audit(sim.admin_url)
        except Exception as exc:  # recorded, never raised out of stop(): the simulator must still stop
            with self._lock:
                self._failures.append(f"simulator audit failed at stop ({tracked.label}): {exc!r}")
            return
        self._record(tracked.label, result)

    def _add(self, tracked: _Tracked) -> None:
        with self._lock:
            self._live[tracked.admin_url] = tracked

    def _record(self, label: str, result: dict[str, Any] | None) -> None:
        if result is None:
            return
        self.audits += 1
        problem = _failed(label, result)
        if problem is not None:
            with self._lock:
                self._failures.append(problem)

    # ------------------------------------------------------------------ the per-test check
    def check(self) -> list[str]:
        """Audit every simulator still running; return (and clear) every failure seen since last time."""
        with self._lock:
            live = list(self._live.values())
        for tracked in live:
            self._record(tracked.label, tracked.runner(lambda t=tracked: fetch_audit(t.admin_url)))  # type: ignore[misc]
        with self._lock:
            failures, self._failures = self._failures, []
        return failures


def _loop_of_this_thread() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def _as_coro(make: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    return await make()


REGISTRY = SimAuditRegistry()
_installed = False


def install() -> None:
    """Wrap `ExchangeSimulator.start` / `.stop` once per test session so every in-process simulator registers."""
    global _installed
    if _installed:
        return
    _installed = True
    original_start = ExchangeSimulator.start
    original_stop = ExchangeSimulator.stop

    async def start(self: ExchangeSimulator) -> ExchangeSimulator:
        result = await original_start(self)
        REGISTRY.track_sim(self)
        return result

    async def stop(self: ExchangeSimulator) -> None:
        try:
            await REGISTRY.audit_and_forget(self)
        finally:
            await original_stop(self)

    ExchangeSimulator.start = start  # type: ignore[method-assign]
    ExchangeSimulator.stop = stop  # type: ignore[method-assign]
