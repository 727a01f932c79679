"""`perps-bot ml train | predict | evaluate | show`: the direction model from the command line.

Only typer and the standard library load at import; numpy, pandas and scikit-learn when a command runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from gpt_trader.features.backtest.bars import Bars

ml_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Direction model: train, predict, evaluate.")

DataOpt = Annotated[Path, typer.Option("--data", help="CSV / CSV.gz / Parquet candle file")]
SymbolOpt = Annotated[str, typer.Option("--symbol", help="Symbol the file holds")]
HorizonOpt = Annotated[int, typer.Option("--horizon", help="Label: is the close `horizon` bars later higher")]
COpt = Annotated[float, typer.Option("--c", help="Inverse L2 regularization of the logistic regression")]


def _bars(symbol: str, data: Path) -> Bars:
    from gpt_trader.features.backtest.engine import BarSource, load_bars

    return load_bars(BarSource(symbol=symbol, data_file=data))


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


@ml_app.command("train")
def train_command(
    symbol: SymbolOpt,
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", help="Where to write the model (JSON)")],
    until: Annotated[str | None, typer.Option("--until", help="Train on bars (and labels) up to T only")] = None,
    horizon: HorizonOpt = 4,
    c: COpt = 0.1,
) -> None:
    """Fit the model on the bars up to --until and write it with its window, features and hash."""
    import msgspec

    from gpt_trader.features.backtest.cli import _parse_time
    from gpt_trader.features.ml_strategy.train import train_model

    try:
        model = train_model(_bars(symbol, data), until=_parse_time(until, "--until"), horizon=horizon, c=c)
    except (ValueError, OSError) as exc:
        raise _fail(exc) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(msgspec.json.encode(model))
    typer.echo(f"model {out}: {model.samples} samples {model.train_start} .. {model.train_end}, sha256 {model.sha256}")


@ml_app.command("predict")
def predict_command(
    model: Annotated[Path, typer.Option("--model", help="A model written by `ml train`")],
    data: DataOpt,
    symbol: Annotated[str | None, typer.Option("--symbol", help="Symbol (default: the model's)")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON row per bar")] = False,
) -> None:
    """Predict every bar: {"ts", "prediction", "confidence"} (null while warming up)."""
    from gpt_trader.features.live_trade.ml_model import load_model
    from gpt_trader.features.ml_strategy.train import predict_rows

    try:
        m = load_model(model)
        rows = predict_rows(m, _bars(symbol or m.symbol, data))
    except (ValueError, OSError) as exc:
        raise _fail(exc) from None
    if json_output:
        sys.stdout.write("".join(json.dumps(r) + "\n" for r in rows))
        return
    known = [r for r in rows if r["prediction"] is not None]
    ups = sum(1 for r in known if r["prediction"] == "up")
    typer.echo(f"{len(rows)} bars, {len(known)} predicted: {ups} up, {len(known) - ups} down")
    for r in rows[-10:]:
        typer.echo(f"  {r['ts']}  {r['prediction']}  {r['confidence']}")


@ml_app.command("evaluate")
def evaluate_command(
    symbol: SymbolOpt,
    data: DataOpt,
    folds: Annotated[int, typer.Option("--folds", help="Walk-forward test blocks")] = 5,
    embargo: Annotated[
        int, typer.Option("--embargo", help="Bars dropped before each test block, beyond the horizon")
    ] = 24,
    horizon: HorizonOpt = 4,
    c: COpt = 0.1,
    json_output: Annotated[bool, typer.Option("--json", help="The fold reports as JSON")] = False,
) -> None:
    """Walk-forward (expanding train, purged and embargoed) out-of-sample metrics per fold."""
    from gpt_trader.features.ml_strategy.train import report_dicts, walk_forward

    try:
        reports = walk_forward(_bars(symbol, data), folds=folds, horizon=horizon, embargo=embargo, c=c)
    except (ValueError, OSError) as exc:
        raise _fail(exc) from None
    rows = report_dicts(reports)
    if json_output:
        sys.stdout.write(json.dumps({"symbol": symbol, "horizon": horizon, "embargo": embargo, "folds": rows}) + "\n")
        return
    _table(symbol, rows)


def _table(symbol: str, rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.1%}"

    table = Table(title=f"{symbol}: walk-forward, out of sample")
    for col in ("fold", "test from", "test to", "bars", "accuracy", "base up", "AUC", "log loss", "sure", "sure acc"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            str(r["fold"]),
            r["test_start"],
            r["test_end"],
            str(r["test_bars"]),
            pct(r["accuracy"]),
            pct(r["base_rate_up"]),
            "-" if r["auc"] is None else f"{r['auc']:.3f}",
            f"{r['log_loss']:.4f}",
            pct(r["confident_share"]),
            pct(r["confident_accuracy"]),
        )
    Console(width=None if sys.stdout.isatty() else 160).print(table)


@ml_app.command("show")
def show_command(model: Annotated[Path, typer.Argument(help="A model written by `ml train`")]) -> None:
    """The model's training window, features and weights, parameters, library versions and hash."""
    import msgspec

    from gpt_trader.features.live_trade.ml_model import load_model

    try:
        m = load_model(model)
    except ValueError as exc:
        raise _fail(exc) from None
    out = msgspec.to_builtins(m)
    out["weights"] = dict(zip(m.features, m.coef, strict=True))
    sys.stdout.write(json.dumps(out, indent=2) + "\n")
