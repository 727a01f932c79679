"""Candle granularities: one canonical short name ("1m", "1h") for paths, seconds for arithmetic, and
the Coinbase enum name for the candles endpoint."""

from __future__ import annotations

_SECONDS: dict[str, int] = {
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "6h": 21600,
    "8h": 28800,
    "12h": 43200,
    "1d": 86400,
    "3d": 259200,
    "1w": 604800,
}

_COINBASE: dict[str, str] = {
    "1m": "ONE_MINUTE",
    "5m": "FIVE_MINUTE",
    "15m": "FIFTEEN_MINUTE",
    "30m": "THIRTY_MINUTE",
    "1h": "ONE_HOUR",
    "2h": "TWO_HOUR",
    "4h": "FOUR_HOUR",
    "6h": "SIX_HOUR",
    "1d": "ONE_DAY",
}
_FROM_COINBASE = {v: k for k, v in _COINBASE.items()}


def normalize(granularity: str) -> str:
    """Canonical short name; accepts "1m", "1H", "ONE_MINUTE" or a number of seconds."""
    g = granularity.strip()
    if g.upper() in _FROM_COINBASE:
        return _FROM_COINBASE[g.upper()]
    if g.isdigit():
        by_seconds = {s: name for name, s in _SECONDS.items()}
        if int(g) in by_seconds:
            return by_seconds[int(g)]
    low = g.lower() if not g.endswith("M") or len(g) < 2 else g  # "1M" (month) stays distinct from "1m"
    if low in _SECONDS:
        return low
    raise ValueError(f"unknown granularity {granularity!r}; allowed: {sorted(_SECONDS, key=_SECONDS.__getitem__)}")


def seconds(granularity: str) -> int:
    return _SECONDS[normalize(granularity)]


def coinbase_name(granularity: str) -> str:
    g = normalize(granularity)
    try:
        return _COINBASE[g]
    except KeyError:
        raise ValueError(
            f"granularity {g!r} is not offered by the Coinbase candles endpoint; allowed: {list(_COINBASE)}"
        ) from None


def allowed() -> list[str]:
    return sorted(_SECONDS, key=_SECONDS.__getitem__)
