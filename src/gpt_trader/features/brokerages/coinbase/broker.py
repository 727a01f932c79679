"""`CoinbaseBroker`: the `Broker` protocol over Coinbase Advanced Trade REST v3 + WebSocket.

The bot runs on it unchanged. Market data comes from the WS book when fresh (REST otherwise); order
state from REST, with the user channel as a push stream. After a user-stream reconnect, balances and
open orders are re-fetched over REST and any fills missed while away are emitted once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

import msgspec

from gpt_trader.features.brokerages.coinbase import models as m
from gpt_trader.features.brokerages.coinbase.config import CoinbaseSettings
from gpt_trader.features.brokerages.coinbase.errors import error_for_reason
from gpt_trader.features.brokerages.coinbase.intx_access import NO, UNKNOWN, YES, IntxAccess
from gpt_trader.features.brokerages.coinbase.parsing import (
    build_create_body,
    cfm_to_position,
    dec,
    funding_rate,
    intx_to_position,
    is_perp_wire,
    to_balance,
    to_candle,
    to_fill,
    to_order,
    to_order_book,
    to_product,
    to_quote,
)
from gpt_trader.features.brokerages.coinbase.rate_limit import RateLimiter
from gpt_trader.features.brokerages.coinbase.rest import CANDLES_MAX, CoinbaseRestClient, tls_context
from gpt_trader.features.brokerages.coinbase.symbols import (
    DEFAULT_GATE_REASON,
    GATE_REASONS,
    SymbolMap,
    derivatives_allowed,
    is_perp_symbol,
)
from gpt_trader.features.brokerages.coinbase.trigger_store import TriggerStore
from gpt_trader.features.brokerages.coinbase.triggers import ClientTriggers
from gpt_trader.features.brokerages.coinbase.ws import MarketDataStream, UserStream
from gpt_trader.features.brokerages.core.interfaces import (
    ZERO,
    AuthError,
    Balance,
    BrokerageError,
    Candle,
    Fill,
    InvalidOrderError,
    MarketEvent,
    NotFoundError,
    Order,
    OrderBook,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    Product,
    ProductType,
    Quote,
    TransientError,
)
from gpt_trader.features.brokerages.core.quantization import (
    check_min_size,
    quantize_price,
    quantize_quote,
    quantize_size,
)
from gpt_trader.features.brokerages.core.startup_wait import StartupWait
from gpt_trader.features.brokerages.core.venue_clock import VenueClock

log = logging.getLogger(__name__)

GRANULARITIES: dict[int, str] = {
    60: "ONE_MINUTE",
    300: "FIVE_MINUTE",
    900: "FIFTEEN_MINUTE",
    1800: "THIRTY_MINUTE",
    3600: "ONE_HOUR",
    7200: "TWO_HOUR",
    14400: "FOUR_HOUR",
    21600: "SIX_HOUR",
    86400: "ONE_DAY",
}
_CANCEL_OK_REASONS = frozenset({"DUPLICATE_CANCEL_REQUEST"})
#: with no stream timestamp for this long (monotonic s), `sync_clock` reads the venue's /time over REST
CLOCK_RESYNC_S = 2.0


S = TypeVar("S", bound=msgspec.Struct)


class OrderPreview(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    order_total: Decimal
    commission_total: Decimal
    base_size: Decimal | None = None
    quote_size: Decimal | None = None
    best_bid: Decimal | None = None
    best_ask: Decimal | None = None
    warnings: tuple[str, ...] = ()


def _replace_symbol(obj: S, symbol: str) -> S:
    return msgspec.structs.replace(obj, symbol=symbol) if getattr(obj, "symbol", symbol) != symbol else obj


class CoinbaseBroker:
    """Live venue. Build with `CoinbaseBroker(CoinbaseSettings.from_bot_config(...))`; then `connect()`.

    Pass `trigger_store=` (or call `set_trigger_store` before connecting) to keep armed client-side
    stops/brackets across restarts; `connect()` re-arms them.
    """

    name = "coinbase"

    def __init__(
        self,
        settings: CoinbaseSettings,
        *,
        rest: CoinbaseRestClient | None = None,
        trigger_store: TriggerStore | None = None,
    ) -> None:
        self.settings = settings
        # One TLS context (and trust store, ~1 MB of parsed CAs) for REST and both WebSockets; left to
        # themselves httpx and each websockets connection would each load their own.
        self._ssl: ssl.SSLContext = tls_context(settings.ca_bundle)
        self.rest = rest or CoinbaseRestClient(
            settings.api_base_url,
            settings.signer,
            limiter=RateLimiter(settings.private_rps, settings.public_rps),
            timeout_s=settings.request_timeout_s,
            verify=self._ssl,
            presign_depth=settings.presign_depth,
        )
        self.counters: Counter[str] = Counter()
        self.products: dict[str, Product] = {}
        self.funding_rates: dict[str, Decimal] = {}
        self.symbols = SymbolMap((), perps_enabled=False)
        self.perps_enabled = False
        #: why perps are (not) tradable: enabled | no_intx_access | intx_unverified | disabled_by_config
        #: | public_only
        self.perps_gate = "not_connected"
        self.portfolio_uuid: str | None = None
        self.on_stale: Callable[[str, float], None] | None = None
        self.market_streams: list[MarketDataStream] = []
        self.user_stream: UserStream | None = None
        self.balances_cache: list[Balance] = []
        self.open_orders_cache: list[Order] = []
        self._client_ids: dict[str, str] = {}  # client_order_id -> order_id
        self._working: set[str] = set()  # order ids the user stream has seen working
        self._recent: deque[str] = deque(maxlen=500)  # ids this broker placed, newest last
        self._terminal_seen: set[str] = set()
        self.clock = VenueClock()
        self.triggers = ClientTriggers(self, store=trigger_store)
        self.intx = IntxAccess(self.rest, settings, self.counters)
        self._intx_lock = asyncio.Lock()
        self._connected = False
        #: without credentials only public market data works (a feed for PaperBroker)
        self.public_only = settings.signer is None

    def set_startup_wait(self, wait: StartupWait | None) -> None:
        """StartupWaiting: while set, REST calls wait a 429/5xx/timeout burst out within its budget."""
        self.rest.startup_wait = wait

    def set_trigger_store(self, store: TriggerStore | None) -> None:
        """Make client-side stops/brackets durable; `connect()` re-arms what the store holds."""
        if self._connected:
            raise BrokerageError("set_trigger_store() must be called before connect()", reason="ALREADY_CONNECTED")
        self.triggers.store = store

    # --------------------------------------------------------------------------------- lifecycle
    async def connect(self) -> None:
        if self._connected:
            return
        page = await self.rest.list_products(public=self.public_only)
        with contextlib.suppress(BrokerageError):
            await self._read_venue_time()
        intx = NO
        if self.public_only:
            log.info("coinbase: no credentials, public market data only (paper trading feed)")
        elif self.settings.enable_derivatives:
            intx = await self._detect_intx()
        else:
            with contextlib.suppress(BrokerageError):
                self.portfolio_uuid = (await self.rest.key_permissions()).portfolio_uuid or None
        if derivatives_allowed(self.settings.enable_derivatives, intx == YES):
            gate = "enabled"
        elif self.public_only:
            gate = "public_only"
        elif not self.settings.enable_derivatives:
            gate = "disabled_by_config"
        else:
            gate = "intx_unverified" if intx == UNKNOWN else "no_intx_access"
        self.perps_enabled = gate == "enabled"
        self._load_products(page)
        self._set_gate(gate)
        self._connected = True
        if not self.public_only:
            try:
                await self.triggers.restore()
            except BaseException:
                self._connected = False  # a retried connect() must re-arm again
                raise
        log.info(
            "coinbase connected",
            extra={
                "products": len(self.products),
                "perps": self.perps_enabled,
                "perps_gate": self.perps_gate,
                "auth": self.settings.signer.kind if self.settings.signer else "public",
            },
        )

    def _load_products(self, page: m.ProductsPage) -> None:
        for wp in page.products:
            if is_perp_wire(wp) and not self.perps_enabled:
                continue
            self.products[wp.product_id] = to_product(wp)
            rate = funding_rate(wp)
            if rate is not None:
                self.funding_rates[wp.product_id] = rate

    def _set_gate(self, gate: str) -> None:
        self.perps_gate = gate
        self.perps_enabled = gate == "enabled"
        self.counters[f"perps.gate.{gate}"] += 1
        self.symbols = SymbolMap(
            self.products,
            perps_enabled=self.perps_enabled,
            reason=GATE_REASONS.get(gate, DEFAULT_GATE_REASON),
            counters=self.counters,
        )

    def _no_access(self) -> None:
        self.counters["perps.intx_access_missing"] += 1
        log.warning(
            "COINBASE_ENABLE_DERIVATIVES=1 but INTX access was not detected (%s); perps trade as spot",
            self.intx.reason,
        )

    async def _detect_intx(self) -> str:
        outcome = await self.intx.detect()
        self.portfolio_uuid = self.intx.portfolio_uuid
        if outcome == NO:
            self._no_access()
        return outcome

    async def recheck_intx(self, *, force: bool = False) -> bool:
        """While INTX access is unverified (start-up probes kept failing transiently), probe again when
        due (or `force`d) and turn perps on or settle on spot. Returns whether perps are enabled.
        Called by perp orders, `list_positions` and the account manager's periodic snapshot."""
        if self.perps_gate != "intx_unverified" or not (force or self.intx.due()):
            return self.perps_enabled
        async with self._intx_lock:
            if self.perps_gate != "intx_unverified":
                return self.perps_enabled
            outcome = await self.intx.recheck(force=force)
            if outcome == UNKNOWN:
                return False
            self.portfolio_uuid = self.intx.portfolio_uuid or self.portfolio_uuid
            if outcome == NO:
                self._no_access()
                self._set_gate("no_intx_access")
                return False
            try:
                page = await self.rest.list_products(public=self.public_only)
            except BrokerageError as exc:
                self.intx.defer(f"catalogue: {exc.reason}")
                return False
            self.perps_enabled = True
            self._load_products(page)
            self._set_gate("enabled")
            self.counters["perps.enabled_late"] += 1
            log.warning(
                "INTX access verified on re-check; perps are enabled from now on (market streams opened "
                "before this for perp symbols still carry their spot product until reopened)"
            )
            return True

    async def _perp_order_gate(self, symbol: str) -> None:
        """Never trade a perp symbol as spot while access is merely unverified: re-check or refuse."""
        if self.perps_gate != "intx_unverified" or not is_perp_symbol(symbol):
            return
        if not await self.recheck_intx():
            self.counters["perps.orders_refused_unverified"] += 1
            raise TransientError(
                f"{symbol}: INTX (perpetuals) access is not verified yet ({self.intx.reason}); retry later",
                reason="INTX_UNVERIFIED",
            )

    async def close(self) -> None:
        await self.triggers.stop()
        for s in self.market_streams:
            await s.stop()
        self.market_streams = []
        if self.user_stream is not None:
            await self.user_stream.stop()
            self.user_stream = None
        await self.rest.aclose()
        self._connected = False

    def now(self) -> datetime:
        """The venue's clock: stream frame timestamps and `/time`, extrapolated at the venue's rate."""
        return self.clock.now()

    async def _read_venue_time(self) -> None:
        from gpt_trader.features.brokerages.coinbase.parsing import parse_time

        st = await self.rest.server_time()
        venue_now = parse_time(st.iso) if st.iso else None
        if venue_now is not None:
            self.clock.observe(venue_now)

    async def sync_clock(self) -> datetime:
        """Keep `now()` on the venue's time: streams stamp every frame (heartbeats each second); only when
        none has arrived for CLOCK_RESYNC_S is `/time` read over REST (counted)."""
        age = self.clock.age_s()
        if age is None or age > CLOCK_RESYNC_S:
            self.counters["clock.rest_syncs"] += 1
            try:
                await self._read_venue_time()
            except BrokerageError as exc:
                self.counters["clock.rest_sync_failures"] += 1
                log.warning("coinbase: venue time unavailable (%s); extrapolating", exc.reason)
        return self.clock.now()

    def stream_counters(self) -> dict[str, int]:
        """The adapter's counters plus its streams' (market.*, market.conn.*, user.*, user.conn.*)."""
        out: dict[str, int] = dict(self.counters)
        for s in self.market_streams:
            for prefix, counter in (("market.", s.counters), ("market.conn.", s.conn.counters)):
                for k, v in counter.items():
                    out[prefix + k] = out.get(prefix + k, 0) + v
        if self.user_stream is not None:
            for prefix, counter in (
                ("user.", self.user_stream.counters),
                ("user.conn.", self.user_stream.conn.counters),
            ):
                for k, v in counter.items():
                    out[prefix + k] = v
        out["clock.jumps"] = self.clock.jumps
        return out

    def shed_stats(self) -> dict[str, float]:
        """LoadShedding: the market streams' coalescing (coinbase/shedding.py), summed; `active` and
        `max_wait_s` are the maxima."""
        out: dict[str, float] = {}
        peaks: dict[str, float] = {"active": 0.0, "max_wait_s": 0.0}
        for s in self.market_streams:
            for key, value in s.events.stats().items():
                if key in peaks:
                    peaks[key] = max(peaks[key], value)
                else:
                    out[key] = out.get(key, 0.0) + value
        return {**out, **peaks}

    def market_stream_fresh(self, symbol: str) -> bool:
        venue = self._venue(symbol)
        stream = self._fresh_stream(venue)
        return stream is not None and stream.books[venue].synced

    def user_stream_live(self) -> bool:
        us = self.user_stream
        return us is not None and us.conn.connected.is_set() and us.snapshot_done.is_set()

    def _rest_fallback(self, what: str, venue: str) -> None:
        """A market read served over REST although streams run (down, stale or not yet synced)."""
        if self.market_streams:
            self.counters[f"rest_fallback.{what}"] += 1
            log.info("coinbase: %s for %s over REST (stream not fresh)", what, venue)

    def venue_stats(self) -> tuple[dict[str, float], dict[str, float]]:
        """(counters, gauges) for the bot's metrics: the adapter's and the REST client's counters, and
        the requests left in each rate-limit bucket (fed by the venue's x-ratelimit-* headers); with a CDP
        key, the order-creation tokens signed ahead (`coinbase.presign.*`: signed, used, retired, on_demand)
        and those ready now (`coinbase.presign.stock`)."""
        counters = {f"coinbase.{k}": float(v) for k, v in self.counters.items()}
        counters.update({f"coinbase.rest.{k}": float(v) for k, v in self.rest.counters.items()})
        limiter = self.rest.limiter
        gauges = {
            "coinbase.ratelimit.headroom.private": limiter.private.tokens,
            "coinbase.ratelimit.headroom.public": limiter.public.tokens,
        }
        presign = self.rest.presign_status()
        if presign is not None:
            stats, ready = presign
            counters.update({f"coinbase.presign.{k}": float(v) for k, v in stats.items()})
            gauges["coinbase.presign.stock"] = float(ready)
        return counters, gauges

    def _require(self) -> None:
        if not self._connected:
            raise BrokerageError("CoinbaseBroker.connect() has not been called", reason="NOT_CONNECTED")

    # ---------------------------------------------------------------------------------- products
    def _venue(self, symbol: str) -> str:
        return self.symbols.to_venue(symbol)

    def _caller(self, venue_symbol: str) -> str:
        return self.symbols.to_caller(venue_symbol)

    async def list_products(self) -> list[Product]:
        self._require()
        return list(self.products.values())

    async def get_product(self, symbol: str) -> Product:
        self._require()
        venue = self._venue(symbol)
        p = self.products.get(venue)
        if p is None:
            raise NotFoundError(f"unknown product {symbol!r} (venue id {venue!r})", reason="INVALID_PRODUCT_ID")
        return _replace_symbol(p, symbol) if self._caller(venue) == symbol else p

    async def get_funding_rate(self, symbol: str) -> Decimal | None:
        """Current funding rate of a perp (None for spot), re-read from the venue."""
        self._require()
        venue = self._venue(symbol)
        rate = funding_rate(await self.rest.get_product(venue, public=self.public_only))
        if rate is not None:
            self.funding_rates[venue] = rate
        return rate

    # ------------------------------------------------------------------------------- market data
    def _fresh_stream(self, venue: str) -> MarketDataStream | None:
        for s in self.market_streams:
            if venue in s.books and s.is_fresh(venue):
                return s
        return None

    async def get_quote(self, symbol: str) -> Quote:
        self._require()
        venue = self._venue(symbol)
        stream = self._fresh_stream(venue)
        if stream is not None:
            q = stream.quote(venue)
            if q is not None:
                return _replace_symbol(q, symbol)
        self._rest_fallback("quote", venue)
        resp = await self.rest.product_book(venue, 1, public=self.public_only)
        last = dec(resp.last)
        if last is None:
            trades = await self.rest.market_trades(venue, 1, public=self.public_only)
            last = dec(trades.trades[0].price) if trades.trades else None
        q = to_quote(resp.pricebook, last, venue, ts=self.now())
        return _replace_symbol(q, symbol)

    async def get_order_book(self, symbol: str, depth: int = 50) -> OrderBook:
        self._require()
        venue = self._venue(symbol)
        stream = self._fresh_stream(venue)
        if stream is not None:
            book = stream.book(venue, depth)
            if book is not None:
                return _replace_symbol(book, symbol)
        self._rest_fallback("book", venue)
        resp = await self.rest.product_book(venue, depth, public=self.public_only)
        return _replace_symbol(to_order_book(resp.pricebook, venue, depth), symbol)

    async def get_candles(
        self,
        symbol: str,
        granularity_s: int,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 350,
    ) -> list[Candle]:
        """Pages over the venue's 350-candle cap; returns ascending bars, at most `limit` (the latest)."""
        self._require()
        if granularity_s not in GRANULARITIES:
            allowed = ", ".join(str(g) for g in GRANULARITIES)
            raise ValueError(f"granularity_s={granularity_s} is not supported; allowed: {allowed}")
        venue = self._venue(symbol)
        g = timedelta(seconds=granularity_s)
        end = end or self.now()
        start = start or end - g * limit
        aligned = int(start.timestamp()) // granularity_s * granularity_s
        start = datetime.fromtimestamp(aligned, tz=UTC)
        out: dict[datetime, Candle] = {}
        cursor = start
        while cursor < end:
            window_end = min(end, cursor + g * CANDLES_MAX)
            resp = await self.rest.candles(
                venue, cursor, window_end, GRANULARITIES[granularity_s], CANDLES_MAX, public=self.public_only
            )
            for wc in resp.candles:
                c = to_candle(wc, symbol)
                if start <= c.start < end or c.start == start:
                    out[c.start] = c
            cursor = window_end
        bars = [out[k] for k in sorted(out)]
        return bars[-limit:] if limit else bars

    # -------------------------------------------------------------------------------------- orders
    def _prepare(self, request: OrderRequest, product: Product) -> OrderRequest:
        request.validate()
        if product.trading_disabled or product.cancel_only:
            raise InvalidOrderError(f"{product.symbol} is not accepting new orders", reason="ORDER_ENTRY_DISABLED")
        if product.limit_only and request.order_type is OrderType.MARKET:
            raise InvalidOrderError(f"{product.symbol} is limit-only", reason="UNSUPPORTED_ORDER_CONFIGURATION")
        changes: dict[str, object] = {"symbol": product.symbol}
        if request.size is not None:
            changes["size"] = quantize_size(request.size, product)
        if request.quote_size is not None:
            changes["quote_size"] = quantize_quote(request.quote_size, product)
        for name in ("limit_price", "stop_price", "stop_trigger_price"):
            value = getattr(request, name)
            if value is not None:
                changes[name] = quantize_price(value, product, request.side)
        if not request.client_order_id:
            changes["client_order_id"] = uuid.uuid4().hex
        prepared = msgspec.structs.replace(request, **changes)
        if prepared.size is not None:
            check_min_size(prepared.size, prepared.limit_price, product)
        return prepared

    async def place_order(self, request: OrderRequest) -> Order:
        self._require()
        await self._perp_order_gate(request.symbol)
        venue = self._venue(request.symbol)
        product = self.products.get(venue)
        if product is None:
            raise InvalidOrderError(f"unknown product {request.symbol!r}", reason="INVALID_PRODUCT_ID")
        req = self._prepare(request, product)
        if self.triggers.should_emulate(req, product):
            return self._out(await self.triggers.submit(req, product))
        try:
            return self._out(await self.submit_native(req))
        except InvalidOrderError as exc:
            stop_like = req.order_type in (OrderType.STOP_LIMIT, OrderType.BRACKET)
            if not (stop_like and exc.reason == "UNSUPPORTED_ORDER_CONFIGURATION"):
                raise
            if self.triggers.mode != "auto" or product.product_type is not ProductType.SPOT:
                raise
            log.warning("%s: venue has no native %s; emulating client-side", venue, req.order_type.value)
            self.triggers.unsupported.add(venue)
            return self._out(await self.triggers.submit(req, product))

    async def submit_native(self, req: OrderRequest) -> Order:
        """Send a prepared request (venue symbol, quantized). Used by `place_order` and client triggers."""
        body = build_create_body(req)
        resp = await self.rest.create_order(body)
        if not resp.success:
            er = resp.error_response or m.OrderError()
            code = er.error or er.new_order_failure_reason or er.preview_failure_reason or resp.failure_reason
            self.counters[f"orders.rejected.{code}"] += 1
            raise error_for_reason(code, er.message or er.error_details)
        order_id = resp.order_id or (resp.success_response.order_id if resp.success_response else "")
        if not order_id:
            raise BrokerageError("create order succeeded without an order_id", reason="MALFORMED")
        self._client_ids[req.client_order_id] = order_id
        self._recent.append(order_id)
        self.counters["orders.placed"] += 1
        if self.settings.confirm_orders:
            try:
                return to_order(await self.rest.get_order(order_id))
            except BrokerageError as exc:
                log.warning("order %s accepted but not re-read (%s); returning the ack", order_id, exc.reason)
        return self._ack_order(req, order_id)

    async def preview_order(self, request: OrderRequest) -> OrderPreview:
        """What the venue says the order would cost, without placing it. Refusals raise typed errors."""
        self._require()
        await self._perp_order_gate(request.symbol)
        venue = self._venue(request.symbol)
        product = self.products.get(venue)
        if product is None:
            raise InvalidOrderError(f"unknown product {request.symbol!r}", reason="INVALID_PRODUCT_ID")
        req = self._prepare(request, product)
        resp = await self.rest.preview_order(build_create_body(req))
        if resp.errs:
            raise error_for_reason(resp.errs[0], ", ".join(resp.errs))
        return OrderPreview(
            symbol=request.symbol,
            order_total=dec(resp.order_total) or ZERO,
            commission_total=dec(resp.commission_total) or ZERO,
            base_size=dec(resp.base_size),
            quote_size=dec(resp.quote_size),
            best_bid=dec(resp.best_bid),
            best_ask=dec(resp.best_ask),
            warnings=tuple(resp.warning),
        )

    async def close_position(self, symbol: str, *, client_order_id: str, size: Decimal | None = None) -> Order:
        """Flatten a perp position with the venue's close_position (idempotent by client_order_id)."""
        self._require()
        await self._perp_order_gate(symbol)
        venue = self._venue(symbol)
        product = self.products.get(venue)
        if product is None or not product.is_perpetual:
            raise InvalidOrderError(f"{symbol!r} is not a tradable perpetual here", reason="INVALID_PRODUCT_ID")
        qty = format(quantize_size(size, product), "f") if size is not None else None
        resp = await self.rest.close_position(client_order_id, venue, qty)
        if not resp.success:
            er = resp.error_response or m.OrderError()
            raise error_for_reason(er.error or er.new_order_failure_reason or resp.failure_reason, er.message)
        order_id = resp.order_id or (resp.success_response.order_id if resp.success_response else "")
        self._client_ids[client_order_id] = order_id
        self._recent.append(order_id)
        return self._out(to_order(await self.rest.get_order(order_id)))

    def _ack_order(self, req: OrderRequest, order_id: str) -> Order:
        now = self.now()
        return Order.from_request(req, order_id=order_id, status=OrderStatus.OPEN, at=now)

    def _out(self, order: Order) -> Order:
        caller = self._caller(order.symbol)
        if caller != order.symbol:
            order.symbol = caller
        return order

    async def cancel_orders(self, order_ids: Sequence[str]) -> dict[str, bool]:
        self._require()
        out: dict[str, bool] = {}
        native: list[str] = []
        for oid in order_ids:
            if self.triggers.owns(oid):
                out[oid] = await self.triggers.cancel(oid)
            else:
                native.append(oid)
        if native:
            resp = await self.rest.cancel_orders(native)
            for r in resp.results:
                ok = r.success or r.failure_reason in _CANCEL_OK_REASONS
                out[r.order_id] = ok
                if not ok:
                    self.counters[f"cancel.failed.{r.failure_reason}"] += 1
            for oid in native:
                out.setdefault(oid, False)
        return out

    async def edit_order(
        self,
        order_id: str,
        *,
        size: Decimal | None = None,
        price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> Order:
        self._require()
        if self.triggers.owns(order_id):  # a client-side stop: amended here, in place
            return self._out(await self.triggers.edit(order_id, stop_price=stop_price, price=price, size=size))
        if stop_price is not None:
            raise InvalidOrderError(
                "the venue edits only GTC limits' price and size; a stop price cannot be edited",
                reason="UNSUPPORTED_ORDER_CONFIGURATION",
            )
        if size is None and price is None:
            raise InvalidOrderError("edit_order needs size or price", reason="INVALID_REQUEST")
        current = await self.rest.get_order(order_id)
        product = self.products.get(current.product_id)
        order = to_order(current)
        if product is not None:
            size = quantize_size(size, product) if size is not None else None
            price = quantize_price(price, product, order.side) if price is not None else None
        resp = await self.rest.edit_order(
            order_id,
            size=format(size, "f") if size is not None else None,
            price=format(price, "f") if price is not None else None,
        )
        if not resp.success:
            reasons = [e.edit_failure_reason or e.preview_failure_reason for e in resp.errors]
            er = resp.error_response
            if er is not None:
                reasons.insert(0, er.edit_order_failure_reason or er.edit_failure_reason or er.preview_failure_reason)
            code = next((r for r in reasons if r), "UNKNOWN_EDIT_FAILURE")
            raise error_for_reason(code, er.error_details if er else "")
        return self._out(to_order(await self.rest.get_order(order_id)))

    async def get_order(self, order_id: str) -> Order:
        self._require()
        if self.triggers.owns(order_id):
            return self._out(await self.triggers.get(order_id))
        return self._out(to_order(await self.rest.get_order(order_id)))

    async def get_order_by_client_id(self, client_order_id: str) -> Order | None:
        """Resolve by our idempotency key: the local map first, then the venue's history (newest first)."""
        self._require()
        emulated = self.triggers.by_client_id(client_order_id)
        if emulated is not None:
            return self._out(await self.triggers.get(emulated))
        known = self._client_ids.get(client_order_id)
        if known:
            with contextlib.suppress(NotFoundError):
                return self._out(to_order(await self.rest.get_order(known)))
        cursor: str | None = None
        for _ in range(20):
            page = await self.rest.list_orders(limit=100, cursor=cursor)
            for w in page.orders:
                if w.client_order_id == client_order_id:
                    self._client_ids[client_order_id] = w.order_id
                    return self._out(to_order(w))
            if not page.has_next or not page.cursor:
                return None
            cursor = page.cursor
        return None

    async def list_orders(self, symbol: str | None = None, *, open_only: bool = True) -> list[Order]:
        self._require()
        products = [self._venue(symbol)] if symbol else []
        wires = await self.rest.all_orders(product_ids=products, order_status=["OPEN"] if open_only else [])
        orders = [self._out(to_order(w)) for w in wires]
        for w in wires:
            if w.client_order_id:
                self._client_ids[w.client_order_id] = w.order_id
        orders.extend(self._out(o) for o in await self.triggers.working(symbol and self._venue(symbol)))
        if open_only:
            self.open_orders_cache = list(orders) if symbol is None else self.open_orders_cache
        return orders

    async def list_fills(
        self, symbol: str | None = None, *, order_id: str | None = None, since: datetime | None = None
    ) -> list[Fill]:
        """Fills, oldest first. A client-side order (`cs-...`) has none of its own at the venue: its
        children's fills are its fills, reported under its ids (`ClientTriggers.as_parent_fills`), here
        and in an unfiltered listing alike, so the bot records them against the order it placed."""
        self._require()
        order_ids = [order_id] if order_id else []
        if order_id and self.triggers.owns(order_id):
            order_ids = self.triggers.child_order_ids(order_id)
            if not order_ids:
                return []  # not fired yet: nothing can have filled
        wires = await self.rest.all_fills(
            product_ids=[self._venue(symbol)] if symbol else [],
            order_ids=order_ids,
            start=since,
        )
        by_order = {v: k for k, v in self._client_ids.items()}
        fills = self.triggers.as_parent_fills(to_fill(w, by_order.get(w.order_id, "")) for w in wires)
        out = [_replace_symbol(f, self._caller(f.symbol)) for f in fills]
        return sorted(out, key=lambda f: f.ts)

    # ---------------------------------------------------------------------------- balances/positions
    async def list_balances(self) -> list[Balance]:
        self._require()
        balances = [to_balance(a) for a in await self.rest.all_accounts()]
        self.balances_cache = balances
        return balances

    async def list_positions(self) -> list[Position]:
        """Spot holdings (as long positions marked at mid) plus INTX perps when derivatives are on."""
        self._require()
        await self.recheck_intx()
        balances = await self.list_balances()
        positions: list[Position] = []
        spot_syms: dict[str, Decimal] = {}
        for b in balances:
            if b.total <= 0:
                continue
            for quote in ("USD", "USDC"):
                sym = f"{b.asset}-{quote}"
                if sym in self.products and self.products[sym].product_type is ProductType.SPOT:
                    spot_syms[sym] = b.total
                    break
        if spot_syms:
            marks: dict[str, Decimal] = {}
            with contextlib.suppress(BrokerageError):
                for pb in (await self.rest.best_bid_ask(list(spot_syms))).pricebooks:
                    if pb.bids and pb.asks:
                        marks[pb.product_id] = (pb.bids[0].price + pb.asks[0].price) / 2
            for sym, size in spot_syms.items():
                positions.append(Position(symbol=self._caller(sym), size=size, mark_price=marks.get(sym, ZERO)))
        if self.perps_enabled and self.portfolio_uuid:
            for p in (await self.rest.intx_positions(self.portfolio_uuid)).positions:
                pos = intx_to_position(p)
                if pos.size != 0:
                    pos.symbol = self._caller(pos.symbol)
                    positions.append(pos)
            with contextlib.suppress(BrokerageError):
                for cp in (await self.rest.cfm_positions()).positions:
                    pos = cfm_to_position(cp)
                    if pos.size != 0:
                        positions.append(pos)
        return positions

    # ------------------------------------------------------------------------------------ streams
    def set_staleness_callback(self, callback: Callable[[str, float], None]) -> None:
        """MarketMonitor hook: called (symbol, age_s) when a symbol's WS data goes stale."""
        self.on_stale = callback
        for s in self.market_streams:
            s.on_stale = self._stale_adapter

    def market_data_age_s(self, symbol: str) -> float | None:
        """Seconds since the WS last brought data for `symbol` (None: no stream covers it yet)."""
        venue = self._venue(symbol)
        ages = [a for s in self.market_streams if (a := s.age_s(venue)) is not None]
        return min(ages) if ages else None

    def _stale_adapter(self, venue_symbol: str, age_s: float) -> None:
        self.counters["market.stale"] += 1
        if self.on_stale is not None:
            self.on_stale(self._caller(venue_symbol), age_s)

    async def open_market_stream(self, symbols: Sequence[str], *, emit_events: bool = True) -> MarketDataStream:
        self._require()
        venues = [self._venue(s) for s in symbols]
        stream = MarketDataStream(
            self.settings.ws_url,
            venues,
            self.settings.signer,
            stale_after_s=self.settings.stale_after_s,
            on_stale=self._stale_adapter,
            emit_events=emit_events,
            ssl_context=self._ssl,
            on_time=self.clock.observe,
        )
        await stream.start()
        self.market_streams.append(stream)
        return stream

    async def stream_market_data(self, symbols: Sequence[str]) -> AsyncIterator[MarketEvent]:
        stream = await self.open_market_stream(symbols)
        try:
            while True:
                event = await stream.events.q.get()
                yield _replace_symbol(event, self._caller(event.symbol))
        finally:
            await stream.stop()
            if stream in self.market_streams:
                self.market_streams.remove(stream)

    async def open_user_stream(self) -> UserStream:
        self._require()
        if self.user_stream is None:
            signer = self.settings.signer
            if signer is None:
                raise AuthError("the user channel needs credentials (see COINBASE_AUTH_TYPE)", reason="NO_CREDENTIALS")
            self.user_stream = UserStream(
                self.settings.ws_user_url,
                signer,
                on_reconnect=self._after_reconnect,
                ssl_context=self._ssl,
                on_time=self.clock.observe,
            )
            await self.user_stream.start()
        return self.user_stream

    async def stream_user_events(self) -> AsyncIterator[OrderUpdate]:
        stream = await self.open_user_stream()
        while True:
            update: OrderUpdate = await stream.events.q.get()
            self._track(update)
            update = self.triggers.pushed(update) or update  # a client-side order's child: that order's event
            update.order = self._out(update.order)
            update.fills = tuple(_replace_symbol(f, self._caller(f.symbol)) for f in update.fills)
            yield update

    def _track(self, update: OrderUpdate) -> None:
        o = update.order
        if o.client_order_id:
            self._client_ids[o.client_order_id] = o.order_id
        if o.is_terminal:
            self._working.discard(o.order_id)
            self._terminal_seen.add(o.order_id)
        else:
            self._working.add(o.order_id)

    async def _after_reconnect(self) -> None:
        """The socket was down: whatever happened meanwhile is only on REST. Refresh, emit missed fills."""
        self.counters["user.reconnect_refreshes"] += 1
        stream = self.user_stream
        try:
            await self.list_balances()
            await self.list_orders(open_only=True)
            if stream is None:
                return
            candidates = dict.fromkeys([*self._working, *(o for o in self._recent if o not in self._terminal_seen)])
            for oid in candidates:
                w = await self.rest.get_order(oid)
                u = m.WsUserOrder(
                    order_id=w.order_id,
                    client_order_id=w.client_order_id,
                    product_id=w.product_id,
                    order_side=w.side,
                    order_type=w.order_type,
                    status=w.status,
                    time_in_force=w.time_in_force,
                    avg_price=w.average_filled_price,
                    cumulative_quantity=w.filled_size,
                    filled_value=w.filled_value,
                    total_fees=w.total_fees,
                )
                order = to_order(w)
                fill = stream.fills.derive(u, order, self.now(), snapshot=False)
                if fill is not None or (order.is_terminal and oid not in self._terminal_seen):
                    stream.counters["rest_recovered_updates"] += 1
                    stream.events.put(OrderUpdate(order=order, fills=(fill,) if fill else (), ts=self.now()))
        except BrokerageError as exc:
            log.warning("coinbase: REST refresh after reconnect failed (%s); the next poll retries", exc.reason)
