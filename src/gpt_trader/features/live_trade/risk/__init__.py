"""Risk rails: pre-trade validation, runtime guards and circuit breakers (DESIGN §4).

Entry points: `manager.RiskManager` (start / evaluate each cycle -> RuntimeVerdict / check_order before
every send -> PreTradeResult / clear_reduce_only), `config.RiskConfig` (thresholds and per-guard
actions), `manager.AccountSnapshot` (what PerpsBot hands in each cycle). Guards live in `guards`,
pre-trade rules in `pretrade`, structured errors in `errors`, persisted state in `state`.
"""
