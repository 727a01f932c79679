"""`perps-bot run --profile canary` as the operator starts it, against the simulator, with
GPT_TRADER_METRICS_PORT=0: the bot logs the port it picked, serves /metrics and /health while it runs,
and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from monitor_support import sim_env, small_sim

from gpt_trader.exchange_sim import ExchangeSimulator

pytestmark = pytest.mark.integration
LISTENING = re.compile(r"metrics=http://127\.0\.0\.1:(\d+)/metrics")


@pytest.fixture
async def sim() -> AsyncIterator[ExchangeSimulator]:
    async for s in small_sim(seed=13, tick_interval_s=0.2, usd="10000"):
        yield s


async def _port(stream: asyncio.StreamReader, seen: list[str], timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = (await asyncio.wait_for(stream.readline(), timeout=deadline - time.monotonic())).decode()
        seen.append(line)
        m = LISTENING.search(line)
        if m:
            return int(m.group(1))
    raise AssertionError("the bot never logged its metrics endpoint:\n" + "".join(seen))


async def test_run_serves_metrics_and_health_on_a_free_port(sim: ExchangeSimulator, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **sim_env(sim, GPT_TRADER_METRICS_PORT="0")}
    args = ["-m", "gpt_trader.cli", "run", "--profile", "canary", "--symbols", "BTC-USD", "--interval", "0.2"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        port = await _port(proc.stdout, seen)
        assert port not in (0, 9464)
        drain = asyncio.create_task(_drain(proc.stdout, seen))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            deadline = time.monotonic() + 30
            while True:
                metrics = await client.get("/metrics")
                if "gpt_trader_cycles_total" in metrics.text and 'state="ACTIVE"} 1.0' in metrics.text:
                    break
                assert time.monotonic() < deadline, metrics.text[-2000:]
                await asyncio.sleep(0.2)
            health = await client.get("/health")
        assert health.json()["trading_state"] == "ACTIVE", health.text
        assert health.status_code == (200 if health.json()["status"] in ("ok", "reducing") else 503)
        assert 'gpt_trader_coinbase_ratelimit_headroom{quota="private"}' in metrics.text
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), timeout=60)
        await drain
        assert code == 0, "".join(seen[-40:])
        assert (tmp_path / "var" / "data" / "perps_bot" / "canary" / "metrics.json").is_file()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _drain(stream: asyncio.StreamReader, seen: list[str]) -> None:
    while line := await stream.readline():
        seen.append(line.decode())
