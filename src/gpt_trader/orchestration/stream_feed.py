"""`StreamFeed`: what the bot awaits on a streaming venue (Coinbase, paper).

It consumes the venue's market stream (trades -> 1-bar builders and marks; books and tickers -> marks and
freshness) and its order-event stream (user channel), and wakes the bot's loop when a bar closes, an
order event arrives, or the guard tick is due (marks between bars reach the runtime guards within a
second). Stream trouble (sequence gaps, reconnects, stalls, malformed frames, dropped events) is read
from the venue's counters each cycle: it is counted into the bot's metrics, open bars become suspect
(repaired by one REST candle read), and order state is re-read over REST until the user stream is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import structlog

from gpt_trader.features.brokerages.core.interfaces import (
    Balance,
    BookUpdate,
    Broker,
    Candle,
    Order,
    OrderUpdate,
    Position,
    Quote,
    StreamingVenue,
    TradeTick,
)
from gpt_trader.features.monitor.metrics import MetricsRegistry
from gpt_trader.orchestration.bar_builder import BarBuilder, ClosedBar
from gpt_trader.orchestration.latency_log import LatencyLog
from gpt_trader.orchestration.market_monitor import MarketMonitor
from gpt_trader.orchestration.stream_shedding import ShedReport

log = structlog.get_logger("stream_feed")

#: adapter counters meaning "the market stream may have lost data" (open bars become suspect)
MARKET_DISRUPTIONS = (
    "market.conn.gaps",
    "market.conn.disconnects",
    "market.conn.idle_timeouts",
    "market.conn.malformed",
    "market.stale",
    "market.dropped_events",
)
#: ... and "the user stream may have lost an order event" (order state is re-read over REST)
USER_DISRUPTIONS = (
    "user.conn.gaps",
    "user.conn.disconnects",
    "user.conn.idle_timeouts",
    "user.conn.malformed",
    "user.malformed",
    "user.dropped_events",
)
DISRUPTIONS = MARKET_DISRUPTIONS + USER_DISRUPTIONS
#: seconds (wall) the venue clock must stay past a bar's end before the bar closes without a trade: the
#: venue batches trades (Coinbase: 250 ms), so a print stamped just before the end may still be in flight
CLOSE_GRACE_S = 0.3
TIME_CHECK_S = 0.1
#: venue seconds before a bar boundary in which the bot starts no optional REST work (telemetry, the periodic
#: account confirmation, reconciliation): a closing bar must not queue behind a request in flight
BOUNDARY_LEAD_S = 1.0
#: pushed order events the bot does not know yet (the ack is still in flight) are retried this long
UNMATCHED_TTL_S = 30.0
RESTART_DELAY_S = 1.0
#: event-loop turns the stream consumer yields after closing a bar, until the bot has taken it
BAR_YIELDS = 4
#: the user stream is trusted again only after this long (wall) live without new trouble (a socket that keeps
#: dropping must not re-arm an immediate REST read at every reconnect)
USER_TRUST_AFTER_S = 3.0


class StreamFeed:
    """The bot's event source on a `StreamingVenue`. Why: decisions, fills and guards follow the venue's
    pushes instead of a REST sleep-poll loop (the venue's REST budget is 30 requests/s per key)."""

    def __init__(
        self,
        broker: Broker,
        symbols: list[str],
        granularity_s: int,
        *,
        metrics: MetricsRegistry,
        monitor: MarketMonitor,
        tick_s: float = 1.0,
        account_refresh_s: float = 60.0,
        fallback_every_s: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(broker, StreamingVenue):
            raise TypeError(f"venue {broker.name!r} does not stream (StreamingVenue protocol)")
        self.broker = broker
        self.venue: StreamingVenue = broker
        self.symbols = list(symbols)
        self.metrics = metrics
        self.monitor = monitor
        self.tick_s = tick_s
        self.account_refresh_s = account_refresh_s
        self.fallback_every_s = fallback_every_s
        self._mono = monotonic
        self.builders = {s: BarBuilder(s, granularity_s) for s in self.symbols}
        self._closed: dict[str, list[ClosedBar]] = {s: [] for s in self.symbols}
        self._past_end_since: dict[str, float] = {}
        self._pushed: list[Order] = []
        self._unmatched: dict[str, tuple[Order, float]] = {}
        self.open_orders: dict[str, Order] = {}  # order_id -> working order, from pushes (seeded by REST)
        self.orders_seeded = False
        self.counts: Counter[str] = Counter()
        self._flushed: Counter[str] = Counter()
        self._venue_seen: dict[str, int] = {}
        self._disruptions_seen: dict[str, int] = {}
        #: the bot is deciding and sending a bar boundary's orders (set by the bot): a queued backlog of
        #: events, which would otherwise run through without yielding, goes one event per loop turn
        self.deciding = False
        self._seen_symbols: set[str] = set()
        self._wake = asyncio.Event()
        self._bar_event = asyncio.Event()  # set by every bar close (orders in flight wait on it or their replies)
        self.granularity_s = granularity_s
        self._tasks: list[asyncio.Task[None]] = []
        self.user_disrupted = True  # until the user stream has proven itself, order state comes from REST
        self.account_dirty = True
        self._account_read_at: datetime | None = None
        self._account_read_mono = float("-inf")
        self._polled_mono = float("-inf")
        self._unread_disruption = self._unpolled_disruption = True
        self._user_hit_mono = float("-inf")
        self.balances: list[Balance] = []
        self.positions: list[Position] = []
        #: monotonic instant an event arrived (latency measurement: event in -> order out)
        self.last_event_mono = 0.0
        self._bar_event_mono: dict[str, float] = {}  # symbol -> arrival of the event that closed its last bar
        self.latency = LatencyLog()
        self.shed = ShedReport(broker, metrics)  # load shedding in the adapter: stream.shed.* and health

    # ------------------------------------------------------------------ lifecycle
    async def start(self, *, warm_s: float = 5.0) -> None:
        """Open the streams; wait (up to `warm_s`) until every symbol has had market data."""
        self._tasks = [
            asyncio.create_task(self._consume("market", self._market_events), name="feed-market"),
            asyncio.create_task(self._consume("user", self._user_events), name="feed-user"),
            asyncio.create_task(self._time_checks(), name="feed-clock"),
        ]
        deadline = self._mono() + warm_s
        while self._seen_symbols < set(self.symbols) and self._mono() < deadline:
            await asyncio.sleep(0.02)
        missing = sorted(set(self.symbols) - self._seen_symbols)
        if missing:
            self.counts["warm_missing"] += len(missing)
            log.warning("market stream brought no data yet; REST serves them meanwhile", symbols=missing)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []

    async def _consume(self, name: str, source: Callable[[], AsyncIterator[object]]) -> None:
        """Run one stream forever: a failure is logged, counted and the stream reopened."""
        while True:
            try:
                async for item in source():
                    if self._on_item(item):
                        await self._let_the_bot_take_it()
                    elif self.deciding:  # one event per loop turn: the bot's next order goes before this backlog
                        await asyncio.sleep(0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.counts[f"{name}.consumer_restarts"] += 1
                log.warning("stream consumer failed; reopening", stream=name, error=type(exc).__name__)
                if name == "market":
                    for b in self.builders.values():
                        b.mark_suspect()
                else:
                    self.disrupt_user()
                await asyncio.sleep(RESTART_DELAY_S)

    async def _let_the_bot_take_it(self) -> None:
        """A bar closed: the bot decides on it before this consumer works through its backlog (a burst of
        frames already received would otherwise run first, never yielding). Its wake-up takes a hop or two
        through the event loop; a bot busy awaiting something else takes it later, so the wait is bounded."""
        for _ in range(BAR_YIELDS):
            if not self.bars_waiting():
                return
            await asyncio.sleep(0)

    def _market_events(self) -> AsyncIterator[object]:
        return self.broker.stream_market_data(self.symbols)

    def _user_events(self) -> AsyncIterator[object]:
        return self.broker.stream_user_events()

    # ------------------------------------------------------------------ events
    def _on_item(self, item: object) -> bool:
        """Apply one stream event; True when it closed a bar."""
        self.last_event_mono = self._mono()
        if isinstance(item, TradeTick):
            return self._on_trade(item)
        if isinstance(item, BookUpdate):
            self.counts["events.book"] += 1
            self._seen(item.symbol)
            if not item.is_snapshot:  # a re-snapshot after a stall is not market activity: stays stale
                self.monitor.touch(item.symbol, item.ts)
        elif isinstance(item, Quote):
            self.counts["events.quote"] += 1
            self._seen(item.symbol)
            self.monitor.update(item.symbol, item.mark_price, item.ts)
        elif isinstance(item, OrderUpdate):
            self._on_order(item)
        elif isinstance(item, Candle):
            self.counts["events.candle"] += 1
        else:
            self.counts["events.unknown"] += 1
        return False

    def _seen(self, symbol: str) -> None:
        self._seen_symbols.add(symbol)

    def _on_trade(self, tick: TradeTick) -> bool:
        self.counts["events.trade"] += 1
        builder = self.builders.get(tick.symbol)
        if builder is None:
            return False
        self._seen(tick.symbol)
        self.monitor.update(tick.symbol, tick.price, tick.ts)
        closed = builder.on_trade(tick.price, tick.size, tick.ts)
        if closed is None:
            return False
        self.counts["bars.closed_by_trade"] += 1
        self._add_closed(tick.symbol, closed, self.last_event_mono)
        return True

    def _add_closed(self, symbol: str, bar: ClosedBar, arrived: float) -> None:
        self._closed[symbol].append(bar)
        self._bar_event_mono[symbol] = arrived
        self._past_end_since.pop(symbol, None)
        self._wake.set()
        self._bar_event.set()

    def _on_order(self, update: OrderUpdate) -> None:
        self.counts["events.order"] += 1
        order = update.order
        if order.is_terminal:
            self.open_orders.pop(order.order_id, None)
        else:
            self.open_orders[order.order_id] = order
        if update.fills or order.is_terminal:
            self.account_dirty = True  # balances moved: the next snapshot re-reads them once
        self._pushed.append(order)
        self._wake.set()

    async def _time_checks(self) -> None:
        """Close bars on the venue clock (heartbeats keep it current) when no trade past the end comes."""
        while True:
            await asyncio.sleep(TIME_CHECK_S)
            self.check_time(self.broker.now())

    def check_time(self, now: datetime) -> None:
        mono = self._mono()
        for sym, builder in self.builders.items():
            if not builder.would_close(now):
                continue
            since = self._past_end_since.setdefault(sym, mono)
            if mono - since < CLOSE_GRACE_S:
                continue
            closed = builder.on_time(now)
            if closed is not None:
                self.counts["bars.closed_by_clock"] += 1
                self._add_closed(sym, closed, mono)

    # ------------------------------------------------------------------ what the bot takes
    async def wait(self, timeout: float | None = None) -> None:
        """Until a bar closes or an order event arrives, or the guard tick (`tick_s`) passes."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.tick_s if timeout is None else timeout):  # no extra task: one hop
                await self._wake.wait()
        self._wake.clear()

    def wake(self) -> None:
        self._wake.set()

    def bars_waiting(self) -> bool:
        """A closed bar not yet taken: the cycle about to run decides on it."""
        return any(self._closed.values())

    def symbols_with_bars(self) -> list[str]:
        """The symbols with a closed bar not yet taken."""
        return [s for s, bars in self._closed.items() if bars]

    def order_events_waiting(self) -> bool:
        """An order event the bot has not applied yet (new, or one it could not match so far)."""
        return bool(self._pushed or self._unmatched)

    def bars_closing(self, now: datetime) -> bool:
        """A bar boundary passed and a bar is still open, awaiting its closing trade (or the clock's grace)."""
        return any(b.would_close(now) for b in self.builders.values())

    def boundary_near(self, now: datetime, lead_s: float = BOUNDARY_LEAD_S) -> bool:
        """A bar boundary is within `lead_s` venue seconds, or passed with a bar still open awaiting its
        closing trade (or the clock's grace): optional REST work waits, so no bar queues behind it."""
        if self.bars_closing(now):
            return True
        g = self.granularity_s
        return g - (now.timestamp() % g) <= lead_s

    def ready_while_in_flight(self, busy: set[str]) -> list[str]:
        """Symbols with a closed bar that can be decided while orders of this cycle are in the air: none of
        their own orders in flight (`busy`) and no order event of theirs waiting to be applied (the snapshot
        the decision uses must not be behind a fill or cancel of that symbol the bot already heard of)."""
        pushed = {o.symbol for o in self._pushed} | {o.symbol for o, _ in self._unmatched.values()}
        return [s for s, bars in self._closed.items() if bars and s not in busy and s not in pushed]

    def next_bar(self) -> asyncio.Task[bool]:
        """A task that ends when the next bar closes. Armed here, synchronously: a bar that closed before is
        the caller's to have checked (`ready_while_in_flight`); one that closes after is never missed."""
        self._bar_event.clear()
        return asyncio.ensure_future(self._bar_event.wait())

    def take_bars(self, symbol: str) -> list[ClosedBar]:
        bars = self._closed.get(symbol)
        if not bars:
            return []
        self._closed[symbol] = []
        return bars

    def take_bar_event_mono(self, symbol: str) -> float | None:
        """When the event that closed `symbol`'s latest bar arrived (monotonic), once, for latency figures."""
        return self._bar_event_mono.pop(symbol, None)

    def take_orders(self) -> list[Order]:
        """Pushed order states to apply, oldest first, with earlier ones the bot did not know yet."""
        now = self._mono()
        retry = [o for o, at in self._unmatched.values() if now - at <= UNMATCHED_TTL_S]
        expired = len(self._unmatched) - len(retry)
        if expired:
            self.counts["orders.unmatched_expired"] += expired
        self._unmatched.clear()
        pushed, self._pushed = self._pushed, []
        return retry + pushed

    def unmatched(self, order: Order) -> None:
        """An order event for an order the bot does not know (yet): kept and offered again next cycle."""
        key = order.client_order_id or order.order_id
        held = self._unmatched.get(key)
        self._unmatched[key] = (order, held[1] if held else self._mono())

    # ------------------------------------------------------------------ account cache
    def disrupt_user(self) -> None:
        """The user stream may have lost order events: order state and balances come from REST (at once,
        then every `fallback_every_s`) until it is live again."""
        if not self.user_disrupted:  # the edge reads at once; further trouble meanwhile waits for the pace
            self._unread_disruption = self._unpolled_disruption = True
        self.user_disrupted = True
        self._user_hit_mono = self._mono()

    def account_due(self, now: datetime, *, defer_periodic: bool = False) -> bool:
        """Balances/positions are re-read over REST only when an order event moved them, `account_refresh_s`
        of venue time passed (the periodic confirmation), or, while the user stream is not trusted, at once
        and then every `fallback_every_s` (wall). `defer_periodic`: a closed bar is waiting, so the periodic
        confirmation (nothing moved the account) waits for the next cycle instead of delaying its orders."""
        if self.account_dirty or self._account_read_at is None:
            return True
        if self.user_disrupted:
            return self._unread_disruption or self._mono() - self._account_read_mono >= self.fallback_every_s
        return not defer_periodic and (now - self._account_read_at).total_seconds() >= self.account_refresh_s

    def account_read(self, balances: list[Balance], positions: list[Position], at: datetime) -> None:
        self.balances, self.positions = balances, positions
        self._account_read_at = at
        self._account_read_mono = self._mono()
        self.account_dirty = self._unread_disruption = False
        self.counts["account.rest_reads"] += 1

    def order_poll_due(self) -> bool:
        """While the user stream is not trusted, working orders are re-read over REST: at once, then every
        `fallback_every_s` (wall)."""
        if not self.user_disrupted:
            return False
        return self._unpolled_disruption or self._mono() - self._polled_mono >= self.fallback_every_s

    def order_polled(self) -> None:
        self._polled_mono = self._mono()
        self._unpolled_disruption = False
        self.counts["rest_fallback.order_poll"] += 1

    def seed_open_orders(self, orders: list[Order]) -> None:
        """The venue's open orders over REST (start-up, after a user-stream disruption); pushes keep it."""
        self.open_orders = {o.order_id: o for o in orders if not o.is_terminal}
        self.orders_seeded = True

    # ------------------------------------------------------------------ health
    def health(self) -> dict[str, Any]:
        """For health.json: where order state comes from and how the bars have been closing."""
        return {
            "order_state": "rest_fallback" if self.user_disrupted else "user_stream",
            "bars_closed_by_trade": self.counts["bars.closed_by_trade"],
            "bars_closed_by_clock": self.counts["bars.closed_by_clock"],
            "market_disruptions": self.counts["market.disruptions"],
            "user_disruptions": self.counts["user.disruptions"],
            "shed": self.shed.health(),
        }

    def sync_health(self) -> None:
        """Once a cycle: the disruption check (`check_disruptions`), then the counts to the metrics."""
        self.check_disruptions()
        self.publish_counts()

    def check_disruptions(self) -> None:
        """A new venue stream disruption makes open bars suspect (market) or order state REST-read (user).
        Before a closed bar is decided: this part only, the metrics wait until its orders are out."""
        venue = self.venue.stream_counters()
        seen = self._disruptions_seen
        market_hit = any(venue.get(k, 0) > seen.get(k, 0) for k in MARKET_DISRUPTIONS)
        user_hit = any(venue.get(k, 0) > seen.get(k, 0) for k in USER_DISRUPTIONS)
        for k in DISRUPTIONS:
            seen[k] = venue.get(k, 0)
        if market_hit:
            self.counts["market.disruptions"] += 1
            for b in self.builders.values():
                b.mark_suspect()
        if user_hit:
            self.counts["user.disruptions"] += 1
            self.disrupt_user()
        elif (
            self.user_disrupted
            and self.venue.user_stream_live()
            and self._mono() - self._user_hit_mono >= USER_TRUST_AFTER_S
        ):
            self.user_disrupted = False

    def publish_counts(self) -> None:
        """The venue's stream counters and the feed's own counts -> metrics (as deltas)."""
        venue = self.venue.stream_counters()
        for key, value in venue.items():
            delta = value - self._venue_seen.get(key, 0)
            if delta > 0:
                self.metrics.inc(f"stream.venue.{key}", delta)
        self._venue_seen = dict(venue)
        self.shed.publish()
        for key, value in self.counts.items():
            delta = value - self._flushed.get(key, 0)
            if delta > 0:
                self.metrics.inc(f"stream.{key}", delta)
        self._flushed = Counter(self.counts)
