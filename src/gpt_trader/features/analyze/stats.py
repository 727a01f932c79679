"""Per-symbol statistics from bars (floats: analytics, not money) and the cross-symbol correlation."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gpt_trader.features.backtest.bars import NS_PER_DAY, Bars

if TYPE_CHECKING:
    import pandas as pd

VOL_WINDOW_DAYS = 30
REGIME_MAX_BARS = 50_000  # beyond this the bars are resampled to 1h for the (per-bar, pure Python) regime pass


@dataclass
class SymbolAnalysis:
    """What analyze says of one symbol: summary numbers plus the series its plots draw."""

    symbol: str
    summary: dict[str, Any]
    daily: pd.Series  # daily close-to-close simple returns (UTC days)
    bar_log_returns: np.ndarray
    rolling_vol: pd.Series  # annualized, VOL_WINDOW_DAYS of daily returns
    drawdown: pd.Series  # of the close (buy and hold), a fraction below the running peak
    regimes: pd.Series | None  # regime name per bar (or per hour when resampled)
    regime_share: dict[str, float] = field(default_factory=dict)
    funding: pd.Series | None = None


def _moments(x: np.ndarray) -> tuple[float | None, float | None]:
    if x.size < 3 or float(x.std()) == 0.0:
        return None, None
    z = (x - x.mean()) / x.std()
    return float(np.mean(z**3)), float(np.mean(z**4) - 3.0)


def longest_drawdown_days(close: pd.Series) -> float:
    """The longest stretch (days) spent below a previous peak."""
    peak = close.cummax()
    under = close < peak
    longest, start = 0.0, None
    for ts, below in under.items():
        if below and start is None:
            start = ts
        elif not below and start is not None:
            longest = max(longest, (ts - start).total_seconds() / 86400)
            start = None
    if start is not None:
        longest = max(longest, (close.index[-1] - start).total_seconds() / 86400)
    return longest


def analyze_symbol(bars: Bars, funding: pd.Series | None = None, regimes: bool = True) -> SymbolAnalysis:
    import pandas as pd

    if len(bars) < 2:
        raise ValueError(f"{bars.symbol}: needs at least 2 bars, got {len(bars)}")
    idx = pd.to_datetime(bars.ts_ns, utc=True)
    close = pd.Series(bars.close, index=idx)
    day_close = close.groupby(bars.ts_ns // NS_PER_DAY).last()
    day_close.index = pd.to_datetime(day_close.index * NS_PER_DAY, utc=True)
    daily = day_close.pct_change().dropna()
    rolling_vol = daily.rolling(VOL_WINDOW_DAYS, min_periods=max(2, VOL_WINDOW_DAYS // 2)).std() * math.sqrt(365)
    drawdown = close / close.cummax() - 1.0
    log_r = np.diff(np.log(bars.close))
    skew, kurt = _moments(log_r)
    per_year = 365 * 86400 / bars.granularity_s
    summary: dict[str, Any] = {
        "symbol": bars.symbol,
        "bars": len(bars),
        "granularity_s": bars.granularity_s,
        "start": idx[0].isoformat(),
        "end": idx[-1].isoformat(),
        "total_return": float(bars.close[-1] / bars.close[0] - 1.0),
        "annual_volatility": float(log_r.std(ddof=1) * math.sqrt(per_year)) if log_r.size > 1 else None,
        "max_drawdown": float(-drawdown.min()),
        "longest_drawdown_days": longest_drawdown_days(close),
        "skew": skew,
        "excess_kurtosis": kurt,
        "worst_bar": float(log_r.min()) if log_r.size else None,
        "best_bar": float(log_r.max()) if log_r.size else None,
    }
    regime_series = None
    share: dict[str, float] = {}
    if regimes:
        regime_series = regime_timeline_series(bars)
        counts = regime_series[regime_series != "unknown"].value_counts(normalize=True)
        share = {str(k): float(v) for k, v in counts.items()}
        summary["main_regime"] = max(share, key=lambda k: share[k]) if share else None
    if funding is not None and len(funding):
        f = funding[(funding.index >= idx[0]) & (funding.index <= idx[-1])]
        summary["funding_mean"] = float(f.mean()) if len(f) else None
        summary["funding_settlements"] = len(f)
    return SymbolAnalysis(bars.symbol, summary, daily, log_r, rolling_vol, drawdown, regime_series, share, funding)


def regime_timeline_series(bars: Bars) -> pd.Series:
    """The rules detector's regime at every bar (on hourly bars when there are more than 50,000)."""
    import pandas as pd

    from gpt_trader.features.live_trade.regime import RuleDetector
    from gpt_trader.features.market_regime.series import regime_timeline

    src = bars if len(bars) <= REGIME_MAX_BARS else hourly(bars)
    timeline = regime_timeline(src, RuleDetector())
    return pd.Series([r.value for r in timeline], index=pd.to_datetime(src.ts_ns, utc=True))


def hourly(bars: Bars) -> Bars:
    import pandas as pd

    df = pd.DataFrame(
        {"open": bars.open, "high": bars.high, "low": bars.low, "close": bars.close, "volume": bars.volume},
        index=pd.to_datetime(bars.ts_ns, utc=True),
    )
    agg = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    out = df.resample("1h").agg(agg).dropna()
    return Bars.from_frame(out, bars.symbol, 3600)


def correlation(analyses: list[SymbolAnalysis]) -> tuple[pd.DataFrame | None, str | None]:
    """Pearson correlation of daily returns on the days every pair shares; None (and why) when fewer
    than 2 symbols or no pair shares 3 days."""
    import pandas as pd

    if len(analyses) < 2:
        return None, "one symbol: no correlation"
    frame = pd.concat({a.symbol: a.daily for a in analyses}, axis=1)
    corr = frame.corr(min_periods=3)
    off = corr.to_numpy()[~np.eye(len(corr), dtype=bool)]
    if not np.isfinite(off).any():
        return corr, "no two symbols share 3 days of returns"
    return corr, None
