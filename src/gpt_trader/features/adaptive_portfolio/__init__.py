"""Tier-based portfolio: one cash balance shared by a universe of symbols, with equity tiers setting
the number of concurrent positions, the risk per trade, the allowed products and the sizing method.

Entry points: `engine.run_portfolio(universe, strategy, config, tiers, engine="fast"|"replay")`,
`universe.Universe` (aligned bars), `cli.portfolio_command` (`perps-bot portfolio`). The tier rules
themselves (`live_trade/tiers.py`) are pure Python and are what the live loop uses; the live loop
never imports this slice.

Both engines follow the same sequence per bar: at the open, pending exits fill (symbol order), then
pending entries (symbol order) sized from the cash left; at the close, equity is marked, the tier is
updated (changes are recorded), exits are decided for held symbols and entries for flat ones while
the tier has free position slots and allows the product. The fast engine takes each symbol's signals
(vectorized, or `decide` per bar) and keeps a float ledger with the kernel's fill arithmetic; the
replay engine asks `decide` bar by bar and fills through the shared MatchingEngine in Decimal.
"""

__experimental__ = True
