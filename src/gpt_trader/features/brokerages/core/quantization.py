"""Round sizes and prices to a product's increments, on the side that can never overspend.

Sizes floor (never buy or sell more than asked); limit prices round toward the passive side (a BUY never
pays more, a SELL never receives less than asked). Violations of venue minimums raise InvalidOrderError
with the Coinbase failure reason, so callers can log the same reason the exchange would send.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

import msgspec

from gpt_trader.features.brokerages.core.interfaces import (
    InvalidOrderError,
    OrderRequest,
    OrderSide,
    OrderType,
    Product,
)

ZERO = Decimal("0")


def _to_increment(value: Decimal, increment: Decimal, rounding: str) -> Decimal:
    if increment <= 0:
        raise ValueError(f"increment must be > 0, got {increment}")
    units = (value / increment).to_integral_value(rounding=rounding)
    return (units * increment).quantize(increment)


def is_multiple(value: Decimal, increment: Decimal) -> bool:
    return increment > 0 and value % increment == 0


def quantize_size(size: Decimal, product: Product) -> Decimal:
    """Floor to base_increment."""
    return _to_increment(size, product.base_increment, ROUND_FLOOR)


def quantize_quote(amount: Decimal, product: Product) -> Decimal:
    """Floor a quote amount (e.g. market BUY quote_size) to quote_increment."""
    return _to_increment(amount, product.quote_increment, ROUND_FLOOR)


def quantize_price(price: Decimal, product: Product, side: OrderSide) -> Decimal:
    """Round a limit price to price_increment on the safe side: BUY down, SELL up."""
    rounding = ROUND_FLOOR if side is OrderSide.BUY else ROUND_CEILING
    return _to_increment(price, product.price_increment, rounding)


def quantize_price_nearest(price: Decimal, product: Product) -> Decimal:
    return _to_increment(price, product.price_increment, ROUND_HALF_EVEN)


def check_min_size(size: Decimal, price: Decimal | None, product: Product) -> None:
    """Raise InvalidOrderError if `size` (base units) breaks the product's size or notional limits."""
    if size <= 0:
        raise InvalidOrderError(f"{product.symbol}: size must be > 0, got {size}", reason="INVALID_SIZE")
    if size < product.base_min_size:
        raise InvalidOrderError(
            f"{product.symbol}: size {size} is below base_min_size {product.base_min_size}",
            reason="INVALID_SIZE",
        )
    if size > product.base_max_size:
        raise InvalidOrderError(
            f"{product.symbol}: size {size} is above base_max_size {product.base_max_size}",
            reason="INVALID_SIZE",
        )
    if price is not None and price > 0:
        notional = size * price
        if notional < product.quote_min_size:
            raise InvalidOrderError(
                f"{product.symbol}: notional {notional} is below quote_min_size {product.quote_min_size}",
                reason="BELOW_MIN_NOTIONAL",
            )
        if notional > product.quote_max_size:
            raise InvalidOrderError(
                f"{product.symbol}: notional {notional} is above quote_max_size {product.quote_max_size}",
                reason="ABOVE_MAX_NOTIONAL",
            )


def quantize_order(request: OrderRequest, product: Product, reference_price: Decimal | None = None) -> OrderRequest:
    """Return `request` with size and prices on the product's grid, checked against its minimums.

    `reference_price` (the current mid, say) checks the notional of market orders; limit-style orders
    use their own limit price.
    """
    if request.symbol != product.symbol:
        raise InvalidOrderError(
            f"request symbol {request.symbol!r} does not match product {product.symbol!r}",
            reason="INVALID_PRODUCT_ID",
        )
    changes: dict[str, object] = {}
    side = request.side
    limit_price = request.limit_price
    if limit_price is not None:
        limit_price = quantize_price(limit_price, product, side)
        if limit_price <= 0:
            raise InvalidOrderError(
                f"{product.symbol}: limit_price {request.limit_price} rounds to zero",
                reason="INVALID_LIMIT_PRICE",
            )
        changes["limit_price"] = limit_price
    if request.stop_price is not None:
        changes["stop_price"] = quantize_price_nearest(request.stop_price, product)
    if request.stop_trigger_price is not None:
        # The stop leg of an exit: round so the stop triggers no later than asked.
        changes["stop_trigger_price"] = quantize_price(request.stop_trigger_price, product, side.opposite)
    if request.quote_size is not None:
        quote = quantize_quote(request.quote_size, product)
        if quote < product.quote_min_size or quote <= 0:
            raise InvalidOrderError(
                f"{product.symbol}: quote_size {request.quote_size} is below quote_min_size {product.quote_min_size}",
                reason="BELOW_MIN_NOTIONAL",
            )
        changes["quote_size"] = quote
    if request.size is not None:
        size = quantize_size(request.size, product)
        price_for_notional = limit_price if request.order_type is not OrderType.MARKET else reference_price
        check_min_size(size, price_for_notional, product)
        changes["size"] = size
    return msgspec.structs.replace(request, **changes) if changes else request
