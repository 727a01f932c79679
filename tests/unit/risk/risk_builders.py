"""Builders for risk tests: products, quotes, books and snapshots with exact, readable numbers."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from gpt_trader.features.brokerages.core.interfaces import (
    BookLevel,
    MarginType,
    Order,
    OrderBook,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    Product,
    ProductType,
    Quote,
    TimeInForce,
)
from gpt_trader.features.live_trade.risk.config import RiskConfig, SymbolLimit
from gpt_trader.features.live_trade.risk.manager import AccountSnapshot, RiskManager
from gpt_trader.features.monitor.metrics import MetricsRegistry
from gpt_trader.persistence.state_store import StateStore

D = Decimal
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def spot(
    symbol: str = "BTC-USD",
    *,
    base_inc: str = "0.00000001",
    min_size: str = "0.00000001",
    min_notional: str = "1",
) -> Product:
    base, quote = symbol.split("-")[:2]
    return Product(
        symbol=symbol,
        base_asset=base,
        quote_asset=quote,
        base_increment=D(base_inc),
        quote_increment=D("0.01"),
        price_increment=D("0.01"),
        base_min_size=D(min_size),
        base_max_size=D("10000"),
        quote_min_size=D(min_notional),
    )


def perp(symbol: str = "BTC-PERP-INTX", *, max_leverage: str = "20", mmr: str = "0.025") -> Product:
    return Product(
        symbol=symbol,
        base_asset=symbol.split("-")[0],
        quote_asset="USDC",
        product_type=ProductType.PERPETUAL,
        base_increment=D("0.0001"),
        quote_increment=D("0.01"),
        price_increment=D("0.1"),
        base_min_size=D("0.0001"),
        base_max_size=D("1000"),
        quote_min_size=D("10"),
        max_leverage=D(max_leverage),
        funding_interval_s=3600,
        maintenance_margin_rate=D(mmr),
    )


def quote(symbol: str, mid: Decimal | str, *, spread: Decimal | str = "0.02", ts: datetime = T0) -> Quote:
    m, s = D(mid), D(spread)
    return Quote(symbol=symbol, bid=m - s / 2, ask=m + s / 2, last=m, ts=ts)


def book(
    symbol: str,
    mid: Decimal | str,
    *,
    spread: Decimal | str = "0.02",
    step: Decimal | str = "1",
    sizes: Iterable[str] = ("1", "1", "1", "1", "1"),
    ts: datetime = T0,
) -> OrderBook:
    """Symmetric book: level i sits i*step away from the touch, with sizes[i] on each side."""
    m, s, st = D(mid), D(spread), D(step)
    bid0, ask0 = m - s / 2, m + s / 2
    sz = [D(x) for x in sizes]
    bids = tuple(BookLevel(bid0 - i * st, q) for i, q in enumerate(sz))
    asks = tuple(BookLevel(ask0 + i * st, q) for i, q in enumerate(sz))
    return OrderBook(symbol=symbol, bids=bids, asks=asks, ts=ts)


def position(
    symbol: str,
    size: Decimal | str,
    *,
    entry: Decimal | str,
    mark: Decimal | str | None = None,
    product_type: ProductType = ProductType.SPOT,
    leverage: str = "1",
    liquidation: Decimal | str | None = None,
    margin_type: MarginType | None = None,
) -> Position:
    return Position(
        symbol=symbol,
        product_type=product_type,
        size=D(size),
        entry_price=D(entry),
        mark_price=D(mark if mark is not None else entry),
        leverage=D(leverage),
        liquidation_price=D(liquidation) if liquidation is not None else None,
        margin_type=margin_type,
    )


def snapshot(
    *,
    now: datetime = T0,
    equity: str | Decimal = "100000",
    cash: str | Decimal | None = None,
    products: Iterable[Product] = (),
    mids: dict[str, str] | None = None,
    positions: Iterable[Position] = (),
    books: dict[str, OrderBook] | None = None,
    open_orders: Iterable[Order] = (),
    quote_ts: datetime | None = None,
    with_books: bool = True,
) -> AccountSnapshot:
    prods = {p.symbol: p for p in products}
    mids = mids or {}
    quotes = {s: quote(s, m, ts=quote_ts or now) for s, m in mids.items()}
    bks = dict(books or {})
    if with_books:
        for s, m in mids.items():
            bks.setdefault(s, book(s, m, ts=now))
    eq = D(equity)
    return AccountSnapshot(
        now=now,
        equity=eq,
        cash=D(cash) if cash is not None else eq,
        positions={p.symbol: p for p in positions},
        quotes=quotes,
        books=bks,
        open_orders=list(open_orders),
        products=prods,
    )


def fresh(snap: AccountSnapshot) -> AccountSnapshot:
    """The same account state as a new snapshot object (a new cycle: nothing accepted since)."""
    import msgspec

    return msgspec.structs.replace(snap)


def market(
    symbol: str, side: OrderSide, size: str | Decimal, *, reduce_only: bool = False, leverage: str | None = None
) -> OrderRequest:
    return OrderRequest(
        symbol=symbol,
        side=side,
        order_type=OrderType.MARKET,
        size=D(size),
        time_in_force=TimeInForce.IOC,
        reduce_only=reduce_only,
        leverage=D(leverage) if leverage is not None else None,
    )


def limit(symbol: str, side: OrderSide, size: str, price: str) -> OrderRequest:
    return OrderRequest(symbol=symbol, side=side, order_type=OrderType.LIMIT, size=D(size), limit_price=D(price))


def open_order(symbol: str, side: OrderSide, size: str, price: str, n: int = 0) -> Order:
    return Order(
        order_id=f"o{n}",
        client_order_id=f"c{n}",
        symbol=symbol,
        side=side,
        order_type=OrderType.LIMIT,
        size=D(size),
        status=OrderStatus.OPEN,
        limit_price=D(price),
    )


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def manager(
    config: RiskConfig | None = None,
    *,
    limits: dict[str, SymbolLimit] | None = None,
    store: StateStore | None = None,
    clock: Clock | None = None,
    metrics: MetricsRegistry | None = None,
) -> tuple[RiskManager, MetricsRegistry, Clock]:
    metrics = metrics or MetricsRegistry()
    clock = clock or Clock()
    rm = RiskManager(config or RiskConfig(), limits or {}, metrics, store, clock)
    return rm, metrics, clock
