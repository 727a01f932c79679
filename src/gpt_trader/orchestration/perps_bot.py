"""PerpsBot: the trading cycle of DESIGN §3, the same on every venue.

Per cycle: session window -> marks and books -> account snapshot -> runtime guards -> per symbol with a
newly completed bar: strategy decision -> sizing -> pre-trade checks -> execution -> order tracking ->
metrics, health and events. Decisions are taken on completed bars only, exactly like the backtester.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import time as _time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, NamedTuple, TypeVar

import msgspec
import structlog

from gpt_trader.features.brokerages.core.interfaces import (
    ZERO,
    Balance,
    BrokerageError,
    Candle,
    Order,
    OrderBook,
    OrderRequest,
    OrderSide,
    OrderType,
    Position,
    Product,
    Quote,
    SimulatedVenue,
    StalenessReporting,
    StreamingVenue,
    TimeInForce,
    VenueTimed,
    to_usd,
)
from gpt_trader.features.live_trade import indicators
from gpt_trader.features.live_trade.regime import REGIME_CODES, Regime, RegimeTracker, make_detector
from gpt_trader.features.live_trade.risk.manager import AccountSnapshot, RuntimeVerdict
from gpt_trader.features.live_trade.risk.trading_state import TradingMode
from gpt_trader.features.live_trade.strategies import Action, BarWindow, Decision
from gpt_trader.features.live_trade.tiers import TierChange, TierTracker
from gpt_trader.orchestration.bar_builder import ClosedBar
from gpt_trader.orchestration.cash_flows import CashFlowDetector, Transfer
from gpt_trader.orchestration.limit_entry import LimitEntryManager, entry_request
from gpt_trader.orchestration.live_execution import (
    LiveExecutionEngine,
    SubmitResult,
    client_order_id_for,
    stable_intent_id,
)
from gpt_trader.orchestration.market_monitor import MarketMonitor
from gpt_trader.orchestration.monitoring import MonitorPublisher
from gpt_trader.orchestration.positions import PositionBook
from gpt_trader.orchestration.protection import ProtectionManager
from gpt_trader.orchestration.reconciliation import Reconciler, ReconciliationRefusedError
from gpt_trader.orchestration.service_registry import ServiceRegistry
from gpt_trader.orchestration.session_guard import SessionGuard
from gpt_trader.orchestration.startup_wait import startup_wait
from gpt_trader.orchestration.stream_feed import StreamFeed

log = structlog.get_logger("perps_bot")
T = TypeVar("T")

BOOK_DEPTH = 50
TELEMETRY_INTERVAL_S = 60.0
#: wall seconds after a cycle's snapshot during which bars closing while its orders are in the air are still
#: decided on that snapshot (after it, the next cycle takes a fresh one)
OVERLAP_MAX_S = 1.0
#: wall seconds a quiet cycle's snapshot and guard verdict stay usable for the next bar's decision (the guard
#: tick is 1 s; the bar closes within its close grace after the boundary)
ARMED_MAX_AGE_S = 1.5
#: extra balance reads a cycle may take to confirm (or explain) an unexplained quote-cash change
CASH_CONFIRM_READS = 2
#: on streams the loop wakes on a closed bar or an order event, and at least this often (wall seconds) so
#: stream marks reach the runtime guards between bars
STREAM_TICK_S = 1.0


class Flight(NamedTuple):
    """An order handed to the venue: its request and the transmit under way (its reply or venue error)."""

    request: OrderRequest
    task: asyncio.Future[Order | BrokerageError]


class Decided(NamedTuple):
    """A strategy decision on a symbol's newest bar, with what it saw (for its journal row)."""

    symbol: str
    bar: Candle
    decision: Decision
    size: Decimal
    bid: float | None
    ask: float | None
    seconds: float  # wall time the strategy took


class Armed(NamedTuple):
    """A quiet cycle's account snapshot and guard verdict, kept for the next closed bar. `changes` is the
    store's write count when they were taken: any write since (a fill, a cancel, a transfer, a guard event,
    an intent) means the account may have moved, and the bar's cycle takes its own snapshot instead."""

    snapshot: AccountSnapshot
    verdict: RuntimeVerdict
    changes: int
    at: float  # monotonic


class GuardEventRecord(msgspec.Struct, kw_only=True):
    cycle: int
    name: str
    action: str
    detail: str


class PerpsBot:
    def __init__(self, registry: ServiceRegistry) -> None:
        self.registry = registry
        self.config = registry.config
        self.broker = registry.broker
        self.metrics = registry.metrics
        self.events = registry.events
        self.risk = registry.risk
        self.strategy = registry.strategy
        self.sizer = registry.sizer
        self.session_guard = SessionGuard(self.config.trading_window)
        self.monitor = MarketMonitor(float(self.config.risk.stale_mark_s))
        self.positions = PositionBook()
        self.cash_flows = CashFlowDetector(state=registry.state, metrics=self.metrics)
        self.transfers: list[Transfer] = []  # booked this session (start-up included)
        self._transfers_before_start = 0
        self._read_balances: list[Balance] = []
        self._read_positions: list[Position] = []
        self.execution = LiveExecutionEngine(
            self.broker,
            registry.orders,
            registry.events,
            self.metrics,
            self.positions,
            bot_id=self.config.bot_id,
            dry_run=self.config.dry_run,
            on_api_call=self._record_api,
            on_trade_closed=self.risk.record_trade_result,
            on_fill=self.cash_flows.record_fill,
            atomic=registry.store_transaction,
        )
        self.symbols = list(self.config.symbols)
        self.products: dict[str, Product] = {}
        # venue-side stops / brackets for every open position (orchestration/protection.py)
        self.protection = ProtectionManager(
            self.execution,
            registry.state,
            registry.events,
            self.metrics,
            self.products,
            defaults=self.config.exits,
            atr=self._atr,
        )
        self.limit_entries = LimitEntryManager(self.execution, self.metrics, self.products, self.config.entry)
        self.granularity_s = self.config.strategy.granularity_s
        # per symbol: (open, high, low, close, volume) of completed bars, oldest first
        self.history: dict[str, deque[tuple[float, float, float, float, float]]] = {}
        # market regime per symbol: logged, journaled, gauged, summarized
        self.regimes = RegimeTracker(make_detector(self.config.regime.detector, self.config.regime.model))
        # equity tiers (opt-in, profile `tiers:`): positions, products and entry size follow equity
        self.tiers = TierTracker(self.config.tiers) if self.config.tiers is not None else None
        self.tier_changes: list[TierChange] = []
        self.last_bar: dict[str, datetime] = {}
        self.quotes: dict[str, Quote] = {}
        self.books: dict[str, OrderBook] = {}
        self.cycle = 0
        self.guard_events: list[GuardEventRecord] = []
        self.decisions: dict[str, dict[str, int]] = {}
        self.risk_rejections: list[dict[str, Any]] = []
        self._stop = asyncio.Event()
        self._halt_handled = False
        self.start_equity: Decimal | None = None
        self.last_equity: Decimal | None = None
        self._started = False
        self._last_telemetry: datetime | None = None
        self.reconciler: Reconciler | None = None
        self.monitoring = MonitorPublisher(registry)
        self._cycle_t0: float | None = None
        #: the event source on a streaming venue (None: the REST poll loop, and always on simulated venues)
        self.feed: StreamFeed | None = None
        if (
            self.config.streams
            and isinstance(self.broker, StreamingVenue)
            and not isinstance(self.broker, SimulatedVenue)
        ):
            self.feed = StreamFeed(
                self.broker,
                self.symbols,
                self.granularity_s,
                metrics=self.metrics,
                monitor=self.monitor,
                tick_s=STREAM_TICK_S,
                fallback_every_s=self.config.cycle_interval_s,
            )
        if isinstance(self.broker, StalenessReporting):  # streaming feeds report silence as it happens
            on_stale = self.monitor.report_stale if self.feed is None else self.monitor.report_stream_stale
            self.broker.set_staleness_callback(on_stale)
        self._rest_market_at: dict[str, float] = {}  # symbol -> monotonic time of its last REST market read
        self._rest_bar_checked: dict[str, datetime] = {}  # symbol -> last bar start read over REST (stale)
        self._reconcile_owed = False  # a periodic reconciliation that came due while bars were closing
        self._bar_arrival: dict[str, float] = {}  # symbol -> monotonic arrival of the event closing its bar
        self._bar_taken: dict[str, float] = {}  # symbol -> monotonic instant this cycle took that bar
        self._bar_repaired: set[str] = set()  # symbols whose bar this cycle waited for a REST repair
        self._sent_in_cycle = 0  # orders sent this cycle (latency of the first one is reported apart)
        self._outbox: list[OrderRequest] | None = None  # while deciding on closed bars: orders to send together
        #: while deciding on closed bars: journal rows and log lines that wait until the orders are out
        self._deferred: list[Callable[[], object]] | None = None
        self._armed: Armed | None = None  # the last quiet cycle's snapshot, for the next bar (`_take_armed`)
        self._armed_cycle = False  # this cycle decides on an armed snapshot (quotes, books re-read per symbol)
        self._market_unread: set[str] = set()  # armed cycle: symbols whose quote re-read failed (no entry)
        self._gc_held = False  # the collector is off while a closed bar's orders are decided and sent
        self.bar_cycles = 0  # cycles that decided on at least one closed bar (stream mode paces on them)

    # ------------------------------------------------------------------ plumbing
    def _record_api(self, ok: bool, endpoint: str) -> None:
        self.risk.record_api_call(ok, endpoint=endpoint)
        self.metrics.inc("api.calls")
        if not ok:
            self.metrics.inc("api.errors")

    async def _call(self, endpoint: str, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            result = await fn()
        except BrokerageError:
            self._record_api(False, endpoint)
            raise
        self._record_api(True, endpoint)
        return result

    def request_stop(self) -> None:
        """Finish the current cycle, persist, and return (SIGINT/SIGTERM)."""
        self._stop.set()
        if self.feed is not None:
            self.feed.wake()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def halted(self) -> bool:
        """The risk manager's TradingState is HALTED (a guard, or reconciliation this session)."""
        return self.risk.trading_state.halted

    @property
    def halt_reason(self) -> str | None:
        state = self.risk.trading_state
        return state.reason if state.halted else None

    # ------------------------------------------------------------------ start-up
    async def start(self) -> None:
        await self.broker.connect()
        self.events.append(
            "session_start", {"config": self.config.redacted(), "venue": self.broker.name}, ts=self.broker.now()
        )
        products = await self._call("list_products", self.broker.list_products)
        by_symbol = {p.symbol: p for p in products}
        missing = [s for s in self.symbols if s not in by_symbol]
        if missing:
            raise BrokerageError(f"venue {self.broker.name} does not list {missing}; refusing to start")
        self.products = {s: by_symbol[s] for s in self.symbols}
        self.protection.products = self.products
        self.limit_entries.products = self.products
        # before reconciliation: fills it finds are accounted against the balances read before a crash
        self.cash_flows.bind(self.products)
        self.reconciler = Reconciler(
            self.execution,
            self.products,
            state=self.registry.state,
            settings=self.config.reconciliation,
            profile=self.config.profile,
        )
        try:
            await self.reconciler.startup()
        except ReconciliationRefusedError as exc:  # an unexplained difference: HALTED, heard by alerts, exit 4
            self.risk.halt_session(f"start-up reconciliation refused: {len(exc.report.mismatches)} difference(s)")
            raise
        if self.feed is not None:
            await self.feed.start()  # before warm-up: no trade falls between the history and the stream
        need = max(self.strategy.history_needed, self.regimes.need) + 1
        for sym in self.symbols:
            candles = await self._call(
                "get_candles", partial(self.broker.get_candles, sym, self.granularity_s, limit=need + 1)
            )
            self._ingest_candles(sym, candles, initial=True)
        snapshot = await self._snapshot()
        # a transfer made while the bot was down moves the persisted baselines before `start` rolls the day
        snapshot = await self._account_cash_flows(snapshot)
        self.start_equity = snapshot.equity
        self._transfers_before_start = len(self.transfers)
        self.risk.start(snapshot)
        self.execution.release_trade_results()  # trades closed by fills reconciliation found
        self._started = True
        log.info(
            "bot started",
            venue=self.broker.name,
            symbols=len(self.symbols),
            session=self.registry.session_id,
            equity=str(snapshot.equity),
        )

    def _ingest_candles(
        self, symbol: str, candles: list[Candle], *, initial: bool = False, closed: bool = False
    ) -> list[Candle]:
        """Append closes of bars that are complete (start + granularity <= now, or `closed` by the stream)
        and newer than held."""
        now = self.broker.now()
        span = timedelta(seconds=self.granularity_s)
        hist = self.history.setdefault(symbol, deque(maxlen=max(self.strategy.history_needed + 5, 64)))
        last = self.last_bar.get(symbol)
        added = []
        for c in sorted(candles, key=lambda c: c.start):
            if not closed and c.start + span > now:
                continue  # still forming
            if last is not None and c.start <= last:
                continue
            bar = (float(c.open), float(c.high), float(c.low), float(c.close), float(c.volume))
            hist.append(bar)
            self.regimes.add_bar(symbol, bar)
            last = c.start
            added.append(c)
        if last is not None:
            self.last_bar[symbol] = last
        return added

    # ------------------------------------------------------------------ snapshot
    async def _snapshot(self, *, force_account: bool = False) -> AccountSnapshot:
        now = self.broker.now()
        feed = self.feed
        for sym in self.symbols:
            if feed is not None and feed.venue.market_stream_fresh(sym):
                await self._stream_market(sym)
                continue
            if feed is not None and not self._market_read_due(sym):
                continue  # the stream is not fresh and its REST fallback ran recently: keep the last reads
            try:
                quote = await self._call("get_quote", partial(self.broker.get_quote, sym))
                self.quotes[sym] = quote
                if feed is None:  # on streams only stream data refreshes the monitor (a REST fallback does not)
                    self.monitor.update(sym, quote.mark_price, quote.ts)
            except BrokerageError as exc:
                log.warning("quote unavailable", symbol=sym, error=type(exc).__name__)
            try:
                self.books[sym] = await self._call(
                    "get_order_book", partial(self.broker.get_order_book, sym, BOOK_DEPTH)
                )
            except BrokerageError as exc:
                log.warning("order book unavailable", symbol=sym, error=type(exc).__name__)
        if feed is None:
            balances: list[Balance] = await self._call("list_balances", self.broker.list_balances)
            venue_positions: list[Position] = await self._call("list_positions", self.broker.list_positions)
            open_orders: list[Order] = await self._call("list_orders", lambda: self.broker.list_orders(open_only=True))
        else:
            balances, venue_positions, open_orders = await self._stream_account(now, force=force_account)
        self._read_balances, self._read_positions = balances, venue_positions
        positions = self._positions(venue_positions)
        cash, equity, cash_by_quote = self._equity(balances, positions)
        self.last_equity = equity
        self._track_tier(equity)
        return AccountSnapshot(
            now=now,
            equity=equity,
            cash=cash,
            cash_by_quote=cash_by_quote,
            positions=positions,
            quotes=dict(self.quotes),
            books=dict(self.books),
            open_orders=open_orders,
            products=dict(self.products),
        )

    async def _stream_market(self, sym: str, *, quote: bool = True, book: bool = True) -> bool:
        """Quote and/or book of a symbol whose stream is fresh: read from the stream's state, so they are not
        venue calls (counting them would dilute the API error-rate guard with reads that cannot fail). False
        when a read failed (the stream went stale since the check, and the REST fallback failed too)."""
        endpoint = "get_quote"
        try:
            if quote:
                self.quotes[sym] = await self.broker.get_quote(sym)
            if book:
                endpoint = "get_order_book"
                self.books[sym] = await self.broker.get_order_book(sym, BOOK_DEPTH)
        except BrokerageError as exc:
            self._record_api(False, endpoint)
            log.warning("market data unavailable", symbol=sym, error=type(exc).__name__)
            return False
        return True

    def _market_read_due(self, sym: str) -> bool:
        """On streams, for a symbol whose stream is not fresh: a quote/book read goes to REST at most once per
        `cycle_interval_s` per symbol (the poll loop's pace), counted and logged."""
        last = self._rest_market_at.get(sym)
        mono = _time.monotonic()
        if last is not None and sym in self.quotes and mono - last < self.config.cycle_interval_s:
            return False
        self._rest_market_at[sym] = mono
        self.metrics.inc("stream.rest_fallback.market")
        log.info("market data over REST: the stream is not fresh", symbol=sym)
        return True

    async def _stream_account(self, now: datetime, *, force: bool) -> tuple[list[Balance], list[Position], list[Order]]:
        """On streams: balances and positions re-read over REST only when an order event moved them, the user
        stream is not trusted, or the periodic confirmation is due; open orders are the pushed ones."""
        feed = self.feed
        assert feed is not None
        if force or feed.account_due(now, defer_periodic=feed.bars_waiting() or feed.boundary_near(now)):
            balances = await self._call("list_balances", self.broker.list_balances)
            perps = any(p.is_perpetual for p in self.products.values())
            positions = await self._call("list_positions", self.broker.list_positions) if perps else []
            if feed.user_disrupted or not feed.orders_seeded:
                orders = await self._call("list_orders", lambda: self.broker.list_orders(open_only=True))
                feed.seed_open_orders(orders)
            feed.account_read(balances, positions, now)
        return list(feed.balances), list(feed.positions), list(feed.open_orders.values())

    def _positions(self, venue_positions: list[Position]) -> dict[str, Position]:
        """Perp positions come from the venue; spot positions are the bot's own ledger (what it bought)."""
        out: dict[str, Position] = {
            p.symbol: p for p in venue_positions if p.symbol in self.products and self.products[p.symbol].is_perpetual
        }
        for sym, product in self.products.items():
            if product.is_perpetual:
                continue
            led = self.positions.ledgers.get(sym)
            if led is None or led.size == 0:
                continue
            quote = self.quotes.get(sym)
            mark = quote.mark_price if quote else led.entry_price
            out[sym] = Position(
                symbol=sym,
                size=led.size,
                entry_price=led.entry_price,
                mark_price=mark,
                realized_pnl=led.realized_pnl,
                unrealized_pnl=led.unrealized(mark),
            )
        return out

    def _equity(
        self, balances: list[Balance], positions: dict[str, Position]
    ) -> tuple[Decimal, Decimal, dict[str, Decimal]]:
        """(available cash in USD, equity in USD, available per quote currency in that currency).

        Equity = USD cash + USDC collateral + every universe asset held at its mark + perp unrealized PnL
        (in USDC); every quote currency counts through `interfaces.to_usd` (USDC 1:1)."""
        quote_ccy = {p.quote_asset for p in self.products.values()}
        cash = sum((to_usd(b.total, b.asset) for b in balances if b.asset in quote_ccy), ZERO)
        by_quote: dict[str, Decimal] = dict.fromkeys(sorted(quote_ccy), ZERO)
        for b in balances:
            if b.asset in by_quote:
                by_quote[b.asset] += b.available
        available = sum((to_usd(v, a) for a, v in by_quote.items()), ZERO)
        marks = {
            p.base_asset: to_usd(self.quotes[s].mark_price, p.quote_asset)
            for s, p in self.products.items()
            if not p.is_perpetual and s in self.quotes
        }
        held = sum((b.total * marks[b.asset] for b in balances if b.asset in marks), ZERO)
        perp_upnl = sum(
            (
                to_usd(p.unrealized_pnl, self.products[s].quote_asset)
                for s, p in positions.items()
                if self.products[s].is_perpetual
            ),
            ZERO,
        )
        return available, cash + held + perp_upnl, by_quote

    # ------------------------------------------------------------------ external cash flows
    def _settled(self) -> bool:
        """No order of the bot is working or unresolved: every fill of ours the venue applied is recorded."""
        return not self.execution.tracked and self.execution.pending_count == 0

    async def _account_cash_flows(self, snapshot: AccountSnapshot) -> AccountSnapshot:
        """Feed the snapshot's balances to the cash-flow detector; an unexplained change is confirmed (or
        explained by a late fill) by refreshing working orders and reading again, within this cycle, so a
        withdrawal moves the guard baselines before they are evaluated. Returns the latest snapshot."""
        obs = self.cash_flows.observe(
            self._read_balances, self._read_positions, at=snapshot.now, settled=self._settled()
        )
        booked = list(obs.transfers)
        reads = 0
        while obs.pending and reads < CASH_CONFIRM_READS:
            reads += 1
            self.metrics.inc("cash_flows.confirm_reads")
            try:
                await self.execution.poll(resend=False)  # record fills the venue has applied; send nothing
                snapshot = await self._snapshot(force_account=True)
            except BrokerageError as exc:
                log.warning("cash-flow confirming read failed; retrying next cycle", error=type(exc).__name__)
                break
            obs = self.cash_flows.observe(
                self._read_balances, self._read_positions, at=snapshot.now, settled=self._settled()
            )
            booked.extend(obs.transfers)
        for transfer in booked:
            self._book_transfer(transfer)
        if obs.pending:
            log.warning(
                "unexplained quote-cash change awaiting confirmation",
                pending={k: str(v) for k, v in obs.pending.items()},
                working_orders=len(self.execution.tracked),
            )
        return snapshot

    @property
    def transfers_in_session(self) -> Decimal:
        """Net external flow since `start_equity` was taken (start-up transfers are already in it)."""
        return sum((t.usd for t in self.transfers[self._transfers_before_start :]), ZERO)

    def _book_transfer(self, transfer: Transfer) -> None:
        self.transfers.append(transfer)
        self.risk.record_transfer(transfer.usd, details=transfer.details(), after=transfer.after)
        st = self.risk.state
        self.events.append(
            "transfer",
            {
                **transfer.payload(),
                "cycle": str(self.cycle),
                "day_start_equity": str(st.day_start_equity),
                "peak_equity": str(st.peak_equity),
            },
            ts=transfer.at,
        )

    # ------------------------------------------------------------------ the cycle
    async def _prelude(self) -> tuple[AccountSnapshot, RuntimeVerdict] | None:
        """Snapshot, cash flows, runtime guards. None when the cycle ends here (no snapshot, or halted),
        its end-of-cycle work done."""
        now = self.broker.now()
        try:
            snapshot = await self._snapshot()
        except BrokerageError as exc:
            self.metrics.inc("cycles.snapshot_failed")
            log.warning("account snapshot failed; no trading this cycle", error=type(exc).__name__, message=str(exc))
            verdict = self.risk.evaluate(await self._fallback_snapshot(now))
            self._record_verdict(verdict)
            if verdict.mode is TradingMode.HALTED:
                await self._halt()
            await self._finish_cycle(None)
            return None

        snapshot = await self._account_cash_flows(snapshot)  # baselines move before the guards look
        verdict = self.risk.evaluate(snapshot)
        self._record_verdict(verdict)
        if verdict.mode is TradingMode.HALTED:
            await self._halt()
            await self._protect(snapshot)  # a halt sends nothing new, but never leaves a position naked
            await self._finish_cycle(snapshot)
            return None
        return snapshot, verdict

    async def _take_armed(self) -> tuple[AccountSnapshot, RuntimeVerdict] | None:
        """When a bar closed and nothing moved since the last quiet cycle (no write to the store, no order
        event waiting, no account read due, trading active, the armed state at most `ARMED_MAX_AGE_S` old):
        that cycle's snapshot and guard verdict, as a copy whose quote and book maps are its own.
        Why: the bar's order then leaves without re-reading every symbol's market and re-running every guard
        (about 0.5 ms); the guards still run on every tick and every order event. Used at most once. Each
        closing symbol's quote is re-read as it is decided (`_decisions`), its book when it trades (`_act`)."""
        armed, self._armed = self._armed, None
        feed = self.feed
        if armed is None or feed is None or not feed.bars_waiting():
            return None
        now = self.broker.now()
        closing = feed.symbols_with_bars()
        refused = self._armed_refusal(armed, now, closing)
        if refused is not None:
            self.metrics.inc(f"cycles.armed_refused.{refused}")
            return None
        snapshot = msgspec.structs.replace(  # its own dicts: the symbols' re-reads go into them
            armed.snapshot, now=now, quotes=dict(self.quotes), books=dict(armed.snapshot.books)
        )
        return snapshot, armed.verdict

    def _armed_refusal(self, armed: Armed, now: datetime, closing: list[str]) -> str | None:
        """Why the armed state may not stand for the account now (counted per reason), or None."""
        feed = self.feed
        assert feed is not None
        if _time.monotonic() - armed.at > ARMED_MAX_AGE_S:
            return "age"
        if self._store_changes() != armed.changes:
            return "store_write"
        if feed.order_events_waiting():
            return "order_event"
        if feed.account_due(now, defer_periodic=True) or feed.order_poll_due():
            return "account_read_due"
        if self.risk.trading_state.mode is not TradingMode.ACTIVE:
            return "not_active"
        if not all(feed.venue.market_stream_fresh(sym) for sym in closing):
            return "stream_not_fresh"
        return None

    def _store_changes(self) -> int:
        """Rows written through the store's connection so far (-1 without a store: nothing is armed then)."""
        db = self.registry.db
        return -1 if db is None else db.total_changes

    def _arm(self, snapshot: AccountSnapshot, verdict: RuntimeVerdict, changes: int) -> None:
        """Keep a quiet cycle's snapshot for the next closed bar (see `_take_armed`)."""
        if self.feed is None or changes < 0 or verdict.flatten or self.stopping:
            return
        self._armed = Armed(snapshot, verdict, changes, _time.monotonic())

    async def run_cycle(self) -> None:
        if not self._started:
            await self.start()
        self.cycle += 1
        self._cycle_t0 = _time.perf_counter()
        self._sent_in_cycle = 0
        self._begin_bar_round()
        try:
            await self._run_cycle()
        finally:
            self._end_bar_round()
            if self.feed is not None:
                self.feed.publish_counts()  # the stream counts of the cycle, once its orders are out

    def _begin_bar_round(self) -> None:
        """A closed bar waits: until its orders are out, no garbage collection (a full pass over what trading
        allocated takes milliseconds, more than the whole decision; it runs right after instead) and the
        stream consumers yield after every event (`StreamFeed.deciding`)."""
        if self.feed is None or not self.feed.bars_waiting():
            return
        self.feed.deciding = True
        if gc.isenabled():
            gc.disable()
            self._gc_held = True

    def _end_bar_round(self) -> None:
        if self.feed is not None:
            self.feed.deciding = False
        if self._gc_held:
            self._gc_held = False
            gc.enable()

    async def _run_cycle(self) -> None:
        if isinstance(self.broker, VenueTimed):
            await self.broker.sync_clock()  # the venue's clock is the bot's (REST only when no stream ticks)
        armed = None
        if self.feed is not None:
            self.feed.check_disruptions()  # before a bar is taken; the counts reach the metrics after its orders
            armed = await self._take_armed()
            if armed is None:
                await self._apply_pushed_orders()
        self._armed_cycle = armed is not None
        self.metrics.inc("cycles")
        if armed is not None:
            self.metrics.inc("cycles.armed")
            snapshot, verdict = armed
        else:
            prelude = await self._prelude()
            if prelude is None:
                return  # no snapshot, or halted: the cycle is finished
            snapshot, verdict = prelude
        changes = self._store_changes()  # what the snapshot saw: a write after it means the account may move
        now = self.broker.now()

        window_open = self.session_guard.is_open(now)
        for sym in sorted(verdict.flatten if "*" not in verdict.flatten else set(self.symbols)):
            await self._close_position(sym, snapshot, reason="guard flatten", bar_key=f"flatten-{self.cycle}")

        self._market_unread.clear()
        decided: list[str] = []
        flights: list[Flight] = []
        holds: list[Decided] = []
        self._deferred = []
        reads: list[tuple[str, asyncio.Task[list[Candle]]]] = []  # bars that wait for a REST read
        try:
            overlap_until = _time.monotonic() + OVERLAP_MAX_S
            symbols = list(self.symbols)
            while symbols or reads:
                if symbols:  # each stream bar is decided as it is taken; REST repairs run meanwhile, decided after
                    taken: Iterable[tuple[str, list[Candle]]] = self._new_bars(symbols, reads)
                else:
                    await asyncio.wait([task for _, task in reads])
                    taken, reads = [(sym, task.result()) for sym, task in reads], []
                # the decisions that trade go first: their orders leave before any HOLD is journaled
                decisions = self._decisions(taken, snapshot, decided)
                async for batch in self._commit_batches(decisions, holds):
                    self._outbox = []
                    # One commit for the batch's decisions, risk results and order intents, before any of its
                    # orders is sent; an error before it rolls back every intent of the batch, none sent.
                    with self.registry.store_transaction():
                        for d in batch:
                            await self._act(d, snapshot, verdict, window_open)
                        committing = _time.monotonic()
                    outbox, self._outbox = self._outbox, None
                    if outbox and self.feed is not None:
                        self.feed.latency.record("commit", (_time.monotonic() - committing) * 1000)
                    sent = self._transmit_all(outbox, flush=False)
                    if sent:
                        flights.extend(sent)
                        await asyncio.sleep(0)  # the transmits start (their requests leave) before more work
                # bars that close while the orders are in the air are decided at once, on the same snapshot
                symbols = [] if reads else await self._bars_during_flight(flights, overlap_until)
            self._end_bar_round()  # the orders are out (their intents' disk flush: `_finish_cycle`)
            # journaled once the boundary's orders are out and its bars closed: the HOLDs, and the journal rows
            # and log lines of the decisions that traded (their intents, committed before the sends, name them)
            self._deferred.extend(partial(self._journal_decision, d) for d in holds)
            self._flush_deferred()
        finally:
            self._outbox = None
            for _, task in reads:  # an error cut the boundary short: no REST read outlives it
                task.cancel()
            try:
                self._flush_deferred()  # an error cut the boundary short: what was decided is still journaled
            finally:
                await self._settle_all(flights)
        self._bar_arrival.clear()
        self._bar_taken.clear()
        self._bar_repaired.clear()

        if decided:
            self.bar_cycles += 1
        paced = self.cycle if self.feed is None else (self.bar_cycles if decided else 0)
        reconcile = self.reconciler is not None and (self.reconciler.due(paced) or self._reconcile_owed)
        if reconcile and self._boundary_near():
            self._reconcile_owed, reconcile = True, False  # runs in the first cycle clear of the bar closes
        elif reconcile:
            self._reconcile_owed = False
        if self.feed is None:
            await self.execution.poll()
        elif self.feed.order_poll_due():
            log.info("order states over REST: the user stream is down or lost events")
            await self.execution.poll()
            self.feed.order_polled()
        elif reconcile and self.execution.tracked:
            await self.execution.poll()  # the periodic confirmation of what the pushes said
        else:
            await self.execution.resolve_pending()  # only ambiguous submits; pushes carry the rest
        if not self.config.dry_run:
            await self.limit_entries.manage(snapshot.quotes)  # time out / re-price resting limit entries
        await self._protect(snapshot)
        if self.reconciler is not None and reconcile:
            problem = await self.reconciler.periodic_guard()
            if problem:
                self.risk.halt_session(problem)
                log.error("halting: reconciliation found a persistent difference", reason=problem)
                self.request_stop()
        if not (decided or self._sent_in_cycle or self._armed_cycle):
            self._arm(snapshot, verdict, changes)
        await self._finish_cycle(snapshot)

    def _later(self, fn: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """Journal rows and log lines of a bar's decisions wait until the boundary's orders are out (each
        costs 0.05-0.2 ms that an order would otherwise wait for); outside a boundary they run at once."""
        if self._deferred is None:
            fn(*args, **kwargs)
        else:
            self._deferred.append(partial(fn, *args, **kwargs))

    def _flush_deferred(self) -> None:
        deferred, self._deferred = self._deferred, None
        if deferred:
            with self.registry.store_transaction():
                for fn in deferred:
                    fn()

    def _new_bars(
        self, symbols: list[str], reads: list[tuple[str, asyncio.Task[list[Candle]]]]
    ) -> Iterator[tuple[str, list[Candle]]]:
        """Each symbol's bars completed since its last decision, taken one symbol at a time as the caller
        decides (the first bar's order leaves before the other symbols' bars are even taken). On streams:
        the bars the stream closed, taken without waiting; only a suspect bar (repaired by one REST candle
        read) or a stale stream's candles need REST. Those reads start here, go to `reads` and run while the
        taken bars are decided (a bar never waits for another symbol's read). Without a feed: polled over
        REST, all reads."""
        feed = self.feed
        if feed is None:
            reads.extend((sym, asyncio.ensure_future(self._polled_bars(sym))) for sym in symbols)
            return
        now = self.broker.now()
        for sym in symbols:
            closed = feed.take_bars(sym)
            if not closed:
                if self.monitor.is_stale(sym, now):
                    reads.append((sym, asyncio.ensure_future(self._rest_bars_while_stale(sym))))
                continue
            arrived = feed.take_bar_event_mono(sym)
            if arrived is not None:
                self._bar_arrival[sym] = arrived
                self._bar_taken[sym] = taken = _time.monotonic()
                feed.latency.record("queued", (taken - arrived) * 1000)
            if any(b.suspect for b in closed):
                self._bar_repaired.add(sym)
                reads.append((sym, asyncio.ensure_future(self._repaired_bars(sym, closed))))
            else:
                yield sym, self._ingest_candles(sym, [b.candle for b in closed], closed=True)

    async def _polled_bars(self, sym: str) -> list[Candle]:
        try:
            candles = await self._call(
                "get_candles",
                partial(self.broker.get_candles, sym, self.granularity_s, start=self.last_bar.get(sym), limit=350),
            )
        except BrokerageError as exc:
            log.warning("candles unavailable", symbol=sym, error=type(exc).__name__)
            return []
        return self._ingest_candles(sym, candles)

    async def _repaired_bars(self, sym: str, closed: list[ClosedBar]) -> list[Candle]:
        """A bar the stream may not have seen whole, replaced by the venue's candle (one REST read)."""
        bars = [b.candle for b in closed]
        last = closed[-1].candle
        end = last.start + timedelta(seconds=self.granularity_s)
        try:
            repaired = await self._call(
                "get_candles",
                partial(self.broker.get_candles, sym, self.granularity_s, start=self.last_bar.get(sym), end=end),
            )
            self.metrics.inc("stream.bars.repaired")
            bars = [c for c in repaired if c.start <= last.start] or bars
        except BrokerageError as exc:
            self.metrics.inc("stream.bars.repair_failed")
            log.warning("bar repair failed; using the stream's bar", symbol=sym, error=type(exc).__name__)
        return self._ingest_candles(sym, bars, closed=True)

    async def _rest_bars_while_stale(self, sym: str) -> list[Candle]:
        """A symbol whose stream is stale closes no bar: once per completed bar its candles are read over
        REST instead (counted), so decisions (exits included) go on; entries stay blocked while stale."""
        feed = self.feed
        assert feed is not None
        now = self.broker.now()
        if not self.monitor.is_stale(sym, now):
            return []
        g = self.granularity_s
        expected = datetime.fromtimestamp((int(now.timestamp()) // g - 1) * g, tz=UTC)  # last completed bar
        last = self.last_bar.get(sym)
        if (last is not None and last >= expected) or self._rest_bar_checked.get(sym) == expected:
            return []
        self._rest_bar_checked[sym] = expected
        self.metrics.inc("stream.rest_fallback.candles")
        log.info("bar over REST: the stream is stale", symbol=sym, bar=expected.isoformat())
        feed.builders[sym].mark_suspect()  # the stream's next bar may overlap what REST brought
        try:
            candles = await self._call(
                "get_candles", partial(self.broker.get_candles, sym, g, start=last, end=expected + timedelta(seconds=g))
            )
        except BrokerageError as exc:
            log.warning("candles unavailable", symbol=sym, error=type(exc).__name__)
            return []
        return self._ingest_candles(sym, candles)

    async def _apply_pushed_orders(self) -> None:
        """Order events from the user stream: status, fills (OrdersStore, ledger, risk) as they arrive."""
        feed = self.feed
        assert feed is not None
        for order in feed.take_orders():
            try:
                if not await self.execution.apply_pushed(order):
                    feed.unmatched(order)
            except BrokerageError as exc:  # the fills read failed: the order stays tracked, polled later
                feed.disrupt_user()
                log.warning("pushed order not applied; REST poll follows", error=type(exc).__name__)

    async def _fallback_snapshot(self, now: datetime) -> AccountSnapshot:
        equity = self.last_equity if self.last_equity is not None else ZERO
        return AccountSnapshot(
            now=now,
            equity=equity,
            cash=ZERO,
            positions={},
            quotes=dict(self.quotes),
            books=dict(self.books),
            open_orders=[],
            products=dict(self.products),
        )

    def _record_verdict(self, verdict: RuntimeVerdict) -> None:
        for ev in verdict.events:
            rec = GuardEventRecord(cycle=self.cycle, name=ev.name, action=ev.action, detail=ev.message)
            self.guard_events.append(rec)
            self.events.append("guard_event", msgspec.to_builtins(ev), ts=self.broker.now())

    async def _halt(self) -> None:
        if self._halt_handled:
            return
        self._halt_handled = True
        self.metrics.inc("bot.halts")
        log.error("trading halted by risk guard; cancelling open orders and stopping", reason=self.halt_reason)
        if not self.config.dry_run:
            await self.execution.cancel_all(keep=self.protection.protective_ids())
            # on streams a fill's push may still be in flight: settle every tracked order over REST so the
            # ledger the halt leaves behind (summary, metrics, next start) holds what the venue did; a halt
            # resends nothing
            await self.execution.poll(resend=False)
        self.request_stop()

    async def _protect(self, snapshot: AccountSnapshot) -> None:
        """Exactly one working protection per open position (placed after an entry fill, trailed, repaired)."""
        if self.config.dry_run:
            return
        marks = {sym: q.mark_price for sym, q in snapshot.quotes.items()}
        await self.protection.ensure(marks)

    def _atr(self, sym: str, period: int) -> Decimal | None:
        rows = self.history.get(sym, ())
        if len(rows) < period + 1:
            return None
        _, high, low, close, _ = (list(col) for col in zip(*rows, strict=True))
        return Decimal(repr(indicators.atr(high, low, close, period)))

    async def _decisions(
        self, taken: Iterable[tuple[str, list[Candle]]], snapshot: AccountSnapshot, decided: list[str]
    ) -> AsyncIterator[Decided]:
        """Each symbol's newest bar decided as it is taken (its symbol goes to `decided`). On an armed
        snapshot the symbol's quote is re-read from its stream first (the armed state may be a second old);
        a failed read leaves the last quote and blocks the symbol's entry (`_market_unread`)."""
        for sym, new_bars in taken:
            if not new_bars:
                continue
            if self._armed_cycle:
                if await self._stream_market(sym, book=False):
                    snapshot.quotes[sym] = self.quotes[sym]
                else:
                    self._market_unread.add(sym)
            decided.append(sym)
            yield self._decide(sym, new_bars[-1], snapshot)

    async def _commit_batches(
        self, decisions: AsyncIterator[Decided], holds: list[Decided]
    ) -> AsyncIterator[list[Decided]]:
        """How a round's trading decisions are committed before their orders leave (HOLDs go to `holds`):
        with `store_sync: full` all in one commit (one fsync for the round), with `normal` each on its own as
        soon as it is decided (a commit costs ~0.1 ms: the first order leaves before the next symbol is even
        decided)."""
        acting: list[Decided] = []
        async for d in decisions:
            if d.decision.action is Action.HOLD:
                holds.append(d)
            elif self.config.store_sync == "normal":
                yield [d]
            else:
                acting.append(d)
        if acting:
            yield acting

    def _decide(self, sym: str, bar: Candle, snapshot: AccountSnapshot) -> Decided:
        """The strategy's decision on `sym`'s newest bar (nothing journaled or sent yet)."""
        started = _time.perf_counter()
        position = snapshot.positions.get(sym)
        size = position.size if position else ZERO
        quote = self.quotes.get(sym)
        bid, ask = (float(quote.bid), float(quote.ask)) if quote is not None else (None, None)
        decision = self.strategy.decide(sym, BarWindow.from_rows(self.history[sym], bid=bid, ask=ask), size)
        counts = self.decisions.setdefault(sym, {})
        counts[decision.action.value] = counts.get(decision.action.value, 0) + 1
        return Decided(sym, bar, decision, size, bid, ask, _time.perf_counter() - started)

    def _journal_decision(self, d: Decided) -> None:
        """Every decision is journaled, HOLDs included, so `perps-bot replay` checks every bar."""
        regime = self._track_regime(d.symbol)
        self.events.append(
            "decision",
            {
                "action": d.decision.action.value,
                "reason": d.decision.reason,
                "confidence": d.decision.confidence,
                "bar": d.bar.start.isoformat(),
                "close": str(d.bar.close),
                "position": str(d.size),
                "bid": d.bid,
                "ask": d.ask,
                "regime": regime.value,
            },
            ts=self.broker.now(),
            symbol=d.symbol,
        )
        if d.decision.action is Action.HOLD:
            self.metrics.observe("decision.duration_seconds", d.seconds)

    async def _act(self, d: Decided, snapshot: AccountSnapshot, verdict: RuntimeVerdict, window_open: bool) -> None:
        """A decision that trades: journaled, then its close or entry risk-checked and its intent recorded."""
        started = _time.perf_counter()
        self._later(self._journal_decision, d)
        sym, decision, size = d.symbol, d.decision, d.size
        bar_key = d.bar.start.strftime("%Y%m%dT%H%M%S")
        self._later(log.info, "decision", symbol=sym, action=decision.action.value, reason=decision.reason)
        reducing = decision.action is Action.CLOSE or (
            (decision.action is Action.SELL and size > 0) or (decision.action is Action.BUY and size < 0)
        )
        book_read = sym not in self._market_unread
        if self._armed_cycle and book_read:  # the armed books may be a second old: the pre-trade check reads now
            book_read = await self._stream_market(sym, quote=False)
            if book_read:
                snapshot.books[sym] = self.books[sym]  # the armed snapshot's own dict (`_take_armed`)
        # an exit goes on the last book; an entry waits for a fresh one
        blocked = None if reducing else self._entry_block_reason(sym, snapshot, verdict, window_open)
        if not (reducing or blocked or book_read):
            blocked = "order book unavailable"
        if reducing:
            await self._close_position(sym, snapshot, reason=decision.reason, bar_key=bar_key)
        elif blocked:
            self.metrics.inc("entries.blocked")
            self._later(
                self.events.append,
                "entry_blocked",
                {"reason": blocked, "action": decision.action.value},
                ts=self.broker.now(),
                symbol=sym,
            )
            self._later(log.info, "entry blocked", symbol=sym, reason=blocked)
        else:
            await self._open_position(sym, decision, snapshot, verdict, bar_key)
        self.metrics.observe("decision.duration_seconds", d.seconds + _time.perf_counter() - started)

    def _track_tier(self, equity: Decimal) -> None:
        if self.tiers is None:
            return
        change = self.tiers.update(float(equity))
        self.metrics.set_gauge("tier.max_positions", float(self.tiers.tier.max_positions))
        if change is None:
            return
        self.tier_changes.append(change)
        log.info(
            "tier changed", tier=change.tier, previous=change.previous, equity=str(equity), at_start=not self._started
        )
        self.events.append("tier", msgspec.to_builtins(change), ts=self.broker.now())

    def _tier_block_reason(self, sym: str, snapshot: AccountSnapshot) -> str | None:
        if self.tiers is None:
            return None
        tier = self.tiers.tier
        if self.products[sym].is_perpetual and not tier.allow_perps:
            return f"tier {tier.name} does not allow perpetuals"
        held = sum(1 for p in snapshot.positions.values() if p.size != 0)
        if held >= tier.max_positions:
            return f"tier {tier.name} allows {tier.max_positions} concurrent positions, {held} held"
        return None

    def _track_regime(self, sym: str) -> Regime:
        regime, previous = self.regimes.update(sym)
        self.metrics.set_gauge(f"regime.{sym}", float(REGIME_CODES[regime]))
        if previous is not None:
            log.info("regime changed", symbol=sym, regime=regime.value, previous=previous.value)
            self.events.append(
                "regime", {"regime": regime.value, "previous": previous.value}, ts=self.broker.now(), symbol=sym
            )
        return regime

    def _entry_block_reason(
        self, sym: str, snapshot: AccountSnapshot, verdict: RuntimeVerdict, window_open: bool
    ) -> str | None:
        if not window_open:
            return f"outside trading window {self.session_guard.describe()}"
        state = self.risk.trading_state
        if state.mode is not TradingMode.ACTIVE:
            return f"trading {state.mode.value}: {state.reason}"
        if sym in verdict.blocked_symbols:
            return verdict.blocked_symbols[sym]
        if self.monitor.is_stale(sym, snapshot.now):
            age = self.monitor.age_s(sym, snapshot.now)
            return f"stale mark ({'none' if age is None else f'{age:.0f}s'} > {self.monitor.stale_after_s:.0f}s)"
        if self.execution.open_orders_for(sym):
            return "an order is already working on this symbol"
        return self._tier_block_reason(sym, snapshot)

    async def _open_position(
        self, sym: str, decision: Decision, snapshot: AccountSnapshot, verdict: RuntimeVerdict, bar_key: str
    ) -> None:
        product = self.products[sym]
        quote = snapshot.quotes.get(sym)
        if quote is None:
            return
        side = OrderSide.BUY if decision.action is Action.BUY else OrderSide.SELL
        if side is OrderSide.SELL and not product.is_perpetual:
            self._later(log.info, "spot cannot open a short; ignoring SELL entry", symbol=sym)
            return
        qty = self.sizer.size(
            symbol=sym,
            decision=decision,
            product=product,
            price=quote.mark_price,
            equity=snapshot.equity,
            volatility=self._volatility(sym),
            trade_history=self.positions.trade_history(),
        )
        if self.tiers is not None:  # the tier's budget sizes the entry (as in the portfolio backtest)
            from gpt_trader.features.brokerages.core.quantization import quantize_size

            budget = Decimal(repr(self.tiers.tier.budget(float(snapshot.equity))))
            qty = quantize_size(min(budget, snapshot.cash) / quote.mark_price, product)
        scale = verdict.entry_scale.get(sym)
        if scale is not None and scale < 1:
            from gpt_trader.features.brokerages.core.quantization import quantize_size

            qty = quantize_size(qty * scale, product)
        if qty <= 0:
            self._later(
                self.events.append, "sizing_zero", {"reason": decision.reason}, ts=self.broker.now(), symbol=sym
            )
            return
        leverage = min(product.max_leverage, self.config.risk.max_leverage) if product.is_perpetual else None
        if self.config.entry.type == "limit":
            request = entry_request(self.config.entry, sym, side, qty, quote, product)
            request = msgspec.structs.replace(request, leverage=leverage)
        else:
            request = OrderRequest(
                symbol=sym,
                side=side,
                order_type=OrderType.MARKET,
                size=qty,
                time_in_force=TimeInForce.IOC,
                leverage=leverage,
            )
        intent_id = f"{sym}:{bar_key}:{decision.action.value}"
        if not self.config.dry_run:  # the exits are persisted before the entry is sent (crash-safe)
            self.protection.plan_entry(sym, stable_intent_id(intent_id, self.registry.session_id), decision.exits)
        await self._submit(request, snapshot, intent_id=intent_id, reducing=False)

    async def _close_position(self, sym: str, snapshot: AccountSnapshot, *, reason: str, bar_key: str) -> None:
        position = snapshot.positions.get(sym)
        if position is None or position.size == 0:
            return
        side = OrderSide.SELL if position.size > 0 else OrderSide.BUY
        request = OrderRequest(
            symbol=sym,
            side=side,
            order_type=OrderType.MARKET,
            size=abs(position.size),
            time_in_force=TimeInForce.IOC,
            reduce_only=True,
        )
        self._later(log.info, "closing position", symbol=sym, size=str(position.size), reason=reason)
        protecting: frozenset[str] = frozenset()
        if not self.config.dry_run:
            protecting = frozenset(o.client_order_id for o in self.protection.working(sym))
            if not await self.protection.remove(sym):
                log.warning("protection cancel not confirmed; close waits for the next cycle", symbol=sym)
                return
        # the cancelled stop no longer counts as a working reduce in the pre-trade check (named, not filtered out
        # of a snapshot copy: the check's in-flight accounting of the cycle's other orders lives with this one)
        await self._submit(request, snapshot, intent_id=f"{sym}:{bar_key}:CLOSE", reducing=True, cancelled=protecting)

    async def _submit(
        self,
        request: OrderRequest,
        snapshot: AccountSnapshot,
        *,
        intent_id: str,
        reducing: bool,
        cancelled: frozenset[str] = frozenset(),
    ) -> None:
        request = msgspec.structs.replace(
            request,
            client_order_id=client_order_id_for(
                self.config.bot_id, stable_intent_id(intent_id, self.registry.session_id)
            ),
        )
        result = self.risk.check_order(request, snapshot, is_reducing=reducing, cancelled=cancelled)
        if not result.ok:
            self.metrics.inc("orders.risk_rejected")
            record = {
                "rule": result.rule,
                "reason": result.reason,
                "details": result.details,
                "symbol": request.symbol,
                "side": request.side.value,
                "size": str(request.size),
            }
            self.risk_rejections.append(record)
            self._later(self.events.append, "risk_rejected", record, ts=self.broker.now(), symbol=request.symbol)
            self._later(
                log.warning,
                "order refused by pre-trade check",
                symbol=request.symbol,
                rule=result.rule,
                reason=result.reason,
            )
            return
        self._later(
            self.events.append,
            "risk_passed",
            {"client_order_id": request.client_order_id},
            ts=self.broker.now(),
            symbol=request.symbol,
        )
        # the intent, durably written (its journal row waits with the boundary's others)
        prepared = self.execution.prepare(result.request, intent_id=intent_id, later=self._later)
        if isinstance(prepared, SubmitResult):
            return  # nothing to send (dry run, intent already recorded)
        if self._outbox is not None:
            self._outbox.append(prepared)  # sent with the others of this bar boundary
        else:
            await self._send_all([prepared])

    async def _send_all(self, requests: list[OrderRequest]) -> None:
        """Send orders now and apply their outcomes before returning (protective and flatten orders)."""
        flights = self._transmit_all(requests)
        await self._settle_all(flights)

    def _transmit_all(self, requests: list[OrderRequest], *, flush: bool = True) -> list[Flight]:
        """Hand orders to the venue together: each was risk-checked against the state including the ones
        before it (the pre-trade check counts in-flight cash and exposure) and its intent is already on disk,
        so their sends do not wait for each other's acknowledgements. Nothing is applied here: the
        transmits write nothing, `_settle_all` applies their outcomes. `flush`: `store_sync: normal` flushes the
        store to disk now; a bar boundary's orders leave it to `_finish_cycle`'s flush, in the first cycle
        clear of the boundary (an fsync under way makes a commit wait for it, 0.5-4 ms: a later bar's
        intent would)."""
        if not requests:
            return []
        db = self.registry.db
        if db is not None and db.in_transaction:  # exactly once: never send before the intent is on disk
            raise RuntimeError("orders sent inside an open store transaction: their intents are not committed yet")
        first = not self._sent_in_cycle
        self._sent_in_cycle += len(requests)
        flights = [
            Flight(request, asyncio.ensure_future(self._transmit_timed(request, first and i == 0)))
            for i, request in enumerate(requests)
        ]
        if flush:
            self._flush_store()
        return flights

    def _flush_store(self) -> None:
        if self.registry.wal_flusher is not None:  # `store_sync: normal`: what is committed reaches the disk
            self.registry.wal_flusher.request()

    async def _transmit_timed(self, request: OrderRequest, first: bool) -> Order | BrokerageError:
        """One transmit, timed from the stream event that closed its bar: `decision` when the venue adapter
        takes the order (this task runs), `ack` when the venue's reply is back. A bar the stream had not seen
        whole waited for its REST repair first: its order counts apart (`repaired`, `repaired_ack`)."""
        feed = self.feed
        arrived = self._bar_arrival.get(request.symbol)
        repaired = request.symbol in self._bar_repaired
        if feed is not None and arrived is not None:
            out = _time.monotonic()
            if repaired:
                feed.latency.record("repaired", (out - arrived) * 1000)
            else:
                feed.latency.record("decision", (out - arrived) * 1000)
                feed.latency.record("work", (out - self._bar_taken.get(request.symbol, arrived)) * 1000)
                if first:
                    feed.latency.record("decision_first", (out - arrived) * 1000)
        outcome = await self.execution.transmit(request)
        if feed is not None and arrived is not None and isinstance(outcome, Order):
            feed.latency.record("repaired_ack" if repaired else "ack", (_time.monotonic() - arrived) * 1000)
        return outcome

    async def _bars_during_flight(self, flights: list[Flight], until: float) -> list[str]:
        """Until this cycle's orders have their replies and the boundary's bars have all closed (at most until
        `until`, monotonic): the symbols whose bar closed meanwhile, to decide at once on the cycle's
        snapshot (its in-flight accounting counts every order of the cycle), or [] when done. Why: a bar
        closing during another symbol's acknowledgement, or while its fills are read, must not wait."""
        feed = self.feed
        while True:
            pending = [f.task for f in flights if not f.task.done()]
            if feed is None or self.stopping:
                if pending:
                    await asyncio.wait(pending)
                return []
            ready = feed.ready_while_in_flight({f.request.symbol for f in flights if not f.task.done()})
            if ready:
                self.metrics.inc("decision.rounds_in_flight")
                return [s for s in self.symbols if s in ready]
            left = until - _time.monotonic()
            closing = flights and feed.bars_closing(self.broker.now())
            if left <= 0 or not (pending or closing):
                if pending:
                    await asyncio.wait(pending)
                return []
            bar = feed.next_bar()
            try:
                waiting: list[asyncio.Future[Any]] = [*pending, bar]
                await asyncio.wait(waiting, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            finally:
                bar.cancel()

    async def _settle_all(self, flights: list[Flight]) -> None:
        """Apply every transmitted order's outcome, in the order they were decided, after all have replied;
        a bug in one transmit still surfaces, after the others are applied."""
        if not flights:
            return
        await asyncio.wait([f.task for f in flights])
        failure: BaseException | None = None
        for flight in flights:
            if flight.task.cancelled():
                failure = failure or asyncio.CancelledError()
                continue
            error = flight.task.exception()
            if error is not None:
                failure = failure or error
                continue
            await self.execution.settle(flight.request, flight.task.result())
        if failure is not None:
            raise failure

    def _volatility(self, sym: str) -> float | None:
        closes = [bar[3] for bar in self.history.get(sym, ())]
        if len(closes) < 3:
            return None
        rets = [(b / a) - 1.0 for a, b in itertools.pairwise(closes) if a]
        if len(rets) < 2:
            return None
        mean = sum(rets) / len(rets)
        var = sum((r - mean) ** 2 for r in rets) / (len(rets) - 1)
        return float(var**0.5)

    # ------------------------------------------------------------------ end of cycle
    async def _account_telemetry(self, now: datetime) -> None:
        """Every TELEMETRY_INTERVAL_S of venue time: balances, fee tier, limits and fees paid go to the
        event journal, the state store (latest) and the metrics."""
        telemetry = self.registry.telemetry
        if telemetry is None:
            return
        if self._last_telemetry is not None and (now - self._last_telemetry).total_seconds() < TELEMETRY_INTERVAL_S:
            return
        self._last_telemetry = now
        try:
            snap = await telemetry.snapshot()
        except BrokerageError as exc:
            self.metrics.inc("account.telemetry_failures")
            log.warning("account telemetry unavailable", error=type(exc).__name__)
            return
        data = snap.to_builtins()
        self.events.append("account_telemetry", data, ts=now)
        self.registry.state.put("account.telemetry.latest", data)
        self.metrics.inc("account.telemetry_snapshots")
        for key, metric in (("total_fees_30d", "account.fees_30d_usd"), ("total_volume_30d", "account.volume_30d_usd")):
            if data.get(key) is not None:
                self.metrics.set_gauge(metric, float(data[key]))
        tier = data.get("fee_tier") or {}
        for key in ("maker_fee_rate", "taker_fee_rate"):
            if tier.get(key) is not None:
                self.metrics.set_gauge(f"account.fee_tier.{key}", float(tier[key]))

    async def _finish_cycle(self, snapshot: AccountSnapshot | None, *, final: bool = False) -> None:
        """Telemetry and publishing; `final` (shutdown) publishes whatever the boundary is doing."""
        if not final and self._boundary_near() and not self.halted and not self.stopping:
            # A bar closed while this cycle ran, or bars are about to close: deciding on them goes first;
            # telemetry (account REST read, metrics.json, health file) waits for the first cycle clear of
            # the boundary (at most the boundary lead plus the bar-close grace later).
            self.metrics.inc("cycles.publish_deferred")
            return
        now = self.broker.now()
        await self._account_telemetry(now)
        self.metrics.set_gauge("orders.working", float(len(self.execution.tracked)))
        self.metrics.set_gauge("risk.reduce_only", 1.0 if self.risk.reduce_only else 0.0)
        if self.feed is not None:
            self.feed.latency.publish(self.metrics)  # sorts its samples: here, not before a bar's decision
        self._flush_store()  # this cycle's writes (a boundary's intents, fills, journal) reach the disk
        t0, self._cycle_t0 = self._cycle_t0, None
        # metrics.json, the health file, /metrics, /health and the alerts on state changes
        self.monitoring.publish(self, snapshot, None if t0 is None else _time.perf_counter() - t0)

    def _boundary_near(self) -> bool:
        """On streams: a closed bar waits, or a bar boundary is near or still closing. Optional REST work
        (telemetry, the periodic account confirmation, reconciliation) waits then, so that no bar's decision
        queues behind a request in flight."""
        feed = self.feed
        return feed is not None and (feed.bars_waiting() or feed.boundary_near(self.broker.now()))

    def health(self) -> dict[str, Any]:
        """The health document's facts; MonitorPublisher adds `status`, `reason` and `trading_state`."""
        now = self.broker.now()
        stale = self.monitor.stale_symbols(self.symbols, now) if self._started else list(self.symbols)
        return {
            "profile": self.config.profile,
            "venue": self.broker.name,
            "session_id": self.registry.session_id,
            "cycle": self.cycle,
            "venue_time": now.isoformat(),
            "written_at": datetime.now(UTC).isoformat(),
            "reduce_only": self.risk.reduce_only,
            "trading_mode": self.risk.trading_state.mode.value,
            "trading_reason": self.risk.trading_state.reason,
            "halt_reason": self.halt_reason,
            "stale_symbols": stale,
            "working_orders": len(self.execution.tracked),
            "pending_submits": self.execution.pending_count,
            "equity": None if self.last_equity is None else str(self.last_equity),
            "streams": None if self.feed is None else self.feed.health(),
        }

    # ------------------------------------------------------------------ the loop
    async def run(
        self,
        *,
        cycles: int | None = None,
        interval_s: float | None = None,
        market_step_s: float | None = None,
        freeze_gc: bool = False,
    ) -> None:
        """Run cycles until `cycles` are done or a stop is requested.

        On a simulated venue the bot advances the venue's clock by `market_step_s` per cycle (the
        market moves; wall time only paces the output); on a live venue it sleeps `interval_s`.
        `freeze_gc` (the bot's own process only): everything alive after start-up leaves the collector's
        view, so a full collection while trading scans only what trading allocates (shorter pauses).
        """
        interval = self.config.cycle_interval_s if interval_s is None else interval_s
        venue = self.broker
        simulated = isinstance(venue, SimulatedVenue)
        step = (
            market_step_s if market_step_s is not None else (self.config.mock.market_step_s if simulated else interval)
        )
        try:
            self.monitoring.open()
            if not self._started:
                try:
                    with startup_wait(self.broker, self.config.coinbase.startup_wait_s, self.metrics, self.monitoring):
                        await self.start()  # a 429/5xx/timeout burst is waited out (orchestration/startup_wait.py)
                except Exception as exc:
                    self.monitoring.refused(f"{type(exc).__name__}: {exc}")
                    raise
            if freeze_gc:
                gc.collect()
                gc.freeze()
            while not self.stopping and (cycles is None or self.cycle < cycles):
                started = _time.monotonic()
                await self.run_cycle()
                if self.stopping or (cycles is not None and self.cycle >= cycles):
                    break
                if self.feed is not None:
                    await self.feed.wait()  # a closed bar, an order event, or the guard tick
                    continue
                if isinstance(venue, SimulatedVenue):
                    await venue.advance_time(step)
                remaining = interval - (_time.monotonic() - started)
                if remaining > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), timeout=remaining)
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        if getattr(self, "_shut", False):
            return
        self._shut = True
        try:
            if self.config.shutdown.cancel_open_orders and not self.config.dry_run and self.execution.tracked:
                kept = self.protection.protective_ids()  # protection outlives the process
                n = await self.execution.cancel_all(keep=kept)
                log.info("cancelled open orders on shutdown", count=n, protection_kept=len(kept))
            await self.execution.poll()
        except BrokerageError as exc:
            log.warning("shutdown order handling failed", error=type(exc).__name__)
        self.events.append(
            "session_end",
            {"cycles": self.cycle, "halted": self.halted, "halt_reason": self.halt_reason},
            ts=self.broker.now(),
        )
        self.risk.flush()
        if self.feed is not None:
            self.feed.sync_health()  # the last stream counts reach the final metrics
        await self._finish_cycle(None, final=True)
        self.monitoring.close()
        if self.feed is not None:
            await self.feed.stop()
        if self.registry.wal_flusher is not None:
            await self.registry.wal_flusher.close()
        await self.broker.close()
        log.info("bot stopped", cycles=self.cycle, halted=self.halted)
