"""The venue contract: domain value types, the order lifecycle, the `Broker` protocol (its `MarketData`,
`Execution` and `Account` parts; `SimulatedVenue`, `VenueTimed`, `StalenessReporting`, `StreamingVenue`
for what only some venues do) and its errors.

Every venue (MockBroker, exchange simulator client, CoinbaseBroker, PaperBroker, backtest broker)
speaks these types, so strategy, sizing, risk and execution are written once. Money is `Decimal`.
Timestamps are timezone-aware UTC `datetime`s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from enum import Enum
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

import msgspec

from gpt_trader.errors import VenueError

ZERO = Decimal("0")

# ------------------------------------------------------------------------------- quote currencies
#: The quote currency of every INTX perpetual: its prices, notional, collateral, fees, realized PnL and
#: funding are USDC on the venue (a recorded ETH-PERP-INTX carries quote_currency_id "USDC").
PERP_QUOTE = "USDC"

#: USD value of one unit of each quote currency: THE one place where USDC is priced against USD.
#: Risk limits (written in USD), equity and the summary convert through `to_usd`; USDC counts 1:1
#: with USD unless a caller passes a known rate (e.g. from a convert quote) in `rates`.
USD_RATES: Mapping[str, Decimal] = MappingProxyType({"USD": Decimal("1"), "USDC": Decimal("1")})


def usd_rate(currency: str, rates: Mapping[str, Decimal] | None = None) -> Decimal:
    """USD per unit of `currency`; an unknown quote currency is an error, never a guessed 1:1."""
    table = USD_RATES if rates is None else rates
    rate = table.get(currency)
    if rate is None:
        raise ValueError(f"no USD rate for quote currency {currency!r}; known: {', '.join(sorted(table))}")
    return rate


def to_usd(amount: Decimal, currency: str, rates: Mapping[str, Decimal] | None = None) -> Decimal:
    """`amount` of `currency` in USD (exact: USD and USDC pass through unchanged at the 1:1 default)."""
    rate = usd_rate(currency, rates)
    return amount if rate == 1 else amount * rate


# --------------------------------------------------------------------------------------------- enums
class ProductType(str, Enum):
    SPOT = "SPOT"
    PERPETUAL = "PERPETUAL"


class OrderSide(str, Enum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is _BUY else -1

    @property
    def opposite(self) -> OrderSide:
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY


class OrderType(str, Enum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP_LIMIT = "STOP_LIMIT"
    BRACKET = "BRACKET"


class TimeInForce(str, Enum):
    GTC = "GTC"
    GTD = "GTD"
    IOC = "IOC"
    FOK = "FOK"


class StopDirection(str, Enum):
    """Which way the price must move to trigger a stop (Coinbase STOP_DIRECTION_STOP_UP/DOWN)."""

    STOP_UP = "STOP_UP"
    STOP_DOWN = "STOP_DOWN"


class Liquidity(str, Enum):
    MAKER = "MAKER"
    TAKER = "TAKER"


class MarginType(str, Enum):
    CROSS = "CROSS"
    ISOLATED = "ISOLATED"


class OrderStatus(str, Enum):
    """DESIGN §5 lifecycle."""

    PENDING_SUBMIT = "PENDING_SUBMIT"
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    PENDING_AMEND = "PENDING_AMEND"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def is_working(self) -> bool:
        """Resting at the venue (may still fill)."""
        return self in (
            OrderStatus.OPEN,
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.PENDING_CANCEL,
            OrderStatus.PENDING_AMEND,
        )


TERMINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REJECTED, OrderStatus.FAILED}
)

_S = OrderStatus
#: Legal lifecycle moves. A self-move is legal only where listed (another partial fill).
ALLOWED_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    _S.PENDING_SUBMIT: frozenset(
        {_S.OPEN, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELLED, _S.EXPIRED, _S.REJECTED, _S.FAILED}
    ),
    _S.OPEN: frozenset(
        {_S.PARTIALLY_FILLED, _S.FILLED, _S.PENDING_CANCEL, _S.PENDING_AMEND, _S.CANCELLED, _S.EXPIRED, _S.FAILED}
    ),
    _S.PARTIALLY_FILLED: frozenset(
        {_S.PARTIALLY_FILLED, _S.FILLED, _S.PENDING_CANCEL, _S.PENDING_AMEND, _S.CANCELLED, _S.EXPIRED, _S.FAILED}
    ),
    # A fill can race a cancel or an amend; a refused cancel/amend returns the order to working.
    _S.PENDING_CANCEL: frozenset({_S.OPEN, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELLED, _S.EXPIRED}),
    _S.PENDING_AMEND: frozenset({_S.OPEN, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELLED, _S.EXPIRED}),
    _S.FILLED: frozenset(),
    _S.CANCELLED: frozenset(),
    _S.EXPIRED: frozenset(),
    _S.REJECTED: frozenset(),
    _S.FAILED: frozenset(),
}


def can_transition(current: OrderStatus, new: OrderStatus) -> bool:
    return new in ALLOWED_TRANSITIONS[current]


# ---------------------------------------------------------------------------------------- errors
class BrokerageError(VenueError):
    """Base of every venue error. `retryable` tells the caller whether the same call may be repeated."""

    retryable: bool = False

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or type(self).__name__


class AuthError(BrokerageError):
    """Bad, expired or missing credentials (HTTP 401) or missing scopes (403)."""


class PermissionDeniedError(AuthError):
    """The key is valid but lacks a scope or product access (e.g. no INTX derivatives)."""


class RateLimitError(BrokerageError):
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, reason: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after


class InsufficientFundsError(BrokerageError):
    pass


class InvalidOrderError(BrokerageError):
    """The venue refused the order as specified (size/price precision, post-only cross, bad product...)."""


class NotFoundError(BrokerageError):
    pass


class TransientError(BrokerageError):
    """Network failure, 5xx, timeout before send: safe to retry reads and idempotent creates.
    `retry_after`: seconds the venue asked us to wait (a 503's Retry-After), when it said."""

    retryable = True

    def __init__(self, message: str, *, reason: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after


class AmbiguousOrderStateError(TransientError):
    """The request may or may not have reached the venue (timeout after send).

    The order stays PENDING_SUBMIT and is resolved by `client_order_id`, never resent with a new id.
    """

    retryable = False


# ----------------------------------------------------------------------------------- value types
class Product(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    base_asset: str
    quote_asset: str
    product_type: ProductType = ProductType.SPOT
    base_increment: Decimal
    quote_increment: Decimal
    price_increment: Decimal
    base_min_size: Decimal
    base_max_size: Decimal
    quote_min_size: Decimal = ZERO  # minimum notional
    quote_max_size: Decimal = Decimal("1e12")
    contract_size: Decimal = Decimal("1")
    max_leverage: Decimal = Decimal("1")
    funding_interval_s: int | None = None  # perps only
    maintenance_margin_rate: Decimal = ZERO  # perps only
    trading_disabled: bool = False
    post_only: bool = False
    limit_only: bool = False
    cancel_only: bool = False

    @property
    def is_perpetual(self) -> bool:
        return self.product_type is _PERPETUAL


class Quote(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    bid: Decimal
    ask: Decimal
    last: Decimal
    ts: datetime
    mark: Decimal | None = None  # perps mark price when the venue publishes one

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2

    @property
    def mark_price(self) -> Decimal:
        return self.mark if self.mark is not None else self.mid


class Candle(msgspec.Struct, frozen=True, kw_only=True):
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    symbol: str = ""


class BookLevel(msgspec.Struct, frozen=True, array_like=True):
    price: Decimal
    size: Decimal


class OrderBook(msgspec.Struct, frozen=True, kw_only=True):
    """L2 book: bids best (highest) first, asks best (lowest) first."""

    symbol: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    ts: datetime

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0].price if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        return (self.bids[0].price + self.asks[0].price) / 2

    @property
    def spread_bps(self) -> Decimal | None:
        mid = self.mid
        if mid is None or mid == 0:
            return None
        return (self.asks[0].price - self.bids[0].price) / mid * Decimal(10000)

    def depth(self, side: OrderSide, levels: int | None = None) -> Decimal:
        """Base size available to an order of `side` (a BUY consumes asks)."""
        book = self.asks if side is OrderSide.BUY else self.bids
        return sum((lvl.size for lvl in book[:levels]), ZERO)

    def average_fill_price(self, side: OrderSide, size: Decimal) -> Decimal | None:
        """Expected average price of a market order of `size` walking the book; None if too thin."""
        book = self.asks if side is OrderSide.BUY else self.bids
        remaining = size
        cost = ZERO
        for lvl in book:
            take = min(remaining, lvl.size)
            cost += take * lvl.price
            remaining -= take
            if remaining <= 0:
                return cost / size if size > 0 else lvl.price
        return None


class OrderRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What the bot asks a venue to do. `size` is in base units (contracts x contract_size for perps).

    Market BUYs may give `quote_size` instead of `size`. A bracket is an exit for an existing position,
    as Coinbase's trigger_bracket: it rests as a take-profit limit at `limit_price` and turns into a stop
    when the price crosses `stop_trigger_price` (one cancels the other).
    """

    symbol: str
    side: OrderSide
    order_type: OrderType
    size: Decimal | None = None
    quote_size: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    stop_direction: StopDirection | None = None
    stop_trigger_price: Decimal | None = None  # bracket stop leg
    time_in_force: TimeInForce = TimeInForce.GTC
    end_time: datetime | None = None  # GTD
    post_only: bool = False
    reduce_only: bool = False
    leverage: Decimal | None = None
    margin_type: MarginType | None = None
    client_order_id: str = ""

    def validate(self) -> None:
        """Shape checks every venue shares; raises InvalidOrderError naming the field."""
        # enum members read from module constants: a class attribute lookup on an Enum costs ~65 ns, and
        # the risk rails validate every order of every cycle
        order_type = self.order_type
        tif = self.time_in_force
        if self.size is None and self.quote_size is None:
            raise InvalidOrderError("order needs size or quote_size", reason="INVALID_SIZE")
        if self.size is not None and self.size <= 0:
            raise InvalidOrderError(f"size must be > 0, got {self.size}", reason="INVALID_SIZE")
        if self.quote_size is not None:
            if order_type is not _MARKET:
                raise InvalidOrderError("quote_size is only allowed on market orders", reason="INVALID_SIZE")
            if self.quote_size <= 0:
                raise InvalidOrderError(f"quote_size must be > 0, got {self.quote_size}", reason="INVALID_SIZE")
        if order_type in _NEEDS_LIMIT and (self.limit_price is None or self.limit_price <= 0):
            raise InvalidOrderError(f"{order_type.value} needs limit_price > 0", reason="INVALID_LIMIT_PRICE")
        if order_type is _STOP_LIMIT and (self.stop_price is None or self.stop_price <= 0):
            raise InvalidOrderError("STOP_LIMIT needs stop_price > 0", reason="INVALID_STOP_PRICE")
        if order_type is _BRACKET and (self.stop_trigger_price is None or self.stop_trigger_price <= 0):
            raise InvalidOrderError("BRACKET needs stop_trigger_price > 0", reason="INVALID_BRACKET_PRICES")
        if tif is _GTD and self.end_time is None:
            raise InvalidOrderError("GTD needs end_time", reason="INVALID_END_TIME")
        if self.post_only and (order_type is not _LIMIT or tif not in _RESTING_TIFS):
            raise InvalidOrderError("post_only needs a GTC/GTD limit order", reason="INVALID_POST_ONLY")
        if order_type is _MARKET and tif not in _MARKET_TIFS:
            raise InvalidOrderError("market orders are IOC", reason="UNSUPPORTED_ORDER_CONFIGURATION")


_PERPETUAL = ProductType.PERPETUAL
_BUY = OrderSide.BUY
_MARKET = OrderType.MARKET
_LIMIT = OrderType.LIMIT
_STOP_LIMIT = OrderType.STOP_LIMIT
_BRACKET = OrderType.BRACKET
_NEEDS_LIMIT = frozenset((OrderType.LIMIT, OrderType.STOP_LIMIT, OrderType.BRACKET))
_GTD = TimeInForce.GTD
_RESTING_TIFS = frozenset((TimeInForce.GTC, TimeInForce.GTD))
_MARKET_TIFS = frozenset((TimeInForce.IOC, TimeInForce.GTC))


class IllegalTransitionError(ValueError):
    """An order status move that DESIGN §5 does not allow. Logged and counted by callers."""


class Order(msgspec.Struct, kw_only=True):
    """A venue order and where it is in its lifecycle. Mutable: status moves only via `transition`."""

    order_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    size: Decimal
    status: OrderStatus = OrderStatus.PENDING_SUBMIT
    time_in_force: TimeInForce = TimeInForce.GTC
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    stop_direction: StopDirection | None = None
    stop_trigger_price: Decimal | None = None
    quote_size: Decimal | None = None
    end_time: datetime | None = None
    post_only: bool = False
    reduce_only: bool = False
    leverage: Decimal | None = None
    filled_size: Decimal = ZERO
    avg_fill_price: Decimal | None = None
    filled_value: Decimal = ZERO  # quote: exact sum of price x size over the fills, unrounded (the venue's figure)
    fees: Decimal = ZERO  # quote: exact sum of the fills' commissions, unrounded
    created_at: datetime | None = None
    updated_at: datetime | None = None
    reject_reason: str | None = None
    triggered: bool = False  # stop orders: trigger fired

    @classmethod
    def from_request(
        cls,
        request: OrderRequest,
        *,
        order_id: str,
        status: OrderStatus = OrderStatus.PENDING_SUBMIT,
        at: datetime | None = None,
        **overrides: Any,
    ) -> Order:
        """A venue's new order for `request`; `overrides` replace any field (e.g. a quantized size)."""
        fields: dict[str, Any] = {
            "order_id": order_id,
            "client_order_id": request.client_order_id,
            "symbol": request.symbol,
            "side": request.side,
            "order_type": request.order_type,
            "size": request.size if request.size is not None else ZERO,
            "status": status,
            "time_in_force": request.time_in_force,
            "limit_price": request.limit_price,
            "stop_price": request.stop_price,
            "stop_direction": request.stop_direction,
            "stop_trigger_price": request.stop_trigger_price,
            "quote_size": request.quote_size,
            "end_time": request.end_time,
            "post_only": request.post_only,
            "reduce_only": request.reduce_only,
            "leverage": request.leverage,
            "created_at": at,
            "updated_at": at,
        }
        fields.update(overrides)
        return cls(**fields)

    @property
    def remaining_size(self) -> Decimal:
        return max(self.size - self.filled_size, ZERO)

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    def transition(self, new: OrderStatus, *, at: datetime | None = None) -> None:
        if not can_transition(self.status, new):
            raise IllegalTransitionError(f"order {self.order_id}: {self.status.value} -> {new.value} is not allowed")
        self.status = new
        if at is not None:
            self.updated_at = at


class Fill(msgspec.Struct, frozen=True, kw_only=True):
    trade_id: str
    order_id: str
    symbol: str
    side: OrderSide
    price: Decimal
    size: Decimal
    fee: Decimal
    liquidity: Liquidity
    ts: datetime
    client_order_id: str = ""

    @property
    def notional(self) -> Decimal:
        return self.price * self.size


class Position(msgspec.Struct, kw_only=True):
    """Net position. `size` is signed: > 0 long, < 0 short (spot positions are never short)."""

    symbol: str
    product_type: ProductType = ProductType.SPOT
    size: Decimal = ZERO
    entry_price: Decimal = ZERO
    mark_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    unrealized_pnl: Decimal = ZERO
    funding_paid: Decimal = ZERO  # cumulative; positive = paid by us
    liquidation_price: Decimal | None = None
    leverage: Decimal = Decimal("1")
    margin_type: MarginType | None = None

    @property
    def side(self) -> OrderSide | None:
        if self.size > 0:
            return OrderSide.BUY
        if self.size < 0:
            return OrderSide.SELL
        return None

    @property
    def notional(self) -> Decimal:
        return abs(self.size) * self.mark_price


class Balance(msgspec.Struct, kw_only=True):
    asset: str
    total: Decimal
    available: Decimal
    hold: Decimal = ZERO


# ------------------------------------------------------------------------------------ stream events
class TradeTick(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    trade_id: str
    price: Decimal
    size: Decimal
    side: OrderSide  # maker side, as Coinbase reports
    ts: datetime


class BookUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """L2 change: `size` is the new absolute size at `price`; zero removes the level."""

    symbol: str
    side: OrderSide  # BUY = bid side, SELL = offer side
    price: Decimal
    size: Decimal
    ts: datetime
    is_snapshot: bool = False


MarketEvent = Quote | TradeTick | BookUpdate | Candle


class OrderUpdate(msgspec.Struct, kw_only=True):
    """A user-channel event: the order's new state and any fills it carries."""

    order: Order
    fills: tuple[Fill, ...] = ()
    ts: datetime | None = None


# ---------------------------------------------------------------------------------------- protocol
@runtime_checkable
class MarketData(Protocol):
    """A venue's market side (its data client): products, quotes, books, candles, the market stream, and
    its clock. Errors are `BrokerageError` subclasses."""

    name: str

    def now(self) -> datetime:
        """The venue's clock (simulated venues run their own; live ones follow the venue's timestamps)."""
        ...

    async def list_products(self) -> list[Product]: ...

    async def get_product(self, symbol: str) -> Product: ...

    async def get_quote(self, symbol: str) -> Quote: ...

    async def get_order_book(self, symbol: str, depth: int = 50) -> OrderBook: ...

    async def get_candles(
        self,
        symbol: str,
        granularity_s: int,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 350,
    ) -> list[Candle]: ...

    def stream_market_data(self, symbols: Sequence[str]) -> AsyncIterator[MarketEvent]: ...


@runtime_checkable
class Execution(Protocol):
    """A venue's order side (its execution client): send, amend, cancel, look up orders and fills, and the
    order-event stream."""

    async def place_order(self, request: OrderRequest) -> Order: ...

    async def cancel_orders(self, order_ids: Sequence[str]) -> dict[str, bool]: ...

    async def edit_order(
        self,
        order_id: str,
        *,
        size: Decimal | None = None,
        price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> Order:
        """Amend in place (same order id). `stop_price` moves a stop's trigger (a bracket's stop leg); the
        venue amends only GTC limits, so only client-side triggers accept it (else UNSUPPORTED_ORDER_CONFIGURATION)."""
        ...

    async def get_order(self, order_id: str) -> Order: ...

    async def get_order_by_client_id(self, client_order_id: str) -> Order | None: ...

    async def list_orders(self, symbol: str | None = None, *, open_only: bool = True) -> list[Order]: ...

    async def list_fills(
        self, symbol: str | None = None, *, order_id: str | None = None, since: datetime | None = None
    ) -> list[Fill]: ...

    def stream_user_events(self) -> AsyncIterator[OrderUpdate]: ...


@runtime_checkable
class Account(Protocol):
    """A venue's account side: balances and (perp) positions."""

    async def list_balances(self) -> list[Balance]: ...

    async def list_positions(self) -> list[Position]: ...


@runtime_checkable
class Broker(MarketData, Execution, Account, Protocol):
    """Every venue: its market data, execution and account parts, connected and closed as one. All calls
    are async; errors are `BrokerageError` subclasses."""

    name: str

    async def connect(self) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class SimulatedVenue(Protocol):
    """A venue with its own clock (MockBroker, backtest broker). The bot advances it instead of sleeping,
    so a session is deterministic: the same seed and cycle count give the same fills."""

    async def advance_time(self, seconds: float) -> None: ...


@runtime_checkable
class VenueTimed(Protocol):
    """A venue whose clock is read from the venue (stream timestamps, heartbeats, a time endpoint), not
    from the local wall clock: `now()` follows it. The bot calls `sync_clock` once a cycle; it reads the
    venue's time over REST only when no stream has brought a timestamp for a while (counted)."""

    async def sync_clock(self) -> datetime: ...


@runtime_checkable
class StalenessReporting(Protocol):
    """A venue whose market stream reports silence as it happens: `callback(symbol, age_s)` when a
    symbol's stream data goes stale (MarketMonitor then blocks new risk on it)."""

    def set_staleness_callback(self, callback: Callable[[str, float], None]) -> None: ...


@runtime_checkable
class LoadShedding(Protocol):
    """A streaming venue that sheds market-data load explicitly when its consumer lags: book and ticker
    updates coalesced to their latest state (never trades, never order events), counted."""

    def shed_stats(self) -> dict[str, float]:
        """coalesced.book / coalesced.quote / episodes (monotonic counts), active (0/1), pending events,
        max_wait_s (the longest an event waited for the consumer, wall seconds)."""
        ...


@runtime_checkable
class StreamingVenue(Protocol):
    """A venue the bot can run on streams: market data and order events pushed over WebSockets, REST
    only for snapshots, history, reconciliation and fallback. Its counters say how the streams fare."""

    def stream_counters(self) -> dict[str, int]:
        """Monotonic counts: frames, gaps, reconnects, stale, malformed, REST fallbacks..."""
        ...

    def user_stream_live(self) -> bool:
        """The order-event stream is connected and has delivered its snapshot (REST polls can rest)."""
        ...

    def market_stream_fresh(self, symbol: str) -> bool:
        """Quotes and books for `symbol` come from a fresh stream (False: a read would go to REST)."""
        ...
