"""Pre-trade rules: every order is checked here before it is sent.

Rules run in a fixed order and the first failure raises `PreTradeRejectedError(rule=...)` with the
numbers that failed. Orders that only shrink a position skip the exposure rules (caps, leverage,
margin, impact, correlation, open-order count) so a guard can always get the bot out of risk; they
still pass halt, shape, quantization and the rate limit.

Every order of a cycle is checked against the same snapshot, so what does not change within it is
computed once: per-product constants (per Product object), the marks, position signs and open-book
correlations the runtime guards already computed (per snapshot), and the open-order index.

Money limits are in USD. A product's notional, margin and cost are in its quote currency (USDC for INTX
perps) and are converted at the product's USD rate, from `interfaces.USD_RATES` (USDC 1:1) unless the
checker is given known rates; a quote currency with no rate refuses the order.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Collection, Mapping
from decimal import ROUND_FLOOR, Decimal
from itertools import chain
from typing import TYPE_CHECKING

import msgspec

from gpt_trader.features.brokerages.core.interfaces import (
    InvalidOrderError,
    Order,
    OrderRequest,
    OrderSide,
    OrderType,
    Product,
    usd_rate,
)
from gpt_trader.features.brokerages.core.quantization import check_min_size, quantize_order, quantize_size
from gpt_trader.features.live_trade.risk.config import RiskConfig, SymbolLimit
from gpt_trader.features.live_trade.risk.errors import PreTradeRejectedError
from gpt_trader.features.live_trade.risk.trading_state import TradingMode
from gpt_trader.features.live_trade.risk_calculations import (
    BPS,
    ONE,
    MarketStats,
    initial_margin_rate,
    walk_book,
)
from gpt_trader.features.monitor.metrics import MetricsRegistry

if TYPE_CHECKING:
    from gpt_trader.features.live_trade.risk.manager import AccountSnapshot


ZERO = Decimal(0)
_TWO = Decimal(2)  # a Decimal divisor: dividing by the int 2 converts it on every call
_BUY = OrderSide.BUY
_MARKET = OrderType.MARKET


def _reject(rule: str, message: str, symbol: str, **details: object) -> PreTradeRejectedError:
    return PreTradeRejectedError(message, rule=rule, symbol=symbol, details={k: str(v) for k, v in details.items()})


def _power_of_ten(increment: Decimal) -> bool:
    """True for 1, 0.1, 0.01, ... written as such: flooring to it is one `quantize`."""
    return increment > 0 and increment.as_tuple().digits == (1,)


class ProductRules:
    """Constants the pre-trade rules derive from one product and its limits.

    Products are frozen structs, so the rules are computed once per Product object (not per order).
    """

    __slots__ = ("grid", "leverage", "max_notional", "max_position_size", "perp", "product", "usd_rate")

    def __init__(
        self,
        product: Product,
        leverage: Decimal,
        max_notional: Decimal | None,
        limit: SymbolLimit | None,
        usd_per_quote: Decimal,
    ):
        self.product = product
        self.perp = product.is_perpetual
        self.usd_rate = usd_per_quote  # USD per unit of the quote currency (USDC 1:1 by default)
        self.leverage = leverage
        self.max_notional = max_notional
        self.max_position_size = limit.max_position_size if limit is not None else None
        inc = product.base_increment
        self.grid: Decimal | None = inc if _power_of_ten(inc) else None


class PreTradeChecker:
    def __init__(
        self,
        config: RiskConfig,
        symbol_limits: Mapping[str, SymbolLimit],
        metrics: MetricsRegistry,
        stats: MarketStats,
        usd_rates: Mapping[str, Decimal] | None = None,
    ) -> None:
        self.config = config
        self.usd_rates = usd_rates  # None: interfaces.USD_RATES
        self.symbol_limits = symbol_limits
        self.metrics = metrics
        self.stats = stats
        self._order_times: deque[float] = deque()
        self._cycle_entries: dict[str, int] = {}  # symbol -> side sign of entries accepted this cycle
        # the same, only for symbols `_flat_held` (the open book they were filtered against) does not hold
        self._flat_entries: dict[str, int] = {}
        self._flat_held: dict[str, int] | None = None
        self._scaled: Mapping[str, Decimal] = {}
        # the snapshot the per-snapshot state below belongs to, held weakly: keeping last cycle's
        # snapshot alive would only move its deallocation into the next cycle's risk checks
        # weak: a strong reference would free the previous cycle's snapshot (its quotes and books)
        # inside the next cycle's first check instead of where the caller drops it
        self._bound: weakref.ref[AccountSnapshot] | None = None
        self._held: dict[str, int] | None = None
        # accepted since the snapshot in use was taken (the snapshot cannot show them yet)
        self._inflight: dict[tuple[str, int], Decimal] = {}  # (symbol, side sign) -> size
        self._inflight_resting: dict[str, int] = {}
        self._inflight_notional: dict[str, Decimal] = {}
        self._inflight_notional_total = ZERO
        self._inflight_cash = ZERO  # USD
        self._inflight_cash_by: dict[str, Decimal] = {}  # per quote currency, in that currency
        self._inflight_im = ZERO
        self._now_ts = 0.0
        self._exposure_cache: dict[str, tuple[Decimal, Decimal]] | None = None
        self._orders_by_symbol: dict[str, list[Order]] = {}
        self._rules: dict[str, ProductRules] = {}
        # marks (and quote ages) RiskManager.evaluate already computed for the bound snapshot
        self._marks: Mapping[str, tuple[Decimal, float]] = {}
        self._correlations: Mapping[str, tuple[float, str, float, str, float, str]] = {}
        self._correlations_version = -1
        self._max_open = config.max_open_orders_per_symbol
        self._max_per_minute = config.max_orders_per_minute
        self._stale_s = config.stale_mark_s

    def rules_for(self, symbol: str, product: Product) -> ProductRules:
        rules = self._rules.get(symbol)
        if rules is None or rules.product is not product:
            leverage = self.symbol_leverage(symbol, product)
            try:
                rate = usd_rate(product.quote_asset, self.usd_rates)
            except ValueError as exc:
                raise _reject("product", f"{symbol}: {exc}", symbol, quote_asset=product.quote_asset) from None
            rules = ProductRules(product, leverage, self.max_notional(symbol), self.symbol_limits.get(symbol), rate)
            self._rules[symbol] = rules
        return rules

    def use_snapshot(
        self,
        snapshot: AccountSnapshot,
        marks: Mapping[str, tuple[Decimal, float]],
        held: dict[str, int],
        correlations: Mapping[str, tuple[float, str, float, str, float, str]],
    ) -> None:
        """What the runtime guards computed for `snapshot`: (mark, quote age in s) per symbol, the sign
        of every open position, and each other symbol's signed correlations with them (filled while the
        guards run). check_order on the same snapshot reuses them."""
        self._bind(snapshot)
        self._marks = marks
        self._held = held
        self._correlations = correlations
        self._correlations_version = self.stats.version

    def _bind(self, snapshot: AccountSnapshot) -> None:
        """Start the per-snapshot state: nothing in flight yet, caches empty, open orders indexed."""
        self._bound = weakref.ref(snapshot)
        self._marks = {}
        self._correlations = {}
        self._exposure_cache = None
        self._held = None
        self._now_ts = snapshot.now.timestamp()
        self._inflight = {}
        self._inflight_resting = {}
        self._inflight_notional = {}
        self._inflight_notional_total = ZERO
        self._inflight_cash = ZERO
        self._inflight_cash_by = {}
        self._inflight_im = ZERO
        by_symbol: dict[str, list[Order]] = {}
        for o in snapshot.open_orders:
            orders = by_symbol.get(o.symbol)
            if orders is None:
                by_symbol[o.symbol] = [o]
            else:
                orders.append(o)
        self._orders_by_symbol = by_symbol

    def _exposure(self, snapshot: AccountSnapshot) -> dict[str, tuple[Decimal, Decimal]]:
        """Per-symbol (notional at mark, perp initial margin) of open positions in USD; key "" holds the totals.

        Computed once per snapshot: PerpsBot checks every order of a cycle against the same snapshot.
        """
        cached = self._exposure_cache
        if cached is not None:
            return cached
        out: dict[str, tuple[Decimal, Decimal]] = {}
        total = ZERO
        total_im = ZERO
        marks = self._marks
        for sym, p in snapshot.positions.items():
            if p.size == ZERO:
                continue
            seen = marks.get(sym)
            if seen is not None:
                mark = seen[0]
            else:
                q = snapshot.quotes.get(sym)
                mark = q.mark_price if q is not None else p.mark_price
            n = abs(p.size) * mark
            product = snapshot.products.get(sym)
            if product is not None:
                n *= self.rules_for(sym, product).usd_rate
            perp = product is not None and product.is_perpetual
            im = n * initial_margin_rate(product, p.leverage) if perp and product is not None else ZERO
            out[sym] = (n, im)
            total += n
            total_im += im
        out[""] = (total, total_im)
        self._exposure_cache = out
        return out

    def _held_signs(self, snapshot: AccountSnapshot) -> dict[str, int]:
        """Symbol -> +1/-1 for every open position in the snapshot (computed once per snapshot)."""
        held = self._held
        if held is None:
            held = {s: (1 if p.size > ZERO else -1) for s, p in snapshot.positions.items() if p.size != ZERO}
            self._held = held
        return held

    def new_cycle(self, entry_scale: Mapping[str, Decimal]) -> None:
        self._cycle_entries = {}
        self._flat_entries = {}
        self._flat_held = None
        self._scaled = entry_scale

    def symbol_leverage(self, symbol: str, product: Product) -> Decimal:
        """The tightest of account, per-symbol and product leverage (spot products have max 1)."""
        lev = self.config.max_leverage
        lim = self.symbol_limits.get(symbol)
        if lim is not None and lim.max_leverage < lev:
            lev = lim.max_leverage
        plev = product.max_leverage if product.is_perpetual else ONE
        return plev if plev < lev else lev

    def max_notional(self, symbol: str) -> Decimal | None:
        lim = self.symbol_limits.get(symbol)
        if lim is not None and lim.max_notional is not None:
            return lim.max_notional
        return self.config.default_max_notional

    def check(
        self,
        request: OrderRequest,
        snapshot: AccountSnapshot,
        *,
        is_reducing: bool,
        mode: TradingMode,
        mode_reason: str,
        blocked: Mapping[str, str],
        cancelled: Collection[str] = (),
    ) -> OrderRequest:
        """The order, quantized, if every rule passes (else `PreTradeRejectedError`). `cancelled`: client ids of
        the snapshot's open orders cancelled since it was taken (a close's protective stop), not counted as
        working; passed rather than a copy of the snapshot, whose in-flight accounting would start over."""
        sym = request.symbol
        side = request.side
        if mode is TradingMode.HALTED:
            raise _reject("halt", f"trading is halted ({mode_reason})", sym)
        product = snapshot.products.get(sym)
        if product is None:
            raise _reject("product", f"{sym}: unknown product", sym)
        if product.trading_disabled or product.cancel_only:
            raise _reject(
                "product",
                f"{sym}: product is not accepting orders",
                sym,
                trading_disabled=product.trading_disabled,
                cancel_only=product.cancel_only,
            )
        try:
            request.validate()
        except InvalidOrderError as exc:
            raise _reject("order_shape", str(exc), sym, venue_reason=exc.reason) from None
        rules = self._rules.get(sym)
        if rules is None or rules.product is not product:
            rules = self.rules_for(sym, product)

        quote = snapshot.quotes.get(sym)
        if quote is None:
            raise _reject("stale_mark", f"{sym}: no quote", sym)
        bound = self._bound
        if bound is None or bound() is not snapshot:
            self._bind(snapshot)
        seen = self._marks.get(sym)
        if seen is not None:
            mark, age = seen
        else:
            age = (snapshot.now - quote.ts).total_seconds()
            mark = quote.mark_price
        buy = side is _BUY
        market = request.order_type is _MARKET
        ref_price = request.limit_price if not market else (quote.ask if buy else quote.bid)
        if ref_price is None or ref_price <= ZERO:
            raise _reject("stale_mark", f"{sym}: no usable price", sym)
        size = request.size if request.size is not None else (request.quote_size or ZERO) / ref_price

        # ---- does this order only shrink the position (counting working orders that also shrink it)?
        pos = snapshot.positions.get(sym)
        cur = pos.size if pos is not None else ZERO
        sign = 1 if buy else -1
        pending_same = ZERO
        pending_reduce = ZERO
        n_open = 0
        working = self._orders_by_symbol.get(sym)
        if working is not None:
            for o in working:
                if o.status.is_terminal or o.client_order_id in cancelled:
                    continue
                n_open += 1
                if o.side is side:
                    pending_same += o.remaining_size
        # orders accepted since this snapshot was taken are not in it yet: count them as working
        key = (sym, sign)
        inflight = self._inflight.get(key)
        if inflight is not None:
            pending_same += inflight
        if self._inflight_resting:
            n_open += self._inflight_resting.get(sym, 0)
        opposite = cur != ZERO and (cur > ZERO) != buy
        if opposite:
            pending_reduce = pending_same
        reducing = opposite and size + pending_reduce <= abs(cur)
        if (is_reducing or request.reduce_only) and not reducing:
            raise _reject(
                "reduce_only",
                f"{sym}: order marked reducing would not shrink the position",
                sym,
                position=cur,
                order_size=size,
                side=side.value,
                pending_reducing=pending_reduce,
            )
        if not reducing:
            if mode is not TradingMode.ACTIVE:
                raise _reject(
                    "reduce_only",
                    f"reduce-only mode ({mode_reason}): entries refused",
                    sym,
                    position=cur,
                    side=side.value,
                )
            block = blocked.get(sym)
            if block is not None:
                raise _reject("blocked", f"{sym}: entries blocked by {block}", sym, guard=block.split(":", 1)[0])
            if age > self._stale_s:
                raise _reject(
                    "stale_mark",
                    f"{sym}: mark is {age:.1f}s old",
                    sym,
                    age_s=f"{age:.3f}",
                    stale_mark_s=self._stale_s,
                )
            if not buy and not rules.perp:
                raise _reject(
                    "spot_short",
                    f"{sym}: spot sell larger than the holding would open a short",
                    sym,
                    position=cur,
                    order_size=size,
                )

        # ---- order rate limit (every order counts; a runaway loop is dangerous in either direction)
        now_ts = self._now_ts
        times = self._order_times
        horizon = now_ts - 60.0
        while times and times[0] <= horizon:
            times.popleft()
        if len(times) >= self._max_per_minute:
            raise _reject(
                "rate_limit",
                f"{len(times)} orders in the last 60s (limit {self._max_per_minute})",
                sym,
                orders_last_minute=len(times),
                limit=self._max_per_minute,
            )

        # ---- correlation with the open book (and with entries accepted earlier this cycle)
        if not reducing and cur == ZERO:
            request, size = self._correlation(request, size, sym, sign, snapshot, product, ref_price)

        # ---- quantization and venue minimums
        try:
            grid = rules.grid
            if market and request.size is not None and request.quote_size is None:
                # the common case, without a struct copy; a size already on a power-of-ten grid needs
                # one quantize (quantize_size gives the same Decimal), anything else the full rounding
                raw = request.size
                on_grid = raw.quantize(grid, ROUND_FLOOR) if grid is not None else None
                if on_grid is None or on_grid != raw:
                    on_grid = quantize_size(raw, product)
                if not (
                    product.base_min_size <= on_grid <= product.base_max_size
                    and on_grid > ZERO
                    and product.quote_min_size <= on_grid * ref_price <= product.quote_max_size
                ):
                    check_min_size(on_grid, ref_price, product)
                if on_grid != raw:
                    request = msgspec.structs.replace(request, size=on_grid)
                size = on_grid
            else:
                request = quantize_order(request, product, reference_price=ref_price)
                if request.size is not None:
                    size = request.size
                elif request.quote_size is not None:
                    size = request.quote_size / ref_price
        except InvalidOrderError as exc:
            raise _reject(
                "quantization",
                str(exc),
                sym,
                venue_reason=exc.reason,
                base_increment=product.base_increment,
                base_min_size=product.base_min_size,
                quote_min_size=product.quote_min_size,
            ) from None

        if not reducing:
            committed = self._entry_rules(
                request, size, sym, side, sign, snapshot, rules, cur, pending_same, n_open, mark, ref_price
            )
            self._cycle_entries[sym] = sign
            held = self._held
            if held is not None and self._flat_held is held and sym not in held:
                self._flat_entries[sym] = sign
            self._inflight_cash += committed * rules.usd_rate
            quote_ccy = product.quote_asset
            self._inflight_cash_by[quote_ccy] = self._inflight_cash_by.get(quote_ccy, ZERO) + committed
            added = size * mark * rules.usd_rate
            notional_map = self._inflight_notional
            notional_map[sym] = notional_map.get(sym, ZERO) + added
            self._inflight_notional_total += added
            if rules.perp:
                self._inflight_im += added * initial_margin_rate(product, request.leverage)
        inflight_map = self._inflight
        inflight_map[key] = inflight_map.get(key, ZERO) + size
        if not market:
            self._inflight_resting[sym] = self._inflight_resting.get(sym, 0) + 1
        times.append(now_ts)
        return request

    # ------------------------------------------------------------------------------ entries
    def _entry_rules(
        self,
        request: OrderRequest,
        size: Decimal,
        sym: str,
        side: OrderSide,
        sign: int,
        snapshot: AccountSnapshot,
        rules: ProductRules,
        cur: Decimal,
        pending_same: Decimal,
        n_open: int,
        mark: Decimal,
        ref_price: Decimal,
    ) -> Decimal:
        """Raise on the first broken limit; return the cash (spot) or initial margin (perp) it commits, in the
        product's quote currency. Notional, margin and cost are compared with the USD limits, equity and
        cash at the product's USD rate."""
        cfg = self.config
        product = rules.product
        equity = snapshot.equity
        if equity <= ZERO:
            raise _reject("equity", f"equity {equity} <= 0: no new risk", sym, equity=equity)
        if n_open >= self._max_open:
            raise _reject(
                "max_open_orders",
                f"{sym}: {n_open} open orders (limit {self._max_open})",
                sym,
                open_orders=n_open,
                limit=self._max_open,
            )

        # impact cost: a market order (or a limit that crosses the book) walks the L2 book
        book = snapshot.books.get(sym)
        market = request.order_type is _MARKET
        marketable = market
        if not marketable and book is not None and request.limit_price is not None:
            best = book.best_ask if side is OrderSide.BUY else book.best_bid
            marketable = best is not None and (
                request.limit_price >= best if side is OrderSide.BUY else request.limit_price <= best
            )
        fill_price = ref_price
        if marketable:
            bids = book.bids if book is not None else ()
            asks = book.asks if book is not None else ()
            if book is None or not bids or not asks:
                if cfg.require_book_for_entries:
                    raise _reject("impact_cost", f"{sym}: no L2 book to estimate impact", sym)
            else:
                mid = (bids[0].price + asks[0].price) / _TWO
                if mid <= ZERO:
                    raise _reject("impact_cost", f"{sym}: the book has no positive mid price", sym, mid=mid)
                avg = walk_book(book, side, size)
                if avg is None:
                    depth = book.depth(side)
                    raise _reject(
                        "impact_cost",
                        f"{sym}: book too thin for {size} (depth {depth})",
                        sym,
                        order_size=size,
                        book_depth=depth,
                        max_impact_bps=cfg.max_impact_bps,
                    )
                deviation = abs(avg - mid)
                # impact_bps = deviation / mid * 1e4 > max  <=>  deviation * 1e4 > max * mid (mid > 0)
                if deviation * BPS > cfg.max_impact_bps * mid:
                    impact = deviation / mid * BPS
                    raise _reject(
                        "impact_cost",
                        f"{sym}: expected average price {avg:.8g} is {impact:.2f} bps from mid {mid} "
                        f"(limit {cfg.max_impact_bps} bps)",
                        sym,
                        impact_bps=f"{impact:.4f}",
                        avg_price=f"{avg:.10g}",
                        mid=mid,
                        order_size=size,
                        max_impact_bps=cfg.max_impact_bps,
                    )
                if market:
                    fill_price = avg

        # exposure after this order and every working order on the same side fills
        projected = abs(cur + sign * (pending_same + size))
        rate = rules.usd_rate
        quote_ccy = product.quote_asset
        notional = projected * mark * rate  # USD
        in_quote = "" if quote_ccy == "USD" else f"; {quote_ccy} at {rate} USD"
        max_size = rules.max_position_size
        if max_size is not None and projected > max_size:
            raise _reject(
                "max_position_size",
                f"{sym}: position would be {projected} (limit {max_size})",
                sym,
                projected_size=projected,
                max_position_size=max_size,
            )
        cap = rules.max_notional
        if cap is not None and notional > cap:
            raise _reject(
                "max_notional",
                f"{sym}: notional would be {notional:.2f} USD (limit {cap}{in_quote})",
                sym,
                projected_notional=f"{notional:.2f}",
                max_notional=cap,
                quote_asset=quote_ccy,
                usd_rate=rate,
                mark=mark,
                projected_size=projected,
            )
        exposure = self._exposure(snapshot)
        own = exposure.get(sym)
        own_inflight = self._inflight_notional.get(sym, ZERO)
        total = (
            exposure[""][0]
            + self._inflight_notional_total
            - own_inflight
            + notional
            - (own[0] if own is not None else ZERO)
        )
        perp = rules.perp
        perp_im = exposure[""][1] + self._inflight_im - (own[1] if own is not None else ZERO)
        if perp:
            perp_im -= own_inflight * initial_margin_rate(product, request.leverage)
        by_quote = snapshot.cash_by_quote
        if by_quote:  # only the product's own quote currency backs it (USDC margins perps, USD buys spot)
            cash = (by_quote.get(quote_ccy, ZERO) - self._inflight_cash_by.get(quote_ccy, ZERO)) * rate
        else:
            cash = snapshot.cash - self._inflight_cash
        if cfg.max_total_notional is not None and total > cfg.max_total_notional:
            raise _reject(
                "max_total_notional",
                f"total notional would be {total:.2f} USD (limit {cfg.max_total_notional})",
                sym,
                projected_total_notional=f"{total:.2f}",
                max_total_notional=cfg.max_total_notional,
            )
        sym_lev = rules.leverage
        if request.leverage is not None and request.leverage > sym_lev:
            raise _reject(
                "leverage",
                f"{sym}: requested leverage {request.leverage}x > allowed {sym_lev}x",
                sym,
                requested_leverage=request.leverage,
                max_leverage=sym_lev,
            )
        if notional > equity * sym_lev:
            raise _reject(
                "leverage",
                f"{sym}: position leverage would be {notional / equity:.2f}x (limit {sym_lev}x)",
                sym,
                projected_notional=f"{notional:.2f}",
                equity=equity,
                max_leverage=sym_lev,
            )
        if total > equity * cfg.max_leverage:
            raise _reject(
                "leverage",
                f"account leverage would be {total / equity:.2f}x (limit {cfg.max_leverage}x)",
                sym,
                projected_total_notional=f"{total:.2f}",
                equity=equity,
                max_leverage=cfg.max_leverage,
            )
        cost = size * fill_price  # quote currency
        if perp:
            im_rate = initial_margin_rate(product, request.leverage)
            order_im = cost * im_rate
            if order_im * rate > cash:
                raise _reject(
                    "margin",
                    f"{sym}: initial margin {order_im:.2f} {quote_ccy} > available collateral {cash} USD{in_quote}",
                    sym,
                    initial_margin=f"{order_im:.2f}",
                    available=cash,
                    im_rate=im_rate,
                    quote_asset=quote_ccy,
                )
            total_im = perp_im + notional * im_rate
            if total_im > equity:
                raise _reject(
                    "margin",
                    f"initial margin on all perps would be {total_im:.2f} > equity {equity}",
                    sym,
                    total_initial_margin=f"{total_im:.2f}",
                    equity=equity,
                )
            mm = notional * product.maintenance_margin_rate
            need = mm * (1 + cfg.liquidation_buffer_pct / 100)
            if need > equity:
                raise _reject(
                    "margin",
                    f"{sym}: maintenance margin {mm:.2f} plus the {cfg.liquidation_buffer_pct}% "
                    f"buffer exceeds equity {equity}",
                    sym,
                    maintenance_margin=f"{mm:.2f}",
                    mmr=product.maintenance_margin_rate,
                    equity=equity,
                )
            return order_im
        if cost * rate > cash:
            raise _reject(
                "insufficient_cash",
                f"{sym}: order costs {cost:.2f} {quote_ccy} > cash {cash} USD{in_quote}",
                sym,
                order_cost=f"{cost:.2f}",
                cash=cash,
                quote_asset=quote_ccy,
            )
        return cost

    def _correlation(
        self,
        request: OrderRequest,
        size: Decimal,
        sym: str,
        sign: int,
        snapshot: AccountSnapshot,
        product: Product,
        ref_price: Decimal,
    ) -> tuple[OrderRequest, Decimal]:
        """Refuse an entry that repeats an open bet; scale one that mostly repeats it (unless the cycle's
        verdict already scaled this symbol, which PerpsBot applied)."""
        cfg = self.config
        held = self._held_signs(snapshot)
        # the open book first, then entries accepted earlier this cycle in symbols not held (the order
        # decides ties); `sym` itself has no pair with itself, so max_correlation skips it
        if self._flat_held is not held:
            self._flat_held = held
            self._flat_entries = {s: sgn for s, sgn in self._cycle_entries.items() if s not in held}
        flat = self._flat_entries
        extra = flat.items()
        if not flat and (not held or (len(held) == 1 and sym in held)):
            return request, size
        # same-direction exposure to the same moves: corr * position sign * entry sign
        stats = self.stats
        row = self._correlations.get(sym) if self._correlations_version == stats.version else None
        if row is not None:  # the guard already scanned the open book: continue from its result
            start = (row[2], row[3]) if sign > 0 else (row[4], row[5])
            if extra:
                worst, worst_with = stats.max_correlation(sym, extra, cfg.correlation_min_samples, sign, start=start)
            else:
                worst, worst_with = (1.0 if start[0] > 1.0 else start[0]), start[1]
        else:
            others = chain(held.items(), extra) if extra else held.items()
            worst, worst_with = stats.max_correlation(sym, others, cfg.correlation_min_samples, sign)
        if worst >= cfg.correlation_refuse_threshold:
            self.metrics.inc("risk.guards.correlation.recoverable_failures")
            raise _reject(
                "correlation",
                f"{sym}: entry correlates {worst:.2f} with {worst_with} "
                f"(refuse at {cfg.correlation_refuse_threshold:g})",
                sym,
                correlation=f"{worst:.4f}",
                with_symbol=worst_with,
                refuse_threshold=cfg.correlation_refuse_threshold,
            )
        if worst >= cfg.correlation_threshold and sym not in self._scaled and request.size is not None:
            scaled = quantize_size(request.size * cfg.correlation_scale, product)
            self.metrics.inc("risk.guards.correlation.recoverable_failures")
            if scaled <= 0:
                raise _reject(
                    "correlation",
                    f"{sym}: correlated entry scales to zero",
                    sym,
                    correlation=f"{worst:.4f}",
                    with_symbol=worst_with,
                )
            return msgspec.structs.replace(request, size=scaled), scaled
        return request, size
