"""Download candles from the Coinbase public candles endpoint into the store.

`GET /api/v3/brokerage/market/products/{id}/candles?start&end&granularity&limit` answers at most 350
candles, so the range is walked in 350-bar windows, paced under the public limit (10 req/s per IP),
retried on 429/5xx/transport errors, and written to the store as it goes: a rerun resumes after the
last stored bar.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from gpt_trader.features.data import granularity as gran

if TYPE_CHECKING:
    import httpx
    import pandas as pd

    from gpt_trader.features.data.store import CandleStore

MAX_CANDLES = 350
PUBLIC_BASE_URL = "https://api.coinbase.com"
PATH = "/api/v3/brokerage/market/products/{product_id}/candles"


class DownloadError(RuntimeError):
    pass


@dataclass
class DownloadStats:
    requests: int = 0
    retries: int = 0
    candles: int = 0
    skipped_rows: int = 0
    resumed_from: datetime | None = None


class _Pacer:
    """At most `rate` requests per second (evenly spaced)."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0 requests/s, got {rate}")
        self.interval = 1.0 / rate
        self._next = 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        if self._next > now:
            await asyncio.sleep(self._next - now)
        self._next = max(now, self._next) + self.interval


def parse_candles(payload: Any, stats: DownloadStats) -> list[dict[str, float]]:
    """Rows from a candles response; malformed rows are counted and skipped, never fatal."""
    if not isinstance(payload, dict) or not isinstance(payload.get("candles"), list):
        raise DownloadError(f"unexpected candles response shape: {str(payload)[:200]}")
    rows = []
    for item in payload["candles"]:
        try:
            rows.append(
                {
                    "start": int(item["start"]),
                    "open": float(item["open"]),
                    "high": float(item["high"]),
                    "low": float(item["low"]),
                    "close": float(item["close"]),
                    "volume": float(item["volume"]),
                }
            )
        except (KeyError, TypeError, ValueError):
            stats.skipped_rows += 1
    return rows


async def _fetch(
    client: httpx.AsyncClient,
    url: str,
    params: dict[str, str],
    pacer: _Pacer,
    stats: DownloadStats,
    max_retries: int,
    retry_delay_s: float,
) -> Any:
    import httpx

    delay = retry_delay_s
    for attempt in range(max_retries + 1):
        await pacer.wait()
        stats.requests += 1
        try:
            resp = await client.get(url, params=params)
        except httpx.TransportError as exc:
            if attempt == max_retries:
                raise DownloadError(f"GET {url} failed after {attempt + 1} attempts: {exc!r}") from exc
        else:
            if resp.status_code == 200:
                try:
                    return resp.json()
                except ValueError as exc:
                    raise DownloadError(f"GET {url}: body is not JSON: {resp.text[:200]!r}") from exc
            if resp.status_code != 429 and resp.status_code < 500:
                raise DownloadError(f"GET {url} -> HTTP {resp.status_code}: {resp.text[:300]}")
            if attempt == max_retries:
                raise DownloadError(f"GET {url} -> HTTP {resp.status_code} after {attempt + 1} attempts")
            reset = resp.headers.get("x-ratelimit-reset")
            if resp.status_code == 429 and reset and reset.isdigit():
                delay = max(delay, min(10.0, int(reset) - time.time()))
        stats.retries += 1
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)
    raise DownloadError(f"GET {url}: retries exhausted")


def _frame(rows: list[dict[str, float]]) -> pd.DataFrame:
    import pandas as pd

    df = pd.DataFrame(rows)
    df.index = pd.DatetimeIndex(pd.to_datetime(df.pop("start"), unit="s", utc=True), name="timestamp")
    return df.sort_index()[["open", "high", "low", "close", "volume"]]


async def download_candles(
    store: CandleStore,
    symbol: str,
    granularity: str,
    start: datetime,
    end: datetime,
    *,
    source: str = "coinbase",
    base_url: str = PUBLIC_BASE_URL,
    rate_per_s: float = 8.0,
    max_retries: int = 5,
    retry_delay_s: float = 0.5,
    resume: bool = True,
    flush_every: int = 20,
    on_progress: Callable[[int, int], None] | None = None,
    verify: bool | str = True,
) -> DownloadStats:
    """Fill [start, end) for `symbol` into the store; returns counters."""
    import httpx

    g = gran.normalize(granularity)
    g_s, g_name = gran.seconds(g), gran.coinbase_name(g)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if start >= end:
        raise ValueError(f"start {start.isoformat()} must be before end {end.isoformat()}")
    stats = DownloadStats()
    if resume:
        last = store.last_timestamp(source, symbol, g)
        if last is not None and start <= last < end:
            start = last + timedelta(seconds=g_s)
            stats.resumed_from = start
    step = timedelta(seconds=g_s * MAX_CANDLES)
    windows = []
    t = start
    while t < end:
        windows.append((t, min(t + step, end)))
        t += step
    url = base_url.rstrip("/") + PATH.format(product_id=symbol)
    pacer = _Pacer(rate_per_s)
    pending: list[dict[str, float]] = []
    async with httpx.AsyncClient(timeout=30.0, trust_env=False, verify=verify) as client:
        for i, (w_start, w_end) in enumerate(windows, 1):
            params = {
                "start": str(int(w_start.timestamp())),
                "end": str(int(w_end.timestamp())),
                "granularity": g_name,
                "limit": str(MAX_CANDLES),
            }
            payload = await _fetch(client, url, params, pacer, stats, max_retries, retry_delay_s)
            rows = [r for r in parse_candles(payload, stats) if w_start.timestamp() <= r["start"] < w_end.timestamp()]
            pending.extend(rows)
            stats.candles += len(rows)
            if pending and (i % flush_every == 0 or i == len(windows)):
                store.write(source, symbol, g, _frame(pending))
                pending = []
            if on_progress is not None:
                on_progress(i, len(windows))
    if pending:
        store.write(source, symbol, g, _frame(pending))
    return stats
