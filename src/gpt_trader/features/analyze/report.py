"""analyze outputs: a short terminal table and a self-contained plotly HTML report."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

    from gpt_trader.features.analyze.stats import SymbolAnalysis

MAX_POINTS = 5000
COLUMNS = (
    ("bars", "bars", "int"),
    ("start", "start", "date"),
    ("end", "end", "date"),
    ("return", "total_return", "pct"),
    ("ann. vol", "annual_volatility", "pct"),
    ("max dd", "max_drawdown", "pct"),
    ("longest dd (days)", "longest_drawdown_days", "num"),
    ("skew", "skew", "num"),
    ("ex. kurtosis", "excess_kurtosis", "num"),
    ("main regime", "main_regime", "str"),
    ("mean funding", "funding_mean", "bps"),
)
TERMINAL = ("bars", "return", "ann. vol", "max dd", "longest dd (days)", "main regime", "mean funding")


def fmt(v: Any, kind: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if kind == "pct":
        return f"{v * 100:.2f}%"
    if kind == "bps":
        return f"{v * 1e4:.2f} bps"
    if kind == "int":
        return f"{int(v):,}"
    if kind == "date":
        return str(v)[:10]
    if kind == "num":
        return f"{v:.2f}"
    return str(v)


def print_tables(
    analyses: list[SymbolAnalysis], corr: pd.DataFrame | None, note: str | None, console: Console | None = None
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title="analyze: per symbol (the HTML report and --json have more)")
    table.add_column("symbol", no_wrap=True)
    shown = [c for c in COLUMNS if c[0] in TERMINAL]
    for label, _, _ in shown:
        table.add_column(label, justify="right")
    for a in analyses:
        table.add_row(a.symbol, *(fmt(a.summary.get(key), kind) for _, key, kind in shown))
    console.print(table)
    if corr is not None:
        ct = Table(title="correlation of daily returns")
        ct.add_column("")
        for c in corr.columns:
            ct.add_column(str(c), justify="right")
        for r, row in corr.iterrows():
            ct.add_row(str(r), *(fmt(float(v), "num") for v in row.to_numpy()))
        console.print(ct)
    if note:
        console.print(f"correlation: {note}")


def _thin(n: int) -> np.ndarray:
    return np.arange(n) if n <= MAX_POINTS else np.unique(np.linspace(0, n - 1, MAX_POINTS).astype(np.int64))


def write_report(analyses: list[SymbolAnalysis], corr: pd.DataFrame | None, note: str | None, path: str | Path) -> Path:
    import plotly.graph_objects as go

    figs: list[Any] = []
    hist = go.Figure()
    for a in analyses:
        hist.add_trace(go.Histogram(x=a.daily.to_numpy() * 100, name=a.symbol, opacity=0.6, nbinsx=60))
    hist.update_layout(title="Distribution of daily returns (%)", barmode="overlay")
    figs.append(hist)
    vol = go.Figure()
    for a in analyses:
        vol.add_trace(go.Scatter(x=a.rolling_vol.index, y=a.rolling_vol.to_numpy() * 100, name=a.symbol))
    vol.update_layout(title="Rolling 30-day volatility (annualized, %)")
    figs.append(vol)
    if corr is not None:
        hm = go.Figure(
            go.Heatmap(z=corr.to_numpy(), x=list(corr.columns), y=list(corr.index), zmin=-1, zmax=1, colorscale="RdBu")
        )
        hm.update_layout(title="Correlation of daily returns" + (f" ({note})" if note else ""))
        figs.append(hm)
    dd = go.Figure()
    for a in analyses:
        i = _thin(len(a.drawdown))
        dd.add_trace(go.Scatter(x=a.drawdown.index[i], y=a.drawdown.to_numpy()[i] * 100, name=a.symbol, fill="tozeroy"))
    dd.update_layout(title="Drawdown profile (buy and hold, %)")
    figs.append(dd)
    for a in analyses:
        if a.regimes is not None and len(a.regimes):
            names = sorted(set(a.regimes.unique()))
            code = {n: k for k, n in enumerate(names)}
            i = _thin(len(a.regimes))
            rg = go.Figure(
                go.Scatter(
                    x=a.regimes.index[i],
                    y=[code[v] for v in a.regimes.to_numpy()[i]],
                    mode="markers",
                    marker={"size": 3},
                    text=a.regimes.to_numpy()[i],
                    name=a.symbol,
                )
            )
            rg.update_layout(
                title=f"Regime timeline: {a.symbol} (rules detector)",
                yaxis={"tickvals": list(code.values()), "ticktext": list(code.keys())},
                height=300,
            )
            figs.append(rg)
        if a.funding is not None and len(a.funding):
            fd = go.Figure(go.Scatter(x=a.funding.index, y=a.funding.to_numpy() * 1e4, name=a.symbol))
            fd.update_layout(title=f"Funding history: {a.symbol} (bps per settlement)", height=300)
            figs.append(fd)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ("symbol", *(c[0] for c in COLUMNS)))
    rows = "".join(
        "<tr><td>"
        + html.escape(a.symbol)
        + "</td>"
        + "".join(f"<td>{html.escape(fmt(a.summary.get(k), kind))}</td>" for _, k, kind in COLUMNS)
        + "</tr>"
        for a in analyses
    )
    parts = [f.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, f in enumerate(figs)]
    body = (
        "<html><head><meta charset='utf-8'><title>Market analysis</title>"
        "<style>body{font-family:sans-serif;margin:20px}table{border-collapse:collapse;margin:10px 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}</style></head><body>"
        f"<h1>Market analysis</h1><table><tr>{head}</tr>{rows}</table>" + "".join(parts) + "</body></html>"
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out
