"""Fast engine: the strategy's vectorized `signals` (or `decide` run per bar when it has none) on the whole
series, then the compiled kernel. The kernel is long-only: a short entry on a spot product is ignored
(as the replay does: spot cannot be shorted); on a perpetual it is not built yet and raises."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import NamedTuple

import numpy as np

from gpt_trader.features.backtest.bars import Bars
from gpt_trader.features.backtest.config import BacktestConfig, decimal_places
from gpt_trader.features.backtest.fast import kernel as K
from gpt_trader.features.backtest.metrics import compute_metrics
from gpt_trader.features.backtest.result import BacktestResult, TradeLog
from gpt_trader.features.backtest.strategy_signals import strategy_signals
from gpt_trader.features.brokerages.core.interfaces import Product
from gpt_trader.features.live_trade.strategies.base import Signals, Strategy


def _frac(p: Decimal | None) -> float:
    return float(p) / 100.0 if p is not None else 0.0


def refuse_shorts_on_perps(signals: Signals, is_perpetual: bool, symbol: str) -> None:
    """Both engines are long-only so far: a perp short entry must not be silently dropped."""
    if is_perpetual and signals.short_entry is not None and bool(signals.short_entry.any()):
        raise NotImplementedError(
            f"{symbol}: the strategy opens shorts; short positions in the backtest engines are not built yet"
        )


class Scales(NamedTuple):
    """A product's integer-tick scales and the fill model's exact constants, as the kernel takes them."""

    price_scale: int
    qty_scale: int
    value_scale: int  # price_scale x qty_scale: value = q_ticks x px_ticks / value_scale, exactly
    fee_num: int
    fee_den: int


def product_scales(product: Product, config: BacktestConfig) -> Scales:
    pk = decimal_places(product.price_increment, "price_increment")
    qk = decimal_places(product.base_increment, "base_increment")
    fee_num, fee_den = config.fee_rate.as_integer_ratio()
    return Scales(10**pk, 10**qk, 10 ** (pk + qk), fee_num, fee_den)


def run_fast(bars: Bars, strategy: Strategy, config: BacktestConfig) -> BacktestResult:
    product = config.product_for(bars.symbol)
    price_scale, qty_scale, value_scale, fee_num, fee_den = product_scales(product, config)
    slip_num, slip_den = config.slippage_ratio()
    maker_num, maker_den = config.maker_fee_rate.as_integer_ratio()
    simulate = K.kernel()
    day = bars.day
    started = time.perf_counter()
    signals, source = strategy_signals(strategy, bars, shorts=product.is_perpetual)
    refuse_shorts_on_perps(signals, product.is_perpetual, bars.symbol)
    entries, exits = signals.long_entry, signals.long_exit
    out = simulate(
        bars.open,
        bars.high,
        bars.low,
        bars.close,
        np.ascontiguousarray(entries, dtype=np.bool_),
        np.ascontiguousarray(exits, dtype=np.bool_),
        bars.funding,
        day,
        float(config.initial_cash),
        float(config.fee_rate),
        _frac(config.size_pct),
        np.int64(int(config.size_qty * qty_scale) if config.size_qty is not None else 0),
        np.int64(price_scale),
        np.int64(qty_scale),
        np.int64(int(product.base_min_size * qty_scale)),
        float(product.quote_min_size),
        np.int64(slip_num),
        np.int64(slip_den),
        _frac(config.stop_loss_pct),
        _frac(config.take_profit_pct),
        _frac(config.max_daily_loss_pct),
        _frac(config.max_drawdown_pct),
        np.int64(value_scale),
        np.int64(fee_num),
        np.int64(fee_den),
        _frac(config.trailing_pct),
        _frac(config.entry_limit_bps / 100) if config.entry_limit_bps is not None else -1.0,
        np.int64(config.entry_timeout_bars),
        float(config.maker_fee_rate),
        np.int64(maker_num),
        np.int64(maker_den),
    )
    (
        equity,
        _cash,
        n_trades,
        t_entry,
        t_exit,
        t_size,
        t_in,
        t_out,
        t_fees,
        t_funding,
        counters,
        total_fees,
        total_funding,
        exposure_bars,
        maker_fees,
    ) = out
    k = int(n_trades)
    entry_idx, exit_idx = t_entry[:k], t_exit[:k]
    trade_log = TradeLog.from_ticks(
        entry_ns=bars.ts_ns[entry_idx],
        exit_ns=np.where(exit_idx >= 0, bars.ts_ns[np.maximum(exit_idx, 0)], -1),
        size_ticks=t_size[:k],
        entry_ticks=t_in[:k],
        exit_ticks=t_out[:k],
        fees=t_fees[:k].copy(),
        funding=t_funding[:k].copy(),
        price_increment=product.price_increment,
        base_increment=product.base_increment,
        last_close=float(bars.close[-1]) if len(bars) else 0.0,
    )
    rules = {
        "stop_loss": int(counters[K.C_STOP]),
        "take_profit": int(counters[K.C_TAKE]),
        "trailing_stop": int(counters[K.C_TRAIL]),
        "limit_entry_filled": int(counters[K.C_LIMIT_FILLED]),
        "limit_entry_expired": int(counters[K.C_LIMIT_EXPIRED]),
        "daily_loss": int(counters[K.C_DAILY]),
        "max_drawdown": int(counters[K.C_DD]),
        "size_capped_by_cash": int(counters[K.C_CAPPED]),
        "skipped_below_min_size": int(counters[K.C_SKIP_MIN]),
    }
    initial = float(config.initial_cash)
    result = BacktestResult(
        engine="fast",
        symbol=bars.symbol,
        strategy=strategy.name,
        params=dict(strategy.params),
        bars=len(bars),
        elapsed_s=0.0,
        initial_cash=initial,
        final_equity=float(equity[-1]) if len(bars) else initial,
        ts_ns=bars.ts_ns,
        equity=equity,
        close=bars.close,
        trade_log=trade_log,
        total_fees=float(total_fees),
        total_funding=float(total_funding),
        exposure_bars=int(exposure_bars),
        granularity_s=bars.granularity_s,
        rules_acted={k: v for k, v in rules.items() if v},
        signals_source=source,
        maker_fees=float(maker_fees),
    )
    result.metrics = compute_metrics(
        equity,
        bars.ts_ns,
        trade_log,
        initial_cash=initial,
        granularity_s=bars.granularity_s,
        total_fees=result.total_fees,
        exposure_bars=result.exposure_bars,
        maker_fees=result.maker_fees,
    )
    result.elapsed_s = time.perf_counter() - started
    return result
