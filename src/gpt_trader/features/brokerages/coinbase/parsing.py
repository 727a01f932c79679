"""Coinbase wire structs <-> domain types. Pure functions: no I/O, so every rule here is unit-tested.

Order requests become `order_configuration` variants (COINBASE.md §1.3); venue orders, fills,
accounts, products, books and positions become `interfaces` types with Decimal money.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from gpt_trader.features.brokerages.coinbase import models as m
from gpt_trader.features.brokerages.core.interfaces import (
    PERP_QUOTE,
    ZERO,
    Balance,
    BookLevel,
    Candle,
    Fill,
    InvalidOrderError,
    Liquidity,
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
    StopDirection,
    TimeInForce,
    TransientError,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_FUNDING_INTERVAL_S = 3600  # [?] INTX funds hourly; used when the product does not say


class ParseError(TransientError, ValueError):
    """A wire message that cannot become a domain object (logged, counted and skipped by callers).

    A venue error (reason MALFORMED, like an undecodable REST reply): the trading loop, which handles
    BrokerageError, treats a reply with a NaN price or an out-of-range time as a failed call, never
    as a crash. Still a ValueError for callers that parse outside the venue path."""

    def __init__(self, message: str, *, reason: str | None = "MALFORMED") -> None:
        super().__init__(message, reason=reason)


# ------------------------------------------------------------------------------------------ scalars
def dec(value: object) -> Decimal | None:
    """String/number -> Decimal; "" and None -> None; garbage, NaN and Infinity -> ParseError."""
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        d = value
    else:
        try:
            d = Decimal(str(value).strip())
        except InvalidOperation:
            raise ParseError(f"not a decimal number: {value!r}") from None
    if not d.is_finite():
        raise ParseError(f"not a finite number: {value!r}")
    return d


def positive(value: object, what: str) -> Decimal:
    """A price: present, finite and > 0, else ParseError naming `what` (a bad price never reaches a decision)."""
    d = dec(value)
    if d is None or d <= 0:
        raise ParseError(f"{what} must be a positive number, got {value!r}")
    return d


def non_negative(value: object, what: str) -> Decimal:
    """A size or volume: present, finite and >= 0, else ParseError naming `what`."""
    d = dec(value)
    if d is None or d < 0:
        raise ParseError(f"{what} must be a number >= 0, got {value!r}")
    return d


def dec0(value: object) -> Decimal:
    d = dec(value)
    return ZERO if d is None else d


def parse_time(value: object) -> datetime | None:
    """RFC3339 (ns precision allowed), unix seconds, or Go's zero time -> aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
        try:
            return datetime.fromtimestamp(int(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ParseError(f"timestamp out of range: {value!r}") from None
    if not isinstance(value, str):
        raise ParseError(f"not a timestamp: {value!r}")
    s = value.strip()
    if s.startswith("0001-01-01"):
        return None
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    if "." in s:  # trim fractional seconds beyond microseconds
        head, _, rest = s.partition(".")
        frac = rest
        tz = ""
        for i, ch in enumerate(rest):
            if not ch.isdigit():
                frac, tz = rest[:i], rest[i:]
                break
        s = f"{head}.{frac[:6].ljust(6, '0')}{tz}"
    if " " in s and "T" not in s:
        s = s.replace(" ", "T", 1)
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise ParseError(f"not a timestamp: {value!r}") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _side(value: str) -> OrderSide:
    v = value.upper()
    if v in ("BUY", "BID"):
        return OrderSide.BUY
    if v in ("SELL", "ASK", "OFFER"):
        return OrderSide.SELL
    raise ParseError(f"unknown side {value!r}; expected BUY or SELL")


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _s(d: Decimal) -> str:
    """Decimal -> plain string (never exponent notation, which the venue rejects)."""
    return format(d, "f")


# ------------------------------------------------------------------------------------------ products
def _interval_s(value: str) -> int | None:
    v = value.strip().lower().removesuffix("s")
    try:
        return int(float(v)) if v else None
    except ValueError:
        return None


@lru_cache(maxsize=512)
def _spec(value: str) -> Decimal | None:
    """`dec` for a product's increments and size limits: a few distinct strings across Coinbase's ~800
    listed products, so one shared Decimal each (immutable) instead of ~5,600 copies (~0.6 MB measured)."""
    return dec(value)


def _spec0(value: str) -> Decimal:
    d = _spec(value)
    return ZERO if d is None else d


def is_perp_wire(p: m.WireProduct) -> bool:
    d = p.future_product_details
    if p.product_type.upper() == "PERPETUAL":
        return True
    if p.product_type.upper() != "FUTURE" or d is None:
        return False
    return d.perpetual_details is not None or d.contract_expiry_type.upper() == "PERPETUAL"


def to_product(p: m.WireProduct) -> Product:
    """A listed product. An INTX perp has `base_currency_id ""` and quote USDC on the venue: its base is
    the contract's root unit (ETH for ETH-PERP-INTX) and its quote USDC, never "PERP" from the id."""
    base, _, quote = p.product_id.partition("-")
    quote = quote.split("-")[0] if quote else quote
    perp = is_perp_wire(p)
    d = p.future_product_details or m.FutureProductDetails()
    if perp:
        base = d.contract_root_unit or base
        quote = PERP_QUOTE
    base_asset = p.base_currency_id or p.base_display_symbol or base
    quote_asset = p.quote_currency_id or p.quote_display_symbol or quote
    quote_inc = _spec(p.quote_increment) or Decimal("0.01")
    kwargs: dict[str, Any] = {}
    if perp:
        pd = d.perpetual_details or m.PerpetualDetails()
        kwargs = {
            "product_type": ProductType.PERPETUAL,
            "contract_size": dec(d.contract_size) or Decimal("1"),
            "max_leverage": dec(pd.max_leverage) or dec(d.max_leverage) or Decimal("1"),
            "funding_interval_s": _interval_s(pd.funding_interval or d.funding_interval) or DEFAULT_FUNDING_INTERVAL_S,
            "maintenance_margin_rate": dec0(d.maintenance_margin_rate),
        }
    status_ok = p.status.lower() in ("", "online")
    return Product(
        symbol=p.product_id,
        base_asset=base_asset,
        quote_asset=quote_asset,
        base_increment=_spec(p.base_increment) or Decimal("0.00000001"),
        quote_increment=quote_inc,
        price_increment=_spec(p.price_increment) or quote_inc,
        base_min_size=_spec0(p.base_min_size),
        base_max_size=_spec(p.base_max_size) or Decimal("1e12"),
        quote_min_size=_spec0(p.quote_min_size),
        quote_max_size=_spec(p.quote_max_size) or Decimal("1e12"),
        trading_disabled=p.trading_disabled or p.is_disabled or p.view_only or not status_ok,
        post_only=p.post_only,
        limit_only=p.limit_only,
        cancel_only=p.cancel_only,
        **kwargs,
    )


def funding_rate(p: m.WireProduct) -> Decimal | None:
    d = p.future_product_details
    if d is None:
        return None
    return dec(d.perpetual_details.funding_rate if d.perpetual_details else "") or dec(d.funding_rate)


# --------------------------------------------------------------------------------------- market data
def _check_levels(book: m.PriceBook) -> None:
    """Every level's price positive and finite, size finite and >= 0 (checked before any comparison:
    a NaN price would make sorting raise, an Infinity would become a best bid)."""
    for lvl in (*book.bids, *book.asks):
        positive(lvl.price, "book price")
        non_negative(lvl.size, "book size")


def to_order_book(book: m.PriceBook, symbol: str, depth: int | None = None) -> OrderBook:
    _check_levels(book)
    bids = sorted(book.bids, key=lambda lvl: lvl.price, reverse=True)[:depth]
    asks = sorted(book.asks, key=lambda lvl: lvl.price)[:depth]
    return OrderBook(
        symbol=book.product_id or symbol,
        bids=tuple(BookLevel(lvl.price, lvl.size) for lvl in bids),
        asks=tuple(BookLevel(lvl.price, lvl.size) for lvl in asks),
        ts=parse_time(book.time) or datetime.now(UTC),
    )


def to_quote(book: m.PriceBook, last: Decimal | None, symbol: str, ts: datetime | None = None) -> Quote:
    if not book.bids or not book.asks:
        raise ParseError(f"{symbol}: best bid/ask missing (bids={len(book.bids)}, asks={len(book.asks)})")
    _check_levels(book)
    bid = max(lvl.price for lvl in book.bids)
    ask = min(lvl.price for lvl in book.asks)
    return Quote(
        symbol=book.product_id or symbol,
        bid=bid,
        ask=ask,
        last=last if last is not None else (bid + ask) / 2,
        ts=ts or parse_time(book.time) or datetime.now(UTC),
    )


def to_candle(c: m.WireCandle, symbol: str = "") -> Candle:
    start = parse_time(c.start)
    if start is None:
        raise ParseError(f"candle without start: {c!r}")
    return Candle(
        start=start,
        open=positive(c.open, "candle open"),
        high=positive(c.high, "candle high"),
        low=positive(c.low, "candle low"),
        close=positive(c.close, "candle close"),
        volume=non_negative(c.volume or "0", "candle volume"),
        symbol=c.product_id or symbol,
    )


# ---------------------------------------------------------------------------------- order requests
_STOP_DIR = {
    StopDirection.STOP_UP: "STOP_DIRECTION_STOP_UP",
    StopDirection.STOP_DOWN: "STOP_DIRECTION_STOP_DOWN",
}


def build_order_configuration(req: OrderRequest) -> dict[str, dict[str, Any]]:
    """One `order_configuration` variant per (type, time in force); COINBASE.md §1.3."""
    t, tif = req.order_type, req.time_in_force
    size = _s(req.size) if req.size is not None else None
    if t is OrderType.MARKET:
        if req.quote_size is not None:
            if req.side is not OrderSide.BUY:
                raise InvalidOrderError("quote_size market orders must be BUY", reason="INVALID_SIZE")
            return {"market_market_ioc": {"quote_size": _s(req.quote_size)}}
        return {"market_market_ioc": {"base_size": size}}
    if size is None:
        raise InvalidOrderError(f"{t.value} orders need size (base units)", reason="INVALID_SIZE")
    assert req.limit_price is not None  # validate() guarantees it for non-market types
    limit = _s(req.limit_price)
    end = _iso(req.end_time) if req.end_time is not None else None
    if t is OrderType.LIMIT:
        if tif is TimeInForce.GTC:
            return {"limit_limit_gtc": {"base_size": size, "limit_price": limit, "post_only": req.post_only}}
        if tif is TimeInForce.GTD:
            body = {"base_size": size, "limit_price": limit, "end_time": end, "post_only": req.post_only}
            return {"limit_limit_gtd": body}
        if tif is TimeInForce.IOC:
            return {"sor_limit_ioc": {"base_size": size, "limit_price": limit}}
        return {"limit_limit_fok": {"base_size": size, "limit_price": limit}}
    if t is OrderType.STOP_LIMIT:
        assert req.stop_price is not None
        direction = req.stop_direction or (
            StopDirection.STOP_UP if req.side is OrderSide.BUY else StopDirection.STOP_DOWN
        )
        body = {
            "base_size": size,
            "limit_price": limit,
            "stop_price": _s(req.stop_price),
            "stop_direction": _STOP_DIR[direction],
        }
        if tif is TimeInForce.GTD:
            return {"stop_limit_stop_limit_gtd": {**body, "end_time": end}}
        if tif is not TimeInForce.GTC:
            raise InvalidOrderError(
                f"STOP_LIMIT supports GTC or GTD, got {tif.value}", reason="UNSUPPORTED_ORDER_CONFIGURATION"
            )
        return {"stop_limit_stop_limit_gtc": body}
    assert req.stop_trigger_price is not None
    body = {"base_size": size, "limit_price": limit, "stop_trigger_price": _s(req.stop_trigger_price)}
    if tif is TimeInForce.GTD:
        return {"trigger_bracket_gtd": {**body, "end_time": end}}
    if tif is not TimeInForce.GTC:
        raise InvalidOrderError(
            f"BRACKET supports GTC or GTD, got {tif.value}", reason="UNSUPPORTED_ORDER_CONFIGURATION"
        )
    return {"trigger_bracket_gtc": body}


def build_create_body(req: OrderRequest, *, portfolio_uuid: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_order_id": req.client_order_id,
        "product_id": req.symbol,
        "side": req.side.value,
        "order_configuration": build_order_configuration(req),
    }
    if req.leverage is not None:
        body["leverage"] = _s(req.leverage)
    if req.margin_type is not None:
        body["margin_type"] = req.margin_type.value
    if portfolio_uuid:
        body["retail_portfolio_id"] = portfolio_uuid
    return body


class ConfigFields:
    """What an `order_configuration` says, whichever variant it is."""

    __slots__ = (
        "end_time",
        "limit_price",
        "order_type",
        "post_only",
        "quote_size",
        "size",
        "stop_direction",
        "stop_price",
        "stop_trigger_price",
        "time_in_force",
    )

    def __init__(self) -> None:
        self.order_type = OrderType.MARKET
        self.time_in_force = TimeInForce.IOC
        self.size: Decimal | None = None
        self.quote_size: Decimal | None = None
        self.limit_price: Decimal | None = None
        self.stop_price: Decimal | None = None
        self.stop_direction: StopDirection | None = None
        self.stop_trigger_price: Decimal | None = None
        self.end_time: datetime | None = None
        self.post_only = False


_VARIANTS: dict[str, tuple[OrderType, TimeInForce]] = {
    "market_market_ioc": (OrderType.MARKET, TimeInForce.IOC),
    "market_market_fok": (OrderType.MARKET, TimeInForce.FOK),
    "sor_limit_ioc": (OrderType.LIMIT, TimeInForce.IOC),
    "limit_limit_gtc": (OrderType.LIMIT, TimeInForce.GTC),
    "limit_limit_gtd": (OrderType.LIMIT, TimeInForce.GTD),
    "limit_limit_fok": (OrderType.LIMIT, TimeInForce.FOK),
    "stop_limit_stop_limit_gtc": (OrderType.STOP_LIMIT, TimeInForce.GTC),
    "stop_limit_stop_limit_gtd": (OrderType.STOP_LIMIT, TimeInForce.GTD),
    "trigger_bracket_gtc": (OrderType.BRACKET, TimeInForce.GTC),
    "trigger_bracket_gtd": (OrderType.BRACKET, TimeInForce.GTD),
}


def parse_order_configuration(cfg: dict[str, dict[str, Any]]) -> ConfigFields:
    out = ConfigFields()
    for key, body in cfg.items():
        if key not in _VARIANTS or not isinstance(body, dict):
            continue
        out.order_type, out.time_in_force = _VARIANTS[key]
        out.size = dec(body.get("base_size"))
        out.quote_size = dec(body.get("quote_size"))
        out.limit_price = dec(body.get("limit_price"))
        out.stop_price = dec(body.get("stop_price"))
        out.stop_trigger_price = dec(body.get("stop_trigger_price"))
        out.end_time = parse_time(body.get("end_time"))
        post_only = body.get("post_only", False)
        out.post_only = post_only is True or str(post_only).lower() == "true"
        sd = str(body.get("stop_direction", ""))
        if sd:
            out.stop_direction = StopDirection.STOP_UP if sd.endswith("UP") else StopDirection.STOP_DOWN
        return out
    raise ParseError(f"unknown order_configuration variant(s): {sorted(cfg)}")


# ------------------------------------------------------------------------------------------- orders
def map_status(venue_status: str, filled: Decimal, *, reject_reason: str = "") -> OrderStatus:
    s = venue_status.upper()
    if s in ("OPEN", "PENDING", "QUEUED"):
        return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.OPEN
    if s == "FILLED":
        return OrderStatus.FILLED
    if s in ("CANCEL_QUEUED", "CANCELLING"):
        return OrderStatus.PENDING_CANCEL
    if s in ("CANCELLED", "CANCELED"):
        return OrderStatus.CANCELLED
    if s == "EXPIRED":
        return OrderStatus.EXPIRED
    if s == "FAILED":
        real_reject = reject_reason and reject_reason.upper() not in ("REJECT_REASON_UNSPECIFIED", "")
        return OrderStatus.REJECTED if real_reject else OrderStatus.FAILED
    if s in ("UNKNOWN_ORDER_STATUS", ""):
        return OrderStatus.PENDING_SUBMIT
    raise ParseError(f"unknown order status {venue_status!r}")


def filled_value(raw: str, avg_price: Decimal | None, filled: Decimal) -> Decimal:
    """The venue's `filled_value` as sent (exact, unrounded); avg price x filled size only when it is
    missing (a division's rounding then shows in the last digits)."""
    value = dec(raw)
    if value is not None:
        return value
    return avg_price * filled if avg_price and filled > 0 else ZERO


def to_order(w: m.WireOrder) -> Order:
    cfg = parse_order_configuration(w.order_configuration)
    filled = dec0(w.filled_size)  # base units even for quote-sized orders [?]
    size = cfg.size if cfg.size is not None else filled
    if w.edit_history:  # the latest accepted edit wins
        last = w.edit_history[-1]
        size = dec(last.size) or size
        cfg.limit_price = dec(last.price) or cfg.limit_price
    tif = {
        "GOOD_UNTIL_CANCELLED": TimeInForce.GTC,
        "GOOD_UNTIL_DATE_TIME": TimeInForce.GTD,
        "IMMEDIATE_OR_CANCEL": TimeInForce.IOC,
        "FILL_OR_KILL": TimeInForce.FOK,
    }.get(w.time_in_force.upper(), cfg.time_in_force)
    avg_price = dec(w.average_filled_price)
    created = parse_time(w.created_time)
    reject = w.reject_reason if w.reject_reason not in ("", "REJECT_REASON_UNSPECIFIED") else None
    return Order(
        order_id=w.order_id,
        client_order_id=w.client_order_id,
        symbol=w.product_id,
        side=_side(w.side),
        order_type=cfg.order_type,
        size=size,
        status=map_status(w.status, filled, reject_reason=w.reject_reason),
        time_in_force=tif,
        limit_price=cfg.limit_price,
        stop_price=cfg.stop_price,
        stop_direction=cfg.stop_direction,
        stop_trigger_price=cfg.stop_trigger_price,
        quote_size=cfg.quote_size,
        end_time=cfg.end_time,
        post_only=cfg.post_only,
        leverage=dec(w.leverage),
        filled_size=filled,
        avg_fill_price=avg_price if avg_price and filled > 0 else None,
        filled_value=filled_value(w.filled_value, avg_price, filled),
        fees=dec0(w.total_fees),
        created_at=created,
        updated_at=parse_time(w.last_fill_time) or created,
        reject_reason=reject or (w.reject_message or None),
        triggered=w.trigger_status.upper() == "STOP_TRIGGERED",
    )


def to_fill(f: m.WireFill, client_order_id: str = "") -> Fill:
    price = dec(f.price)
    size = dec(f.size)
    if price is None or size is None:
        raise ParseError(f"fill {f.trade_id!r} lacks price or size")
    if f.size_in_quote and price > 0:
        size = size / price
    ts = parse_time(f.trade_time) or parse_time(f.sequence_timestamp)
    if ts is None:
        raise ParseError(f"fill {f.trade_id!r} lacks trade_time")
    liq = Liquidity.MAKER if f.liquidity_indicator.upper() == "MAKER" else Liquidity.TAKER
    return Fill(
        trade_id=f.trade_id or f.entry_id,
        order_id=f.order_id,
        symbol=f.product_id,
        side=_side(f.side),
        price=price,
        size=size,
        fee=dec0(f.commission),
        liquidity=liq,
        ts=ts,
        client_order_id=client_order_id,
    )


# -------------------------------------------------------------------------------- balances/positions
def to_balance(a: m.Account) -> Balance:
    available = dec0(a.available_balance.value)
    hold = dec0(a.hold.value) if a.hold is not None else ZERO
    return Balance(
        asset=a.currency or a.available_balance.currency,
        total=available + hold,
        available=available,
        hold=hold,
    )


def intx_to_balances(resp: m.IntxBalancesResponse) -> list[Balance]:
    """INTX portfolio balances (USDC collateral on the venue): quantity = total, hold = held, the rest free."""
    out: list[Balance] = []
    for pb in resp.portfolio_balances:
        for b in pb.balances:
            asset = str(b.asset.get("asset_id") or b.asset.get("asset_name") or "")
            if not asset:
                raise ParseError(f"INTX balance without asset_id: {b.asset!r}")
            total = dec0(b.quantity)
            hold = dec0(b.hold)
            out.append(Balance(asset=asset, total=total, available=max(total - hold, ZERO), hold=hold))
    return out


def _margin(value: str) -> MarginType | None:
    v = value.upper()
    if "CROSS" in v:
        return MarginType.CROSS
    if "ISOLATED" in v:
        return MarginType.ISOLATED
    return None


def _money(x: m.Money | None) -> Decimal | None:
    return dec(x.value) if x is not None else None


def intx_to_position(p: m.IntxPosition) -> Position:
    size = dec0(p.net_size)
    if "SHORT" in p.position_side.upper() and size > 0:
        size = -size
    return Position(
        symbol=p.symbol or p.product_id,
        product_type=ProductType.PERPETUAL,
        size=size,
        entry_price=_money(p.entry_vwap) or _money(p.vwap) or ZERO,
        mark_price=_money(p.mark_price) or ZERO,
        unrealized_pnl=_money(p.unrealized_pnl) or ZERO,
        funding_paid=_money(p.funding_paid) or ZERO,  # cumulative, positive = paid by us
        liquidation_price=_money(p.liquidation_price) or None,  # "0" means none
        leverage=dec(p.leverage) or Decimal("1"),
        margin_type=_margin(p.margin_type),
    )


def cfm_to_position(p: m.CfmPosition, contract_size: Decimal = Decimal("1")) -> Position:
    n = dec0(p.number_of_contracts) * contract_size
    if "SHORT" in p.side.upper() and n > 0:
        n = -n
    return Position(
        symbol=p.product_id,
        product_type=ProductType.PERPETUAL,  # [?] dated futures share the margined-position shape
        size=n,
        entry_price=dec0(p.avg_entry_price),
        mark_price=dec0(p.current_price),
        unrealized_pnl=dec0(p.unrealized_pnl),
        realized_pnl=dec0(p.daily_realized_pnl),
    )


# -------------------------------------------------------------------------------- user-channel orders
def user_order_to_order(u: m.WsUserOrder) -> Order:
    """A `user` channel order. Size = filled + leaves (the channel does not carry the original size)."""
    filled = dec0(u.cumulative_quantity)
    leaves = dec0(u.leaves_quantity)
    ot = u.order_type.upper()
    order_type = {
        "LIMIT": OrderType.LIMIT,
        "MARKET": OrderType.MARKET,
        "STOP_LIMIT": OrderType.STOP_LIMIT,
    }.get(ot, OrderType.BRACKET if "BRACKET" in ot else OrderType.LIMIT)
    tif = {
        "GOOD_UNTIL_CANCELLED": TimeInForce.GTC,
        "GOOD_UNTIL_DATE_TIME": TimeInForce.GTD,
        "IMMEDIATE_OR_CANCEL": TimeInForce.IOC,
        "FILL_OR_KILL": TimeInForce.FOK,
    }.get(u.time_in_force.upper(), TimeInForce.GTC)
    avg = dec(u.avg_price)
    return Order(
        order_id=u.order_id,
        client_order_id=u.client_order_id,
        symbol=u.product_id,
        side=_side(u.order_side),
        order_type=order_type,
        size=filled + leaves,
        status=map_status(u.status, filled, reject_reason=u.reject_reason),
        time_in_force=tif,
        limit_price=dec(u.limit_price) or None,  # the channel sends "0" for "none"
        stop_price=dec(u.stop_price) or None,
        end_time=parse_time(u.end_time),
        post_only=u.post_only is True or str(u.post_only).lower() == "true",
        filled_size=filled,
        avg_fill_price=avg if avg and filled > 0 else None,
        filled_value=filled_value(u.filled_value, avg, filled),
        fees=dec0(u.total_fees),
        created_at=parse_time(u.creation_time),
        reject_reason=u.reject_reason or None,
        triggered=u.trigger_status.upper() == "STOP_TRIGGERED",
    )


def epoch_if_none(ts: datetime | None) -> datetime:
    return ts if ts is not None else EPOCH
