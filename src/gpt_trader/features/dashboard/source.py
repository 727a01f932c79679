"""One read-only view of a profile's files: the SQLite store (orders, fills, events journal, state), the
metrics.json document and the health file. Both dashboards read through it and nothing else.

The store is opened read-only (`mode=ro`): SQLite WAL lets this reader look while the bot writes, and a
dashboard can never change the bot's state. Money is Decimal: metrics.json floats are parsed as Decimal
from their text, the health file's equity is already an exact string.
"""

from __future__ import annotations

import html
import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import yaml

from gpt_trader.features.brokerages.core.interfaces import Fill
from gpt_trader.persistence.event_store import EventStore
from gpt_trader.persistence.orders_store import OrdersStore, StoredOrder
from gpt_trader.persistence.state_store import RISK_STATE_KEY, StateStore

STORE_FILE = "bot.sqlite3"
ZERO = Decimal(0)


class SourceError(Exception):
    """A profile's files cannot be read (missing store, unreadable document); the message says which."""


class Paths(msgspec.Struct, frozen=True, kw_only=True):
    """Where a profile's bot writes: `<data_root>/<profile>/bot.sqlite3`, `<data_root>/perps_bot/<profile>/`."""

    profile: str
    store: Path
    metrics: Path
    health: Path
    reports_root: Path

    @classmethod
    def for_profile(cls, profile: str, *, data_root: Path | None = None, reports_root: Path | None = None) -> Paths:
        """A profile name (`dev`) or a profile YAML file; a YAML's `data_root` / `health_file` are honoured
        (as the bot honours them); `data_root` given here wins over both."""
        name, root, health_file = profile, Path("var/data"), None
        as_file = Path(profile)
        if profile.endswith((".yaml", ".yml")):
            if not as_file.is_file():
                raise SourceError(f"--profile {profile!r}: no such profile file")
            doc = yaml.safe_load(as_file.read_text(encoding="utf-8")) or {}
            if not isinstance(doc, dict):
                raise SourceError(f"--profile {profile!r}: a profile file is a YAML mapping")
            name = as_file.stem
            root = Path(str(doc.get("data_root", root)))
            health_file = doc.get("health_file")
        elif not profile or not all(c.isalnum() or c in "_-." for c in profile):
            raise SourceError(f"--profile {profile!r}: a profile name is letters, digits, _ - . (or a .yaml file)")
        if data_root is not None:
            root = data_root
        metrics_dir = root / "perps_bot" / name
        return cls(
            profile=name,
            store=root / name / STORE_FILE,
            metrics=metrics_dir / "metrics.json",
            health=Path(health_file) if health_file else metrics_dir / "health.json",
            reports_root=reports_root if reports_root is not None else root.parent,
        )


class GuardView(msgspec.Struct, frozen=True, kw_only=True):
    """One guard: active trip or not, trips so far, and its headroom where the guard has a budget."""

    name: str
    active: bool
    recoverable: int
    critical: int
    used: Decimal | None = None
    limit: Decimal | None = None
    headroom: str = ""


class PositionView(msgspec.Struct, frozen=True, kw_only=True):
    """An open position as the bot last published it (metrics.json) and the store's last reconciled size."""

    symbol: str
    size: Decimal
    mark: Decimal | None
    notional: Decimal | None
    unrealized_pnl: Decimal
    realized_pnl: Decimal
    reconciled_size: Decimal | None


class OrderView(msgspec.Struct, frozen=True, kw_only=True):
    """An order row of the store, as shown."""

    client_order_id: str
    symbol: str
    side: str
    order_type: str
    size: Decimal
    limit_price: Decimal | None
    status: str
    filled_size: Decimal
    avg_fill_price: Decimal | None
    created_at: str
    session_id: str


class FillView(msgspec.Struct, frozen=True, kw_only=True):
    """A fill row of the store, as shown."""

    trade_id: str
    symbol: str
    side: str
    price: Decimal
    size: Decimal
    fee: Decimal
    liquidity: str
    ts: str


class StreamView(msgspec.Struct, frozen=True, kw_only=True):
    """Market data health of one symbol."""

    symbol: str
    stale: bool
    lag_s: Decimal | None


class CurvePoint(msgspec.Struct, frozen=True, array_like=True):
    """(venue time ISO, equity): one point of the equity curve."""

    ts: str
    equity: Decimal


class SessionView(msgspec.Struct, frozen=True, kw_only=True):
    """One past (or running) session of the journal with its summary."""

    session_id: str
    started: str | None
    ended: str | None
    cycles: int | None
    halted: bool
    halt_reason: str | None
    orders: int
    fills: int
    fees: Decimal
    venue: str | None


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """Everything one dashboard frame shows, read at one moment."""

    profile: str
    session_id: str | None
    status: str
    status_reason: str
    cycle: int | None
    venue: str | None
    venue_time: str | None
    written_at: str | None
    trading_state: str
    trading_reason: str
    trading_guard: str | None
    trading_since: str | None
    equity: Decimal | None
    day_start_equity: Decimal | None
    pnl_today: Decimal | None
    pnl_window: Decimal | None
    window_min: int
    curve: list[CurvePoint]
    positions: list[PositionView]
    open_orders: list[OrderView]
    last_fills: list[FillView]
    guards: list[GuardView]
    streams: list[StreamView]
    rate_limit: dict[str, Decimal]
    rest_requests: Decimal | None
    rest_errors: Decimal | None
    last_reconciliation: dict[str, Any] | None


def _labelled(metrics: dict[str, Decimal], family: str, label: str) -> dict[str, Decimal]:
    """`family{label=x}` samples -> {x: value}."""
    prefix = f"{family}{{{label}="
    return {k[len(prefix) : -1]: v for k, v in metrics.items() if k.startswith(prefix) and k.endswith("}")}


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _order_view(o: StoredOrder) -> OrderView:
    return OrderView(
        client_order_id=o.client_order_id,
        symbol=o.symbol,
        side=str(o.side.value),
        order_type=str(o.order_type.value),
        size=o.size,
        limit_price=o.limit_price,
        status=str(o.status.value),
        filled_size=o.filled_size,
        avg_fill_price=o.avg_fill_price,
        created_at=o.created_at,
        session_id=o.session_id,
    )


def _fill_view(f: Fill) -> FillView:
    return FillView(
        trade_id=f.trade_id,
        symbol=f.symbol,
        side=str(f.side.value),
        price=f.price,
        size=f.size,
        fee=f.fee,
        liquidity=str(f.liquidity.value),
        ts=f.ts.isoformat(),
    )


def equity_curve(
    events: Iterator[dict[str, Any]],
    equity_now: Decimal | None,
    marks_now: dict[str, Decimal],
    now_ts: str | None,
) -> list[CurvePoint]:
    """The session's equity bar by bar, from its journal: the bot's cash flows (fills, fees) plus its
    positions valued at each decision's close. The part of the equity that is not the bot's (what the
    account held before, at today's marks) is the published equity less the bot's cash and positions at
    the published marks; the last point is the published equity itself. Holdings the bot does not own
    are taken as constant (their moves are not the bot's PnL)."""
    cash = ZERO
    position: dict[str, Decimal] = {}
    close: dict[str, Decimal] = {}
    values: dict[str, Decimal] = {}
    for ev in events:
        payload, kind = ev["payload"], ev["kind"]
        if kind == "fill":
            size, price, fee = Decimal(payload["size"]), Decimal(payload["price"]), Decimal(payload["fee"])
            signed = size if payload["side"] == "BUY" else -size
            cash -= signed * price + fee
            position[payload["symbol"]] = position.get(payload["symbol"], ZERO) + signed
            close.setdefault(payload["symbol"], price)
        elif kind == "decision" and ev["symbol"] and payload.get("close") is not None:
            close[ev["symbol"]] = Decimal(str(payload["close"]))
        else:
            continue
        values[ev["ts"]] = cash + sum((q * close.get(s, ZERO) for s, q in position.items()), ZERO)
    if not values or equity_now is None:
        return []  # no journal yet, or no published equity to anchor the curve on
    bot_now = cash + sum((q * marks_now.get(s, close.get(s, ZERO)) for s, q in position.items()), ZERO)
    others = equity_now - bot_now
    points = [CurvePoint(ts, others + v) for ts, v in values.items()]
    last_ts = now_ts if now_ts is not None and now_ts >= points[-1].ts else points[-1].ts
    if last_ts == points[-1].ts:
        points[-1] = CurvePoint(last_ts, equity_now)
    else:
        points.append(CurvePoint(last_ts, equity_now))
    return points


class DashboardSource:
    """Reads one profile's store and metrics files. Why a class: one place that knows the file layout and
    how to read it safely beside a running writer; the terminal and web views only format its Snapshot."""

    def __init__(self, paths: Paths, *, fills_shown: int = 10) -> None:
        self.paths = paths
        self.fills_shown = fills_shown

    # ------------------------------------------------------------------------------ raw reads
    def _json(self, path: Path) -> dict[str, Any]:
        if not path.is_file():
            return {}
        try:
            doc = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
        except (OSError, ValueError) as exc:
            raise SourceError(f"{path}: not a readable JSON document ({exc.__class__.__name__})") from exc
        return doc if isinstance(doc, dict) else {}

    def metrics(self) -> dict[str, Any]:
        return self._json(self.paths.metrics)

    def health(self) -> dict[str, Any]:
        return self._json(self.paths.health)

    @contextmanager
    def stores(self) -> Iterator[tuple[OrdersStore, EventStore, StateStore]]:
        """The three stores on one read-only connection (closed on exit)."""
        if not self.paths.store.is_file():
            raise SourceError(
                f"no store at {self.paths.store}: has a bot run with profile {self.paths.profile!r} here? "
                "(--data-root points elsewhere)"
            )
        uri = f"file:{self.paths.store.resolve()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=10)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout=10000")
        try:
            try:
                orders, state = OrdersStore(conn), StateStore(conn)
                events = EventStore(conn, "")
            except sqlite3.OperationalError as exc:
                raise SourceError(
                    f"{self.paths.store}: its schema is not the one this code reads ({exc}); run the bot of this "
                    "version once to migrate it"
                ) from exc
            try:
                sessions = events.sessions()
                events.session_id = sessions[-1] if sessions else ""
                yield orders, events, state
            except sqlite3.Error as exc:  # e.g. the dev bot resetting its store under us: next frame reads again
                raise SourceError(f"{self.paths.store}: read failed ({exc})") from exc
        finally:
            conn.close()

    # ------------------------------------------------------------------------------ views
    def snapshot(self, *, window_min: int = 5) -> Snapshot:
        if window_min < 1:
            raise SourceError(f"window_min must be >= 1 minute, got {window_min}")
        doc, health = self.metrics(), self.health()
        gauges: dict[str, Decimal] = {k: _dec(v) or ZERO for k, v in (doc.get("gauges") or {}).items()}
        counters: dict[str, Decimal] = {k: _dec(v) or ZERO for k, v in (doc.get("counters") or {}).items()}
        with self.stores() as (orders, events, state):
            session_id = events.session_id or None
            risk = state.get(RISK_STATE_KEY) or {}
            start = events.latest("session_start", session_id=session_id) if session_id else None
            config = (start or {}).get("payload", {}).get("config", {})
            equity = _dec(health.get("equity")) or gauges.get("account.equity_usd")
            venue_time = health.get("venue_time") or doc.get("venue_time")
            curve = equity_curve(events.iter_events(), equity, _marks(gauges), venue_time) if session_id else []
            recon = events.latest("reconciliation", session_id=session_id) if session_id else None
            open_orders = [_order_view(o) for o in orders.open_orders()]
            fills = sorted(orders.fills(), key=lambda f: f.ts)[-self.fills_shown :][::-1]
            snapshot_sizes = orders.positions_snapshot()
        window = _window(curve, window_min)
        day_start = _dec(risk.get("day_start_equity"))
        trading = doc.get("trading_state") or {}
        return Snapshot(
            profile=self.paths.profile,
            session_id=session_id,
            status=str(health.get("status", "unknown")),
            status_reason=str(health.get("reason") or ""),
            cycle=health.get("cycle", doc.get("cycle")),
            venue=health.get("venue"),
            venue_time=venue_time,
            written_at=health.get("written_at"),
            trading_state=str(trading.get("state") or health.get("trading_state") or "UNKNOWN"),
            trading_reason=str(trading.get("reason") or risk.get("mode_reason") or ""),
            trading_guard=risk.get("mode_guard"),
            trading_since=risk.get("mode_since"),
            equity=equity,
            day_start_equity=day_start,
            pnl_today=(equity - day_start) if equity is not None and day_start is not None else None,
            pnl_window=(window[-1].equity - window[0].equity) if window else None,
            window_min=window_min,
            curve=window,
            positions=_positions(gauges, snapshot_sizes),
            open_orders=open_orders,
            last_fills=[_fill_view(f) for f in fills],
            guards=_guards(gauges, counters, risk, config.get("risk", {}), equity),
            streams=[
                StreamView(symbol=s, stale=bool(v), lag_s=_labelled(gauges, "stream.lag_seconds", "symbol").get(s))
                for s, v in sorted(_labelled(gauges, "stream.stale", "symbol").items())
            ],
            rate_limit={
                k.rsplit(".", 1)[1]: v
                for k, v in sorted(gauges.items())
                if k.startswith("coinbase.ratelimit.headroom.")
            },
            rest_requests=counters.get("coinbase.rest.requests"),
            rest_errors=sum((v for k, v in counters.items() if k.startswith("coinbase.rest.errors.")), ZERO)
            if "coinbase.rest.requests" in counters
            else None,
            last_reconciliation=None
            if recon is None
            else {
                "ts": recon["ts"],
                "phase": recon["payload"].get("phase"),
                "corrections": recon["payload"].get("corrections", 0),
                "mismatches": len(recon["payload"].get("mismatches") or []),
                "flagged_orders": len(recon["payload"].get("flagged_orders") or []),
            },
        )

    def orders(
        self, *, symbol: str | None = None, status: str | None = None, side: str | None = None
    ) -> list[OrderView]:
        with self.stores() as (orders, _events, _state):
            rows = [_order_view(o) for o in orders.list_orders()]
        return [
            o
            for o in sorted(rows, key=lambda o: o.created_at, reverse=True)
            if (not symbol or o.symbol == symbol.upper())
            and (not status or o.status == status.upper())
            and (not side or o.side == side.upper())
        ]

    def fills(self, *, symbol: str | None = None, side: str | None = None) -> list[FillView]:
        with self.stores() as (orders, _events, _state):
            rows = orders.fills(symbol=symbol.upper() if symbol else None)
        return [
            _fill_view(f)
            for f in sorted(rows, key=lambda f: f.ts, reverse=True)
            if not side or f.side.value == side.upper()
        ]

    def sessions(self) -> list[SessionView]:
        out: list[SessionView] = []
        with self.stores() as (orders, events, _state):
            for sid in reversed(events.sessions()):
                start = events.latest("session_start", session_id=sid)
                end = events.latest("session_end", session_id=sid)
                fills = list(events.iter_events(session_id=sid, kind="fill"))
                end_payload = (end or {}).get("payload", {})
                out.append(
                    SessionView(
                        session_id=sid,
                        started=start["ts"] if start else None,
                        ended=end["ts"] if end else None,
                        cycles=end_payload.get("cycles"),
                        halted=bool(end_payload.get("halted")),
                        halt_reason=end_payload.get("halt_reason"),
                        orders=len(orders.list_orders(session_id=sid)),
                        fills=len(fills),
                        fees=sum((Decimal(f["payload"]["fee"]) for f in fills), ZERO),
                        venue=(start or {}).get("payload", {}).get("config", {}).get("broker"),
                    )
                )
        return out

    def backtest_reports(self) -> list[dict[str, Any]]:
        """HTML backtest reports (`perps-bot backtest --report`) anywhere under the reports root (var/)."""
        root = self.paths.reports_root
        if not root.is_dir():
            return []
        out = []
        for path in sorted(root.rglob("*.html")):
            try:
                head = path.read_text(encoding="utf-8", errors="replace")[:400]
            except OSError:
                continue
            if "<title>Backtest report</title>" not in head:
                continue
            raw = head.split("<h1>", 1)[1].split("</h1>", 1)[0] if "<h1>" in head else path.stem
            title = html.unescape(re.sub(r"<[^>]+>", "", raw))
            stat = path.stat()
            out.append(
                {
                    "path": path.relative_to(root).as_posix(),
                    "title": title,
                    "size": stat.st_size,
                    "modified": datetime.fromtimestamp(stat.st_mtime).astimezone().isoformat(timespec="seconds"),
                }
            )
        return out

    def report_file(self, rel: str) -> Path:
        """The report at `rel` under the reports root; refuses anything outside it or not a report."""
        root = self.paths.reports_root.resolve()
        path = (root / rel).resolve()
        if root not in path.parents or path.suffix != ".html" or not path.is_file():
            raise SourceError(f"no backtest report {rel!r} under {self.paths.reports_root}")
        return path


def _window(curve: list[CurvePoint], window_min: int) -> list[CurvePoint]:
    """The points within `window_min` minutes (venue time) of the newest."""
    if not curve:
        return []
    end = datetime.fromisoformat(curve[-1].ts)
    since = end - timedelta(minutes=window_min)
    return [p for p in curve if datetime.fromisoformat(p.ts) >= since]


def _marks(gauges: dict[str, Decimal]) -> dict[str, Decimal]:
    """symbol -> published mark (notional / size) of every open position."""
    sizes = _labelled(gauges, "position.size", "symbol")
    return {
        s: abs(n) / abs(sizes[s])
        for s, n in _labelled(gauges, "position.notional_usd", "symbol").items()
        if sizes.get(s, ZERO) != 0
    }


def _positions(gauges: dict[str, Decimal], reconciled: dict[str, tuple[Decimal, Decimal]]) -> list[PositionView]:
    sizes = _labelled(gauges, "position.size", "symbol")
    notional = _labelled(gauges, "position.notional_usd", "symbol")
    unrealized = _labelled(gauges, "pnl.unrealized_usd", "symbol")
    realized = _labelled(gauges, "pnl.realized_usd", "symbol")
    by_symbol: dict[str, Decimal] = {}
    for key, (store_size, _exchange) in reconciled.items():
        by_symbol[key] = store_size
    out = []
    for sym, size in sorted(sizes.items()):
        if size == 0:
            continue
        n = notional.get(sym)
        out.append(
            PositionView(
                symbol=sym,
                size=size,
                mark=(abs(n) / abs(size)) if n is not None else None,
                notional=n,
                unrealized_pnl=unrealized.get(sym, ZERO),
                realized_pnl=realized.get(sym, ZERO),
                reconciled_size=by_symbol.get(sym.split("-")[0], by_symbol.get(sym)),
            )
        )
    return out


def _guards(
    gauges: dict[str, Decimal],
    counters: dict[str, Decimal],
    risk: dict[str, Any],
    config: dict[str, Any],
    equity: Decimal | None,
) -> list[GuardView]:
    active = _labelled(gauges, "risk.guard_active", "guard")
    names = set(active)
    for key in counters:
        if key.startswith("risk.guards.") and key.endswith("_failures"):
            names.add(key.split(".")[2])
    out = []
    for name in sorted(names):
        used: Decimal | None = None
        limit: Decimal | None = None
        headroom = ""
        day_start, peak = _dec(risk.get("day_start_equity")), _dec(risk.get("peak_equity"))
        if name == "daily_loss" and day_start is not None and equity is not None:
            used = max(ZERO, day_start - equity)
            limits = [day_start * Decimal(str(config.get("max_daily_loss_pct", "5"))) / 100]
            if config.get("max_daily_loss_usd") is not None:
                limits.append(Decimal(str(config["max_daily_loss_usd"])))
            limit = min(limits)
            headroom = f"{used:.2f} / {limit:.2f} USD"
        elif name == "drawdown" and peak is not None and equity is not None and peak > 0:
            used = max(ZERO, (peak - equity) / peak * 100)
            limit = Decimal(str(config.get("max_drawdown_pct", "10")))
            headroom = f"{used:.2f} / {limit} %"
        elif name == "consecutive_losses" and "max_consecutive_losses" in config:
            used = Decimal(int(risk.get("consecutive_losses", 0)))
            limit = Decimal(int(config["max_consecutive_losses"]))
            headroom = f"{used} / {limit} losses"
            if risk.get("loss_cooldown_until"):
                headroom += f", paused until {risk['loss_cooldown_until']}"
        elif name == "api_errors" and "max_consecutive_api_errors" in config:
            used = Decimal(int(risk.get("consecutive_api_errors", 0)))
            limit = Decimal(int(config["max_consecutive_api_errors"]))
            headroom = f"{used} / {limit} errors"
        out.append(
            GuardView(
                name=name,
                active=bool(active.get(name, ZERO)),
                recoverable=int(counters.get(f"risk.guards.{name}.recoverable_failures", ZERO)),
                critical=int(counters.get(f"risk.guards.{name}.critical_failures", ZERO)),
                used=used,
                limit=limit,
                headroom=headroom,
            )
        )
    return out
