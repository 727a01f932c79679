"""Cost of the monitor on the trading loop: one `MonitorPublisher.publish` per cycle (gauges for PnL,
positions, guards, trading state and streams; metrics.json and the health file written; alert checks),
and one `/metrics` rendering (what a Prometheus scrape costs the bot's process, on its own thread).

The dev profile (10 symbols, mock broker) after a short session, so positions and counters exist.
Run: .venv/bin/python benchmarks/monitor_publish.py
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from gpt_trader.features.brokerages.mock import MockBroker
from gpt_trader.orchestration.configuration import ConfigManager
from gpt_trader.orchestration.perps_bot import PerpsBot
from gpt_trader.orchestration.service_registry import build_registry

SAMPLES = 300


def _percentiles(values: list[float]) -> str:
    q = statistics.quantiles(values, n=100)
    return f"p50 {q[49] * 1e6:.0f} us, p99 {q[98] * 1e6:.0f} us"


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        overrides = {"data_root": str(Path(tmp) / "data"), "log_dir": str(Path(tmp) / "logs")}
        config = ConfigManager(env={}, dotenv_path=None).load("dev", overrides)
        bot = PerpsBot(build_registry(config))
        broker = bot.broker
        assert isinstance(broker, MockBroker)
        bot.monitoring.open()
        await bot.start()
        for _ in range(60):
            await bot.run_cycle()
            await broker.advance_time(60)
        publish, render = [], []
        for _ in range(SAMPLES):
            t0 = time.perf_counter()
            bot.monitoring.publish(bot, None, 0.01)
            publish.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            text = bot.metrics.render_prometheus()
            render.append(time.perf_counter() - t0)
        await bot.shutdown()
    print(f"publish per cycle (10 symbols, metrics.json + health file written): {_percentiles(publish)}")
    print(f"/metrics rendering ({len(text.splitlines())} lines, {len(text)} bytes): {_percentiles(render)}")


if __name__ == "__main__":
    asyncio.run(main())
