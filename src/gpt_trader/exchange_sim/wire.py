"""Translation between Coinbase wire JSON and the domain types in `core.interfaces`.

Numbers go out as strings (COINBASE.md §1); the few JSON-number fields are produced by the callers.
Statuses map the DESIGN §5 lifecycle onto Coinbase's coarser set.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from gpt_trader.exchange_sim.schemas import (
    CreateOrderBody,
    OrderConfiguration,
    PreviewOrderBody,
    RequestError,
)
from gpt_trader.features.brokerages.core.interfaces import (
    ZERO,
    Fill,
    MarginType,
    Order,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Product,
    StopDirection,
    TimeInForce,
)

EPOCH_ZERO = "0001-01-01T00:00:00Z"
#: namespace for the stable uuid5 ids (users, portfolios, wallets, perp product ids)
NS = uuid.UUID("5b0e7a8e-8d3c-4b7a-9a43-3c1f5b2f0c11")
_encoder = msgspec.json.Encoder(decimal_format="string")


def dumps(body: Any) -> bytes:
    """JSON for reply bodies; Decimals that slip through are strings, as Coinbase sends amounts."""
    return _encoder.encode(body)


WIRE_STATUS: dict[OrderStatus, str] = {
    OrderStatus.PENDING_SUBMIT: "PENDING",
    OrderStatus.OPEN: "OPEN",
    OrderStatus.PARTIALLY_FILLED: "OPEN",
    OrderStatus.PENDING_AMEND: "OPEN",
    OrderStatus.PENDING_CANCEL: "CANCEL_QUEUED",
    OrderStatus.FILLED: "FILLED",
    OrderStatus.CANCELLED: "CANCELLED",
    OrderStatus.EXPIRED: "EXPIRED",
    OrderStatus.REJECTED: "FAILED",
    OrderStatus.FAILED: "FAILED",
}
#: Statuses a `order_status=` filter may name, and which domain statuses each one covers.
STATUS_FILTER: dict[str, frozenset[OrderStatus]] = {}
for _st, _w in WIRE_STATUS.items():
    STATUS_FILTER.setdefault(_w, frozenset())
    STATUS_FILTER[_w] = STATUS_FILTER[_w] | {_st}
STATUS_FILTER["QUEUED"] = frozenset({OrderStatus.PENDING_SUBMIT})

WIRE_TIF: dict[TimeInForce, str] = {
    TimeInForce.GTC: "GOOD_UNTIL_CANCELLED",
    TimeInForce.GTD: "GOOD_UNTIL_DATE_TIME",
    TimeInForce.IOC: "IMMEDIATE_OR_CANCEL",
    TimeInForce.FOK: "FILL_OR_KILL",
}
WIRE_ORDER_TYPE: dict[OrderType, str] = {
    OrderType.MARKET: "MARKET",
    OrderType.LIMIT: "LIMIT",
    OrderType.STOP_LIMIT: "STOP_LIMIT",
    OrderType.BRACKET: "BRACKET",
}
GRANULARITIES: dict[str, int] = {
    "ONE_MINUTE": 60,
    "FIVE_MINUTE": 300,
    "FIFTEEN_MINUTE": 900,
    "THIRTY_MINUTE": 1800,
    "ONE_HOUR": 3600,
    "TWO_HOUR": 7200,
    "FOUR_HOUR": 14400,
    "SIX_HOUR": 21600,
    "ONE_DAY": 86400,
}


class OrderReject(Exception):
    """A create/preview the exchange refuses with HTTP 200 and success:false."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


# ---------------------------------------------------------------------------------------- scalars
def d(value: Decimal | None) -> str:
    """Decimal -> Coinbase string: plain notation, no exponent, '' for missing."""
    if value is None:
        return ""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text if text not in ("-0", "") else "0"


def rfc3339(ts: dt.datetime | None) -> str:
    if ts is None:
        return EPOCH_ZERO
    ts = ts.astimezone(dt.UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond:06d}Z"


def rfc3339_ns(ts: dt.datetime) -> str:
    """WS envelope timestamp: RFC3339 with nanoseconds, as Coinbase sends."""
    ts = ts.astimezone(dt.UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond:06d}000Z"


def unix_s(ts: dt.datetime) -> str:
    return str(int(ts.timestamp()))


def parse_decimal(value: str | None, field: str, *, required: bool = True) -> Decimal | None:
    if value is None or value == "":
        if required:
            raise RequestError(f"{field} is required")
        return None
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise RequestError(f"{field} must be a decimal string, got {value!r}") from exc
    if not number.is_finite():
        raise RequestError(f"{field} must be finite, got {value!r}")
    return number


def parse_time(value: str, field: str) -> dt.datetime:
    """RFC3339 or UNIX seconds (both appear in Coinbase queries)."""
    text = value.strip()
    try:
        if text.lstrip("-").replace(".", "", 1).isdigit():
            return dt.datetime.fromtimestamp(float(text), dt.UTC)
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise RequestError(f"{field} must be RFC3339 or UNIX seconds, got {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


# ------------------------------------------------------------------------------------ order intake
_CONFIG_KEYS = tuple(OrderConfiguration.__struct_fields__)


def config_key(config: OrderConfiguration) -> str:
    present = [k for k in _CONFIG_KEYS if getattr(config, k) is not None]
    if len(present) != 1:
        raise OrderReject(
            "UNSUPPORTED_ORDER_CONFIGURATION",
            f"order_configuration needs exactly one of {', '.join(_CONFIG_KEYS)}; got {present or 'none'}",
        )
    return present[0]


def _side(value: str) -> OrderSide:
    try:
        return OrderSide(value.upper())
    except ValueError as exc:
        raise OrderReject("INVALID_SIDE", f"side must be BUY or SELL, got {value!r}") from exc


def _stop_direction(value: str | None) -> StopDirection | None:
    if value is None or value == "":
        return None
    mapping = {
        "STOP_DIRECTION_STOP_UP": StopDirection.STOP_UP,
        "STOP_DIRECTION_STOP_DOWN": StopDirection.STOP_DOWN,
    }
    if value not in mapping:
        raise RequestError(f"stop_direction must be one of {', '.join(mapping)}, got {value!r}")
    return mapping[value]


def _margin_type(value: str | None) -> MarginType | None:
    if value is None or value == "":
        return None
    key = value.upper().removeprefix("MARGIN_TYPE_")
    if key not in ("CROSS", "ISOLATED"):
        raise OrderReject("INVALID_MARGIN_TYPE", f"margin_type must be CROSS or ISOLATED, got {value!r}")
    return MarginType(key)


def order_request_from_wire(body: CreateOrderBody | PreviewOrderBody, client_order_id: str = "") -> OrderRequest:
    """Map one `order_configuration` variant onto an OrderRequest (COINBASE.md §1.3 table)."""
    side = _side(body.side)
    key = config_key(body.order_configuration)
    cfg: Any = getattr(body.order_configuration, key)
    prefix = f"order_configuration.{key}"
    leverage = parse_decimal(body.leverage, "leverage", required=False)
    margin = _margin_type(body.margin_type)
    common: dict[str, Any] = {
        "symbol": body.product_id,
        "side": side,
        "client_order_id": client_order_id,
        "leverage": leverage,
        "margin_type": margin,
        "reduce_only": bool(getattr(cfg, "reduce_only", None)),
    }
    end_time = None
    if getattr(cfg, "end_time", None) is not None:
        end_time = parse_time(cfg.end_time, f"{prefix}.end_time")
    if key == "market_market_ioc":
        base = parse_decimal(cfg.base_size, f"{prefix}.base_size", required=False)
        quote = parse_decimal(cfg.quote_size, f"{prefix}.quote_size", required=False)
        if (base is None) == (quote is None):
            raise RequestError(f"{prefix} needs exactly one of base_size or quote_size")
        return OrderRequest(
            order_type=OrderType.MARKET, time_in_force=TimeInForce.IOC, size=base, quote_size=quote, **common
        )
    if cfg.base_size is None and getattr(cfg, "quote_size", None) is not None:
        raise OrderReject("UNSUPPORTED_ORDER_CONFIGURATION", f"{prefix}: quote_size is not supported, use base_size")
    size = parse_decimal(cfg.base_size, f"{prefix}.base_size")
    limit = parse_decimal(cfg.limit_price, f"{prefix}.limit_price")
    if key in ("sor_limit_ioc", "limit_limit_fok", "limit_limit_gtc", "limit_limit_gtd"):
        tif = {
            "sor_limit_ioc": TimeInForce.IOC,
            "limit_limit_fok": TimeInForce.FOK,
            "limit_limit_gtc": TimeInForce.GTC,
            "limit_limit_gtd": TimeInForce.GTD,
        }[key]
        if key == "limit_limit_gtd" and end_time is None:
            raise RequestError(f"{prefix}.end_time is required")
        return OrderRequest(
            order_type=OrderType.LIMIT,
            time_in_force=tif,
            size=size,
            limit_price=limit,
            post_only=bool(getattr(cfg, "post_only", False)),
            end_time=end_time,
            **common,
        )
    if key.startswith("stop_limit"):
        gtd = key.endswith("gtd")
        if gtd and end_time is None:
            raise RequestError(f"{prefix}.end_time is required")
        return OrderRequest(
            order_type=OrderType.STOP_LIMIT,
            time_in_force=TimeInForce.GTD if gtd else TimeInForce.GTC,
            size=size,
            limit_price=limit,
            stop_price=parse_decimal(cfg.stop_price, f"{prefix}.stop_price"),
            stop_direction=_stop_direction(cfg.stop_direction),
            end_time=end_time,
            **common,
        )
    gtd = key.endswith("gtd")
    if gtd and end_time is None:
        raise RequestError(f"{prefix}.end_time is required")
    return OrderRequest(
        order_type=OrderType.BRACKET,
        time_in_force=TimeInForce.GTD if gtd else TimeInForce.GTC,
        size=size,
        limit_price=limit,
        stop_trigger_price=parse_decimal(cfg.stop_trigger_price, f"{prefix}.stop_trigger_price"),
        end_time=end_time,
        **common,
    )


# ---------------------------------------------------------------------------------- order output
def order_configuration(order: Order) -> dict[str, Any]:
    """Rebuild the wire `order_configuration` an order was placed (or edited) with."""
    size = d(order.size)
    end = rfc3339(order.end_time) if order.end_time else None
    if order.order_type is OrderType.MARKET:
        if order.quote_size is not None:
            return {"market_market_ioc": {"quote_size": d(order.quote_size)}}
        return {"market_market_ioc": {"base_size": size}}
    if order.order_type is OrderType.LIMIT:
        price = d(order.limit_price)
        if order.time_in_force is TimeInForce.IOC:
            return {"sor_limit_ioc": {"base_size": size, "limit_price": price}}
        if order.time_in_force is TimeInForce.FOK:
            return {"limit_limit_fok": {"base_size": size, "limit_price": price}}
        if order.time_in_force is TimeInForce.GTD:
            return {
                "limit_limit_gtd": {
                    "base_size": size,
                    "limit_price": price,
                    "end_time": end,
                    "post_only": order.post_only,
                }
            }
        return {"limit_limit_gtc": {"base_size": size, "limit_price": price, "post_only": order.post_only}}
    if order.order_type is OrderType.STOP_LIMIT:
        direction = f"STOP_DIRECTION_{order.stop_direction.value}" if order.stop_direction else ""
        body: dict[str, Any] = {
            "base_size": size,
            "limit_price": d(order.limit_price),
            "stop_price": d(order.stop_price),
            "stop_direction": direction,
        }
        if order.time_in_force is TimeInForce.GTD:
            body["end_time"] = end
            return {"stop_limit_stop_limit_gtd": body}
        return {"stop_limit_stop_limit_gtc": body}
    body = {
        "base_size": size,
        "limit_price": d(order.limit_price),
        "stop_trigger_price": d(order.stop_trigger_price),
    }
    if order.time_in_force is TimeInForce.GTD:
        body["end_time"] = end
        return {"trigger_bracket_gtd": body}
    return {"trigger_bracket_gtc": body}


def trigger_status(order: Order) -> str:
    if order.order_type not in (OrderType.STOP_LIMIT, OrderType.BRACKET):
        return "INVALID_ORDER_TYPE"
    return "STOP_TRIGGERED" if order.triggered else "STOP_PENDING"


@dataclass(frozen=True)
class OrderExtras:
    """Facts about an order the domain Order does not carry."""

    user_id: str
    portfolio_id: str
    product_type: str  # SPOT | FUTURE
    number_of_fills: int = 0
    last_fill_time: dt.datetime | None = None
    edit_history: tuple[dict[str, str], ...] = ()
    outstanding_hold: Decimal = ZERO
    cancel_message: str = ""


def filled_value(order: Order) -> Decimal:
    """The exact sum of price x size over the order's fills (not avg price x size, which a division
    rounds), as the venue reports `filled_value`."""
    return order.filled_value


def order_to_wire(order: Order, extras: OrderExtras) -> dict[str, Any]:
    value = filled_value(order)
    after_fees = value + order.fees if order.side is OrderSide.BUY else value - order.fees
    pct = (order.filled_size / order.size * 100) if order.size > 0 else ZERO
    return {
        "order_id": order.order_id,
        "product_id": order.symbol,
        "user_id": extras.user_id,
        "order_configuration": order_configuration(order),
        "side": order.side.value,
        "client_order_id": order.client_order_id,
        "status": WIRE_STATUS[order.status],
        "time_in_force": WIRE_TIF[order.time_in_force],
        "created_time": rfc3339(order.created_at),
        "completion_percentage": f"{pct:.2f}",
        "filled_size": d(order.filled_size),
        "average_filled_price": d(order.avg_fill_price) if order.avg_fill_price is not None else "0",
        "fee": "",
        "number_of_fills": str(extras.number_of_fills),
        "filled_value": d(value),
        "pending_cancel": order.status is OrderStatus.PENDING_CANCEL,
        "size_in_quote": order.quote_size is not None and order.order_type is OrderType.MARKET,
        "total_fees": d(order.fees),
        "size_inclusive_of_fees": False,
        "total_value_after_fees": d(after_fees),
        "trigger_status": trigger_status(order),
        "order_type": WIRE_ORDER_TYPE[order.order_type],
        "reject_reason": order.reject_reason or "REJECT_REASON_UNSPECIFIED",
        "settled": order.is_terminal,
        "product_type": extras.product_type,
        "reject_message": order.reject_reason or "",
        "cancel_message": extras.cancel_message,
        "order_placement_source": "RETAIL_ADVANCED",
        "outstanding_hold_amount": d(extras.outstanding_hold),
        "is_liquidation": False,
        "last_fill_time": rfc3339(extras.last_fill_time) if extras.last_fill_time else None,
        "edit_history": list(extras.edit_history),
        "leverage": d(order.leverage) if order.leverage is not None else "",
        "margin_type": "UNKNOWN_MARGIN_TYPE",
        "retail_portfolio_id": extras.portfolio_id,
        "originating_order_id": "",
        "attached_order_id": "",
    }


def fill_to_wire(fill: Fill, *, user_id: str, portfolio_id: str, entry_id: str) -> dict[str, Any]:
    return {
        "entry_id": entry_id,
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "trade_time": rfc3339(fill.ts),
        "trade_type": "FILL",
        "price": d(fill.price),
        "size": d(fill.size),
        "commission": d(fill.fee),
        "product_id": fill.symbol,
        "sequence_timestamp": rfc3339(fill.ts),
        "liquidity_indicator": fill.liquidity.value,
        "size_in_quote": False,
        "user_id": user_id,
        "side": fill.side.value,
        "retail_portfolio_id": portfolio_id,
    }


def user_order_event(order: Order, product: Product, extras: OrderExtras) -> dict[str, Any]:
    """An order as the WS `user` channel reports it: cumulative quantities, no per-fill detail."""
    value = filled_value(order)
    leaves = ZERO if order.is_terminal else order.remaining_size
    return {
        "avg_price": d(order.avg_fill_price) if order.avg_fill_price is not None else "0",
        "cancel_reason": extras.cancel_message,
        "client_order_id": order.client_order_id,
        "completion_percentage": f"{(order.filled_size / order.size * 100) if order.size > 0 else ZERO:.2f}",
        "contract_expiry_type": "PERPETUAL" if product.is_perpetual else "UNKNOWN_CONTRACT_EXPIRY_TYPE",
        "cumulative_quantity": d(order.filled_size),
        "filled_value": d(value),
        "leaves_quantity": d(leaves),
        "limit_price": d(order.limit_price) if order.limit_price is not None else "0",
        "number_of_fills": str(extras.number_of_fills),
        "order_id": order.order_id,
        "order_side": order.side.value,
        "order_type": WIRE_ORDER_TYPE[order.order_type],
        "outstanding_hold_amount": d(extras.outstanding_hold),
        "post_only": "true" if order.post_only else "false",
        "product_id": order.symbol,
        "product_type": extras.product_type,
        "reject_reason": order.reject_reason or "",
        "retail_portfolio_id": extras.portfolio_id,
        "risk_managed_by": "UNKNOWN_RISK_MANAGEMENT_TYPE",
        "status": WIRE_STATUS[order.status],
        "stop_price": d(order.stop_price) if order.stop_price is not None else "0",
        "time_in_force": WIRE_TIF[order.time_in_force],
        "total_fees": d(order.fees),
        "total_value_after_fees": d(value + order.fees if order.side is OrderSide.BUY else value - order.fees),
        "trigger_status": trigger_status(order),
        "creation_time": rfc3339(order.created_at),
        "end_time": rfc3339(order.end_time) if order.end_time else EPOCH_ZERO,
        "start_time": EPOCH_ZERO,
    }


@dataclass(frozen=True)
class ProductStats:
    """Live figures for a product, from the market-data source."""

    price: Decimal = ZERO
    price_24h_ago: Decimal = ZERO
    volume_24h: Decimal = ZERO
    mid: Decimal = ZERO
    funding_rate: Decimal = ZERO
    funding_time: dt.datetime | None = None
    open_interest: Decimal = ZERO


def pct_change(now: Decimal, then: Decimal) -> str:
    if then == 0:
        return "0"
    return f"{(now - then) / then * 100:.8f}"


def product_type_wire(product: Product) -> str:
    return "FUTURE" if product.is_perpetual else "SPOT"


def product_to_wire(product: Product, stats: ProductStats) -> dict[str, Any]:
    """A product as `/products` lists it; perps as INTX lists them (USDC quote, INTX venue, "X PERP")."""
    perp = product.is_perpetual
    base = product.base_asset
    out: dict[str, Any] = {
        "product_id": product.symbol,
        "price": d(stats.price),
        "price_percentage_change_24h": pct_change(stats.price, stats.price_24h_ago),
        "volume_24h": d(stats.volume_24h),
        "volume_percentage_change_24h": "0",
        "base_increment": d(product.base_increment),
        "quote_increment": d(product.quote_increment),
        "quote_min_size": d(product.quote_min_size),
        "quote_max_size": d(product.quote_max_size),
        "base_min_size": d(product.base_min_size),
        "base_max_size": d(product.base_max_size),
        "base_name": base,
        "quote_name": product.quote_asset,
        "watched": False,
        "is_disabled": product.trading_disabled,
        "new": False,
        "status": "online",
        "cancel_only": product.cancel_only,
        "limit_only": product.limit_only,
        "post_only": product.post_only,
        "trading_disabled": product.trading_disabled,
        "auction_mode": False,
        "product_type": product_type_wire(product),
        "quote_currency_id": product.quote_asset,
        # a recorded ETH-PERP-INTX has base_currency_id "" (the base is contract_root_unit); with the base
        # here, ccxt's spot parser takes the perp for a spot market and maps BTC/USD to it
        "base_currency_id": "" if perp else base,
        "fcm_trading_session_details": None,
        "mid_market_price": d(stats.mid),
        "alias": "",
        "alias_to": [],
        "base_display_symbol": base,
        "quote_display_symbol": product.quote_asset,
        "view_only": False,
        "price_increment": d(product.price_increment),
        "display_name": product.symbol.replace("-INTX", "").replace("-", " " if perp else "-"),
        "product_venue": "INTX" if perp else "CBE",
        "approximate_quote_24h_volume": d(stats.volume_24h * stats.price),
    }
    if perp:
        out["future_product_details"] = {
            "venue": "INTX",
            "contract_code": base,
            "contract_expiry": None,
            "contract_size": d(product.contract_size),
            "contract_root_unit": base,
            "group_description": f"{base} Perpetual",
            "contract_expiry_timezone": "",
            "group_short_description": f"{base} PERP",
            "risk_managed_by": "MANAGED_BY_VENUE",
            "contract_expiry_type": "PERPETUAL",
            "perpetual_details": {
                "open_interest": d(stats.open_interest),
                "funding_rate": d(stats.funding_rate),
                "funding_time": rfc3339(stats.funding_time) if stats.funding_time else None,
                "max_leverage": d(product.max_leverage),
                "base_asset_uuid": "",
                "underlying_type": "",
            },
            "contract_display_name": f"{base} PERP",
            "funding_interval": f"{product.funding_interval_s or 3600}s",
            "open_interest": d(stats.open_interest),
            "funding_rate": d(stats.funding_rate),
            "funding_time": rfc3339(stats.funding_time) if stats.funding_time else None,
        }
    return out
