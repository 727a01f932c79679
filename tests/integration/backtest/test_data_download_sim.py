"""`data download` against the project's exchange simulator over 127.0.0.1 (real HTTP, real endpoint)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.data.download import DownloadError, DownloadStats, download_candles, parse_candles
from gpt_trader.features.data.gaps import find_gaps
from gpt_trader.features.data.store import CandleStore

pytestmark = pytest.mark.integration


async def test_download_paginates_resumes_and_retries(tmp_path: Path) -> None:
    async with ExchangeSimulator(seed=7, port=0, tls=False, faults="http429:1,http5xx:1") as sim:
        base = f"http://{sim.base_url}"
        now = sim.venue.now().replace(second=0, microsecond=0)
        start, mid, end = (
            now - dt.timedelta(minutes=900),
            now - dt.timedelta(minutes=400),
            now - dt.timedelta(minutes=5),
        )
        store = CandleStore(tmp_path)
        first = await download_candles(store, "BTC-USD", "1m", start, mid, base_url=base, retry_delay_s=0.01)
        assert first.candles == 500 and first.retries == 2 and first.requests == 2 + 2  # 350 + 150, 2 retried
        again = await download_candles(store, "BTC-USD", "1m", start, end, base_url=base, retry_delay_s=0.01)
        assert again.resumed_from == mid and again.candles == 395 and again.requests == 2
        df = store.read("coinbase", "BTC-USD", "1m")
        assert len(df) == 895 and df.index[0] == start and df.index[-1] == end - dt.timedelta(minutes=1)
        assert find_gaps(df.index, 60).complete
        assert (df["high"] >= df["low"]).all()


async def test_download_errors_are_clear(tmp_path: Path) -> None:
    async with ExchangeSimulator(seed=7, port=0, tls=False) as sim:
        now = sim.venue.now()
        with pytest.raises(DownloadError, match="HTTP 4"):
            await download_candles(
                CandleStore(tmp_path),
                "NOPE-USD",
                "1m",
                now - dt.timedelta(hours=1),
                now,
                base_url=f"http://{sim.base_url}",
            )
    with pytest.raises(ValueError, match="not offered by the Coinbase candles endpoint"):
        await download_candles(CandleStore(tmp_path), "BTC-USD", "3m", now - dt.timedelta(hours=1), now)


def test_malformed_rows_are_counted_and_skipped() -> None:
    stats = DownloadStats()
    rows = parse_candles(
        {
            "candles": [
                {"start": "60", "open": "1", "high": "2", "low": "0.5", "close": "1.5", "volume": "3"},
                {"start": "x"},
                "junk",
            ]
        },
        stats,
    )
    assert len(rows) == 1 and rows[0]["close"] == 1.5 and stats.skipped_rows == 2
    with pytest.raises(DownloadError, match="unexpected candles response shape"):
        parse_candles(["not", "a", "dict"], stats)
