"""Outputs for people: a self-contained plotly HTML report and a rich console summary."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from rich.console import Console

    from gpt_trader.features.backtest.result import BacktestResult

MAX_POINTS = 5000

METRIC_LABELS = {
    "total_return": ("Total return", "pct"),
    "cagr": ("CAGR", "pct"),
    "sharpe": ("Sharpe", "num"),
    "sortino": ("Sortino", "num"),
    "max_drawdown": ("Max drawdown", "pct"),
    "calmar": ("Calmar", "num"),
    "win_rate": ("Win rate", "pct"),
    "profit_factor": ("Profit factor", "num"),
    "exposure": ("Exposure", "pct"),
    "fees": ("Fees", "money"),
    "fees_maker": ("Fees, maker", "money"),
    "fees_taker": ("Fees, taker", "money"),
    "trades": ("Trades", "int"),
}


def fmt_metric(key: str, value: float | None) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    kind = METRIC_LABELS.get(key, (key, "num"))[1]
    if kind == "pct":
        return f"{value * 100:.2f}%"
    if kind == "money":
        return f"{value:,.2f}"
    if kind == "int":
        return f"{int(value)}"
    return f"{value:.3f}"


def _thin(n: int) -> np.ndarray:
    """Indices to plot: at most MAX_POINTS, always the last bar."""
    if n <= MAX_POINTS:
        return np.arange(n)
    idx = np.linspace(0, n - 1, MAX_POINTS).astype(np.int64)
    return np.unique(idx)


def monthly_returns(result: BacktestResult) -> list[tuple[str, float]]:
    import pandas as pd

    if result.bars == 0:
        return []
    eq = pd.Series(result.equity, index=pd.to_datetime(result.ts_ns, utc=True))
    month_end = eq.groupby(eq.index.strftime("%Y-%m")).last()
    prev = month_end.shift(1)
    prev.iloc[0] = result.initial_cash
    rets = month_end / prev - 1.0
    return [(str(k), float(v)) for k, v in rets.items()]


def write_html_report(result: BacktestResult, path: str | Path) -> Path:
    import pandas as pd
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    out = Path(path)
    idx = _thin(result.bars)
    times = pd.to_datetime(result.ts_ns[idx], utc=True)
    equity = result.equity[idx]
    curve = result.equity
    drawdown = (curve / np.maximum.accumulate(np.maximum(curve, 1e-300)) - 1.0)[idx]
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.04,
        row_heights=[0.5, 0.3, 0.2],
        subplot_titles=("Price with entries and exits", "Equity", "Drawdown"),
    )
    fig.add_trace(go.Scatter(x=times, y=result.close[idx], name="close", line={"width": 1}), row=1, col=1)
    entries = [t for t in result.trades]
    fig.add_trace(
        go.Scatter(
            x=[t.entry_time for t in entries],
            y=[float(t.entry_price) for t in entries],
            mode="markers",
            name="entry",
            marker={"symbol": "triangle-up", "size": 9, "color": "green"},
        ),
        row=1,
        col=1,
    )
    exits = [t for t in result.trades if t.exit_time is not None]
    fig.add_trace(
        go.Scatter(
            x=[t.exit_time for t in exits],
            y=[float(t.exit_price) for t in exits],
            mode="markers",
            name="exit",
            marker={"symbol": "triangle-down", "size": 9, "color": "red"},
        ),
        row=1,
        col=1,
    )
    fig.add_trace(go.Scatter(x=times, y=equity, name="equity", line={"width": 1.5}), row=2, col=1)
    fig.add_trace(
        go.Scatter(
            x=times,
            y=drawdown * 100,
            name="drawdown %",
            fill="tozeroy",
            line={"width": 1, "color": "firebrick"},
        ),
        row=3,
        col=1,
    )
    fig.update_layout(
        height=900, title=f"{result.strategy} on {result.symbol} ({result.engine} engine)", showlegend=True
    )
    months = monthly_returns(result)
    month_fig = go.Figure(
        go.Bar(
            x=[m for m, _ in months],
            y=[r * 100 for _, r in months],
            marker_color=["green" if r >= 0 else "red" for _, r in months],
        )
    )
    month_fig.update_layout(title="Monthly returns (%)", height=350)
    metrics_rows = "".join(
        f"<tr><td>{html.escape(METRIC_LABELS.get(k, (k, ''))[0])}</td><td>{fmt_metric(k, v)}</td></tr>"
        for k, v in result.metrics.items()
    )
    summary_rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in (
            ("engine", result.engine),
            ("symbol", result.symbol),
            ("strategy", result.strategy),
            ("params", result.params),
            ("bars", result.bars),
            ("initial cash", result.initial_cash),
            ("final equity", f"{result.final_equity:,.2f}"),
            ("rules that acted", result.rules_acted),
        )
    )
    trade_rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(c))}</td>"
            for c in (
                i + 1,
                t.entry_time.isoformat(),
                t.exit_time.isoformat() if t.exit_time else "open",
                t.side,
                t.size,
                t.entry_price,
                t.exit_price,
                f"{t.fees:.2f}",
                f"{t.pnl:.2f}",
            )
        )
        + "</tr>"
        for i, t in enumerate(result.trades)
    )
    body = (
        "<html><head><meta charset='utf-8'><title>Backtest report</title>"
        "<style>body{font-family:sans-serif;margin:20px}table{border-collapse:collapse;margin:10px 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}</style></head><body>"
        f"<h1>Backtest: {html.escape(result.strategy)} on {html.escape(result.symbol)}</h1>"
        f"<table>{summary_rows}</table><h2>Metrics</h2><table>{metrics_rows}</table>"
        + fig.to_html(full_html=False, include_plotlyjs=True)
        + month_fig.to_html(full_html=False, include_plotlyjs=False)
        + "<h2>Trades</h2><table><tr><th>#</th><th>entry</th><th>exit</th><th>side</th><th>size</th>"
        "<th>entry price</th><th>exit price</th><th>fees</th><th>pnl</th></tr>"
        f"{trade_rows}</table></body></html>"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out


def print_summary(result: BacktestResult, console: Console | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"{result.strategy} {result.params} on {result.symbol} — {result.engine} engine")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows: list[tuple[str, Any]] = [
        ("bars", f"{result.bars:,}"),
        ("backtest time (whole call)", f"{result.elapsed_s * 1000:.1f} ms"),
        ("strategy ran as", result.signals_source if result.engine == "fast" else "decide per bar (live objects)"),
        ("initial cash", f"{result.initial_cash:,.2f}"),
        ("final equity", f"{result.final_equity:,.2f}"),
    ]
    rows += [(METRIC_LABELS.get(k, (k, ""))[0], fmt_metric(k, v)) for k, v in result.metrics.items()]
    if result.rules_acted:
        rows.append(("rules that acted", ", ".join(f"{k}={v}" for k, v in result.rules_acted.items())))
    for k, v in rows:
        table.add_row(k, str(v))
    console.print(table)
