"""One entry point for both engines, and bar loading for the CLI."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from gpt_trader.features.backtest.bars import Bars
from gpt_trader.features.backtest.config import BacktestConfig
from gpt_trader.features.backtest.result import BacktestResult
from gpt_trader.features.live_trade.strategies.base import Strategy

if TYPE_CHECKING:
    import pandas as pd

EngineName = Literal["fast", "replay"]
ENGINES = ("fast", "replay")


def run_backtest(bars: Bars, strategy: Strategy, config: BacktestConfig, engine: str = "fast") -> BacktestResult:
    """Bars in, result out; `elapsed_s` is this whole call (signals, simulation, trade columns, metrics)."""
    started = time.perf_counter()
    if engine == "fast":
        from gpt_trader.features.backtest.fast.engine import run_fast

        result = run_fast(bars, strategy, config)
    elif engine == "replay":
        from gpt_trader.features.backtest.replay.engine import run_replay

        result = run_replay(bars, strategy, config)
    else:
        raise ValueError(f"unknown engine {engine!r}; allowed: {list(ENGINES)}")
    result.elapsed_s = time.perf_counter() - started
    return result


@dataclass(frozen=True)
class BarSource:
    """Where bars come from: a file (--data) or the candle store (--symbol)."""

    symbol: str
    granularity: str | None = None
    data_file: Path | None = None
    source: str | None = None
    store_root: Path | None = None


def symbol_from_filename(path: Path) -> str:
    """ "coinbase_BTC-USD_1h_....csv.gz" -> "BTC-USD"; a label for files without --symbol."""
    parts = path.name.split("_")
    return parts[1] if len(parts) >= 3 else "ASSET-USD"


def load_bars(
    src: BarSource,
    start: datetime | None = None,
    end: datetime | None = None,
    funding: pd.Series | None = None,
) -> Bars:
    from gpt_trader.features.data import granularity as gran
    from gpt_trader.features.data.store import DEFAULT_ROOT, CandleStore

    if funding is None:
        fast = _load_parquet_fast(src, start, end)
        if fast is not None:
            return fast
    import pandas as pd

    if src.data_file is not None:
        from gpt_trader.features.data.importer import detect_granularity, load_candle_file

        g = gran.normalize(src.granularity) if src.granularity else detect_granularity(src.data_file)

        df = load_candle_file(src.data_file, symbol=src.symbol, granularity=g)
    else:
        if src.granularity is None:
            raise ValueError("--symbol needs --granularity (e.g. 1m, 1h)")
        g = gran.normalize(src.granularity)
        store = CandleStore(src.store_root or DEFAULT_ROOT)
        source = src.source
        if source is None:
            sources = store.find_sources(src.symbol, g)
            if len(sources) != 1:
                stored = [f"{k.source}/{k.symbol}/{k.granularity}" for k in store.series()]
                raise ValueError(
                    f"{'no' if not sources else 'several'} stored series for {src.symbol} {g}"
                    f"{'' if not sources else f' (sources {sources}); pass --source'}; stored: {stored}"
                )
            source = sources[0]
        df = store.read(source, src.symbol, g)
    if start is not None:
        df = df[df.index >= pd.Timestamp(start)]
    if end is not None:
        df = df[df.index < pd.Timestamp(end)]
    if df.empty:
        raise ValueError(f"no bars for {src.symbol} in the requested range")
    return Bars.from_frame(df, src.symbol, gran.seconds(g), funding=funding)


def _ns(dt: datetime | None) -> int | None:
    if dt is None:
        return None
    return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000


def _load_parquet_fast(src: BarSource, start: datetime | None, end: datetime | None) -> Bars | None:
    """Parquet (a file or the store) without pandas; None when the pandas importer is needed."""
    from gpt_trader.features.backtest.fastload import read_parquet_bars
    from gpt_trader.features.data import granularity as gran
    from gpt_trader.features.data.store import DEFAULT_ROOT, CandleStore

    g_s = gran.seconds(src.granularity) if src.granularity else None
    if src.data_file is not None:
        if not src.data_file.name.lower().endswith((".parquet", ".pq")) or not src.data_file.exists():
            return None
        path = src.data_file
    else:
        if src.granularity is None or src.source is None:
            store = CandleStore(src.store_root or DEFAULT_ROOT)
            sources = store.find_sources(src.symbol, src.granularity) if src.granularity else []
            if len(sources) != 1:
                return None
            path = store.path(sources[0], src.symbol, src.granularity or "")
        else:
            path = CandleStore(src.store_root or DEFAULT_ROOT).path(src.source, src.symbol, src.granularity)
        if not path.exists():
            return None
    bars = read_parquet_bars(path, src.symbol, g_s, _ns(start), _ns(end))
    if bars is not None and g_s is None:
        try:
            gran.normalize(str(bars.granularity_s))
        except ValueError:
            return None
    return bars
