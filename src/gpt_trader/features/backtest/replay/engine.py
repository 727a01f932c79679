"""Replay engine: walk the bars on the venue's clock, run the strategy's live `decide` on each completed
bar, size in Decimal, and fill through `BacktestBroker` (the shared MatchingEngine).

At bar k's open the bar k-1 has just closed: mark equity at its close, apply the modelled guards, ask
the strategy, then (after any funding due at this open) submit a market order that fills at this open.
This is the same sequence as the fast kernel, done with the live objects and Decimal money.
"""

from __future__ import annotations

import math
import time
from decimal import Decimal

from gpt_trader.features.backtest import pricing
from gpt_trader.features.backtest.bars import Bars
from gpt_trader.features.backtest.config import BacktestConfig
from gpt_trader.features.backtest.metrics import compute_metrics
from gpt_trader.features.backtest.replay.broker import BacktestBroker
from gpt_trader.features.backtest.result import BacktestResult, Trade, TradeLog, ns_to_dt, trade_pnl
from gpt_trader.features.backtest.strategy_signals import BarColumns
from gpt_trader.features.brokerages.core.interfaces import (
    BrokerageError,
    Liquidity,
    OrderRequest,
    OrderSide,
    OrderType,
    TimeInForce,
)
from gpt_trader.features.live_trade.strategies.base import Action, Strategy

ZERO = Decimal(0)


def _frac(p: Decimal | None) -> float:
    return float(p) / 100.0 if p is not None else 0.0


class _Open:
    __slots__ = ("entry_k", "entry_price", "fees", "funding", "size")

    def __init__(self, entry_k: int, size: Decimal, entry_price: Decimal, fee: Decimal) -> None:
        self.entry_k = entry_k
        self.size = size
        self.entry_price = entry_price
        self.fees = fee
        self.funding = ZERO

    def trade(self, bars: Bars, exit_k: int | None, price: Decimal, exit_fee: Decimal = ZERO) -> Trade:
        """The round trip, closed at bar `exit_k` (None: still open, marked at `price`)."""
        fees_f, fund_f = float(self.fees + exit_fee), float(self.funding)
        return Trade(
            entry_time=ns_to_dt(int(bars.ts_ns[self.entry_k])),
            exit_time=None if exit_k is None else ns_to_dt(int(bars.ts_ns[exit_k])),
            side="long",
            size=self.size,
            entry_price=self.entry_price,
            exit_price=price,
            fees=fees_f,
            pnl=trade_pnl(self.size, self.entry_price, price, fees_f, fund_f),
            funding=fund_f,
        )


def run_replay(bars: Bars, strategy: Strategy, config: BacktestConfig) -> BacktestResult:
    import numpy as np

    broker = BacktestBroker(bars, config)
    product = broker.product
    symbol, quote_ccy, base_ccy = product.symbol, product.quote_asset, product.base_asset
    fee_rate = config.fee_rate
    n = len(bars)
    closes: list[float] = bars.close.tolist()
    opens: list[float] = bars.open.tolist()
    funding: list[float] = bars.funding.tolist()
    days: list[int] = bars.day.tolist()
    cols = BarColumns(bars, strategy.history_needed)
    window_at = cols.window_at
    shorts_unsupported = product.is_perpetual
    stop_loss, take_profit = _frac(config.stop_loss_pct), _frac(config.take_profit_pct)
    max_daily, max_dd = _frac(config.max_daily_loss_pct), _frac(config.max_drawdown_pct)
    rules = {
        "stop_loss": 0,
        "take_profit": 0,
        "trailing_stop": 0,
        "limit_entry_filled": 0,
        "limit_entry_expired": 0,
        "daily_loss": 0,
        "max_drawdown": 0,
        "size_capped_by_cash": 0,
        "skipped_below_min_size": 0,
    }
    equity_list: list[float] = []
    record = equity_list.append
    trades: list[Trade] = []
    cash = config.initial_cash
    pos = ZERO
    cash_f, pos_f = float(cash), 0.0
    funding_paid = ZERO
    open_trade: _Open | None = None
    entry_px_f = 0.0
    peak = day_start = float(config.initial_cash)
    blocked_day = -1
    halted = False
    exposure = 0
    total_fees = ZERO
    maker_fees = ZERO
    decide = strategy.decide
    set_bar = broker.set_bar
    highs: list[float] = bars.high.tolist()
    lows: list[float] = bars.low.tolist()
    trailing = _frac(config.trailing_pct)
    protect = stop_loss > 0.0 or take_profit > 0.0 or trailing > 0.0
    anchor = 0.0  # trailing: the best high since entry, bars before the current one
    # limit entries: offset under the signal bar's close (< 0: market entries), bars it rests, maker fee
    entry_offset = _frac(config.entry_limit_bps / 100) if config.entry_limit_bps is not None else -1.0
    entry_timeout = config.entry_timeout_bars
    limit_ticks = 0
    limit_left = 0  # bars the resting limit entry still has (0: none resting)
    exit_rule = {
        pricing.EXIT_STOP: "stop_loss",
        pricing.EXIT_TRAIL: "trailing_stop",
        pricing.EXIT_TARGET: "take_profit",
    }

    def entry_qty(price: Decimal, rate: Decimal) -> Decimal | None:
        """The entry size at `price` under the sizing rule (None: below the product's minimum, counted)."""
        afford = pricing.entry_size(cash, Decimal(100), price, rate, product.base_increment)
        if config.size_pct is not None:
            size = pricing.entry_size(cash, config.size_pct, price, rate, product.base_increment)
        else:
            assert config.size_qty is not None
            size = config.size_qty.quantize(product.base_increment, rounding="ROUND_FLOOR")
            if size > afford:
                size = afford
                rules["size_capped_by_cash"] += 1
        if size <= 0 or size < product.base_min_size or size * price < product.quote_min_size:
            rules["skipped_below_min_size"] += 1
            return None
        return size

    def fill(
        k: int, request: OrderRequest, at_ticks: int | None = None, *, resting: bool = False
    ) -> tuple[Decimal, Decimal, Decimal]:
        """Send through the shared matching engine; (filled size, price, fee). Updates cash and position.
        `resting`: a limit that rests, then is crossed (a MAKER fill at its price)."""
        nonlocal cash, pos, cash_f, pos_f, total_fees, maker_fees
        try:
            if resting:
                result = broker.fill_resting(request)
            else:
                result = broker.submit(request) if at_ticks is None else broker.submit_at(request, at_ticks)
        except BrokerageError as exc:
            raise RuntimeError(
                f"replay bar {k} ({ns_to_dt(int(bars.ts_ns[k])).isoformat()}): venue refused "
                f"{request.side.value} {request.size}: {exc}"
            ) from exc
        fee = sum((f.fee for f in result.fills), ZERO)
        filled = sum((f.size for f in result.fills), ZERO)
        if filled != request.size:
            raise RuntimeError(f"replay bar {k}: {request.side.value} {request.size} filled {filled} only")
        total_fees += fee
        maker_fees += sum((f.fee for f in result.fills if f.liquidity is Liquidity.MAKER), ZERO)
        cash = broker.balance(quote_ccy).total - funding_paid
        pos = broker.balance(base_ccy).total
        cash_f, pos_f = float(cash), float(pos)
        return filled, result.fills[0].price, fee

    def book_exit(k: int, px: Decimal, fee: Decimal) -> None:
        nonlocal open_trade
        assert open_trade is not None
        trades.append(open_trade.trade(bars, k, px, fee))
        open_trade = None

    def exit_at(k: int) -> None:
        """The held position's stop / trailing stop / target inside bar k (pricing.intrabar_exit)."""
        nonlocal anchor
        kind, ticks = pricing.intrabar_exit(
            opens[k], highs[k], lows[k], entry_px_f, anchor, stop_loss, take_profit, trailing,
            broker.price_scale, broker.slip_num, broker.slip_den,
        )  # fmt: skip
        if kind == pricing.EXIT_NONE:
            if highs[k] > anchor:
                anchor = highs[k]
            return
        rules[exit_rule[kind]] += 1
        request = _market(symbol, OrderSide.SELL, pos, f"bt-{k}-{exit_rule[kind]}")
        _filled, px, fee = fill(k, request, at_ticks=ticks)
        book_exit(k, px, fee)

    started = time.perf_counter()
    for k in range(n):
        action = None
        if k > 0:
            t = k - 1
            if t > 0 and days[t] != days[t - 1]:
                day_start = equity_list[t - 1]
            eq = cash_f + pos_f * closes[t]
            record(eq)
            if pos_f != 0.0:
                exposure += 1
            if eq > peak:
                peak = eq
            force_exit = False
            if max_dd > 0.0 and not halted and eq <= peak * (1.0 - max_dd):
                halted = True
                rules["max_drawdown"] += 1
                force_exit = True
            if max_daily > 0.0 and blocked_day != days[t] and eq <= day_start * (1.0 - max_daily):
                blocked_day = days[t]
                rules["daily_loss"] += 1
                force_exit = True
            decision = decide(symbol, window_at(t), pos)
            if pos_f > 0.0:
                if force_exit or decision.action is Action.CLOSE or decision.action is Action.SELL:
                    action = OrderSide.SELL
            elif force_exit and limit_left > 0:
                limit_left = 0  # a guard tripped: the resting entry is cancelled
            elif decision.action is Action.BUY and not halted and blocked_day != days[t]:
                if entry_offset < 0.0:
                    action = OrderSide.BUY
                elif limit_left == 0:  # rest a limit under this close for the next bars
                    limit_ticks = math.floor(closes[t] * (1.0 - entry_offset) * broker.price_scale)
                    limit_left = entry_timeout
            elif decision.action is Action.SELL and shorts_unsupported:
                raise NotImplementedError(
                    f"{symbol}: the strategy opens shorts; short positions in the backtest engines are not built yet"
                )
        set_bar(k)
        if pos_f != 0.0 and funding[k] != 0.0:
            pay = pos * Decimal(repr(opens[k])) * Decimal(repr(funding[k]))
            funding_paid += pay
            cash -= pay
            cash_f = float(cash)
            assert open_trade is not None
            open_trade.funding += pay
        if limit_left > 0:  # a resting limit entry: filled when the bar's low crosses it
            limit_px = limit_ticks / broker.price_scale
            if lows[k] < limit_px:
                limit_left = 0
                price = Decimal(limit_ticks) * product.price_increment
                size = entry_qty(price, fee_rate)  # the venue holds cash for the taker fee
                if size is not None:
                    rules["limit_entry_filled"] += 1
                    request = OrderRequest(
                        symbol=symbol,
                        side=OrderSide.BUY,
                        order_type=OrderType.LIMIT,
                        size=size,
                        limit_price=price,
                        post_only=True,
                        client_order_id=f"bt-{k}-limit",
                    )
                    filled, px, fee = fill(k, request, resting=True)
                    open_trade = _Open(k, filled, px, fee)
                    entry_px_f = anchor = float(px)
            else:
                limit_left -= 1
                if limit_left == 0:
                    rules["limit_entry_expired"] += 1
        if action is None:
            if protect and pos_f > 0.0:
                exit_at(k)
            continue
        ask, _bid = broker.ask_bid()
        if action is OrderSide.BUY:
            size = entry_qty(ask, fee_rate)
            if size is None:
                continue
            request = _market(symbol, OrderSide.BUY, size, f"bt-{k}-buy")
        else:
            request = _market(symbol, OrderSide.SELL, pos, f"bt-{k}-sell")
        filled, px, fee = fill(k, request)
        if action is OrderSide.BUY:
            open_trade = _Open(k, filled, px, fee)
            entry_px_f = anchor = float(px)
            if protect:
                exit_at(k)  # the protection rests from the entry's fill: the entry bar's range counts
        else:
            book_exit(k, px, fee)
    last = n - 1
    final_equity = cash + pos * Decimal(repr(closes[last]))
    record(cash_f + pos_f * closes[last])  # as every other bar: a longer run records the same float here
    equity = np.array(equity_list)
    if pos_f != 0.0:
        exposure += 1
    elapsed = time.perf_counter() - started
    if open_trade is not None:
        trades.append(open_trade.trade(bars, None, Decimal(repr(closes[last]))))
    initial = float(config.initial_cash)
    result_obj = BacktestResult(
        engine="replay",
        symbol=bars.symbol,
        strategy=strategy.name,
        params=dict(strategy.params),
        bars=n,
        elapsed_s=elapsed,
        initial_cash=initial,
        final_equity=float(final_equity),
        ts_ns=bars.ts_ns,
        equity=equity,
        close=bars.close,
        trade_log=TradeLog.from_trades(trades),
        total_fees=float(total_fees),
        total_funding=float(funding_paid),
        exposure_bars=exposure,
        granularity_s=bars.granularity_s,
        rules_acted={k: v for k, v in rules.items() if v},
        maker_fees=float(maker_fees),
    )
    result_obj.metrics = compute_metrics(
        equity,
        bars.ts_ns,
        result_obj.trade_log,
        initial_cash=initial,
        granularity_s=bars.granularity_s,
        total_fees=result_obj.total_fees,
        exposure_bars=exposure,
        maker_fees=result_obj.maker_fees,
    )
    return result_obj


def _market(symbol: str, side: OrderSide, size: Decimal, client_order_id: str) -> OrderRequest:
    """A market IOC order, as every replayed entry and exit is (limit entries build their own)."""
    return OrderRequest(
        symbol=symbol,
        side=side,
        order_type=OrderType.MARKET,
        size=size,
        time_in_force=TimeInForce.IOC,
        client_order_id=client_order_id,
    )
