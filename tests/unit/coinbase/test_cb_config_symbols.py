import re

import cb_keys as keys
import msgspec
import pytest

from gpt_trader.features.brokerages.coinbase.auth import CredentialError
from gpt_trader.features.brokerages.coinbase.config import CoinbaseSettings
from gpt_trader.features.brokerages.coinbase.profile_config import CoinbaseConfig
from gpt_trader.features.brokerages.coinbase.symbols import SymbolMap, derivatives_allowed, is_perp_symbol
from gpt_trader.orchestration.configuration import ConfigError
from gpt_trader.orchestration.venue_settings import coinbase_settings_from_env

CREDS = {"COINBASE_PROD_CDP_API_KEY": keys.KEY_NAME, "COINBASE_PROD_CDP_PRIVATE_KEY": keys.EC_SEC1_PEM}


def test_defaults_are_production_hosts() -> None:
    s = coinbase_settings_from_env(CREDS)
    assert s.api_base_url == "https://api.coinbase.com"
    assert s.ws_url == "wss://advanced-trade-ws.coinbase.com"
    assert s.ws_user_url == "wss://advanced-trade-ws-user.coinbase.com"
    assert not s.enable_derivatives and s.private_rps == 30 and s.public_rps == 10
    assert "PRIVATE KEY" not in repr(s)


def test_overrides_and_validation() -> None:
    env = dict(
        CREDS,
        COINBASE_API_BASE_URL="http://127.0.0.1:9",
        COINBASE_WS_URL="ws://127.0.0.1:9/ws",
        COINBASE_WS_USER_URL="ws://127.0.0.1:9/ws/user",
        COINBASE_ENABLE_DERIVATIVES="1",
        COINBASE_RATE_LIMIT_PRIVATE="15",
        COINBASE_CLIENT_SIDE_STOPS="always",
    )
    s = coinbase_settings_from_env(env)
    assert s.enable_derivatives and s.private_rps == 15 and s.client_side_stops == "always"
    with pytest.raises(ConfigError, match="COINBASE_ENABLE_DERIVATIVES='maybe'"):
        coinbase_settings_from_env(dict(CREDS, COINBASE_ENABLE_DERIVATIVES="maybe"))
    with pytest.raises(ConfigError, match=re.escape("coinbase.ws_url = 'https://x' (from env COINBASE_WS_URL)")):
        coinbase_settings_from_env(dict(CREDS, COINBASE_WS_URL="https://x"))
    with pytest.raises(ConfigError, match="allowed: one of 'auto', 'always', 'never'"):
        coinbase_settings_from_env(dict(CREDS, COINBASE_CLIENT_SIDE_STOPS="sometimes"))
    with pytest.raises(
        ConfigError, match=re.escape("coinbase.rate_limit_public = -1.0 (from env COINBASE_RATE_LIMIT_PUBLIC)")
    ):
        coinbase_settings_from_env(dict(CREDS, COINBASE_RATE_LIMIT_PUBLIC="-1"))
    with pytest.raises(CredentialError):
        coinbase_settings_from_env({})
    assert coinbase_settings_from_env({}, require_credentials=False).signer is None


class _Cfg:
    coinbase = CoinbaseConfig(
        auth_type="hmac",
        api_base_url="http://127.0.0.1:1",
        ws_url="ws://127.0.0.1:1/ws",
        ws_user_url="ws://127.0.0.1:1/ws/user",
        enable_derivatives=True,
    )


class _Creds:
    cdp_api_key = None
    cdp_private_key = None
    api_key = "k"
    api_secret = "s"


def test_from_bot_config() -> None:
    s = CoinbaseSettings.from_bot_config(_Cfg, _Creds)
    assert s.signer is not None and s.signer.kind == "hmac"
    assert s.api_base_url == "http://127.0.0.1:1" and s.enable_derivatives


def test_from_bot_config_infers_auth_type_unless_one_is_set() -> None:
    class Unset:
        coinbase = msgspec.structs.replace(_Cfg.coinbase, auth_type=None)

    class Cdp:
        coinbase = msgspec.structs.replace(_Cfg.coinbase, auth_type="cdp")

    s = CoinbaseSettings.from_bot_config(Unset, _Creds)
    assert s.signer is not None and s.signer.kind == "hmac"
    with pytest.raises(CredentialError, match="COINBASE_PROD_CDP_API_KEY"):
        CoinbaseSettings.from_bot_config(Cdp, _Creds)


def test_perps_gate_and_normalisation() -> None:
    assert derivatives_allowed(True, True)
    assert not derivatives_allowed(True, False) and not derivatives_allowed(False, True)
    assert is_perp_symbol("BTC-PERP") and is_perp_symbol("eth-perp-intx") and not is_perp_symbol("BTC-USD")
    off = SymbolMap({"BTC-USD", "ETH-USD"}, perps_enabled=False)
    assert off.to_venue("BTC-PERP") == "BTC-USD"
    assert off.to_venue("BTC-PERP") == "BTC-USD"
    assert off.to_venue("ETH-PERP-INTX") == "ETH-USD"
    assert len(off.notices) == 2 and "BTC-PERP trades as spot BTC-USD" in off.notices[0]
    assert off.to_caller("BTC-USD") == "BTC-PERP" and off.to_caller("SOL-USD") == "SOL-USD"
    on = SymbolMap({"BTC-USD", "BTC-PERP-INTX"}, perps_enabled=True)
    assert on.to_venue("BTC-PERP") == "BTC-PERP-INTX" and on.to_caller("BTC-PERP-INTX") == "BTC-PERP"
    assert on.to_venue("BTC-PERP-INTX") == "BTC-PERP-INTX" and on.notices == []
