"""The compiled sequential pass of the fast engine.

One loop over bars. At bar t's open: funding on the held position, then the order decided at bar t-1's
close fills (integer-tick prices, floored integer-tick sizes, fee on notional). Inside bar t: the held
position's stop, trailing stop and take-profit from the bar's OHLC (`pricing.intrabar_exit`, the stated
pessimistic rule, compiled from the very function the replay engine runs). At bar t's close: mark
equity, evaluate the modelled guards, then decide the order for bar t+1.
Floats are fine here: this is analytics; the replay engine redoes the same steps in Decimal.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from gpt_trader.features.backtest import pricing

# counters slots
C_STOP, C_TAKE, C_DAILY, C_DD, C_CAPPED, C_SKIP_MIN, C_TRAIL, C_LIMIT_FILLED, C_LIMIT_EXPIRED = range(9)
N_COUNTERS = 9

intrabar_exit = njit(cache=True, nogil=True)(pricing.intrabar_exit)


@njit(cache=True, nogil=True)
def settle(
    q_ticks: Any,
    px_ticks: Any,
    qty: Any,
    px: Any,
    fee_rate: Any,
    value_scale: Any,
    fee_num: Any,
    fee_den: Any,
) -> Any:  # pragma: no cover - compiled
    """(value, fee) of a fill, unrounded as the venue settles them (value = size x price, fee = value x
    rate). From the integer ticks when the product fits in int64: one float rounding of the exact value
    (and of the exact fee when that fits too); else the float product."""
    if q_ticks > 0 and px_ticks > 0 and q_ticks <= 9_000_000_000_000_000_000 // px_ticks:
        prod = q_ticks * px_ticks
        value = prod / value_scale
        if prod <= 9_000_000_000_000_000_000 // max(fee_num, 1) and value_scale <= 9_000_000_000_000_000_000 // fee_den:
            return value, (prod * fee_num) / (value_scale * fee_den)
        return value, value * fee_rate
    value = qty * px
    return value, value * fee_rate


@njit(cache=True, nogil=True)
def simulate(  # pragma: no cover - compiled
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    entries: np.ndarray,
    exits: np.ndarray,
    funding: np.ndarray,
    day: np.ndarray,
    initial_cash: Any,
    fee_rate: Any,
    size_frac: Any,  # > 0: fraction of cash; 0: fixed quantity
    size_qty_ticks: Any,
    price_scale: Any,
    qty_scale: Any,
    min_qty_ticks: Any,
    min_notional: Any,
    slip_num: Any,
    slip_den: Any,
    stop_loss: Any,
    take_profit: Any,
    max_daily_loss: Any,
    max_drawdown: Any,
    value_scale: Any,  # qty_scale x price_scale: value = q_ticks x px_ticks / value_scale exactly
    fee_num: Any,  # fee rate = fee_num / fee_den exactly
    fee_den: Any,
    trailing: Any,
    entry_offset: Any,  # limit entries: fraction under the signal close; < 0: market entries
    entry_timeout: Any,  # bars a limit entry rests
    maker_rate: Any,
    maker_num: Any,
    maker_den: Any,
) -> tuple[Any, ...]:
    n = open_.shape[0]
    equity = np.empty(n)
    cap = n // 2 + 2
    # np.empty: pages are only touched for trades that happen; each slot is set when its entry fills
    t_entry = np.empty(cap, np.int64)
    t_exit = np.empty(cap, np.int64)
    t_size = np.empty(cap, np.int64)
    t_px_in = np.empty(cap, np.int64)
    t_px_out = np.empty(cap, np.int64)
    t_fees = np.empty(cap)
    t_funding = np.empty(cap)
    counters = np.zeros(N_COUNTERS, np.int64)
    cash = initial_cash
    pos_ticks = np.int64(0)
    pos = 0.0
    entry_px = 0.0
    anchor = 0.0  # trailing: the best high since entry, bars before the current one
    protect = stop_loss > 0.0 or take_profit > 0.0 or trailing > 0.0
    n_trades = 0
    limit_ticks = np.int64(0)
    limit_left = 0  # bars the resting limit entry still has (0: none resting)
    pending = 0  # +1 buy, -1 sell
    total_fees = 0.0
    maker_fees = 0.0  # the part of total_fees paid as maker (limit entries)
    total_funding = 0.0
    peak = initial_cash
    day_start_equity = initial_cash
    blocked_day = np.int64(-1)
    halted = False
    exposure_bars = 0
    for t in range(n):
        if t > 0 and day[t] != day[t - 1]:
            day_start_equity = equity[t - 1]
        if pos_ticks != 0 and funding[t] != 0.0:
            pay = pos * open_[t] * funding[t]
            cash -= pay
            total_funding += pay
            t_funding[n_trades - 1] += pay
        sell_ticks = np.int64(-1)
        buy_ticks = np.int64(-1)
        b_rate, b_num, b_den = fee_rate, fee_num, fee_den
        limit_fill = False
        if limit_left > 0:  # a resting limit entry: filled when the bar's low crosses it, maker fee
            if low[t] < limit_ticks / price_scale:
                limit_left = 0
                buy_ticks = limit_ticks
                b_rate, b_num, b_den = maker_rate, maker_num, maker_den
                limit_fill = True
            else:
                limit_left -= 1
                if limit_left == 0:
                    counters[C_LIMIT_EXPIRED] += 1
        if pending != 0:
            ticks0 = np.int64(np.rint(open_[t] * price_scale))
            if pending > 0:
                buy_ticks = -((-ticks0 * (slip_den + slip_num)) // slip_den)
            else:
                sell_ticks = (ticks0 * (slip_den - slip_num)) // slip_den
            pending = 0
        if buy_ticks >= 0:
            px_ticks = buy_ticks
            px = px_ticks / price_scale
            # sized at the taker rate even for a maker fill: the venue holds cash for the worst fee
            afford = np.int64(np.floor(cash / (px * (1.0 + fee_rate)) * qty_scale))
            if size_frac > 0.0:
                q = cash * size_frac / (px * (1.0 + fee_rate))
                q_ticks = np.int64(np.floor(q * qty_scale))
            else:
                q_ticks = size_qty_ticks
                if q_ticks > afford:  # the venue fills what the cash pays for
                    q_ticks = afford
                    counters[C_CAPPED] += 1
            qty = q_ticks / qty_scale
            notional = qty * px
            notional_q, fee = settle(q_ticks, px_ticks, qty, px, b_rate, value_scale, b_num, b_den)
            if q_ticks < min_qty_ticks or q_ticks <= 0 or notional < min_notional:
                counters[C_SKIP_MIN] += 1
            else:
                notional = notional_q
                cash -= notional + fee
                total_fees += fee
                pos_ticks = q_ticks
                pos = qty
                entry_px = px
                anchor = px
                t_entry[n_trades] = t
                t_exit[n_trades] = -1
                t_px_out[n_trades] = 0
                t_funding[n_trades] = 0.0
                t_size[n_trades] = q_ticks
                t_px_in[n_trades] = px_ticks
                t_fees[n_trades] = fee
                n_trades += 1
                if limit_fill:
                    counters[C_LIMIT_FILLED] += 1
                    maker_fees += fee
        if protect and pos_ticks != 0 and sell_ticks < 0:
            kind, exit_ticks = intrabar_exit(
                open_[t], high[t], low[t], entry_px, anchor, stop_loss, take_profit, trailing,
                price_scale, slip_num, slip_den,
            )  # fmt: skip
            if kind != pricing.EXIT_NONE:
                sell_ticks = np.int64(exit_ticks)
                if kind == pricing.EXIT_STOP:
                    counters[C_STOP] += 1
                elif kind == pricing.EXIT_TRAIL:
                    counters[C_TRAIL] += 1
                else:
                    counters[C_TAKE] += 1
        if sell_ticks >= 0:
            px = sell_ticks / price_scale
            notional, fee = settle(pos_ticks, sell_ticks, pos, px, fee_rate, value_scale, fee_num, fee_den)
            cash += notional - fee
            total_fees += fee
            k = n_trades - 1
            t_exit[k] = t
            t_px_out[k] = sell_ticks
            t_fees[k] += fee
            pos_ticks = np.int64(0)
            pos = 0.0
        elif pos_ticks != 0 and high[t] > anchor:
            anchor = high[t]
        eq = cash + pos * close[t]
        equity[t] = eq
        if pos_ticks != 0:
            exposure_bars += 1
        if t == n - 1:
            break  # nothing decided on the last bar can fill
        if eq > peak:
            peak = eq
        force_exit = False
        if max_drawdown > 0.0 and not halted and eq <= peak * (1.0 - max_drawdown):
            halted = True
            counters[C_DD] += 1
            force_exit = True
        if max_daily_loss > 0.0 and blocked_day != day[t] and eq <= day_start_equity * (1.0 - max_daily_loss):
            blocked_day = day[t]
            counters[C_DAILY] += 1
            force_exit = True
        if pos_ticks != 0:
            if force_exit or exits[t]:
                pending = -1
        elif force_exit and limit_left > 0:
            limit_left = 0  # a guard tripped: the resting entry is cancelled
        elif entries[t] and not halted and blocked_day != day[t]:
            if entry_offset < 0.0:
                pending = 1
            elif limit_left == 0:  # rest a limit under this close for the next bars
                limit_ticks = np.int64(np.floor(close[t] * (1.0 - entry_offset) * price_scale))
                limit_left = entry_timeout
    return (
        equity,
        cash,
        n_trades,
        t_entry,
        t_exit,
        t_size,
        t_px_in,
        t_px_out,
        t_fees,
        t_funding,
        counters,
        total_fees,
        total_funding,
        exposure_bars,
        maker_fees,
    )


def kernel() -> Any:
    return simulate
