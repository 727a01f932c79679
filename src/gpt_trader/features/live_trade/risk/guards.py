"""Runtime guards and circuit breakers: small named checks that return a `GuardTrip` (or None).

Each guard owns its name, its action (the profile's `risk.actions`, else its default), its banner line
and any per-trip refinement of the action (correlation's scale-down band); the RiskManager applies the
action to the one TradingState, counts and remembers the trip, with no per-guard special cases. A trip
becomes a `RiskGuard<Name>Error` (`GuardTrip.to_error`) for callers that want an exception. Account
guards look at the whole book once per cycle, symbol guards once per symbol: `scan` runs a guard's
cheap `candidates` pre-test over every symbol and `check` (the one place that decides and words a trip)
only on the symbols the pre-test could not clear.
"""

from __future__ import annotations

from collections.abc import Container, ItemsView, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import ClassVar

import msgspec

from gpt_trader.features.brokerages.core.interfaces import (
    OrderBook,
    OrderSide,
    Position,
    Product,
    ProductType,
    Quote,
)
from gpt_trader.features.live_trade.risk.config import GuardAction, RiskConfig
from gpt_trader.features.live_trade.risk.errors import GUARD_ERRORS, RiskGuardError
from gpt_trader.features.live_trade.risk.state import RiskState
from gpt_trader.features.live_trade.risk_calculations import (
    BPS,
    HUNDRED,
    MarketStats,
    depth_usd,
    estimate_liquidation_price,
    liquidation_distance_pct,
)

ZERO = Decimal(0)
_TWO_BPS = Decimal(20000)
_PERPETUAL = ProductType.PERPETUAL  # an Enum class attribute lookup costs ~65 ns per symbol


class GuardContext:
    """Everything a guard may look at during one evaluation."""

    __slots__ = (
        "api_calls",
        "api_failures",
        "books",
        "config",
        "correlations",
        "equity",
        "held",
        "held_set",
        "held_signs",
        "marks",
        "max_move_pct",
        "now",
        "positions",
        "products",
        "quotes",
        "state",
        "stats",
    )

    def __init__(
        self,
        *,
        config: RiskConfig,
        state: RiskState,
        stats: MarketStats,
        now: datetime,
        equity: Decimal,
        positions: dict[str, Position],
        quotes: dict[str, Quote],
        books: dict[str, OrderBook],
        products: dict[str, Product],
        api_calls: int,
        api_failures: int,
        marks: Mapping[str, tuple[Decimal, float]] | None = None,
    ) -> None:
        self.config = config
        self.state = state
        self.stats = stats
        self.now = now
        self.equity = equity
        self.positions = positions
        self.quotes = quotes
        self.books = books
        self.products = products
        self.api_calls = api_calls
        self.api_failures = api_failures
        self.max_move_pct = float(config.max_move_pct)
        #: symbol -> +1/-1 of every open position (the pre-trade correlation rule reuses it)
        self.held_signs: dict[str, int] = {
            s: 1 if p.size > ZERO else -1 for s, p in positions.items() if p.size != ZERO
        }
        self.held: ItemsView[str, int] = self.held_signs.items()
        self.held_set: Container[str] = self.held_signs
        #: symbol not held -> MarketStats.signed_correlations against the open book (the correlation
        #: guard fills it during its scan; valid while stats.version is unchanged)
        self.correlations: dict[str, tuple[float, str, float, str, float, str]] = {}
        #: symbol -> (mark, quote age in s) computed once for this snapshot (empty: guards compute them)
        self.marks: Mapping[str, tuple[Decimal, float]] = marks if marks is not None else {}


class GuardTrip(msgspec.Struct, kw_only=True):
    """A guard's finding: what tripped, where, the numbers, and (rarely) an action the guard chose for
    this trip instead of its configured one, with the word its event shows (`scale_down`)."""

    guard: str
    message: str
    symbol: str | None = None
    details: dict[str, str] = {}
    action: GuardAction | None = None
    shown: str | None = None

    def to_error(self) -> RiskGuardError:
        """The `RiskGuard<Name>Error` describing this trip, for callers that want an exception."""
        return GUARD_ERRORS[self.guard](self.message, symbol=self.symbol, details=self.details)


class Guard:
    """What every guard has: a name, whether it is a circuit breaker (switched off with
    `circuit_breakers_enabled: false`), a hold after its condition clears, its action and banner line."""

    name: ClassVar[str] = ""
    breaker: ClassVar[bool] = False

    def hold_s(self, config: RiskConfig) -> float:
        """Seconds a trip stays active after its condition clears."""
        return 0.0

    def action(self, config: RiskConfig) -> GuardAction:
        """What a trip does unless the trip says otherwise: the profile's `risk.actions`, else the default."""
        return config.action_for(self.name)

    def entry_scale(self, config: RiskConfig) -> Decimal | None:
        """A multiplier for new-entry sizes on a symbol this guard tripped on (None: sizes unchanged)."""
        return None

    def banner(self, config: RiskConfig) -> tuple[str, str]:
        """The guard's line in the start-up banner: (label, limit -> action)."""
        raise NotImplementedError(f"{type(self).__name__}.banner")

    def trip(self, message: str, *, symbol: str | None = None, details: dict[str, str]) -> GuardTrip:
        return GuardTrip(guard=self.name, message=message, symbol=symbol, details=details)


class AccountGuard(Guard):
    """Looks at the whole account once per evaluation."""

    def check(self, ctx: GuardContext) -> GuardTrip | None:
        raise NotImplementedError(f"{type(self).__name__}.check")


class SymbolGuard(Guard):
    """Looks at one symbol at a time (`scan` runs it over the universe)."""

    def check(self, ctx: GuardContext, symbol: str) -> GuardTrip | None:
        raise NotImplementedError(f"{type(self).__name__}.check")

    def candidates(self, ctx: GuardContext, symbols: Iterable[str]) -> Iterable[str]:
        """The symbols `check` may trip on. Guards override this with a cheap test that passes every
        symbol it cannot prove safe; `check` stays the one place that decides and words the trip."""
        return symbols

    def scan(self, ctx: GuardContext, symbols: Iterable[str]) -> list[tuple[str, GuardTrip]]:
        """`check` on every symbol that needs it: (symbol, trip) for each trip."""
        out: list[tuple[str, GuardTrip]] = []
        for symbol in self.candidates(ctx, symbols):
            found = self.check(ctx, symbol)
            if found is not None:
                out.append((symbol, found))
        return out


# ------------------------------------------------------------------------------ account guards
class DailyLossGuard(AccountGuard):
    """Loss since 00:00 UTC, as % of the day's starting equity and as absolute dollars."""

    name = "daily_loss"

    def banner(self, config: RiskConfig) -> tuple[str, str]:
        usd = f" or ${config.max_daily_loss_usd}" if config.max_daily_loss_usd is not None else ""
        return (
            "max daily loss",
            f"{config.max_daily_loss_pct}% of day-start equity{usd} -> {self.action(config)} (resets 00:00 UTC)",
        )

    def check(self, ctx: GuardContext) -> GuardTrip | None:
        start = ctx.state.day_start_equity
        if start is None or start <= ZERO:
            return None
        loss = start - ctx.equity
        if loss <= ZERO:
            return None
        cfg = ctx.config
        pct = loss / start * HUNDRED
        over_pct = pct >= cfg.max_daily_loss_pct
        over_usd = cfg.max_daily_loss_usd is not None and loss >= cfg.max_daily_loss_usd
        if over_pct or over_usd:
            limit = f"{cfg.max_daily_loss_pct}%" if over_pct else f"${cfg.max_daily_loss_usd}"
            return self.trip(
                f"daily loss {_q(loss)} USD ({_q(pct)}%) reached the limit {limit}",
                details={
                    "day_start_equity": str(start),
                    "equity": str(ctx.equity),
                    "loss_usd": str(_q(loss)),
                    "loss_pct": str(_q(pct)),
                    "max_daily_loss_pct": str(cfg.max_daily_loss_pct),
                    "max_daily_loss_usd": str(cfg.max_daily_loss_usd),
                },
            )
        return None


class DrawdownGuard(AccountGuard):
    name = "drawdown"

    def banner(self, config: RiskConfig) -> tuple[str, str]:
        return "max drawdown", f"{config.max_drawdown_pct}% from peak -> {self.action(config)}"

    def check(self, ctx: GuardContext) -> GuardTrip | None:
        peak = ctx.state.peak_equity
        if peak is None or peak <= ZERO or ctx.equity >= peak:
            return None
        dd = (peak - ctx.equity) / peak * HUNDRED
        if dd >= ctx.config.max_drawdown_pct:
            return self.trip(
                f"drawdown {_q(dd)}% from peak {peak} reached the limit {ctx.config.max_drawdown_pct}%",
                details={
                    "peak_equity": str(peak),
                    "equity": str(ctx.equity),
                    "drawdown_pct": str(_q(dd)),
                    "max_drawdown_pct": str(ctx.config.max_drawdown_pct),
                },
            )
        return None


class ErrorRateGuard(AccountGuard):
    """Share of failing exchange calls over the sliding window."""

    name = "error_rate"

    def banner(self, config: RiskConfig) -> tuple[str, str]:
        return (
            "error rate",
            f"> {config.error_rate_threshold:.0%} of exchange calls failing (last {config.error_rate_window_s:g}s, "
            f"at least the last {config.error_rate_min_calls} calls) -> {self.action(config)}",
        )

    def check(self, ctx: GuardContext) -> GuardTrip | None:
        calls = ctx.api_calls
        cfg = ctx.config
        if calls < cfg.error_rate_min_calls:
            return None
        rate = ctx.api_failures / calls
        if rate > cfg.error_rate_threshold:
            return self.trip(
                f"{ctx.api_failures}/{calls} recent exchange calls failed "
                f"({rate:.0%} > {cfg.error_rate_threshold:.0%}; window {cfg.error_rate_window_s:g}s, "
                f"at least the last {cfg.error_rate_min_calls} calls)",
                details={
                    "failures": str(ctx.api_failures),
                    "calls": str(calls),
                    "error_rate": f"{rate:.4f}",
                    "threshold": str(cfg.error_rate_threshold),
                    "window_s": str(cfg.error_rate_window_s),
                },
            )
        return None


class ApiErrorsGuard(AccountGuard):
    name = "api_errors"
    breaker = True

    def banner(self, config: RiskConfig) -> tuple[str, str]:
        return "api errors", f"{config.max_consecutive_api_errors} consecutive -> {self.action(config)}"

    def check(self, ctx: GuardContext) -> GuardTrip | None:
        n = ctx.state.consecutive_api_errors
        if n >= ctx.config.max_consecutive_api_errors:
            return self.trip(
                f"{n} consecutive exchange errors (limit {ctx.config.max_consecutive_api_errors})",
                details={"consecutive_errors": str(n), "limit": str(ctx.config.max_consecutive_api_errors)},
            )
        return None


class ConsecutiveLossesGuard(AccountGuard):
    """Cooldown after N losing round trips in a row (the count is kept by RiskManager)."""

    name = "consecutive_losses"
    breaker = True

    def banner(self, config: RiskConfig) -> tuple[str, str]:
        return (
            "consecutive losses",
            f"{config.max_consecutive_losses} -> {self.action(config)} for {config.loss_cooldown_s:g}s",
        )

    def check(self, ctx: GuardContext) -> GuardTrip | None:
        until = ctx.state.loss_cooldown_until
        if until is not None and ctx.now < until:
            return self.trip(
                f"{ctx.config.max_consecutive_losses} losing trades in a row; entries paused until {until.isoformat()}",
                details={
                    "max_consecutive_losses": str(ctx.config.max_consecutive_losses),
                    "cooldown_until": until.isoformat(),
                    "cooldown_s": str(ctx.config.loss_cooldown_s),
                },
            )
        return None


# ------------------------------------------------------------------------------- symbol guards
class StaleMarkGuard(SymbolGuard):
    name = "stale_mark"

    def banner(self, config: RiskConfig) -> tuple[str, str]:
        return "stale mark", f"> {config.stale_mark_s:g}s -> {self.action(config)} on that symbol"

    def candidates(self, ctx: GuardContext, symbols: Iterable[str]) -> Iterable[str]:
        limit = ctx.config.stale_mark_s
        marks = ctx.marks
        out = []
        for symbol in symbols:
            seen = marks.get(symbol)
            if seen is None or seen[1] > limit:
                out.append(symbol)
        return out

    def check(self, ctx: GuardContext, symbol: str) -> GuardTrip | None:
        quote = ctx.quotes.get(symbol)
        limit = ctx.config.stale_mark_s
        if quote is None:
            return self.trip(
                f"{symbol}: no mark price",
                symbol=symbol,
                details={"age_s": "inf", "stale_mark_s": str(limit)},
            )
        age = (ctx.now - quote.ts).total_seconds()
        if age > limit:
            return self.trip(
                f"{symbol}: mark is {age:.1f}s old (limit {limit:g}s)",
                symbol=symbol,
                details={"age_s": f"{age:.3f}", "stale_mark_s": str(limit), "quote_ts": quote.ts.isoformat()},
            )
        return None


class LiquidationBufferGuard(SymbolGuard):
    """Perps: distance from mark to the liquidation price, in % of mark."""

    name = "liquidation_buffer"

    def banner(self, config: RiskConfig) -> tuple[str, str]:
        return "liquidation buffer", f"< {config.liquidation_buffer_pct}% to liquidation -> {self.action(config)}"

    def candidates(self, ctx: GuardContext, symbols: Iterable[str]) -> Iterable[str]:
        positions = ctx.positions
        if not positions:
            return ()
        products = ctx.products
        out = []
        for symbol in symbols:
            pos = positions.get(symbol)
            if pos is None or pos.size == ZERO:
                continue
            product = products.get(symbol)
            if product is not None and not product.is_perpetual and pos.product_type != _PERPETUAL:
                continue  # spot cannot be liquidated
            out.append(symbol)
        return out

    def check(self, ctx: GuardContext, symbol: str) -> GuardTrip | None:
        pos = ctx.positions.get(symbol)
        if pos is None or pos.size == 0:
            return None
        product = ctx.products.get(symbol)
        if not ((product is not None and product.is_perpetual) or pos.product_type.value == "PERPETUAL"):
            return None
        quote = ctx.quotes.get(symbol)
        mark = quote.mark_price if quote is not None else pos.mark_price
        if mark <= 0:
            return None
        liq = pos.liquidation_price
        if liq is None and product is not None:
            liq = estimate_liquidation_price(pos, product, equity=ctx.equity, mark=mark)
        if liq is None or liq <= 0:
            return None
        dist = liquidation_distance_pct(mark, liq, pos.size > 0)
        buffer = ctx.config.liquidation_buffer_pct
        if dist < buffer:
            return self.trip(
                f"{symbol}: {_q(dist)}% from liquidation at {_q(liq)} (buffer {buffer}%)",
                symbol=symbol,
                details={
                    "mark": str(mark),
                    "liquidation_price": str(_q(liq)),
                    "distance_pct": str(_q(dist)),
                    "buffer_pct": str(buffer),
                    "position_size": str(pos.size),
                },
            )
        return None


class VolatilityGuard(SymbolGuard):
    """A sharp move over the short window, or short-window volatility far above its long-window level."""

    name = "volatility"
    breaker = True

    def hold_s(self, config: RiskConfig) -> float:
        return config.volatility_cooldown_s

    def banner(self, config: RiskConfig) -> tuple[str, str]:
        return (
            "volatility breaker",
            f"move > {config.max_move_pct}% in {config.volatility_short_window} samples or vol "
            f"> {config.volatility_multiple:g}x long-window -> {self.action(config)} "
            f"(hold {config.volatility_cooldown_s:g}s)",
        )

    def candidates(self, ctx: GuardContext, symbols: Iterable[str]) -> Iterable[str]:
        cfg = ctx.config
        return ctx.stats.volatile(symbols, ctx.max_move_pct, cfg.volatility_min_samples, cfg.volatility_multiple)

    def check(self, ctx: GuardContext, symbol: str) -> GuardTrip | None:
        cfg = ctx.config
        move, short, long, samples = ctx.stats.volatility(symbol)
        if move is not None and move > ctx.max_move_pct:
            return self.trip(
                f"{symbol}: price moved {move:.2f}% within {cfg.volatility_short_window} samples "
                f"(limit {cfg.max_move_pct}%)",
                symbol=symbol,
                details={"move_pct": f"{move:.4f}", "max_move_pct": str(cfg.max_move_pct)},
            )
        if samples < cfg.volatility_min_samples:
            return None
        if short is None or long is None or long <= 0:
            return None
        ratio = short / long
        if ratio > cfg.volatility_multiple:
            return self.trip(
                f"{symbol}: short-window volatility is {ratio:.1f}x its long-window level "
                f"(limit {cfg.volatility_multiple:g}x)",
                symbol=symbol,
                details={
                    "short_vol": f"{short:.6g}",
                    "long_vol": f"{long:.6g}",
                    "ratio": f"{ratio:.4f}",
                    "volatility_multiple": str(cfg.volatility_multiple),
                },
            )
        return None


class LiquidityGuard(SymbolGuard):
    """Spread too wide or too little depth on either side of the L2 book."""

    name = "liquidity"
    breaker = True

    def banner(self, config: RiskConfig) -> tuple[str, str]:
        depth = f" or depth < ${config.min_depth_usd}" if config.min_depth_usd > 0 else ""
        return "liquidity breaker", f"spread > {config.max_spread_bps} bps{depth} -> {self.action(config)}"

    def candidates(self, ctx: GuardContext, symbols: Iterable[str]) -> Iterable[str]:
        cfg = ctx.config
        books = ctx.books
        max_spread = cfg.max_spread_bps
        need = cfg.min_depth_usd
        check_depth = need > ZERO
        out = []
        for symbol in symbols:
            book = books.get(symbol)
            if book is None:
                continue
            bids = book.bids
            asks = book.asks
            if not bids or not asks:
                out.append(symbol)
                continue
            b0 = bids[0]
            a0 = asks[0]
            bid = b0.price
            ask = a0.price
            if (
                bid <= ZERO
                or ask <= ZERO
                or (ask - bid) * _TWO_BPS > max_spread * (ask + bid)
                # the best level alone holding the minimum on both sides settles the depth test
                or (check_depth and (bid * b0.size < need or ask * a0.size < need))
            ):
                out.append(symbol)
        return out

    def check(self, ctx: GuardContext, symbol: str) -> GuardTrip | None:
        book = ctx.books.get(symbol)
        if book is None:
            return None
        cfg = ctx.config
        if not book.bids or not book.asks:
            return self.trip(
                f"{symbol}: one side of the book is empty",
                symbol=symbol,
                details={"bid_levels": str(len(book.bids)), "ask_levels": str(len(book.asks))},
            )
        bid = book.bids[0].price
        ask = book.asks[0].price
        if bid <= 0 or ask <= 0:
            return self.trip(
                f"{symbol}: book has no positive prices",
                symbol=symbol,
                details={"bid": str(bid), "ask": str(ask)},
            )
        # spread_bps = (ask - bid) / mid * 1e4 > max  <=>  (ask - bid) * 2e4 > max * (ask + bid): no division
        if (ask - bid) * _TWO_BPS > cfg.max_spread_bps * (ask + bid):
            spread = (ask - bid) / ((ask + bid) / 2) * BPS
            return self.trip(
                f"{symbol}: spread {_q(spread)} bps > {cfg.max_spread_bps} bps",
                symbol=symbol,
                details={"spread_bps": str(_q(spread)), "max_spread_bps": str(cfg.max_spread_bps)},
            )
        if cfg.min_depth_usd > 0:
            levels = cfg.liquidity_depth_levels
            need = cfg.min_depth_usd
            depth = min(depth_usd(book, OrderSide.BUY, levels, need), depth_usd(book, OrderSide.SELL, levels, need))
            if depth < cfg.min_depth_usd:
                return self.trip(
                    f"{symbol}: depth {_q(depth)} USD over {levels} levels < {cfg.min_depth_usd} USD",
                    symbol=symbol,
                    details={"depth_usd": str(_q(depth)), "min_depth_usd": str(cfg.min_depth_usd)},
                )
        return None


class CorrelationGuard(SymbolGuard):
    """A symbol whose returns move with an open position: a new entry there adds the same risk twice."""

    name = "correlation"

    def banner(self, config: RiskConfig) -> tuple[str, str]:
        return (
            "correlation",
            f">= {config.correlation_threshold:g} -> size x{config.correlation_scale}; >= "
            f"{config.correlation_refuse_threshold:g} -> {self.action(config)}",
        )

    def entry_scale(self, config: RiskConfig) -> Decimal | None:
        return config.correlation_scale

    def candidates(self, ctx: GuardContext, symbols: Iterable[str]) -> Iterable[str]:
        held = ctx.held
        if not held:
            return ()
        held_set = ctx.held_set
        threshold = ctx.config.correlation_threshold
        min_samples = ctx.config.correlation_min_samples
        signed = ctx.stats.signed_correlations
        table = ctx.correlations
        out = []
        for symbol in symbols:
            if symbol in held_set:
                continue
            row = signed(symbol, held, min_samples)
            table[symbol] = row
            if row[1] and row[0] >= threshold:  # check's max_correlation is min(row[0], 1.0); threshold <= 1
                out.append(symbol)
        return out

    def check(self, ctx: GuardContext, symbol: str) -> GuardTrip | None:
        held = ctx.held
        if not held or symbol in ctx.held_set:
            return None  # adding to an existing position is the exposure caps' business
        cfg = ctx.config
        worst, worst_with = ctx.stats.max_correlation(symbol, held, cfg.correlation_min_samples)
        if worst_with and worst >= cfg.correlation_threshold:
            found = self.trip(
                f"{symbol}: returns correlate {worst:.2f} (absolute) with the open {worst_with} position "
                f"(threshold {cfg.correlation_threshold:g}, refuse at {cfg.correlation_refuse_threshold:g})",
                symbol=symbol,
                details={
                    "correlation": f"{worst:.4f}",
                    "with": worst_with,
                    "threshold": str(cfg.correlation_threshold),
                    "refuse_threshold": str(cfg.correlation_refuse_threshold),
                },
            )
            if worst < cfg.correlation_refuse_threshold:  # the scale-down band: entries allowed, smaller
                found.action = "warn"
                found.shown = "scale_down"
            return found
        return None


def _q(value: Decimal) -> Decimal:
    """Two decimals for messages."""
    return value.quantize(Decimal("0.01"))


ACCOUNT_GUARDS: tuple[AccountGuard, ...] = (
    DailyLossGuard(),
    DrawdownGuard(),
    ErrorRateGuard(),
    ApiErrorsGuard(),
    ConsecutiveLossesGuard(),
)
SYMBOL_GUARDS: tuple[SymbolGuard, ...] = (
    StaleMarkGuard(),
    LiquidationBufferGuard(),
    VolatilityGuard(),
    LiquidityGuard(),
    CorrelationGuard(),
)
