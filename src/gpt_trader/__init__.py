"""GPT-Trader: a Coinbase Advanced Trade bot.

Entry points: `gpt_trader.cli` (perps-bot), `gpt_trader.orchestration.perps_bot.PerpsBot`.
"""

from gpt_trader.lean_imports import without_extras

with without_extras():  # structlog's rich tracebacks are not needed by the bot (lean live process)
    import structlog  # noqa: F401
