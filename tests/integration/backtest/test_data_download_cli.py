"""`perps-bot data download` end to end: the command against the simulator on 127.0.0.1 (own loop thread)."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.data.cli import data_app
from gpt_trader.features.data.store import CandleStore

pytestmark = pytest.mark.integration


@pytest.fixture
def sim() -> Iterator[ExchangeSimulator]:
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, ExchangeSimulator] = {}
    stop = asyncio.Event()

    async def serve() -> None:
        async with ExchangeSimulator(seed=11, port=0, tls=False) as s:
            holder["sim"] = s
            started.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(30), "simulator did not start"
    yield holder["sim"]
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)


def test_download_command(sim: ExchangeSimulator, tmp_path: Path) -> None:
    now = sim.venue.now().replace(minute=0, second=0, microsecond=0)
    start, end = now - dt.timedelta(hours=8), now - dt.timedelta(minutes=20)
    args = [
        "download",
        "--symbol",
        "BTC-USD",
        "--granularity",
        "1m",
        "--start",
        start.isoformat(),
        "--end",
        end.isoformat(),
        "--base-url",
        f"http://{sim.base_url}",
        "--store-root",
        str(tmp_path),
    ]
    res = CliRunner().invoke(data_app, args)
    assert res.exit_code == 0, res.output
    assert "downloaded 460 candles in 2 requests" in res.output  # 350 + 110
    df = CandleStore(tmp_path).read("coinbase", "BTC-USD", "1m")
    assert len(df) == 460 and df.index[0] == start
    res = CliRunner().invoke(data_app, args)  # nothing left to fetch: resumes at the end
    assert res.exit_code == 0 and "resumed from" in res.output
    bad = CliRunner().invoke(
        data_app,
        [
            "download",
            "--symbol",
            "BTC-USD",
            "--granularity",
            "1m",
            "--start",
            "yesterday",
            "--end",
            end.isoformat(),
            "--store-root",
            str(tmp_path),
        ],
    )
    assert bad.exit_code != 0 and "ISO 8601" in bad.output
