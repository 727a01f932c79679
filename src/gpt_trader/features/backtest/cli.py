"""`perps-bot backtest`: run one strategy over historical bars with the fast or the replay engine.

Only typer and the standard library load at import; the engines, pandas and plotly load when it runs.
Register with `app.command("backtest")(backtest_command)`.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer


def _parse_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{name} must be ISO 8601 (e.g. 2022-01-01 or 2022-01-01T12:00Z), got {value!r}"
        ) from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _dec(value: str | None, name: str) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        raise typer.BadParameter(f"{name} must be a number, got {value!r}") from None


def parse_params(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"--param takes key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


# Where the bars come from: shared by every command that loads them (backtest, optimize).
DataOpt = Annotated[Path | None, typer.Option("--data", help="CSV / CSV.gz / Parquet candle file")]
SymbolOpt = Annotated[str | None, typer.Option("--symbol", help="Symbol (stored series, or label for --data)")]
GranularityOpt = Annotated[str | None, typer.Option("--granularity", help="1m, 5m, 1h ... (inferred for --data)")]
SourceOpt = Annotated[str | None, typer.Option("--source", help="Store source when several hold --symbol")]
StoreRootOpt = Annotated[Path | None, typer.Option("--store-root", help="Candle store root")]
StartOpt = Annotated[str | None, typer.Option("--start", help="First bar open time (ISO 8601, UTC)")]
EndOpt = Annotated[str | None, typer.Option("--end", help="End (exclusive, ISO 8601, UTC)")]


def backtest_command(
    data: DataOpt = None,
    symbol: SymbolOpt = None,
    granularity: GranularityOpt = None,
    source: SourceOpt = None,
    store_root: StoreRootOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    strategy: Annotated[
        str, typer.Option("--strategy", help="sma_cross | mean_reversion | baseline | module.path:ClassName")
    ] = "sma_cross",
    param: Annotated[list[str] | None, typer.Option("--param", help="Strategy parameter k=v (repeatable)")] = None,
    engine: Annotated[str, typer.Option("--engine", help="fast | replay")] = "fast",
    initial_cash: Annotated[str, typer.Option("--initial-cash", help="Starting quote cash")] = "10000",
    fee_bps: Annotated[str, typer.Option("--fee-bps", help="Taker fee on notional, bps")] = "60",
    slippage_bps: Annotated[str, typer.Option("--slippage-bps", help="Adverse slippage on fills, bps")] = "0",
    size_pct: Annotated[str | None, typer.Option("--size-pct", help="Percent of cash per entry (default 100)")] = None,
    size_qty: Annotated[str | None, typer.Option("--size-qty", help="Fixed base quantity per entry")] = None,
    stop_loss_pct: Annotated[
        str | None, typer.Option("--stop-loss-pct", help="Stop inside the bar at entry x (1-p%)")
    ] = None,
    take_profit_pct: Annotated[
        str | None, typer.Option("--take-profit-pct", help="Target inside the bar at entry x (1+p%), when crossed")
    ] = None,
    trailing_pct: Annotated[
        str | None, typer.Option("--trailing-pct", help="Trailing stop p% under the best high since entry")
    ] = None,
    entry_limit_bps: Annotated[
        str | None,
        typer.Option("--entry-limit-bps", help="Limit entries this many bps under the signal close (maker fee)"),
    ] = None,
    entry_timeout_bars: Annotated[
        int, typer.Option("--entry-timeout-bars", help="Bars a limit entry rests before it is cancelled")
    ] = 5,
    maker_fee_bps: Annotated[
        str | None, typer.Option("--maker-fee-bps", help="Maker fee on notional, bps (default: --fee-bps)")
    ] = None,
    max_daily_loss_pct: Annotated[str | None, typer.Option("--max-daily-loss-pct", help="Daily loss guard")] = None,
    max_drawdown_pct: Annotated[str | None, typer.Option("--max-drawdown-pct", help="Drawdown guard (halts)")] = None,
    funding: Annotated[Path | None, typer.Option("--funding", help="Funding-rate CSV (perps)")] = None,
    funding_exchange: Annotated[
        str | None, typer.Option("--funding-exchange", help="Venue in a multi-venue funding file")
    ] = None,
    funding_symbol: Annotated[str | None, typer.Option("--funding-symbol", help="Symbol in the funding file")] = None,
    risk_profile: Annotated[
        str | None,
        typer.Option(
            "--risk-profile",
            help="Replay inside PerpsBot under this profile's rails and sizing "
            "('backtest': modelled rules only, needs --size-qty)",
        ),
    ] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Write an HTML report here")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Backtest a strategy: a signal on bar t's close fills at bar t+1's open (+ slippage), fees on notional."""
    code = run_backtest_cli(
        data=data,
        symbol=symbol,
        granularity=granularity,
        source=source,
        store_root=store_root,
        start=start,
        end=end,
        strategy=strategy,
        param=param,
        engine=engine,
        initial_cash=initial_cash,
        fee_bps=fee_bps,
        slippage_bps=slippage_bps,
        size_pct=size_pct,
        size_qty=size_qty,
        stop_loss_pct=stop_loss_pct,
        take_profit_pct=take_profit_pct,
        trailing_pct=trailing_pct,
        entry_limit_bps=entry_limit_bps,
        entry_timeout_bars=entry_timeout_bars,
        maker_fee_bps=maker_fee_bps,
        max_daily_loss_pct=max_daily_loss_pct,
        max_drawdown_pct=max_drawdown_pct,
        funding=funding,
        funding_exchange=funding_exchange,
        funding_symbol=funding_symbol,
        risk_profile=risk_profile,
        report=report,
        as_json=as_json,
    )
    if code:
        raise typer.Exit(code=code)


def run_backtest_cli(**kw: Any) -> int:
    """The command body; returns an exit code (0 ok, 2 bad input)."""
    try:
        result = _run(**kw)
    except (ValueError, FileNotFoundError, NotImplementedError) as exc:
        typer.echo(f"backtest error: {exc}", err=True)
        return 2
    if kw["report"] is not None:
        from gpt_trader.features.backtest.report import write_html_report

        path = write_html_report(result, kw["report"])
        if not kw["as_json"]:
            typer.echo(f"report written to {path}")
    if kw["as_json"]:
        sys.stdout.write(json.dumps(result.to_dict(), allow_nan=False) + "\n")
    else:
        from gpt_trader.features.backtest.report import print_summary

        print_summary(result)
    return 0


def _run(**kw: Any) -> Any:
    from gpt_trader.features.backtest.config import BacktestConfig
    from gpt_trader.features.backtest.engine import (
        ENGINES,
        BarSource,
        load_bars,
        run_backtest,
        symbol_from_filename,
    )
    from gpt_trader.features.live_trade.strategies import get_strategy

    if kw["engine"] not in ENGINES:
        raise ValueError(f"--engine must be one of {list(ENGINES)}, got {kw['engine']!r}")
    if kw["data"] is None and kw["symbol"] is None:
        raise ValueError("give --data FILE or --symbol S")
    if kw["risk_profile"] is not None and kw["engine"] != "replay":
        raise ValueError("--risk-profile runs the real bot, so it needs --engine replay")
    if kw["size_pct"] is not None and kw["size_qty"] is not None:
        raise ValueError("give --size-pct or --size-qty, not both")
    size_qty = _dec(kw["size_qty"], "--size-qty")
    size_pct = _dec(kw["size_pct"], "--size-pct") if size_qty is None else None
    config = BacktestConfig(
        initial_cash=_dec(kw["initial_cash"], "--initial-cash") or Decimal(0),
        fee_bps=_dec(kw["fee_bps"], "--fee-bps") or Decimal(0),
        slippage_bps=_dec(kw["slippage_bps"], "--slippage-bps") or Decimal(0),
        size_pct=None if size_qty is not None else (size_pct if size_pct is not None else Decimal(100)),
        size_qty=size_qty,
        stop_loss_pct=_dec(kw["stop_loss_pct"], "--stop-loss-pct"),
        take_profit_pct=_dec(kw["take_profit_pct"], "--take-profit-pct"),
        trailing_pct=_dec(kw["trailing_pct"], "--trailing-pct"),
        entry_limit_bps=_dec(kw["entry_limit_bps"], "--entry-limit-bps"),
        entry_timeout_bars=kw["entry_timeout_bars"],
        maker_fee_bps=_dec(kw["maker_fee_bps"], "--maker-fee-bps"),
        max_daily_loss_pct=_dec(kw["max_daily_loss_pct"], "--max-daily-loss-pct"),
        max_drawdown_pct=_dec(kw["max_drawdown_pct"], "--max-drawdown-pct"),
    )
    strategy = get_strategy(kw["strategy"], **parse_params(kw["param"]))
    data: Path | None = kw["data"]
    symbol = kw["symbol"] or (symbol_from_filename(data) if data is not None else "")
    funding_series = None
    if kw["funding"] is not None:
        from gpt_trader.features.data.funding import load_funding

        funding_series = load_funding(kw["funding"], exchange=kw["funding_exchange"], symbol=kw["funding_symbol"])
    bars = load_bars(
        BarSource(
            symbol=symbol,
            granularity=kw["granularity"],
            data_file=data,
            source=kw["source"],
            store_root=kw["store_root"],
        ),
        start=_parse_time(kw["start"], "--start"),
        end=_parse_time(kw["end"], "--end"),
        funding=funding_series,
    )
    if kw["risk_profile"] is not None:
        from gpt_trader.features.backtest.replay.bot import run_bot_replay
        from gpt_trader.orchestration.configuration import ConfigError

        try:
            return run_bot_replay(bars, strategy.name, dict(strategy.params), config, kw["risk_profile"])
        except ConfigError as exc:
            raise ValueError(f"--risk-profile {kw['risk_profile']}: {exc}") from exc
    return run_backtest(bars, strategy, config, kw["engine"])
