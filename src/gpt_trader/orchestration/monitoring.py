"""Wiring of the monitor slice into the bot: one `publish` per cycle feeds the metrics (PnL, positions,
equity, guards, trading state, streams, venue counters), the health board behind `/health`, the health
file, and the alerts on state changes. PerpsBot holds one `MonitorPublisher` and calls it; nothing in
here decides a trade.

`trading_state_of` is the one place that reads the trading mode (the risk manager's TradingState:
ACTIVE / REDUCING / HALTED + reason). Mode changes are alerted from the cycle's publish (one path, also
right after a restart); operator actions that leave the mode (re-basing a loss budget) arrive through
the TradingState's change event and are announced on Slack.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import msgspec
import structlog

from gpt_trader.features.brokerages.core.interfaces import ZERO
from gpt_trader.features.live_trade.risk.guards import ACCOUNT_GUARDS, SYMBOL_GUARDS
from gpt_trader.features.live_trade.risk.trading_state import TradingStateChange
from gpt_trader.features.monitor.alerts import ActiveAlert, Alerter
from gpt_trader.features.monitor.health import write_health
from gpt_trader.features.monitor.http_server import HealthBoard, MonitoringServer

if TYPE_CHECKING:
    from gpt_trader.features.live_trade.risk.manager import AccountSnapshot
    from gpt_trader.features.monitor.metrics import MetricsRegistry
    from gpt_trader.orchestration.perps_bot import PerpsBot
    from gpt_trader.orchestration.service_registry import ServiceRegistry

log = structlog.get_logger("monitoring")

TradingStateName = Literal["ACTIVE", "REDUCING", "HALTED"]
TRADING_STATES: tuple[TradingStateName, ...] = ("ACTIVE", "REDUCING", "HALTED")
ALERTS_STATE_KEY = "monitor.active_alerts"
GUARD_NAMES: tuple[str, ...] = (*(g.name for g in ACCOUNT_GUARDS), *(g.name for g in SYMBOL_GUARDS))
_HUNDRED = Decimal(100)
ZERO_COUNTERS = (
    "cycles",
    "api.calls",
    "api.errors",
    "orders.sent",
    "orders.rejected",
    "orders.risk_rejected",
    "orders.ambiguous",
    "fills.count",
    "fills.fees_usd",
    "risk.halts",
    "risk.reduce_only_latched",
)
#: families whose samples carry a label known only when it happens (a reason, a status, a symbol held)
DECLARED_FAMILIES = (
    ("orders.rejected_by_reason", "counter"),
    ("orders.status", "counter"),
    ("risk.pretrade_rejections", "counter"),
    ("reconcile.corrections", "counter"),
    ("alerts.sent", "counter"),
    ("coinbase.rest.errors", "counter"),
    ("pnl.realized_usd", "gauge"),
    ("pnl.unrealized_usd", "gauge"),
    ("position.size", "gauge"),
    ("position.notional_usd", "gauge"),
    ("cycle.duration_seconds", "histogram"),
    ("decision.duration_seconds", "histogram"),
)


@dataclass(frozen=True)
class TradingStateView:
    """The bot's trading mode and why (what the alerts, `/health` and the `trading.state` gauge show)."""

    state: TradingStateName
    reason: str


def trading_state_of(bot: PerpsBot) -> TradingStateView:
    """ACTIVE / REDUCING / HALTED and why: the risk manager's one TradingState (the single reader here)."""
    state = bot.risk.trading_state
    name: TradingStateName = "HALTED" if state.halted else ("REDUCING" if state.reducing else "ACTIVE")
    return TradingStateView(name, state.reason)


def publish_venue_stats(metrics: MetricsRegistry, broker: object) -> None:
    """The venue adapter's own running totals and gauges (`venue_stats()`, where it has one: Coinbase's
    adapter, REST client and order-token signer) -> the registry; the one path they reach the metrics by."""
    stats = getattr(broker, "venue_stats", None)
    if not callable(stats):
        return
    counters, gauges = stats()
    for name, total in counters.items():
        metrics.set_counter(name, total)
    for name, value in gauges.items():
        metrics.set_gauge(name, value)


class MonitorPublisher:
    """Per-cycle telemetry and alerting for one PerpsBot. Never raises into the trading loop."""

    def __init__(self, registry: ServiceRegistry) -> None:
        config = registry.config
        self.config = config
        self.metrics = registry.metrics
        self._state = registry.state
        self.board = HealthBoard(config.monitoring.health_stale_after_s)
        self.alerter = Alerter(
            config.alerts,
            registry.alert_secrets,
            registry.metrics,
            source=f"{config.bot_id}/{config.profile}",
        )
        self.server: MonitoringServer | None = None
        registry.risk.trading_state.subscribe(self._on_trading_state)
        self._refused: str | None = None
        self._errors: deque[tuple[float, float]] = deque()  # (monotonic, api.errors total)
        self._restored = False
        self._stale_since: float | None = None  # monotonic time market data went stale

    # ------------------------------------------------------------------------------ lifecycle
    def open(self) -> None:
        """Start `/metrics` + `/health` when the profile asks for them; restore open alerts."""
        self._restore_alerts()
        self._declare()
        mon = self.config.monitoring
        if mon.metrics_port is None or self.server is not None:
            return
        try:
            self.server = MonitoringServer(
                self.metrics, self.board, host=mon.metrics_host, port=mon.metrics_port
            ).start()
            self._resolve("metrics_endpoint")  # a previous process could not bind: it can now
        except OSError as exc:
            self.metrics.inc("monitor.endpoint_failures")
            log.error(
                "metrics endpoint could not start; trading continues without it",
                host=mon.metrics_host,
                port=mon.metrics_port,
                error=str(exc),
            )
            self._alert("metrics_endpoint", f"metrics endpoint {mon.metrics_host}:{mon.metrics_port} down: {exc}")

    def _declare(self) -> None:
        """Export the families alert rules and dashboards rate() over from the start, at zero: a series
        that appears only with its first event hides that first event from `increase()`."""
        m = self.metrics
        for name in ZERO_COUNTERS:
            m.inc(name, 0.0)
        for guard in GUARD_NAMES:
            for severity in ("recoverable", "critical"):
                m.inc(f"risk.guards.{guard}.{severity}_failures", 0.0)
        for reason in ("rate_limited", "queue_full"):
            m.inc("alerts.dropped", 0.0, labels={"reason": reason})
        for sink in ("slack", "pagerduty"):
            m.inc("alerts.failed", 0.0, labels={"sink": sink})
        for family, kind in DECLARED_FAMILIES:
            m.declare(family, kind)

    def close(self) -> None:
        """Say `stopped` on /health, send what the alert queue holds (bounded wait), stop the endpoint."""
        self.board.publish({**self.board.current()[1], "status": "stopped", "reason": "bot stopped"})
        self.alerter.close(timeout=self.config.alerts.timeout_s * 2)
        if self.server is not None:
            self.server.stop()
            self.server = None

    def _restore_alerts(self) -> None:
        if self._restored:
            return
        self._restored = True
        try:
            doc = self._state.get(ALERTS_STATE_KEY) or {}
            restored = msgspec.convert(doc.get("active", {}), dict[str, ActiveAlert])
        except Exception as exc:  # a bad record must not stop the bot; it only loses resolves
            log.warning("open alerts not restored", error=type(exc).__name__)
            return
        self.alerter.restore(restored)

    def _save_alerts(self) -> None:
        try:
            self._state.put(ALERTS_STATE_KEY, {"active": msgspec.to_builtins(self.alerter.active())})
        except Exception as exc:
            log.warning("open alerts not persisted", error=type(exc).__name__)

    # ------------------------------------------------------------------------------ alerts
    def _alert(self, kind: str, summary: str, details: dict[str, str] | None = None) -> None:
        route = self.config.alerts.route(kind)
        if route == "off" or kind in self.alerter.active():
            return  # already raised (here or by a previous process): nothing new to say
        self.alerter.trigger(kind, route, summary, details)
        self._save_alerts()

    def _resolve(self, key: str) -> None:
        if key in self.alerter.active():
            self.alerter.resolve(key)
            self._save_alerts()

    def _on_trading_state(self, change: TradingStateChange) -> None:
        """Operator actions that leave the mode as it is (a re-based loss budget) are announced once."""
        cause = str(change.cause)
        if change.changed or not cause.startswith("operator_"):
            return
        route = self.config.alerts.route("operator_action")
        if route == "off":
            return
        details = {"profile": self.config.profile, **{k: str(v) for k, v in change.details.items()}}
        self.alerter.announce(
            f"operator/{cause}", route, f"operator action: {cause.removeprefix('operator_')}", details
        )

    def starting(self, reason: str, waiting: dict[str, Any]) -> None:
        """Start-up is waiting a venue burst out: neither healthy nor crashed (health file and /health)."""
        doc = {"status": "starting", "reason": reason, "profile": self.config.profile, "waiting": waiting}
        try:
            write_health(self.config.health_path, doc)
        except OSError as exc:  # telemetry must never stop the start-up
            self.metrics.inc("monitor.publish_errors")
            log.error("health file not written", error=type(exc).__name__, detail=str(exc))
        self.board.publish(doc)

    def refused(self, reason: str) -> None:
        """The bot refused to start (reconciliation difference, venue error): page and answer 503."""
        self._refused = reason
        self._restore_alerts()
        self.board.publish({"status": "refused", "reason": reason, "profile": self.config.profile})
        self._alert("refused_start", f"refused to start: {reason}")

    # ------------------------------------------------------------------------------ per cycle
    def publish(self, bot: PerpsBot, snapshot: AccountSnapshot | None, cycle_s: float | None) -> None:
        try:
            self._publish(bot, snapshot, cycle_s)
        except Exception as exc:  # telemetry must never stop trading
            self.metrics.inc("monitor.publish_errors")
            log.error("monitor publish failed", error=type(exc).__name__, detail=str(exc))

    def _publish(self, bot: PerpsBot, snapshot: AccountSnapshot | None, cycle_s: float | None) -> None:
        m = self.metrics
        if cycle_s is not None:
            m.observe("cycle.duration_seconds", cycle_s)
        m.set_gauge("up", 1.0)
        m.set_gauge("runtime.asyncio_tasks", float(len(asyncio.all_tasks())))  # a task leak shows as growth
        view = trading_state_of(bot)
        for name in TRADING_STATES:
            m.set_gauge("trading.state", 1.0 if name == view.state else 0.0, labels={"state": name})
        self._positions(bot, snapshot)
        self._guards(bot)
        stale = self._streams(bot)
        publish_venue_stats(self.metrics, bot.broker)
        self._state_alerts(bot, view, stale)
        m.write_json(
            self.config.metrics_dir / "metrics.json",
            extra={
                "cycle": bot.cycle,
                "session_id": bot.registry.session_id,
                "profile": self.config.profile,
                "venue_time": bot.broker.now().isoformat(),
                "trading_state": {"state": view.state, "reason": view.reason},
            },
        )
        doc = bot.health()
        doc.update(self._health_status(view, stale, doc))
        write_health(self.config.health_path, doc)
        self.board.publish(doc)

    def _health_status(self, view: TradingStateView, stale: list[str], doc: dict[str, Any]) -> dict[str, Any]:
        if self._refused is not None:
            return {"status": "refused", "reason": self._refused, "trading_state": view.state}
        if view.state == "HALTED":
            return {"status": "halted", "reason": view.reason, "trading_state": view.state}
        if stale:
            return {"status": "stale", "reason": f"stale market data: {', '.join(stale)}", "trading_state": view.state}
        if view.state == "REDUCING":
            return {"status": "reducing", "reason": view.reason, "trading_state": view.state}
        return {"status": "ok", "reason": "", "trading_state": view.state}

    def _positions(self, bot: PerpsBot, snapshot: AccountSnapshot | None) -> None:
        m = self.metrics
        realized = {s: led.realized_pnl - led.fees for s, led in bot.positions.ledgers.items()}
        m.set_gauge_family("pnl.realized_usd", "symbol", {s: float(v) for s, v in realized.items()})
        if snapshot is None:
            return
        m.set_gauge("account.equity_usd", float(snapshot.equity))
        m.set_gauge_family("position.size", "symbol", {s: float(p.size) for s, p in snapshot.positions.items()})
        m.set_gauge_family(
            "position.notional_usd",
            "symbol",
            {s: float(abs(p.size) * p.mark_price) for s, p in snapshot.positions.items()},
        )
        m.set_gauge_family(
            "pnl.unrealized_usd", "symbol", {s: float(p.unrealized_pnl) for s, p in snapshot.positions.items()}
        )
        st = bot.risk.state
        cfg = bot.risk.config
        start = st.day_start_equity
        if start is not None and start > ZERO:
            limit = start * cfg.max_daily_loss_pct / _HUNDRED
            if cfg.max_daily_loss_usd is not None:
                limit = min(limit, cfg.max_daily_loss_usd)
            loss = max(ZERO, start - snapshot.equity)
            m.set_gauge("risk.daily_loss_used_ratio", float(loss / limit) if limit > ZERO else 0.0)

    def _guards(self, bot: PerpsBot) -> None:
        active = {t.guard for t in bot.risk.state.trips.values()}
        for name in GUARD_NAMES:
            self.metrics.set_gauge("risk.guard_active", 1.0 if name in active else 0.0, labels={"guard": name})

    def _streams(self, bot: PerpsBot) -> list[str]:
        if not bot._started:  # no marks are expected before start
            return []
        now = bot.broker.now()
        stale = bot.monitor.stale_symbols(bot.symbols, now)
        ages = {s: bot.monitor.age_s(s, now) for s in bot.symbols}
        self.metrics.set_gauge_family("stream.lag_seconds", "symbol", {s: a for s, a in ages.items() if a is not None})
        self.metrics.set_gauge_family("stream.stale", "symbol", {s: 1.0 if s in stale else 0.0 for s in bot.symbols})
        return stale

    def _state_alerts(self, bot: PerpsBot, view: TradingStateView, stale: list[str]) -> None:
        details = {"profile": self.config.profile, "cycle": str(bot.cycle)}
        if self._refused is not None:
            return  # the refused start is paged already; the HALTED it leaves behind is the same event
        if view.state == "HALTED":
            self._alert("halt", f"trading HALTED: {view.reason}", {**details, "reason": view.reason})
        else:
            self._resolve("halt")
        if view.state == "REDUCING":
            self._alert("reduce_only", f"trading REDUCING (reduce-only): {view.reason}", details)
        else:
            self._resolve("reduce_only")
        liquidation = [t for t in bot.risk.state.trips.values() if t.guard == "liquidation_buffer"]
        if liquidation:
            text = "; ".join(f"{t.symbol}: {t.message}" for t in liquidation)
            self._alert("liquidation_buffer", f"liquidation buffer breached: {text}", details)
        else:
            self._resolve("liquidation_buffer")
        if stale:
            now = time.monotonic()
            since = self._stale_since = self._stale_since if self._stale_since is not None else now
            if now - since >= self.config.alerts.stale_grace_s:
                self._alert("stale_stream", f"stale market data: {', '.join(stale)}", details)
        else:
            self._stale_since = None
            self._resolve("stale_stream")
        errors = self._errors_last_minute()
        if errors >= self.config.alerts.error_burst_per_min:
            self._alert("error_burst", f"{errors:.0f} failed venue calls in the last minute", details)
        elif errors == 0:
            self._resolve("error_burst")

    def _errors_last_minute(self) -> float:
        now = time.monotonic()
        total = self.metrics.counter("api.errors")
        self._errors.append((now, total))
        while len(self._errors) > 1 and now - self._errors[0][0] > 60.0:
            self._errors.popleft()
        return total - self._errors[0][1]
