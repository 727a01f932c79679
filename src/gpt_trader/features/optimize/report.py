"""Optimize outputs for people: a rich console summary and a self-contained plotly HTML report
(optimization history, parameter importance, a heatmap over two parameters, walk-forward folds)."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from rich.console import Console

    from gpt_trader.features.optimize.space import SearchSpace
    from gpt_trader.features.optimize.study import StudyRun
    from gpt_trader.features.optimize.walkforward import Fold


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return "n/a" if not math.isfinite(v) else f"{v:.4g}"
    return str(v)


def print_summary(summary: dict[str, Any], top: int = 10, console: Console | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    j = summary["json"]
    table = Table(
        title=f"{j['strategy']}: top trials by {j['objective']} ({j['trials']} completed, study {j['study']})"
    )
    table.add_column("#", justify="right")
    table.add_column(j["objective"], justify="right")
    names = list((j["best_params"] or {}).keys())
    for n in names:
        table.add_column(n, justify="right")
    for col in ("return", "max dd", "trades"):
        table.add_column(col, justify="right")
    for row in j["top_trials"][:top]:
        m = row["metrics"]
        table.add_row(
            str(row["number"]),
            _fmt(row["value"]),
            *(_fmt(row["params"].get(n)) for n in names),
            _fmt(m.get("total_return")),
            _fmt(m.get("max_drawdown")),
            _fmt(m.get("trades")),
        )
    console.print(table)
    over = j["overfitting"]
    console.print(
        f"probability of backtest overfitting (CSCV, {over['pbo_configs']} configs x {over['pbo_blocks']} blocks): "
        f"{_fmt(over['pbo'])}; deflated Sharpe ratio of the best: {_fmt(over['deflated_sharpe'])}"
        + (f" ({over['note']})" if over.get("note") else "")
    )
    wf = j["walk_forward"]
    if wf:
        t = Table(title="walk-forward: in-sample vs out-of-sample")
        for col in ("fold", "test window", "best params", "in-sample", "out-of-sample", "OOS return"):
            t.add_column(col)
        for f in wf["folds"]:
            t.add_row(
                str(f["fold"]),
                f"{f['test_start'][:10]} .. {f['test_end'][:10]}",
                str(f["best_params"]),
                _fmt(f["in_sample"]),
                _fmt(f["out_of_sample"]),
                _fmt(f["oos_return"]),
            )
        console.print(t)
        console.print(f"stitched out-of-sample return: {_fmt(wf['stitched_oos_return'])}")
    if j["interrupted"]:
        console.print(
            f"[yellow]stopped early; the study is kept: rerun with --resume --storage {j['storage']}[/yellow]"
        )
    if j["profile_snippet"]:
        console.print("best parameters as a profile snippet:")
        console.print(j["profile_snippet"], markup=False, highlight=False)


def heatmap_params(run: StudyRun, space: SearchSpace) -> tuple[str, str] | None:
    """The two searched parameters the heatmap spans: the two most important, else the first two."""
    names = [r.name for r in space.ranges]
    if len(names) < 2:
        return None
    try:
        import optuna

        ranked = list(optuna.importance.get_param_importances(run.study))
        ranked = [n for n in ranked if n in names]
        if len(ranked) >= 2:
            return ranked[0], ranked[1]
    except (RuntimeError, ValueError, ZeroDivisionError):
        pass
    return names[0], names[1]


def write_report(
    summary: dict[str, Any], run: StudyRun, space: SearchSpace, folds: list[Fold], path: str | Path
) -> Path:
    import pandas as pd
    import plotly.graph_objects as go
    from optuna.visualization import plot_optimization_history, plot_param_importances

    j = summary["json"]
    figs: list[Any] = []
    completed = run.completed
    if completed:
        figs.append(plot_optimization_history(run.study))
        if len(space.ranges) >= 2 and len(completed) >= 2:
            try:
                figs.append(plot_param_importances(run.study))
            except (RuntimeError, ValueError, ZeroDivisionError) as exc:  # e.g. every trial scored the same
                figs.append(_note_fig(f"parameter importance unavailable: {exc}"))
        pair = heatmap_params(run, space)
        if pair is not None:
            a, b = pair
            rows = [
                (t.params[a], t.params[b], t.value)
                for t in completed
                if a in t.params and b in t.params and t.value is not None and math.isfinite(t.value)
            ]
            if rows:
                df = pd.DataFrame(rows, columns=[a, b, "value"]).pivot_table(
                    index=b, columns=a, values="value", aggfunc="mean"
                )
                hm = go.Figure(
                    go.Heatmap(
                        x=df.columns.tolist(), y=df.index.tolist(), z=df.to_numpy(), colorbar={"title": j["objective"]}
                    )
                )
                hm.update_layout(
                    title=f"{j['objective']} over {a} x {b} (mean of trials)", xaxis_title=a, yaxis_title=b
                )
                figs.append(hm)
    if folds:
        bar = go.Figure(
            [
                go.Bar(name="in-sample", x=[f"fold {f.index}" for f in folds], y=[_nan(f.in_sample) for f in folds]),
                go.Bar(
                    name="out-of-sample", x=[f"fold {f.index}" for f in folds], y=[_nan(f.out_of_sample) for f in folds]
                ),
            ]
        )
        bar.update_layout(title=f"walk-forward {j['objective']}: in-sample vs out-of-sample", barmode="group")
        figs.append(bar)
        ts, eq = summary["stitched"]
        curve = go.Figure(go.Scatter(x=pd.to_datetime(ts, utc=True), y=eq, name="stitched OOS equity"))
        for f in folds:
            curve.add_vline(x=pd.Timestamp(f.test_start_ns, tz="UTC"), line_dash="dot", line_color="grey")
        curve.update_layout(title="stitched out-of-sample equity (folds marked)")
        figs.append(curve)
    over = j["overfitting"]
    info = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(_fmt(v))}</td></tr>"
        for k, v in (
            ("strategy", j["strategy"]),
            ("study", j["study"]),
            ("storage", j["storage"]),
            ("objective", j["objective"]),
            ("space", j["space"]),
            ("trials completed", j["trials"]),
            ("best value", j["best_value"]),
            ("best params", j["best_params"]),
            ("PBO (CSCV)", over["pbo"]),
            ("deflated Sharpe ratio", over["deflated_sharpe"]),
        )
    )
    names = list((j["best_params"] or {}).keys())
    top_rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(_fmt(c))}</td>" for c in (r["number"], r["value"], *(r["params"].get(n) for n in names))
        )
        + "</tr>"
        for r in j["top_trials"][:20]
    )
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ("#", j["objective"], *names))
    parts = [fig.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, fig in enumerate(figs)]
    snippet = html.escape(j["profile_snippet"] or "")
    body = (
        "<html><head><meta charset='utf-8'><title>Optimize report</title>"
        "<style>body{font-family:sans-serif;margin:20px}table{border-collapse:collapse;margin:10px 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}</style></head><body>"
        f"<h1>Optimize: {html.escape(j['strategy'])}</h1><table>{info}</table>"
        f"<h2>Top trials</h2><table><tr>{head}</tr>{top_rows}</table>"
        f"<h2>Best parameters as a profile snippet</h2><pre>{snippet}</pre>" + "".join(parts) + "</body></html>"
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out


def _top_cells(row: dict[str, Any], names: list[str]) -> list[Any]:
    return [row["number"], row["value"], *(row["params"].get(n) for n in names)]


def _nan(v: float | None) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def _note_fig(text: str) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.update_layout(title=text)
    return fig
