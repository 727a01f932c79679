"""Risk rails: pre-trade validation, runtime guards, circuit breakers and the one trading state (DESIGN §4).

Entry points: `manager.RiskManager` (start / evaluate each cycle -> RuntimeVerdict / check_order before
every send -> PreTradeResult / clear_reduce_only, rebase_daily_loss, rebase_drawdown for the operator),
`RiskManager.trading_state` (`trading_state.TradingState`: ACTIVE / REDUCING / HALTED with its reason;
`subscribe` to hear every change), `config.RiskConfig` (thresholds and per-guard actions),
`manager.AccountSnapshot` (what PerpsBot hands in each cycle). Guards live in `guards` (each returns a
`GuardTrip` or None), pre-trade rules in `pretrade`, structured errors in `errors`, persisted state in
`state`.
"""
