"""Wiring and the trading cycle. Entry points: `perps_bot.PerpsBot`, `configuration.ConfigManager`,
`service_registry.build_registry`."""
