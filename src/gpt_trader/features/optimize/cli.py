"""`perps-bot optimize`: an optuna search of a strategy's typed parameters over the fast backtest.

Only typer and the standard library load at import; optuna, numpy, plotly and ray load when it runs.
Register with `app.command("optimize")(optimize_command)` (the root CLI forwards to it).
"""

from __future__ import annotations

import json
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from gpt_trader.features.backtest.cli import (
    DataOpt,
    EndOpt,
    GranularityOpt,
    SourceOpt,
    StartOpt,
    StoreRootOpt,
    SymbolOpt,
)


def optimize_command(
    strategy: Annotated[str, typer.Option("--strategy", help="Strategy name or module.path:ClassName")] = "sma_cross",
    data: DataOpt = None,
    symbol: SymbolOpt = None,
    granularity: GranularityOpt = None,
    source: SourceOpt = None,
    store_root: StoreRootOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    space: Annotated[
        str | None,
        typer.Option(
            "--space", help="'fast=5..50,slow=20..200' (low..high[:step], a|b|c, or value); default: all bounds"
        ),
    ] = None,
    method: Annotated[str, typer.Option("--method", help="tpe | random | grid")] = "tpe",
    trials: Annotated[int, typer.Option("--trials", help="Trials to complete in this run (per fold)")] = 100,
    objective: Annotated[
        str, typer.Option("--objective", help="sharpe | sortino | calmar | return | cagr | ...")
    ] = "sharpe",
    walk_forward: Annotated[int | None, typer.Option("--walk-forward", help="Number of walk-forward folds")] = None,
    train_days: Annotated[float | None, typer.Option("--train-days", help="Train window, days")] = None,
    test_days: Annotated[float | None, typer.Option("--test-days", help="Test window, days")] = None,
    jobs: Annotated[int, typer.Option("--jobs", help="Trials evaluated at once (processes or Ray actors)")] = 1,
    executor: Annotated[str, typer.Option("--executor", help="local (process pool) | ray")] = "local",
    address: Annotated[str | None, typer.Option("--address", help="Ray cluster: auto | ray://host:port")] = None,
    storage: Annotated[
        str | None, typer.Option("--storage", help="sqlite:///var/optimize/NAME.db (default: from strategy and symbol)")
    ] = None,
    study_name: Annotated[str | None, typer.Option("--study-name", help="Study name in the storage")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the stored study")] = False,
    seed: Annotated[int | None, typer.Option("--seed", help="Sampler seed (same seed, same trials)")] = None,
    initial_cash: Annotated[str, typer.Option("--initial-cash", help="Starting quote cash")] = "10000",
    fee_bps: Annotated[str, typer.Option("--fee-bps", help="Taker fee on notional, bps")] = "60",
    slippage_bps: Annotated[str, typer.Option("--slippage-bps", help="Adverse slippage on fills, bps")] = "0",
    top: Annotated[int, typer.Option("--top", help="Rows in the top-trials table")] = 10,
    report: Annotated[Path | None, typer.Option("--report", help="Write an HTML report here")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar")] = False,
) -> None:
    """Search a strategy's parameters (optuna) on the fast backtest; walk-forward and overfitting measures."""
    kw = dict(locals())
    try:
        code = run_optimize(**kw)
    except (ValueError, FileNotFoundError, NotImplementedError) as exc:
        typer.echo(f"optimize error: {exc}", err=True)
        code = 2
    if code:
        raise typer.Exit(code=code)


def _dec(value: str, name: str) -> Decimal:
    from decimal import InvalidOperation

    try:
        return Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def run_optimize(**kw: Any) -> int:
    from gpt_trader.features.backtest.cli import _parse_time
    from gpt_trader.features.backtest.config import BacktestConfig
    from gpt_trader.features.backtest.engine import BarSource, load_bars, symbol_from_filename
    from gpt_trader.features.live_trade.strategies import strategy_class
    from gpt_trader.features.optimize.executors import make_executor
    from gpt_trader.features.optimize.objective import objective_of
    from gpt_trader.features.optimize.space import SearchSpace
    from gpt_trader.features.optimize.study import METHODS, StopFlag, open_study, run_study, storage_url

    started = time.perf_counter()
    if kw["method"] not in METHODS:
        raise ValueError(f"--method must be one of {list(METHODS)}, got {kw['method']!r}")
    objective_of(kw["objective"])
    if kw["trials"] < 1:
        raise ValueError(f"--trials must be >= 1, got {kw['trials']}")
    if kw["data"] is None and kw["symbol"] is None:
        raise ValueError("give --data FILE or --symbol S")
    wf = kw["walk_forward"]
    if (wf is None) != (kw["train_days"] is None) or (wf is None) != (kw["test_days"] is None):
        raise ValueError("--walk-forward K needs --train-days D and --test-days D (and they need it)")
    if wf is not None and kw["resume"]:
        raise ValueError("--resume continues one stored study; walk-forward folds are studied afresh each run")
    cls = strategy_class(kw["strategy"])
    search = SearchSpace.parse(cls, kw["space"])
    config = BacktestConfig(
        initial_cash=_dec(kw["initial_cash"], "--initial-cash"),
        fee_bps=_dec(kw["fee_bps"], "--fee-bps"),
        slippage_bps=_dec(kw["slippage_bps"], "--slippage-bps"),
    )
    data: Path | None = kw["data"]
    symbol = kw["symbol"] or (symbol_from_filename(data) if data is not None else "")
    bars = load_bars(
        BarSource(symbol, kw["granularity"], data, kw["source"], kw["store_root"]),
        start=_parse_time(kw["start"], "--start"),
        end=_parse_time(kw["end"], "--end"),
    )
    name = kw["study_name"] or f"{cls.name}-{symbol}-{kw['objective']}"
    stop = StopFlag()
    ex = make_executor(kw["executor"], bars, cls.name, config, kw["objective"], kw["jobs"], kw["address"])
    progress = not kw["no_progress"]
    folds: list[Any] = []
    try:
        with stop.installed():
            url = storage_url(kw["storage"], _safe(name))
            study = open_study(
                name=name,
                storage=url,
                method=kw["method"],
                space=search,
                objective=kw["objective"],
                seed=kw["seed"],
                resume=kw["resume"],
                attrs={"strategy": cls.name, "symbol": symbol, "bars": len(bars), "first_bar_ns": int(bars.ts_ns[0])},
            )
            run = run_study(study, search, ex, kw["trials"], kw["objective"], progress=progress, stop=stop)
            if wf is not None and not stop.event.is_set():
                from gpt_trader.features.optimize.walkforward import walk_forward

                folds = walk_forward(
                    bars,
                    search,
                    ex,
                    folds=wf,
                    train_days=kw["train_days"],
                    test_days=kw["test_days"],
                    trials=kw["trials"],
                    method=kw["method"],
                    objective=kw["objective"],
                    seed=kw["seed"],
                    progress=progress,
                    stop=stop,
                )
            from gpt_trader.features.optimize.summary import summarize

            summary = summarize(run, search, ex, bars, config, folds, url, name)
    finally:
        ex.close()
    summary["elapsed_s"] = time.perf_counter() - started
    if kw["report"] is not None:
        from gpt_trader.features.optimize.report import write_report

        path = write_report(summary, run, search, folds, kw["report"])
        if not kw["as_json"]:
            typer.echo(f"report written to {path}")
    if kw["as_json"]:
        sys.stdout.write(json.dumps(summary["json"] | {"elapsed_s": summary["elapsed_s"]}, allow_nan=False) + "\n")
    else:
        from gpt_trader.features.optimize.report import print_summary

        print_summary(summary, top=kw["top"])
    return 0


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
