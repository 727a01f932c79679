"""Aggregate candles to a coarser granularity (UTC-aligned buckets, labelled by bucket open time).

Buckets with no source bars are dropped rather than invented; gaps stay visible to the gap report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gpt_trader.features.data import granularity as gran

if TYPE_CHECKING:
    import pandas as pd


def resample(df: pd.DataFrame, source_granularity: str, target_granularity: str) -> pd.DataFrame:
    src, dst = gran.seconds(source_granularity), gran.seconds(target_granularity)
    if dst < src or dst % src:
        raise ValueError(
            f"cannot resample {source_granularity} to {target_granularity}: target must be a multiple of the source"
        )
    rule = f"{dst}s"
    agg = df.resample(rule, label="left", closed="left", origin="epoch").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    counts = df["close"].resample(rule, label="left", closed="left", origin="epoch").count()
    out = agg[counts > 0]
    out.index.name = "timestamp"
    return out
