"""Wire samples shaped as in COINBASE.md (field names and value styles from the live samples it cites)."""

PRODUCT_BTC = b"""{
 "product_id":"BTC-USD","price":"37000.12","price_percentage_change_24h":"1.2","volume_24h":"100",
 "base_increment":"0.00000001","quote_increment":"0.01","quote_min_size":"1","quote_max_size":"150000000",
 "base_min_size":"0.00000001","base_max_size":"3400","base_name":"Bitcoin","quote_name":"US Dollar",
 "watched":false,"is_disabled":false,"new":false,"status":"online","cancel_only":false,"limit_only":false,
 "post_only":false,"trading_disabled":false,"auction_mode":false,"product_type":"SPOT",
 "quote_currency_id":"USD","base_currency_id":"BTC","fcm_trading_session_details":null,
 "mid_market_price":"","alias":"","alias_to":["BTC-USDC"],"base_display_symbol":"BTC",
 "quote_display_symbol":"USD","view_only":false,"price_increment":"0.01","display_name":"BTC/USD",
 "product_venue":"CBE","approximate_quote_24h_volume":"1","some_future_field":{"x":1}
}"""

PRODUCT_PERP = b"""{
 "product_id":"BTC-PERP-INTX","price":"37010","base_increment":"0.0001","quote_increment":"0.1",
 "quote_min_size":"10","quote_max_size":"50000000","base_min_size":"0.0001","base_max_size":"50",
 "status":"online","product_type":"FUTURE","quote_currency_id":"USDC","base_currency_id":"BTC",
 "price_increment":"0.1","product_venue":"INTX",
 "future_product_details":{"venue":"intx","contract_code":"BTC","contract_size":"1",
   "contract_root_unit":"BTC","contract_expiry_type":"PERPETUAL",
   "perpetual_details":{"open_interest":"1000","funding_rate":"0.000012","funding_time":"2024-01-01T01:00:00Z",
   "max_leverage":"20"}}
}"""

#: the USDC/INTX fields of an ETH-PERP-INTX product as recorded on the real venue (issue 10)
PRODUCT_ETH_PERP_RECORDED = b"""{
 "product_id":"ETH-PERP-INTX","price":"3300.5","base_increment":"0.0001","quote_increment":"0.01",
 "quote_min_size":"10","quote_max_size":"50000000","base_min_size":"0.0001","base_max_size":"5000",
 "status":"online","product_type":"FUTURE","quote_currency_id":"USDC","quote_display_symbol":"USDC",
 "base_currency_id":"","base_display_symbol":"ETH","product_venue":"INTX","display_name":"ETH PERP",
 "price_increment":"0.01",
 "future_product_details":{"venue":"INTX","contract_code":"ETH","contract_size":"1",
   "contract_root_unit":"ETH","contract_expiry_type":"PERPETUAL",
   "perpetual_details":{"open_interest":"12.5","funding_rate":"0.000011","funding_time":"2024-01-01T01:00:00Z",
   "max_leverage":"20"}}
}"""

ORDER_FILLED_MARKET = b"""{"order":{
 "order_id":"0000-000000-000000","product_id":"BTC-USD","user_id":"u1",
 "order_configuration":{"market_market_ioc":{"quote_size":"10.00"}},
 "side":"BUY","client_order_id":"cid-1","status":"FILLED","time_in_force":"IMMEDIATE_OR_CANCEL",
 "created_time":"2024-01-02T03:04:05.123456789Z","completion_percentage":"100.00","filled_size":"0.00027",
 "average_filled_price":"37000.00","fee":"","number_of_fills":"2","filled_value":"9.99","pending_cancel":false,
 "size_in_quote":false,"total_fees":"0.06","size_inclusive_of_fees":false,"total_value_after_fees":"10.05",
 "trigger_status":"INVALID_ORDER_TYPE","order_type":"MARKET","reject_reason":"REJECT_REASON_UNSPECIFIED",
 "settled":true,"product_type":"SPOT","reject_message":"","cancel_message":"",
 "order_placement_source":"RETAIL_ADVANCED","outstanding_hold_amount":"0","is_liquidation":false,
 "last_fill_time":"2024-01-02T03:04:05.5Z","edit_history":[],"leverage":"","margin_type":"UNKNOWN_MARGIN_TYPE"
}}"""

FILLS = b"""{"fills":[{"entry_id":"e1","trade_id":"t1","order_id":"o1","trade_time":"2024-01-02T03:04:05.1Z",
 "trade_type":"FILL","price":"37000.5","size":"0.001","commission":"0.222003","product_id":"BTC-USD",
 "sequence_timestamp":"2024-01-02T03:04:05.1Z","liquidity_indicator":"MAKER","size_in_quote":false,
 "user_id":"u1","side":"BUY","retail_portfolio_id":"p","cursor":"c1"}],"cursor":""}"""

ACCOUNTS = b"""{"accounts":[{"uuid":"a1","name":"BTC Wallet","currency":"BTC",
 "available_balance":{"value":"1.5","currency":"BTC"},"default":true,"active":true,"created_at":"",
 "updated_at":"","deleted_at":null,"type":"ACCOUNT_TYPE_CRYPTO","ready":true,
 "hold":{"value":"0.25","currency":"BTC"},"retail_portfolio_id":"p","platform":"ACCOUNT_PLATFORM_CONSUMER"}],
 "has_next":false,"cursor":"","size":1}"""

CREATE_OK = b"""{"success":true,"failure_reason":"UNKNOWN_FAILURE_REASON","order_id":"o-9",
 "success_response":{"order_id":"o-9","product_id":"BTC-USD","side":"BUY","client_order_id":"cid-9"},
 "order_configuration":{"limit_limit_gtc":{"base_size":"0.001","limit_price":"30000","post_only":false}}}"""

CREATE_REJECTED = b"""{"success":false,"failure_reason":"UNKNOWN_FAILURE_REASON","order_id":"",
 "error_response":{"error":"INSUFFICIENT_FUND","message":"Insufficient balance in source account",
 "error_details":"","preview_failure_reason":"PREVIEW_INSUFFICIENT_FUND"},
 "order_configuration":{"market_market_ioc":{"quote_size":"100000"}}}"""

INTX_POSITIONS = b"""{"positions":[
 {"product_id":"1r4njf84-0-0","symbol":"BTC-PERP-INTX","position_side":"POSITION_SIDE_SHORT","net_size":"0.5",
  "vwap":{"value":"65000.00","currency":"USDC"},"entry_vwap":{"value":"64000.00","currency":"USDC"},
  "mark_price":{"value":"65000","currency":"USDC"},"liquidation_price":{"value":"80000","currency":"USDC"},
  "unrealized_pnl":{"value":"-500","currency":"USDC"},"leverage":"10","margin_type":"MARGIN_TYPE_CROSS"}],
 "summary":{}}"""
