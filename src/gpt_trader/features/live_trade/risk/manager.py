"""RiskManager: runtime guards every cycle, pre-trade rules on every order, latched modes that persist.

PerpsBot calls `start` once, `evaluate` each cycle (-> RuntimeVerdict), `check_order` before every send
(-> PreTradeResult), `record_api_call` after every exchange call, `record_trade_result` after every
closed round trip and `record_transfer` for an external cash flow (before `evaluate` of that snapshot).

The manager owns the bot's one `TradingState` (ACTIVE / REDUCING / HALTED, `trading_state`). A guard's
REDUCING or HALTED latches and persists: only `clear_reduce_only()` (CLI `--clear-reduce-only`) releases
it, and a guard whose condition still holds trips again on the next evaluation. Moving the loss
baselines is a separate operator action: `rebase_daily_loss()` / `rebase_drawdown()`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Literal

import msgspec
import structlog

from gpt_trader.features.brokerages.core.interfaces import (
    InvalidOrderError,
    Order,
    OrderBook,
    OrderRequest,
    Position,
    Product,
    Quote,
)
from gpt_trader.features.live_trade.risk.config import GuardAction, RiskConfig, SymbolLimit
from gpt_trader.features.live_trade.risk.errors import PreTradeRejectedError
from gpt_trader.features.live_trade.risk.guards import (
    ACCOUNT_GUARDS,
    SYMBOL_GUARDS,
    AccountGuard,
    Guard,
    GuardContext,
    GuardTrip,
    SymbolGuard,
)
from gpt_trader.features.live_trade.risk.pretrade import PreTradeChecker
from gpt_trader.features.live_trade.risk.state import MAX_TRADES_KEPT, STATE_KEY, RiskState, Trip
from gpt_trader.features.live_trade.risk.trading_state import Cause, TradingMode, TradingState
from gpt_trader.features.live_trade.risk_calculations import MarketStats
from gpt_trader.features.monitor.metrics import MetricsRegistry
from gpt_trader.persistence.state_store import StateStore

log = structlog.get_logger("risk")

STATE_FLUSH_S = 30.0
CRITICAL_ACTIONS = frozenset({"reduce_only", "flatten", "halt"})
CONFIG_REDUCE_ONLY_REASON = "risk.reduce_only_mode is set (profile, RISK_REDUCE_ONLY_MODE or --reduce-only)"
#: what the operator can re-base: the daily loss budget (day-start equity) or the drawdown peak
Rebase = Literal["daily_loss", "drawdown"]
_REBASE_CAUSE: dict[str, Cause] = {
    "daily_loss": Cause.OPERATOR_REBASE_DAILY_LOSS,
    "drawdown": Cause.OPERATOR_REBASE_DRAWDOWN,
}
FLATTEN_ALL = "*"
_TWO = Decimal(2)


class AccountSnapshot(msgspec.Struct, kw_only=True, weakref=True):
    """What PerpsBot knows about the account at the start of a cycle.

    Weakly referenceable: the risk manager remembers which snapshot its per-cycle caches belong to
    without keeping it alive."""

    now: datetime
    equity: Decimal
    cash: Decimal  # quote cash available (free collateral), in USD: USD + USDC at interfaces.USD_RATES
    #: the same per quote currency, in that currency (USD for spot, USDC the perps' collateral); empty when
    #: only the USD total is known, and then `cash` backs every order
    cash_by_quote: dict[str, Decimal] = {}
    positions: dict[str, Position]
    quotes: dict[str, Quote]
    books: dict[str, OrderBook]
    open_orders: list[Order]
    products: dict[str, Product]


class GuardEvent(msgspec.Struct, kw_only=True):
    """A guard tripping (or clearing). `action` is a GuardAction, `scale_down` or `cleared`."""

    name: str
    severity: Literal["recoverable", "critical", "info"]
    action: str
    message: str
    ts: datetime
    symbol: str | None = None
    details: dict[str, str] = {}


class RuntimeVerdict(msgspec.Struct, kw_only=True):
    """What one evaluation decided: the trading mode after it, per-symbol blocks, flattens and scales."""

    mode: TradingMode
    blocked_symbols: dict[str, str]
    flatten: set[str]  # contains "*" (and every known symbol) when a guard says flatten all
    entry_scale: dict[str, Decimal]  # apply to new-entry sizes; check_order does not apply it again
    events: list[GuardEvent]


class PreTradeResult(msgspec.Struct, kw_only=True):
    ok: bool
    request: OrderRequest
    rule: str | None = None
    reason: str | None = None
    details: dict[str, str] = {}

    def raise_if_rejected(self) -> None:
        if not self.ok:
            raise PreTradeRejectedError(
                self.reason or "rejected",
                rule=self.rule or "unknown",
                symbol=self.request.symbol,
                details=self.details,
            )


class RiskManager:
    """Runs the guards and pre-trade rules and owns the one TradingState (see the module docstring)."""

    def __init__(
        self,
        config: RiskConfig,
        symbol_limits: Mapping[str, SymbolLimit],
        metrics: MetricsRegistry,
        state: StateStore | None,
        clock: Callable[[], datetime],
        usd_rates: Mapping[str, Decimal] | None = None,
    ) -> None:
        """`usd_rates`: USD per unit of each quote currency when known; None uses interfaces.USD_RATES
        (USDC 1:1). The pre-trade rules value a product's notional in USD through it."""
        self.config = config
        self.symbol_limits: dict[str, SymbolLimit] = dict(symbol_limits)
        self.metrics = metrics
        self._store = state
        self._clock = clock
        self._state = RiskState()
        self._stats = MarketStats(
            short_window=config.volatility_short_window,
            long_window=config.volatility_long_window,
            corr_window=config.correlation_window,
        )
        breakers_on = config.circuit_breakers_enabled
        self._account_guards: tuple[AccountGuard, ...] = tuple(
            g for g in ACCOUNT_GUARDS if breakers_on or not g.breaker
        )
        self._symbol_guards: tuple[SymbolGuard, ...] = tuple(g for g in SYMBOL_GUARDS if breakers_on or not g.breaker)
        every: list[Guard] = [*ACCOUNT_GUARDS, *SYMBOL_GUARDS]
        self._hold_s = {g.name: g.hold_s(config) for g in every}
        self._actions: dict[str, GuardAction] = {g.name: g.action(config) for g in every}
        self._scales: dict[str, Decimal] = {
            g.name: scale for g in every if (scale := g.entry_scale(config)) is not None
        }
        self._api_window: deque[tuple[float, bool]] = deque()
        self._api_failures = 0
        self._started = False
        self._loaded = False
        self._rebase_on_start: set[Rebase] = set()
        self._session_halt: tuple[str, datetime | None] | None = None
        self._dirty = False
        self._soft_dirty = False
        self._last_flush: datetime | None = None
        self._last_equity: Decimal | None = None
        self._day_date: date | None = None
        self._blocked: dict[str, str] = {}
        self._entry_scale: dict[str, Decimal] = {}
        self._flatten: set[str] = set()
        self._pretrade = PreTradeChecker(config, self.symbol_limits, metrics, self._stats, usd_rates)
        #: the bot's one trading mode; subscribe to hear every change
        self.trading_state = TradingState(
            on_callback_error=partial(metrics.inc, "risk.trading_state.subscriber_errors")
        )
        if config.reduce_only_mode:
            self._refresh_mode(Cause.CONFIG, None)

    # ------------------------------------------------------------------------------ properties
    @property
    def reduce_only(self) -> bool:
        """Entries refused (REDUCING or HALTED): a view of `trading_state`."""
        return self.trading_state.reducing

    @property
    def halted(self) -> bool:
        """A view of `trading_state`."""
        return self.trading_state.halted

    @property
    def state(self) -> RiskState:
        """The live guard state (read it; change it only through the methods)."""
        return self._state

    @property
    def stats(self) -> MarketStats:
        return self._stats

    def trade_history(self, symbol: str | None = None) -> list[Decimal]:
        """Closed round-trip PnLs, oldest first (Kelly input)."""
        return [pnl for sym, pnl in self._state.trades if symbol is None or sym == symbol]

    # ------------------------------------------------------------------------------- lifecycle
    def start(self, snapshot: AccountSnapshot) -> None:
        """Load persisted guard state, or start fresh from this snapshot's equity."""
        self._ensure_loaded()
        st = self._state
        now = _utc(snapshot.now)
        self._roll_day(now, snapshot.equity)
        for kind in sorted(self._rebase_on_start):
            self._apply_rebase(kind, snapshot.equity, now)
        self._rebase_on_start.clear()
        if st.peak_equity is None:
            st.peak_equity = snapshot.equity
            st.peak_at = now
        self._last_equity = snapshot.equity
        if self.config.reduce_only_mode:
            log.warning("reduce-only mode set by configuration (risk.reduce_only_mode / RISK_REDUCE_ONLY_MODE)")
        self._started = True
        self._dirty = True
        self._persist()

    def _ensure_loaded(self) -> None:
        """Read the persisted state once (start, the operator's actions and the banner may come first)."""
        if not self._loaded:
            self._load()

    def _load(self) -> None:
        self._loaded = True
        doc = None
        if self._store is not None:
            try:
                doc = self._store.get(STATE_KEY)
            except Exception as exc:  # a broken store must not start an unguarded bot
                log.error("risk state unreadable; starting latched reduce-only", error=str(exc))
                self._latch(TradingMode.REDUCING, "guard state unreadable", cause=Cause.STATE_ERROR, at=None)
        if doc is not None:
            try:
                self._state = RiskState.from_doc(doc)
                log.info(
                    "risk state restored",
                    day=self._state.day,
                    day_start_equity=str(self._state.day_start_equity),
                    peak_equity=str(self._state.peak_equity),
                    mode=self._state.mode.value,
                    mode_reason=self._state.mode_reason,
                    trips=sorted(self._state.trips),
                )
                if self._state.mode is not TradingMode.ACTIVE:
                    self._refresh_mode(Cause.RESTORED, self._state.mode_since)
            except (msgspec.ValidationError, TypeError, ValueError) as exc:
                log.error("risk state malformed; starting latched reduce-only", error=str(exc))
                self.metrics.inc("risk.state_errors")
                self._state = RiskState()
                self._latch(TradingMode.REDUCING, "guard state malformed", cause=Cause.STATE_ERROR, at=None)

    def _roll_day(self, now: datetime, equity: Decimal) -> None:
        st = self._state
        today = now.date()
        if today == self._day_date and st.day_start_equity is not None:
            return
        self._day_date = today
        day = today.isoformat()
        if st.day != day or st.day_start_equity is None:
            if st.day:
                log.info("new UTC day: daily loss baseline reset", day=day, day_start_equity=str(equity))
            st.day = day
            st.day_start_equity = equity
            st.day_start_at = now
            self._dirty = True

    def _persist(self, now: datetime | None = None) -> None:
        """Write the state now if something that must survive changed (latch, trip, day, trade); changes
        that only refine it (a higher peak, a longer hold, the API error count) wait up to
        STATE_FLUSH_S so a rising market does not cost a synchronous SQLite write every cycle."""
        if not self._dirty:
            if not self._soft_dirty or now is None:
                return
            if self._last_flush is not None and (now - self._last_flush).total_seconds() < STATE_FLUSH_S:
                return
        self._dirty = False
        self._soft_dirty = False
        if now is not None:
            self._last_flush = now
        if self._store is None:
            return
        try:
            self._store.put(STATE_KEY, self._state.to_doc())
        except Exception as exc:  # keep trading decisions in memory; say loudly that the store failed
            self.metrics.inc("risk.state_errors")
            log.error("risk state not persisted", error=str(exc))

    def flush(self) -> None:
        """Write any pending guard state now (call on shutdown)."""
        if self._dirty or self._soft_dirty:
            self._dirty = True
            self._persist()

    # --------------------------------------------------------------------------------- inputs
    def record_api_call(self, ok: bool, *, endpoint: str = "") -> None:
        """Feed the error-rate window and the consecutive-error breaker."""
        t = self._clock().timestamp()
        self._api_window.append((t, ok))
        st = self._state
        if ok:
            if st.consecutive_api_errors:
                st.consecutive_api_errors = 0
                self._soft_dirty = True
        else:
            self._api_failures += 1
            st.consecutive_api_errors += 1
            self._soft_dirty = True
            if endpoint:
                self.metrics.inc("risk.api_failures")
        self._prune_api(t)

    def _prune_api(self, t: float) -> None:
        """The window is every call of the last error_rate_window_s seconds, but never fewer than the last
        error_rate_min_calls calls: a slow cycle (one call burst a minute) still gets judged on a sample."""
        horizon = t - self.config.error_rate_window_s
        window = self._api_window
        keep = self.config.error_rate_min_calls
        while len(window) > keep and window[0][0] < horizon:
            _, ok = window.popleft()
            if not ok:
                self._api_failures -= 1

    def record_trade_result(self, symbol: str, pnl: Decimal) -> None:
        """A closed round trip: feeds the consecutive-loss breaker and the Kelly history."""
        st = self._state
        st.trades.append((symbol, pnl))
        if len(st.trades) > MAX_TRADES_KEPT:
            del st.trades[: len(st.trades) - MAX_TRADES_KEPT]
        if pnl < 0:
            st.consecutive_losses += 1
        elif pnl > 0:
            st.consecutive_losses = 0
        if st.consecutive_losses >= self.config.max_consecutive_losses:
            until = _utc(self._clock()) + timedelta(seconds=self.config.loss_cooldown_s)
            st.loss_cooldown_until = until
            st.consecutive_losses = 0
            log.warning("losing streak: entries paused", symbol=symbol, until=until.isoformat())
        self._dirty = True
        self._persist()

    def record_transfer(self, amount: Decimal, *, details: Mapping[str, str], after: datetime | None = None) -> None:
        """An external cash flow (deposit > 0, withdrawal < 0, quote currency): move the day-start and peak
        baselines by it so the daily-loss and drawdown guards judge trading only. Call it before `evaluate`
        of the snapshot that shows the flow (evaluate would otherwise lift the peak by a deposit first).
        `after`: the last reading before the flow appeared; a baseline taken from a later reading (a day
        roll, a new peak, a fresh start while the flow awaited confirmation) already holds it and stays.
        May be called before `start`: the persisted state is loaded first, and `start` rolls the day."""
        self._ensure_loaded()
        st = self._state
        when = _utc(after) if after is not None else None
        if st.day_start_equity is not None and not _holds(st.day_start_at, when):
            st.day_start_equity += amount
        if st.peak_equity is not None and not _holds(st.peak_at, when):
            st.peak_equity += amount
        self._dirty = True
        self._persist()
        self.metrics.inc("risk.transfers")
        log.warning(
            "external transfer: daily-loss and drawdown baselines moved",
            amount=str(amount),
            day_start_equity=str(st.day_start_equity),
            peak_equity=str(st.peak_equity),
            **{k: v for k, v in details.items() if k not in ("amount", "day_start_equity", "peak_equity")},
        )

    # ------------------------------------------------------------------------------- runtime
    def evaluate(self, snapshot: AccountSnapshot) -> RuntimeVerdict:
        if not self._started:
            self.start(snapshot)
        now = _utc(snapshot.now)
        st = self._state
        equity = snapshot.equity
        self._last_equity = equity
        self._roll_day(now, equity)
        if st.peak_equity is None or equity > st.peak_equity:
            st.peak_equity = equity
            st.peak_at = now
            self._soft_dirty = True

        stale_s = self.config.stale_mark_s
        quotes = snapshot.quotes
        # each quote's mark and age once per snapshot: the guards and every check_order reuse them
        marks: dict[str, tuple[Decimal, float]] = {}
        fresh: dict[str, float] = {}
        for s, q in quotes.items():
            mark = q.mark  # Quote.mark_price inlined (two property calls per symbol per cycle)
            if mark is None:
                mark = (q.bid + q.ask) / _TWO
            age = (now - q.ts).total_seconds()
            marks[s] = (mark, age)
            if age <= stale_s:
                fresh[s] = float(mark)
        self._stats.update(fresh)
        self._prune_api(self._clock().timestamp())
        ctx = GuardContext(
            config=self.config,
            state=st,
            stats=self._stats,
            now=now,
            equity=equity,
            positions=snapshot.positions,
            quotes=quotes,
            books=snapshot.books,
            products=snapshot.products,
            api_calls=len(self._api_window),
            api_failures=self._api_failures,
            marks=marks,
        )
        self._pretrade.use_snapshot(snapshot, marks, ctx.held_signs, ctx.correlations)
        found: dict[str, GuardTrip] = {}
        for guard in self._account_guards:
            hit = guard.check(ctx)
            if hit is not None:
                found[guard.name] = hit
        universe = _universe(snapshot)
        # each guard scans the universe at once (cheap tests first); trips are then ordered symbol by
        # symbol, guard by guard, as checking every pair in that order would find them
        tripped: list[tuple[int, str, GuardTrip]] = []
        for i, sguard in enumerate(self._symbol_guards):
            for symbol, trip_err in sguard.scan(ctx, universe):
                tripped.append((i, symbol, trip_err))
        if tripped:
            rank = {s: n for n, s in enumerate(universe)}
            tripped.sort(key=lambda t: (rank[t[1]], t[0]))
            for i, symbol, trip_err in tripped:
                found[f"{self._symbol_guards[i].name}:{symbol}"] = trip_err

        events: list[GuardEvent] = []
        trips = st.trips
        for key, hit in found.items():
            action = hit.action if hit.action is not None else self._actions[hit.guard]
            trip = trips.get(key)
            if trip is None or trip.action != action:
                trip = Trip(
                    guard=hit.guard,
                    symbol=hit.symbol,
                    action=action,
                    severity="critical" if action in CRITICAL_ACTIONS else "recoverable",
                    message=hit.message,
                    since=now,
                )
                trips[key] = trip
                self._on_trip(trip, hit, events, now)
                self._dirty = True
            hold = self._hold_s.get(hit.guard, 0.0)
            if hold > 0:
                trip.until = now + timedelta(seconds=hold)
                self._soft_dirty = True
        if len(trips) != len(found):
            for key in [k for k in trips if k not in found]:
                trip = trips[key]
                if trip.until is not None and now < trip.until:
                    continue
                del trips[key]
                self._dirty = True
                events.append(
                    GuardEvent(
                        name=trip.guard,
                        severity="info",
                        action="cleared",
                        symbol=trip.symbol,
                        message=f"{trip.guard} cleared" + (f" on {trip.symbol}" if trip.symbol else ""),
                        ts=now,
                    )
                )
                log.info("risk guard cleared", guard=trip.guard, symbol=trip.symbol)

        verdict = self._verdict(universe, events)
        self._persist(now)
        return verdict

    def _on_trip(self, trip: Trip, hit: GuardTrip, events: list[GuardEvent], now: datetime) -> None:
        name = trip.guard
        action = trip.action
        self.metrics.inc(f"risk.guards.{name}.{trip.severity}_failures")
        latched = _latched_mode(trip)
        if latched is not None:
            self._latch(latched, f"{name}: {hit.message}", cause=Cause.GUARD, at=now, guard=name)
        shown = hit.shown if hit.shown is not None else action
        events.append(
            GuardEvent(
                name=name,
                severity=trip.severity,
                action=shown,
                symbol=trip.symbol,
                message=hit.message,
                details=hit.details,
                ts=now,
            )
        )
        emit = log.error if trip.severity == "critical" else log.warning
        emit(
            "risk guard tripped",
            guard=name,
            action=shown,
            symbol=trip.symbol,
            detail=hit.message,
            details=hit.details,
        )

    def _latch(
        self, mode: TradingMode, reason: str, *, cause: Cause, at: datetime | None, guard: str | None = None
    ) -> None:
        """Raise the latched mode to `mode` (never lower it: the first, worse reason stays) and persist it."""
        st = self._state
        if mode.rank <= st.mode.rank:
            return
        st.mode = mode
        st.mode_reason = reason
        st.mode_since = at
        st.mode_guard = guard
        self._dirty = True
        if mode is TradingMode.HALTED:
            self.metrics.inc("risk.halts")
            log.error("trading halted by risk guard; leave it only with --clear-reduce-only", reason=reason)
        else:
            self.metrics.inc("risk.reduce_only_latched")
            log.error("reduce-only latched; leave it only with --clear-reduce-only", reason=reason)
        self._refresh_mode(cause, at)

    def _refresh_mode(self, cause: Cause, at: datetime | None, details: Mapping[str, str] | None = None) -> None:
        """Publish the effective mode: a session halt, else the latch, else the configuration's floor."""
        st = self._state
        if self._session_halt is not None and st.mode is not TradingMode.HALTED:
            reason, since = self._session_halt
            mode, guard = TradingMode.HALTED, None
        elif st.mode is not TradingMode.ACTIVE:
            mode, reason, since, guard = st.mode, st.mode_reason, st.mode_since or at, st.mode_guard
        elif self.config.reduce_only_mode:
            mode, reason, since, guard = TradingMode.REDUCING, CONFIG_REDUCE_ONLY_REASON, at, None
        else:
            mode, reason, since, guard = TradingMode.ACTIVE, "", at, None
        self.trading_state.set(mode, reason, since=since, cause=cause, guard=guard, details=details)

    def halt_session(self, reason: str, *, cause: Cause = Cause.RECONCILIATION) -> None:
        """HALTED for the rest of this process, not latched: the cause (a reconciliation difference) is
        checked again by the next start-up, which refuses to trade while it holds."""
        at = _utc(self._clock())
        if self._session_halt is None:
            self._session_halt = (reason, at)
            self.metrics.inc("risk.halts")
            log.error("trading halted for this session", reason=reason, cause=cause.value)
        self._refresh_mode(cause, at)

    def _verdict(self, universe: list[str], events: list[GuardEvent]) -> RuntimeVerdict:
        st = self._state
        blocked: dict[str, str] = {}
        flatten: set[str] = set()
        scale: dict[str, Decimal] = {}
        block_all: str | None = None
        flatten_all = False
        scales = self._scales
        for trip in st.trips.values():
            action = trip.action
            sym = trip.symbol
            if sym is not None and trip.guard in scales:
                scale[sym] = scales[trip.guard]
            if action == "warn":
                continue
            reason = f"{trip.guard}: {trip.message}"
            if sym is None:
                if action == "block_entries":
                    block_all = block_all or reason
                elif action == "flatten":
                    flatten_all = True
            else:
                blocked.setdefault(sym, reason)
                if action == "flatten":
                    flatten.add(sym)
        if block_all is not None:
            for sym in universe:
                blocked.setdefault(sym, block_all)
        if flatten_all:
            flatten.add(FLATTEN_ALL)
            flatten.update(universe)
        mode = self.trading_state.mode
        if flatten_all and mode is TradingMode.ACTIVE:  # an account flatten latches REDUCING; stay safe anyway
            mode = TradingMode.REDUCING
        self._blocked = blocked
        self._flatten = flatten
        self._entry_scale = scale
        self._pretrade.new_cycle(scale)
        return RuntimeVerdict(mode=mode, blocked_symbols=blocked, flatten=flatten, entry_scale=scale, events=events)

    # ------------------------------------------------------------------------------- pre-trade
    def check_order(
        self, request: OrderRequest, snapshot: AccountSnapshot, *, is_reducing: bool, cancelled: Collection[str] = ()
    ) -> PreTradeResult:
        """Every rule, in order; the first failure rejects (entries too in reduce-only/blocked state).
        `cancelled`: the snapshot's open orders cancelled since (not counted as working)."""
        status = self.trading_state.status
        try:
            adjusted = self._pretrade.check(
                request,
                snapshot,
                is_reducing=is_reducing,
                mode=status.mode,
                mode_reason=status.reason,
                blocked=self._blocked,
                cancelled=cancelled,
            )
        except PreTradeRejectedError as err:
            self.metrics.inc(f"risk.pretrade.{err.rule}.rejections")
            log.warning(
                "order rejected by pre-trade rule",
                rule=err.rule,
                symbol=request.symbol,
                side=request.side.value,
                reason=err.message,
                details=err.details,
            )
            return PreTradeResult(ok=False, request=request, rule=err.rule, reason=err.message, details=err.details)
        return PreTradeResult(ok=True, request=adjusted)

    # ----------------------------------------------------------------------------- operator
    def clear_reduce_only(self) -> None:
        """Operator: release a latched REDUCING / HALTED. Clearing is not forgetting: the loss baselines
        stay, so a guard whose condition still holds trips again on the next evaluation (re-basing them is
        `rebase_daily_loss` / `rebase_drawdown`). May be called before `start` (the CLI flag)."""
        self._ensure_loaded()
        st = self._state
        previous = self.trading_state.status
        st.mode = TradingMode.ACTIVE
        st.mode_reason = ""
        st.mode_since = None
        st.mode_guard = None
        self._session_halt = None
        # forget every trip that latched, symbol-scoped ones too: one whose condition holds trips (and latches) again
        for key in [k for k, t in st.trips.items() if _latched_mode(t) is not None]:
            del st.trips[key]
        self._dirty = True
        self._persist()
        self.metrics.inc("risk.reduce_only_cleared")
        log.warning(
            "reduce-only / halt cleared by operator; a guard whose condition still holds trips again",
            previous_mode=previous.mode.value,
            previous_reason=previous.reason,
            day_start_equity=str(st.day_start_equity),
            peak_equity=str(st.peak_equity),
        )
        self._refresh_mode(Cause.OPERATOR_CLEAR, _utc(self._clock()), {"previous_reason": previous.reason})
        if self.config.reduce_only_mode:
            log.warning("reduce-only still forced by configuration (risk.reduce_only_mode)")

    def rebase_daily_loss(self) -> None:
        """Operator: today's loss budget starts again from the current equity (a new day-start equity).
        Before `start` (the CLI flag) it is applied to the first snapshot's equity."""
        self._rebase("daily_loss")

    def rebase_drawdown(self) -> None:
        """Operator: the drawdown guard's peak equity starts again from the current equity."""
        self._rebase("drawdown")

    def _rebase(self, kind: Rebase) -> None:
        self._ensure_loaded()
        if self._last_equity is None:
            self._rebase_on_start.add(kind)
            log.warning("operator re-base requested; applied to the first account snapshot", baseline=kind)
            return
        self._apply_rebase(kind, self._last_equity, _utc(self._clock()))

    def _apply_rebase(self, kind: Rebase, equity: Decimal, now: datetime) -> None:
        st = self._state
        if kind == "daily_loss":
            old = st.day_start_equity
            st.day_start_equity = equity
            st.day_start_at = now
        else:
            old = st.peak_equity
            st.peak_equity = equity
            st.peak_at = now
        self._dirty = True
        self._persist()
        self.metrics.inc(f"risk.rebase.{kind}")
        details = {"baseline": kind, "previous": str(old), "equity": str(equity), "day": st.day}
        log.warning("loss baseline re-based by operator", **details)
        self.trading_state.announce(_REBASE_CAUSE[kind], details, at=now)

    def describe_limits(self) -> list[tuple[str, str]]:
        """Every active limit, one (name, value) per line of the start-up banner: the trading mode, the
        pre-trade limits, then each guard's own line."""
        self._ensure_loaded()  # the banner shows a latched mode before the first snapshot
        c = self.config
        rows: list[tuple[str, str]] = [
            (
                "trading mode",
                self.trading_state.mode.value.upper()
                + (f" ({self.trading_state.reason})" if self.trading_state.reason else ""),
            ),
            ("max leverage", f"{c.max_leverage}x account; spot 1x"),
            (
                "max total notional",
                f"${c.max_total_notional}" if c.max_total_notional is not None else "none",
            ),
            (
                "default per-symbol notional",
                f"${c.default_max_notional}" if c.default_max_notional is not None else "none",
            ),
            (
                "max impact cost",
                f"{c.max_impact_bps} bps from mid (L2 walk)"
                + ("; entries need a book" if c.require_book_for_entries else ""),
            ),
            ("max open orders per symbol", str(c.max_open_orders_per_symbol)),
            ("max orders per minute", str(c.max_orders_per_minute)),
        ]
        rows += [g.banner(c) for g in (*self._account_guards, *self._symbol_guards)]
        if not c.circuit_breakers_enabled:
            off = ", ".join(g.name for g in (*ACCOUNT_GUARDS, *SYMBOL_GUARDS) if g.breaker)
            rows.append(("circuit breakers", f"DISABLED ({off})"))
        for sym in sorted(self.symbol_limits):
            lim = self.symbol_limits[sym]
            parts = []
            if lim.max_notional is not None:
                parts.append(f"notional ${lim.max_notional}")
            if lim.max_position_size is not None:
                parts.append(f"size {lim.max_position_size}")
            parts.append(f"leverage {lim.max_leverage}x")
            rows.append((sym, ", ".join(parts)))
        return rows


def _latched_mode(trip: Trip) -> TradingMode | None:
    """The mode a trip latches: reduce_only (and an account-wide flatten) REDUCING, halt HALTED."""
    if trip.action == "halt":
        return TradingMode.HALTED
    if trip.action == "reduce_only" or (trip.action == "flatten" and trip.symbol is None):
        return TradingMode.REDUCING
    return None


def _universe(snapshot: AccountSnapshot) -> list[str]:
    products = snapshot.products.keys()
    if snapshot.quotes.keys() <= products and snapshot.positions.keys() <= products:
        return list(products)  # the usual case: everything quoted or held is a known product
    seen = dict.fromkeys(snapshot.products)
    for sym in snapshot.quotes:
        seen.setdefault(sym)
    for sym, pos in snapshot.positions.items():
        if pos.size != 0:
            seen.setdefault(sym)
    return list(seen)


def _holds(taken_at: datetime | None, after: datetime | None) -> bool:
    """A baseline taken at `taken_at` already includes a flow that appeared after the reading at `after`."""
    return taken_at is not None and after is not None and taken_at > after


def _utc(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        raise ValueError(f"risk timestamps must be timezone-aware UTC, got naive {ts.isoformat()}")
    return ts if ts.tzinfo is UTC else ts.astimezone(UTC)


__all__ = [
    "AccountSnapshot",
    "GuardEvent",
    "InvalidOrderError",
    "PreTradeResult",
    "RiskManager",
    "RuntimeVerdict",
]
