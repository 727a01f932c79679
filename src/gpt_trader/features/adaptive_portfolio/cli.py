"""`perps-bot portfolio`: a tier-based backtest of one strategy over a universe sharing one cash balance.

Only typer and the standard library load at import; numpy/pandas/numba when it runs.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from gpt_trader.features.adaptive_portfolio.universe import Universe
    from gpt_trader.features.live_trade.tiers import TierTable


def _universe(data: list[str], synthetic: int, bars: int, seed: int) -> Universe:
    from gpt_trader.features.adaptive_portfolio.universe import Universe
    from gpt_trader.features.backtest.bars import Bars
    from gpt_trader.features.backtest.engine import BarSource, load_bars

    series = []
    for item in data:
        symbol, sep, path = item.partition("=")
        if not sep or not symbol or not path:
            raise ValueError(f"--data takes SYMBOL=FILE, got {item!r}")
        series.append(load_bars(BarSource(symbol=symbol, data_file=Path(path))))
    if synthetic:
        from gpt_trader.features.brokerages.core.products import default_products
        from gpt_trader.features.data.synth import synth_candles

        spot = [p.symbol for p in default_products() if not p.is_perpetual]
        if not 1 <= synthetic <= len(spot):
            raise ValueError(f"--synthetic must be in [1, {len(spot)}], got {synthetic}")
        series += [Bars.from_frame(synth_candles(s, "1h", bars, seed=seed), s, 3600) for s in spot[:synthetic]]
    if not series:
        raise ValueError("give --data SYMBOL=FILE (repeatable) and/or --synthetic N")
    return Universe.aligned(series)


def _tiers(path: Path | None) -> TierTable:
    from gpt_trader.features.live_trade.tiers import DEFAULT_TIERS, load_tiers

    if path is None:
        return DEFAULT_TIERS
    import yaml

    return load_tiers(yaml.safe_load(path.read_text()))


def portfolio_command(
    data: Annotated[list[str] | None, typer.Option("--data", help="SYMBOL=FILE, once per symbol")] = None,
    synthetic: Annotated[int, typer.Option("--synthetic", help="Add N seeded synthetic USD spot symbols")] = 0,
    bars: Annotated[int, typer.Option("--bars", help="Synthetic hourly bars per symbol")] = 3000,
    seed: Annotated[int, typer.Option("--seed", help="Synthetic data seed")] = 11,
    strategy: Annotated[str, typer.Option("--strategy", help="Strategy name or module.path:ClassName")] = "sma_cross",
    param: Annotated[list[str] | None, typer.Option("--param", help="key=value strategy parameter")] = None,
    tiers: Annotated[Path | None, typer.Option("--tiers", help="YAML/JSON tier table (default: built-in)")] = None,
    engine: Annotated[str, typer.Option("--engine", help="fast | replay")] = "fast",
    initial_cash: Annotated[str, typer.Option("--initial-cash", help="Quote cash at the start")] = "10000",
    fee_bps: Annotated[str, typer.Option("--fee-bps", help="Fee on notional, basis points")] = "60",
    slippage_bps: Annotated[str, typer.Option("--slippage-bps", help="Slippage, basis points")] = "0",
    json_output: Annotated[bool, typer.Option("--json", help="The result as JSON")] = False,
) -> None:
    """Backtest a strategy over several symbols with one cash balance; equity tiers set the number of
    positions, the size of each and the products allowed."""
    from gpt_trader.features.adaptive_portfolio.engine import run_portfolio
    from gpt_trader.features.backtest.cli import parse_params
    from gpt_trader.features.backtest.config import BacktestConfig
    from gpt_trader.features.live_trade.strategies import get_strategy

    try:
        try:
            money = {
                k: Decimal(v)
                for k, v in (("--initial-cash", initial_cash), ("--fee-bps", fee_bps), ("--slippage-bps", slippage_bps))
            }
        except InvalidOperation:
            raise ValueError("--initial-cash, --fee-bps and --slippage-bps must be numbers") from None
        config = BacktestConfig(
            initial_cash=money["--initial-cash"], fee_bps=money["--fee-bps"], slippage_bps=money["--slippage-bps"]
        )
        result = run_portfolio(
            _universe(data or [], synthetic, bars, seed),
            get_strategy(strategy, **parse_params(param)),
            config,
            _tiers(tiers),
            engine,
        )
    except (ValueError, OSError, NotImplementedError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if json_output:
        sys.stdout.write(json.dumps(result.to_dict(), allow_nan=False) + "\n")
        return
    out = result.to_dict()
    typer.echo(
        f"{result.strategy} on {len(result.symbols)} symbols, {out['bars']} bars ({result.engine} engine, "
        f"{result.elapsed_s:.2f} s): equity {result.initial_cash:,.2f} -> {result.final_equity:,.2f}, "
        f"{len(result.trades)} trades"
    )
    for change in out["tier_changes"]:
        typer.echo(f"  tier {change['from']} -> {change['to']} at {change['at']} (equity {change['equity']:,.2f})")
    if result.counters:
        typer.echo(f"  rules acted: {result.counters}")
