"""The Ray executor on a local cluster (`ray.init(num_cpus=2)`): the same seed gives the same trials,
hence the same best parameters, as the local process pool; the bars go to the object store once."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from opt_helpers import BTC_5M, run_json

from gpt_trader.features.backtest.bars import Bars
from gpt_trader.features.backtest.config import BacktestConfig
from gpt_trader.features.live_trade.strategies import strategy_class
from gpt_trader.features.optimize.executors import LocalExecutor, RayExecutor
from gpt_trader.features.optimize.space import SearchSpace
from gpt_trader.features.optimize.study import open_study, run_study

ray = pytest.importorskip("ray", reason="the optional extra 'distributed' (make test installs it)")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def bars() -> Bars:
    from gpt_trader.features.data.importer import load_candle_file

    return Bars.from_frame(load_candle_file(BTC_5M, symbol="BTCUSDT", granularity="5m"), "BTCUSDT", 300)


def _trials(executor: Any, space: SearchSpace) -> list[tuple[dict[str, Any], float | None]]:
    study = open_study(
        name="t", storage=None, method="tpe", space=space, objective="sharpe", seed=21, resume=False, attrs={}
    )
    run = run_study(study, space, executor, 30, "sharpe", progress=False)
    assert run.completed_now == 30
    return [(t.params, t.value) for t in run.study.trials]


def test_ray_and_the_local_pool_find_the_same_best_trial(cluster: Any, bars: Bars) -> None:
    space = SearchSpace.parse(strategy_class("sma_cross"), "fast=5..30,slow=40..120")
    config = BacktestConfig(fee_bps=Decimal(40))
    local = LocalExecutor(bars, "sma_cross", config, "sharpe", jobs=2)
    try:
        ours = _trials(local, space)
    finally:
        local.close()
    remote = RayExecutor(bars, "sma_cross", config, "sharpe", jobs=2)
    try:
        assert cluster.is_initialized() and len(remote._actors) == 2
        theirs = _trials(remote, space)
    finally:
        remote.close()
    assert theirs == ours  # every trial: same parameters, same value
    best = max(ours, key=lambda pv: pv[1] if pv[1] is not None else float("-inf"))
    assert best == max(theirs, key=lambda pv: pv[1] if pv[1] is not None else float("-inf"))
    assert cluster.is_initialized()  # an executor leaves a cluster it did not start running


def test_cli_runs_on_the_ray_executor(cluster: Any, tmp_path: Any) -> None:
    args = ["--data", BTC_5M, "--space", "fast=5..30,slow=40..120", "--trials", "12", "--seed", "4", "--jobs", "2"]
    on_ray = run_json([*args, "--executor", "ray", "--storage", f"sqlite:///{tmp_path / 'r.db'}"])
    local = run_json([*args, "--storage", f"sqlite:///{tmp_path / 'l.db'}"])
    assert on_ray["trials"] == 12 and on_ray["best_params"] == local["best_params"]
    assert on_ray["best_value"] == local["best_value"]
