"""Gap detection: where consecutive bar-open times are further apart than one granularity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Gap:
    after: datetime  # last bar before the hole
    before: datetime  # first bar after the hole
    missing_bars: int


@dataclass(frozen=True)
class GapReport:
    bars: int
    expected_bars: int
    missing_bars: int
    gaps: list[Gap]
    first: datetime | None
    last: datetime | None

    @property
    def complete(self) -> bool:
        return self.missing_bars == 0

    def to_dict(self) -> dict[str, object]:
        return {
            "bars": self.bars,
            "expected_bars": self.expected_bars,
            "missing_bars": self.missing_bars,
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None,
            "gaps": [
                {"after": g.after.isoformat(), "before": g.before.isoformat(), "missing_bars": g.missing_bars}
                for g in self.gaps
            ],
        }


def find_gaps(index: pd.DatetimeIndex, granularity_s: int) -> GapReport:
    import numpy as np

    n = len(index)
    if n == 0:
        return GapReport(0, 0, 0, [], None, None)
    ns = index.as_unit("ns").asi8
    step = granularity_s * 1_000_000_000
    diffs = np.diff(ns)
    holes = np.nonzero(diffs > step)[0]
    gaps = [
        Gap(
            after=index[i].to_pydatetime(),
            before=index[i + 1].to_pydatetime(),
            missing_bars=int(diffs[i] // step) - 1 + (1 if diffs[i] % step else 0),
        )
        for i in holes
    ]
    expected = int((ns[-1] - ns[0]) // step) + 1
    return GapReport(
        bars=n,
        expected_bars=expected,
        missing_bars=sum(g.missing_bars for g in gaps),
        gaps=gaps,
        first=index[0].to_pydatetime(),
        last=index[-1].to_pydatetime(),
    )
