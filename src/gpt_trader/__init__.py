"""GPT-Trader: a Coinbase Advanced Trade bot.

Entry points: `gpt_trader.cli` (perps-bot), `gpt_trader.orchestration.perps_bot.PerpsBot`.
"""
