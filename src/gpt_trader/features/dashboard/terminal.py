"""`perps-bot dashboard`: the terminal view (rich) of one profile's Snapshot, refreshed in place.

It only formats what `DashboardSource` reads; it imports no aiohttp and never talks to the exchange.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from gpt_trader.features.dashboard.fmt import money, plain, signed
from gpt_trader.features.dashboard.source import DashboardSource, Snapshot, SourceError

BARS = "▁▂▃▄▅▆▇█"
STATE_STYLE = {"ACTIVE": "bold green", "REDUCING": "bold yellow", "HALTED": "bold red"}


def sparkline(values: Sequence[Decimal], width: int = 40) -> str:
    """Block-character sparkline of the last `width` values (flat series -> a flat line)."""
    if not values:
        return ""
    tail = list(values)[-width:]
    lo, hi = min(tail), max(tail)
    if hi == lo:
        return BARS[0] * len(tail)
    span = hi - lo
    return "".join(BARS[int((v - lo) / span * (len(BARS) - 1))] for v in tail)


def render(snap: Snapshot) -> RenderableType:
    """One frame: header, equity sparkline, positions, open orders, fills, guards, streams, venue."""
    head = Text()
    head.append(f"{snap.profile}  ", style="bold")
    head.append(snap.trading_state, style=STATE_STYLE.get(snap.trading_state, "bold"))
    if snap.trading_reason:
        head.append(f"  reason: {snap.trading_reason}")
    if snap.trading_guard:
        head.append(f"  guard: {snap.trading_guard}")
    if snap.trading_since:
        head.append(f"  since {snap.trading_since}")
    head.append(f"\nhealth: {snap.status}")
    if snap.status_reason:
        head.append(f" ({snap.status_reason})")
    head.append(f"  session: {snap.session_id or '-'}  cycle: {snap.cycle if snap.cycle is not None else '-'}")
    head.append(f"  venue: {snap.venue or '-'}  venue time: {snap.venue_time or '-'}")
    head.append(f"\nequity: {money(snap.equity)} USD  PnL today: {signed(snap.pnl_today)}")
    head.append(f"  PnL {snap.window_min} min: {signed(snap.pnl_window)}")
    head.append(f"\nequity {snap.window_min} min  {sparkline([p.equity for p in snap.curve])}")
    header = Panel(head, title="GPT-Trader dashboard", subtitle=f"written {snap.written_at or '-'}")

    positions = Table(title="Positions", expand=True)
    for col in ("symbol", "size", "mark", "notional", "unrealized", "realized", "reconciled"):
        positions.add_column(col, justify="left" if col == "symbol" else "right")
    for p in snap.positions:
        positions.add_row(
            p.symbol,
            plain(p.size),
            money(p.mark, 4),
            money(p.notional),
            signed(p.unrealized_pnl),
            signed(p.realized_pnl),
            plain(p.reconciled_size),
        )
    if not snap.positions:
        positions.add_row("flat", "", "", "", "", "", "")

    orders = Table(title=f"Open orders ({len(snap.open_orders)})", expand=True)
    for col in ("symbol", "side", "type", "size", "limit", "status", "filled", "created"):
        orders.add_column(col)
    for o in snap.open_orders:
        orders.add_row(
            o.symbol,
            o.side,
            o.order_type,
            plain(o.size),
            plain(o.limit_price),
            o.status,
            plain(o.filled_size),
            o.created_at,
        )

    fills = Table(title=f"Last fills ({len(snap.last_fills)})", expand=True)
    for col in ("time", "symbol", "side", "size", "price", "fee"):
        fills.add_column(col, justify="right" if col in ("size", "price", "fee") else "left")
    for f in snap.last_fills:
        fills.add_row(f.ts, f.symbol, f.side, plain(f.size), plain(f.price), money(f.fee, 4))

    guards = Table(title="Guards", expand=True)
    for col in ("guard", "state", "trips r/c", "used / limit"):
        guards.add_column(col)
    for g in snap.guards:
        guards.add_row(
            g.name,
            Text("TRIPPED", style="bold red") if g.active else Text("ok", style="green"),
            f"{g.recoverable}/{g.critical}",
            g.headroom,
        )

    stale = [s.symbol for s in snap.streams if s.stale]
    lags = [s for s in snap.streams if s.lag_s is not None]
    worst = max(lags, key=lambda s: s.lag_s or Decimal(0)) if lags else None
    venue = Text()
    venue.append(f"streams: {len(snap.streams)} symbols, ")
    venue.append(f"{len(stale)} stale" + (f" ({', '.join(stale)})" if stale else ""), style="red" if stale else "")
    if worst is not None:
        venue.append(f", max lag {worst.lag_s:.1f} s ({worst.symbol})")
    if snap.rate_limit:
        venue.append("\nREST rate-limit headroom: " + ", ".join(f"{k} {v:.0f}" for k, v in snap.rate_limit.items()))
    else:
        venue.append(f"\nREST rate-limit headroom: n/a (venue {snap.venue or '?'} keeps no bucket)")
    if snap.rest_requests is not None:
        venue.append(f"  requests {snap.rest_requests:.0f}, errors {snap.rest_errors or 0:.0f}")
    rec = snap.last_reconciliation
    if rec:
        venue.append(
            f"\nlast reconciliation: {rec['ts']} ({rec['phase']}), {rec['corrections']} corrections, "
            f"{rec['mismatches']} mismatches, {rec['flagged_orders']} flagged orders"
        )
    else:
        venue.append("\nlast reconciliation: none recorded")
    return Group(header, positions, orders, fills, guards, Panel(venue, title="Venue"))


def frame(source: DashboardSource, window_min: int) -> RenderableType:
    """A frame, or the reason there is none (missing store, unreadable file) in red: never a crash."""
    try:
        return render(source.snapshot(window_min=window_min))
    except SourceError as exc:
        return Panel(Text(str(exc), style="bold red"), title="GPT-Trader dashboard")


def run_terminal(source: DashboardSource, *, refresh_s: float, window_min: int, once: bool, console: Console) -> int:
    """Print one frame (`once`) or redraw every `refresh_s` until Ctrl-C; returns the exit code."""
    if once:
        try:
            console.print(render(source.snapshot(window_min=window_min)))
        except SourceError as exc:
            console.print(Text(str(exc), style="bold red"))
            return 1
        return 0
    try:
        with Live(frame(source, window_min), console=console, auto_refresh=False, screen=False) as live:
            while True:
                time.sleep(refresh_s)
                live.update(frame(source, window_min), refresh=True)
    except KeyboardInterrupt:
        return 0
