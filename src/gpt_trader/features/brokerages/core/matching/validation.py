"""Order validation: shape, precision, limits, reduce-only and funds, before anything changes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from gpt_trader.features.brokerages.core.interfaces import (
    InsufficientFundsError,
    InvalidOrderError,
    OrderRequest,
    OrderType,
    StopDirection,
    TimeInForce,
)
from gpt_trader.features.brokerages.core.matching.book import SymbolState
from gpt_trader.features.brokerages.core.matching.core import BUY, ONE, SELL, ZERO, _EngineCore, _Prep
from gpt_trader.features.brokerages.core.matching.ledger import (
    Account,
)
from gpt_trader.features.brokerages.core.quantization import check_min_size, is_multiple


class _ValidationMixin(_EngineCore):
    def _prepare(self, acct: Account, st: SymbolState, request: OrderRequest, now: datetime) -> _Prep:
        product = st.product
        symbol = product.symbol
        if product.trading_disabled:
            raise InvalidOrderError(f"{symbol} trading is disabled", reason="UNTRADABLE_PRODUCT")
        if product.cancel_only:
            raise InvalidOrderError(f"{symbol} is cancel-only", reason="ORDER_ENTRY_DISABLED")
        if product.limit_only and request.order_type is OrderType.MARKET:
            raise InvalidOrderError(f"{symbol} is limit-only", reason="UNSUPPORTED_ORDER_CONFIGURATION")
        if product.post_only and request.order_type is OrderType.LIMIT and not request.post_only:
            raise InvalidOrderError(f"{symbol} is post-only", reason="UNSUPPORTED_ORDER_CONFIGURATION")
        request.validate()
        otype = request.order_type
        if otype is OrderType.BRACKET and request.quote_size is not None:
            raise InvalidOrderError("brackets take size, not quote_size", reason="QUOTE_SIZE_NOT_ALLOWED_FOR_BRACKET")
        if otype is OrderType.STOP_LIMIT and request.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
            raise InvalidOrderError("stop-limit orders are GTC or GTD", reason="UNSUPPORTED_ORDER_CONFIGURATION")
        if otype is OrderType.BRACKET and request.time_in_force not in (TimeInForce.GTC, TimeInForce.GTD):
            raise InvalidOrderError("brackets are GTC or GTD", reason="UNSUPPORTED_ORDER_CONFIGURATION")
        if request.size is not None and not is_multiple(request.size, product.base_increment):
            raise InvalidOrderError(
                f"size {request.size} is not a multiple of base_increment {product.base_increment}",
                reason="INVALID_SIZE_PRECISION",
            )
        if request.quote_size is not None and not is_multiple(request.quote_size, product.quote_increment):
            raise InvalidOrderError(
                f"quote_size {request.quote_size} is not a multiple of quote_increment {product.quote_increment}",
                reason="INVALID_SIZE_PRECISION",
            )
        for name in ("limit_price", "stop_price", "stop_trigger_price"):
            value = getattr(request, name)
            if value is not None and not is_multiple(value, product.price_increment):
                raise InvalidOrderError(
                    f"{name} {value} is not a multiple of price_increment {product.price_increment}",
                    reason="INVALID_PRICE_PRECISION",
                )
        if request.end_time is not None and request.end_time.tzinfo is None:
            raise InvalidOrderError(
                f"end_time {request.end_time.isoformat()} must be timezone-aware UTC",
                reason="INVALID_END_TIME",
            )
        if request.time_in_force is TimeInForce.GTD and request.end_time is not None and request.end_time <= now:
            raise InvalidOrderError(
                f"end_time {request.end_time.isoformat()} is not in the future", reason="INVALID_END_TIME"
            )
        ref = st.reference
        side = request.side
        stop_dir = request.stop_direction
        if otype is OrderType.STOP_LIMIT:
            assert request.stop_price is not None
            if stop_dir is None:
                if ref is None:
                    raise InvalidOrderError(
                        "stop_direction is required when the market has no price",
                        reason="INVALID_STOP_DIRECTION",
                    )
                stop_dir = StopDirection.STOP_UP if request.stop_price > ref else StopDirection.STOP_DOWN
            if ref is not None:
                if stop_dir is StopDirection.STOP_UP and request.stop_price <= ref:
                    raise InvalidOrderError(
                        f"STOP_UP stop_price {request.stop_price} must be above {ref}",
                        reason="STOP_PRICE_BELOW_LAST_TRADE_PRICE",
                    )
                if stop_dir is StopDirection.STOP_DOWN and request.stop_price >= ref:
                    raise InvalidOrderError(
                        f"STOP_DOWN stop_price {request.stop_price} must be below {ref}",
                        reason="STOP_PRICE_ABOVE_LAST_TRADE_PRICE",
                    )
        work_price: Decimal | None = request.limit_price
        if otype is OrderType.BRACKET:
            assert request.limit_price is not None and request.stop_trigger_price is not None
            stp = request.stop_trigger_price
            if (side is SELL and stp >= request.limit_price) or (side is BUY and stp <= request.limit_price):
                raise InvalidOrderError(
                    f"{side.value} bracket needs stop_trigger_price {'<' if side is SELL else '>'} "
                    "limit_price "
                    f"(got {stp} vs {request.limit_price})",
                    reason="INVALID_BRACKET_PRICES",
                )
            if side is BUY:
                work_price = max(request.limit_price, self._bracket_stop_price(product, side, stp))
            if product.is_perpetual and request.size is not None:
                pos = acct.perp_size(symbol)
                if pos == 0 or (pos > 0) == (side is BUY) or request.size > abs(pos):
                    raise InvalidOrderError(
                        f"a {symbol} bracket is an exit: it must reduce the position ({pos}), not open or flip it",
                        reason="NO_POSITION" if pos == 0 else "INVALID_REDUCE_ONLY",
                    )
        notional_price = work_price if work_price is not None else ref
        if request.size is not None:
            check_min_size(request.size, notional_price, product)
        elif request.quote_size is not None:
            if request.quote_size < product.quote_min_size:
                raise InvalidOrderError(
                    f"quote_size {request.quote_size} is below quote_min_size {product.quote_min_size}",
                    reason="BELOW_MIN_NOTIONAL",
                )
            if request.side is not BUY:
                raise InvalidOrderError("quote_size is only supported on market BUY", reason="INVALID_SIZE")
        leverage = ONE
        if product.is_perpetual:
            leverage = request.leverage or acct.leverage.get(symbol, ONE)
            self._check_leverage(product, leverage)
        elif request.leverage is not None and request.leverage != ONE:
            raise InvalidOrderError(f"leverage is not available on spot product {symbol}", reason="INVALID_LEVERAGE")
        size = request.size
        if request.reduce_only:
            if product.is_perpetual:
                pos = acct.perp_size(symbol)
                if pos == 0 or (pos > 0) == (side is BUY):
                    raise InvalidOrderError(
                        f"reduce-only {side.value} would increase the {symbol} position ({pos})",
                        reason="INVALID_REDUCE_ONLY",
                    )
                if size is not None and size > abs(pos):
                    raise InvalidOrderError(
                        f"reduce-only size {size} exceeds the {symbol} position {abs(pos)}",
                        reason="INVALID_REDUCE_ONLY",
                    )
            elif side is BUY:
                raise InvalidOrderError(f"reduce-only BUY would increase spot {symbol}", reason="INVALID_REDUCE_ONLY")
        hold_asset = product.quote_asset if (product.is_perpetual or side is BUY) else product.base_asset
        if otype is OrderType.MARKET:
            self._precheck_market(acct, st, request, leverage)
            return _Prep(size, request.quote_size, leverage, hold_asset, ZERO, stop_dir, None)
        assert size is not None and work_price is not None
        unit = self._hold_unit(
            acct,
            product,
            side,
            work_price,
            leverage,
            request.reduce_only,
            increases=self._increases(acct, product, side, size),
        )
        need = size * unit
        avail = self._available(acct, hold_asset)
        if need > avail:
            raise InsufficientFundsError(
                f"{symbol} {side.value} needs {need} {hold_asset}, available {avail}",
                reason="INSUFFICIENT_FUND",
            )
        if request.post_only:
            best = st.best_ask() if side is BUY else st.best_bid()
            if best is not None and (work_price >= best if side is BUY else work_price <= best):
                raise InvalidOrderError(
                    f"post-only {side.value} at {work_price} would cross the book at {best}",
                    reason="INVALID_LIMIT_PRICE_POST_ONLY",
                )
        return _Prep(size, None, leverage, hold_asset, unit, stop_dir, work_price)

    def _precheck_market(self, acct: Account, st: SymbolState, request: OrderRequest, leverage: Decimal) -> None:
        product = st.product
        side = request.side
        plan = self._plan(st, side, None, acct.account_id, request.size, request.quote_size)
        if not plan:
            raise InvalidOrderError(
                f"no liquidity to fill a market {side.value} on {product.symbol}",
                reason="INVALID_NO_LIQUIDITY",
            )
        notional = sum((p * s for p, s in plan), ZERO)
        size = sum((s for _, s in plan), ZERO)
        rate = self._tier(acct, product.is_perpetual).taker_fee_rate
        if product.is_perpetual:
            if not self._increases(acct, product, side, size):
                return
            need = notional / leverage + notional * rate
            asset = product.quote_asset
        elif side is BUY:
            spend = request.quote_size if request.quote_size is not None else notional
            need = spend * (ONE + rate)
            asset = product.quote_asset
        else:
            need = request.size or ZERO
            asset = product.base_asset
        avail = self._available(acct, asset)
        if need > avail:
            raise InsufficientFundsError(
                f"market {side.value} {product.symbol} needs ~{need} {asset}, available {avail}",
                reason="INSUFFICIENT_FUND",
            )
