"""`perps-bot regime`: the regime timeline of one symbol's bars and its statistics per regime.

Only typer and the standard library load at import; numpy/pandas (and hmmlearn for a fit) when it runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer


def regime_command(
    symbol: Annotated[str, typer.Option("--symbol", help="Symbol (stored series, or label for --data)")],
    data: Annotated[Path | None, typer.Option("--data", help="CSV / CSV.gz / Parquet candle file")] = None,
    granularity: Annotated[str | None, typer.Option("--granularity", help="1m, 5m, 1h ... (inferred)")] = None,
    detector: Annotated[str, typer.Option("--detector", help="rules | hmm")] = "rules",
    model: Annotated[
        Path | None, typer.Option("--model", help="hmm: an exported model (else fitted on these bars)")
    ] = None,
    fit_until: Annotated[
        str | None, typer.Option("--fit-until", help="hmm without --model: fit on bars before this time only")
    ] = None,
    save_model: Annotated[Path | None, typer.Option("--save-model", help="hmm: write the fitted model here")] = None,
    states: Annotated[int, typer.Option("--states", help="hmm: number of states (2-8)")] = 4,
    json_output: Annotated[bool, typer.Option("--json", help="Statistics and the whole timeline as JSON")] = False,
) -> None:
    """Classify every bar (trending up/down, ranging, high volatility, crash); print share, mean
    next-bar return and volatility per regime, and the timeline."""
    from gpt_trader.features.backtest.cli import _parse_time
    from gpt_trader.features.backtest.engine import BarSource, load_bars
    from gpt_trader.features.live_trade.regime import HmmDetector, RegimeDetector, RuleDetector, load_hmm
    from gpt_trader.features.market_regime.series import regime_stats, regime_timeline, runs

    try:
        if detector not in ("rules", "hmm"):
            raise ValueError(f"--detector must be 'rules' or 'hmm', got {detector!r}")
        bars = load_bars(BarSource(symbol=symbol, granularity=granularity, data_file=data))
        det: RegimeDetector
        note = ""
        if detector == "rules":
            det = RuleDetector()
        else:
            if model is not None:
                det = HmmDetector(load_hmm(model))
                note = f"model {model} ({det.model.trained_on})"
            else:
                from gpt_trader.features.market_regime.fit import fit_hmm

                until = _parse_time(fit_until, "--fit-until")
                train = bars if until is None else bars.head(int((bars.ts_ns < until.timestamp() * 1e9).sum()))
                fitted = fit_hmm([train], states=states)
                det = HmmDetector(fitted)
                note = f"fitted here on {fitted.trained_on}" + ("" if until else " (in-sample: no --fit-until)")
                if save_model is not None:
                    import msgspec

                    save_model.parent.mkdir(parents=True, exist_ok=True)
                    save_model.write_bytes(msgspec.json.encode(fitted))
    except (ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    timeline = regime_timeline(bars, det)
    stats = regime_stats(bars.close.tolist(), timeline)
    from gpt_trader.features.backtest.result import iso, ns_to_dt

    stamps = [iso(ns_to_dt(int(ns))) for ns in bars.ts_ns]
    if json_output:
        out: dict[str, Any] = {
            "symbol": symbol,
            "detector": det.name,
            "regimes": stats,
            "changes": runs(timeline),
            "timeline": [[ts, r.value] for ts, r in zip(stamps, timeline, strict=True)],
        }
        sys.stdout.write(json.dumps(out, allow_nan=False) + "\n")
        return
    _print(symbol, det.name, note, stats, stamps, timeline, runs(timeline))


def _print(
    symbol: str,
    name: str,
    note: str,
    stats: dict[str, dict[str, float]],
    stamps: list[str | None],
    timeline: list[Any],
    changes: int,
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 160)
    table = Table(title=f"{symbol}: regimes by the {name} detector{f' — {note}' if note else ''}")
    for col in ("regime", "bars", "share", "mean next-bar return", "volatility"):
        table.add_column(col, justify="left" if col == "regime" else "right")
    for regime, s in stats.items():
        table.add_row(
            regime, str(int(s["bars"])), f"{s['share']:.1%}", f"{s['mean_return']:+.4%}", f"{s['volatility']:.4%}"
        )
    console.print(table)
    segments: list[tuple[str | None, str, int]] = []
    for ts, r in zip(stamps, timeline, strict=True):
        if segments and segments[-1][1] == r.value:
            start, value, count = segments[-1]
            segments[-1] = (start, value, count + 1)
        else:
            segments.append((ts, r.value, 1))
    console.print(f"{changes} regime changes; the last {min(15, len(segments))} segments:")
    for start, value, count in segments[-15:]:
        console.print(f"  {start}  {value:<16} {count} bars")
