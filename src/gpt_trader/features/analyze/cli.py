"""`perps-bot analyze`: statistics and plots across a universe of symbols.

Only typer and the standard library load at import. Register with `app.command("analyze")(analyze_command)`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer


def analyze_command(
    symbols: Annotated[str, typer.Option("--symbols", help="Comma-separated symbols, e.g. BTC-USD,ETH-USD")],
    data: Annotated[
        list[Path] | None, typer.Option("--data", help="Candle file per symbol, in --symbols order (repeatable)")
    ] = None,
    granularity: Annotated[
        str | None, typer.Option("--granularity", help="1m, 5m, 1h ... (store; inferred for files)")
    ] = None,
    store_root: Annotated[Path | None, typer.Option("--store-root", help="Candle store root")] = None,
    funding: Annotated[
        list[str] | None,
        typer.Option("--funding", help="SYMBOL=FILE funding-rate CSV for a perp (repeatable)"),
    ] = None,
    no_regimes: Annotated[bool, typer.Option("--no-regimes", help="Skip the regime timeline")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Write an HTML report here")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (summaries, correlation)")] = False,
) -> None:
    """Return distributions, rolling volatility, correlations, regimes, funding and drawdowns per symbol."""
    try:
        out = run_analyze(symbols, data, granularity, store_root, funding, not no_regimes, report, as_json)
    except (ValueError, FileNotFoundError) as exc:
        typer.echo(f"analyze error: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        sys.stdout.write(json.dumps(out, allow_nan=False) + "\n")


def _funding_map(items: list[str] | None, symbols: list[str]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for item in items or []:
        sym, sep, file = item.partition("=")
        if not sep or sym not in symbols:
            raise ValueError(f"--funding takes SYMBOL=FILE with SYMBOL one of {symbols}, got {item!r}")
        out[sym] = Path(file)
    return out


def run_analyze(
    symbols_text: str,
    data: list[Path] | None,
    granularity: str | None,
    store_root: Path | None,
    funding_items: list[str] | None,
    regimes: bool,
    report: Path | None,
    as_json: bool,
) -> dict[str, Any]:
    from gpt_trader.features.analyze.report import print_tables, write_report
    from gpt_trader.features.analyze.stats import analyze_symbol, correlation
    from gpt_trader.features.backtest.engine import BarSource, load_bars
    from gpt_trader.features.data.funding import load_funding

    symbols = [s.strip() for s in symbols_text.split(",") if s.strip()]
    if not symbols:
        raise ValueError("--symbols needs at least one symbol")
    if len(set(symbols)) != len(symbols):
        raise ValueError(f"--symbols lists a symbol twice: {symbols}")
    files = list(data or [])
    if files and len(files) != len(symbols):
        raise ValueError(f"--data: give one file per symbol ({len(symbols)} symbols, {len(files)} files)")
    fund = _funding_map(funding_items, symbols)
    analyses = []
    for i, sym in enumerate(symbols):
        src = BarSource(sym, granularity, files[i] if files else None, None, store_root)
        bars = load_bars(src)
        series = load_funding(fund[sym]) if sym in fund else None
        analyses.append(analyze_symbol(bars, series, regimes=regimes))
    corr, note = correlation(analyses)
    if report is not None:
        path = write_report(analyses, corr, note, report)
        if not as_json:
            typer.echo(f"report written to {path}")
    if not as_json:
        print_tables(analyses, corr, note)
    return {
        "symbols": [a.summary | {"regime_share": a.regime_share} for a in analyses],
        "correlation": None
        if corr is None
        else {str(r): {str(c): _num(v) for c, v in row.items()} for r, row in corr.iterrows()},
        "correlation_note": note,
    }


def _num(v: Any) -> float | None:
    import math

    return float(v) if v is not None and math.isfinite(float(v)) else None
