"""Executors: a batch comes back in order, the pool agrees with in-process evaluation, bad input named."""

from __future__ import annotations

from decimal import Decimal

import pytest
from opt_helpers import BTC_5M

from gpt_trader.features.backtest.bars import Bars
from gpt_trader.features.backtest.config import BacktestConfig
from gpt_trader.features.optimize.executors import LocalExecutor, _chunks, make_executor
from gpt_trader.features.optimize.objective import Evaluator, Job


def _bars() -> Bars:
    from gpt_trader.features.data.importer import load_candle_file

    return Bars.from_frame(load_candle_file(BTC_5M, symbol="BTCUSDT", granularity="5m"), "BTCUSDT", 300)


def test_chunks_keep_order() -> None:
    jobs = [Job({"fast": i}) for i in range(7)]
    parts = _chunks(jobs, 3)
    assert [len(p) for p in parts] == [3, 2, 2] and [j for p in parts for j in p] == jobs
    assert _chunks(jobs[:1], 4) == [jobs[:1]]


def test_pool_matches_in_process_and_refusals_are_outcomes() -> None:
    bars, config = _bars(), BacktestConfig(fee_bps=Decimal(40))
    jobs = [
        Job({"fast": 5, "slow": 40}),
        Job({"fast": 50, "slow": 40}),  # refused by the strategy: fast >= slow
        Job({"fast": 10, "slow": 60}, lo=100, hi=5000),
        Job({"fast": 8, "slow": 30}, curve=True),
    ]
    inline = Evaluator(bars, "sma_cross", config, "sortino").run_many(jobs)
    pool = LocalExecutor(bars, "sma_cross", config, "sortino", jobs=2)
    try:
        pooled = pool.run(jobs)
    finally:
        pool.close()
    assert [o.value for o in pooled] == [o.value for o in inline]
    assert inline[1].value is None and "fast < slow" in (inline[1].error or "")
    assert inline[2].metrics != inline[0].metrics  # the bar range was honoured
    assert pooled[3].equity is not None and len(pooled[3].equity) == len(bars)


def test_bad_executor_input_is_named() -> None:
    bars, config = _bars(), BacktestConfig()
    with pytest.raises(ValueError, match="--executor must be one of"):
        make_executor("dask", bars, "sma_cross", config, "sharpe")
    with pytest.raises(ValueError, match="--address is for --executor ray"):
        make_executor("local", bars, "sma_cross", config, "sharpe", address="auto")
    with pytest.raises(ValueError, match="--jobs must be >= 1"):
        make_executor("local", bars, "sma_cross", config, "sharpe", jobs=0)
    with pytest.raises(ValueError, match="--objective must be one of"):
        Evaluator(bars, "sma_cross", config, "luck")
