"""Coinbase Advanced Trade compatible exchange simulator (REST v3 + WebSocket + admin API).

Entry points: `ExchangeSimulator` (async, in-process), `run_simulator(SimArgs)` (blocking),
`cli.exchange_sim_command` (typer, wired as `perps-bot exchange-sim`), `python -m gpt_trader.exchange_sim`.

One aiohttp server: REST under /api/v3/brokerage (+ the Coinbase App /v2 routes ccxt calls, `v2.py`),
market WS at /ws, user WS at /ws/user, admin API at /admin (see `admin.py`), fault spec syntax in
`faults.py`. The matching, fees, holds, stops, brackets, perps funding/liquidation are the shared
`core.matching.MatchingEngine`; market data is `core.synthetic.SyntheticMarket` (seeded) or replayed
candle/trade files (`replay.py`), driven by a simulated clock (`--speed` sim-seconds per wall-second,
jumps via POST /admin/advance).

Choices where Coinbase is not documented ([?] in COINBASE.md), all configurable:
- Duplicate `client_order_id`: answers `success:true` with the FIRST order's id and no new order
  (`VenueConfig.duplicate_client_order_id="existing"`); "reject" gives success:false INVALID_REQUEST.
- `batch_cancel` takes at most 100 ids (400 INVALID_ARGUMENT above). Cancelling a terminal order gives
  ORDER_IS_FULLY_FILLED (filled) or DUPLICATE_CANCEL_REQUEST; unknown ids UNKNOWN_CANCEL_ORDER.
- REST limits: fixed one-second windows, 30 req/s per credential (private) and 10 req/s per IP
  (public); `x-ratelimit-reset` is the UNIX second the window ends. The real limiter answers 429 with
  a JSON body; the `http429` fault answers with an HTML page (as seen live) so clients cannot assume JSON.
- Rejected creates: HTTP 200, `success:false`, `error_response.error` = the engine's failure reason,
  `preview_failure_reason` = `PREVIEW_` + reason. Rejected orders are not stored.
- WS: level2 snapshot is sent before the subscriptions ack; other channels ack first. Unknown channel
  -> `{"type":"error","message":"authentication failure"}`; bad product / `channels` list / missing
  product_ids -> "failure to subscribe". No subscribe within 5 s or nothing sent for 90 s -> close 1000.
  level2 publishes the top 50 levels per side (`VenueConfig.book_depth`); snapshot event_time is
  1970-01-01T00:00:00Z. user snapshot: batches of 50 open orders, one frame each.
- JWT: iss cdp|coinbase-cloud; aud (if present) within retail_rest_api_proxy|cdp_service; 5 s leeway;
  lifetime (exp - nbf) <= 300 s; nonces are not tracked. HMAC window +-30 s; signature lowercase hex.
- Delayed fills (fault): the order is acknowledged (status OPEN) and reaches the engine later; it keeps
  the id it was acknowledged with.
- Portfolios: the DEFAULT one plus any CONSUMER ones created over REST, each its own ledger; orders
  trade in the DEFAULT portfolio only (another `retail_portfolio_id` is refused INVALID_REQUEST).
  move_funds / delete / naming rules in `portfolio_book.py`, convert pricing and fees in `convert.py`,
  payment methods in `payments.py`. CFM lists no positions (the venue lists INTX perps only).
- INTX access (`SimulatorConfig.intx_access`, `--no-intx-access`, POST /admin/intx): without it,
  key_permissions is unchanged (DEFAULT), INTX routes answer 403 "Missing required scopes" (or 404 with
  `intx_denial="not_found"`) and perp orders are refused INELIGIBLE_PAIR (see `intx.py`).
"""

from gpt_trader.exchange_sim.cli import SimArgs, exchange_sim_command, run_simulator
from gpt_trader.exchange_sim.server import ExchangeSimulator, SimulatorConfig

__all__ = ["ExchangeSimulator", "SimArgs", "SimulatorConfig", "exchange_sim_command", "run_simulator"]
