"""Dashboards over the bot's own files, never the exchange: they work while the bot runs and after it stops.

Entry points: `source.DashboardSource` (one read-only view of a profile's store, metrics.json and health
file -> `Snapshot`), `terminal.run_terminal` (`perps-bot dashboard`, rich Live), `web.create_app` /
`web.serve` (`perps-bot web`, a read-only aiohttp app in its own process; only this module imports
aiohttp.web), `auth` (the web token), `cli` (the two commands). The trading process imports none of it.
"""
