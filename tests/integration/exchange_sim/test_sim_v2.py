"""The simulator's Coinbase App v2 routes (v2.py) as ccxt drives them: account pagination, lookups by id
or currency code, the v2 error body, v2 time, and the legacy-key signature that covers the query string."""

from __future__ import annotations

import hashlib
import hmac
import time
from decimal import Decimal
from typing import Any

import ccxt
import pytest
import requests

pytestmark = pytest.mark.integration


def client(sim: Any, api_key: str, secret: str) -> Any:
    ex = ccxt.coinbase({"apiKey": api_key, "secret": secret, "enableRateLimit": False, "timeout": 10_000})
    ex.urls["api"]["rest"] = sim.sim.rest_url
    ex.session.trust_env = False
    return ex


@pytest.fixture(scope="module")
def ex(sim_http_handle: Any) -> Any:
    key = sim_http_handle.sim.cdp_key
    return client(sim_http_handle, key.name, key.private_key)


@pytest.fixture(scope="module")
def ex_hmac(sim_http_handle: Any) -> Any:
    return client(sim_http_handle, sim_http_handle.sim.hmac.key, sim_http_handle.sim.hmac.secret)


def test_accounts_pages_follow_next_starting_after(ex: Any, sim_http_handle: Any) -> None:
    whole = ex.v2PrivateGetAccounts({"limit": 300})
    assert whole["pagination"]["next_starting_after"] is None and whole["pagination"]["order"] == "desc"
    ids = [a["id"] for a in whole["data"]]
    pages: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 4}
        if cursor:
            params["starting_after"] = cursor
        page = ex.v2PrivateGetAccounts(params)
        assert len(page["data"]) <= 4
        pages += [a["id"] for a in page["data"]]
        cursor = page["pagination"]["next_starting_after"]
        if cursor is None:
            assert page["pagination"]["next_uri"] is None
            break
        assert page["pagination"]["next_uri"] == f"/v2/accounts?limit=4&order=desc&starting_after={cursor}"
    assert pages == ids and len(ids) == len(set(ids)) > 4
    back = ex.v2PrivateGetAccounts({"limit": 2, "ending_before": ids[3]})
    assert [a["id"] for a in back["data"]] == ids[1:3]
    asc = ex.v2PrivateGetAccounts({"limit": 300, "order": "asc"})
    assert [a["id"] for a in asc["data"]] == ids[::-1]
    # each account's id is its v3 uuid, and its balance the v3 available + hold
    v3 = {a["uuid"]: a for a in ex.v3PrivateGetBrokerageAccounts({"limit": 250})["accounts"]}
    for acct in whole["data"]:
        twin = v3[acct["id"]]
        total = Decimal(twin["available_balance"]["value"]) + Decimal(twin["hold"]["value"])
        assert Decimal(acct["balance"]["amount"]) == total
        assert acct["balance"]["currency"] == acct["currency"]["code"] == twin["currency"]
        assert acct["type"] == ("fiat" if twin["type"] == "ACCOUNT_TYPE_FIAT" else "wallet")
        assert acct["resource_path"] == f"/v2/accounts/{acct['id']}"


def test_account_by_id_or_code_and_v2_errors(ex: Any) -> None:
    usd = next(a for a in ex.v2PrivateGetAccounts({"limit": 300})["data"] if a["currency"]["code"] == "USD")
    assert usd["primary"] is True and Decimal(usd["balance"]["amount"]) == Decimal("1000000")
    assert ex.v2PrivateGetAccountsAccountId({"account_id": usd["id"]})["data"] == usd
    assert ex.v2PrivateGetAccountsAccountId({"account_id": "USD"})["data"] == usd
    with pytest.raises(ccxt.ExchangeError, match="not_found"):
        ex.v2PrivateGetAccountsAccountId({"account_id": "NOPE"})
    with pytest.raises(ccxt.ExchangeError, match=r"limit must be in \[1, 300\], got 301"):
        ex.v2PrivateGetAccounts({"limit": 301})
    with pytest.raises(ccxt.ExchangeError, match="starting_after 'nope' is not an account id"):
        ex.v2PrivateGetAccounts({"starting_after": "nope"})


def test_fetch_time_v2(ex: Any, sim_http_handle: Any) -> None:
    now = sim_http_handle.run(lambda: sim_http_handle.sim.venue.now())
    got = ex.fetch_time()  # ccxt's default: GET /v2/time
    assert abs(got / 1000 - now.timestamp()) < 5 and got % 1000 == 0


def test_hmac_v2_signature_covers_the_query(ex_hmac: Any, sim_http_handle: Any) -> None:
    assert ex_hmac.fetch_balance()["USD"]["total"] > 0  # ccxt signs ts + GET + /v2/accounts?limit=250
    sim = sim_http_handle.sim
    ts = str(int(time.time()))

    def get(prehash_path: str) -> requests.Response:
        sign = hmac.new(sim.hmac.secret.encode(), f"{ts}GET{prehash_path}".encode(), hashlib.sha256).hexdigest()
        headers = {"CB-ACCESS-KEY": sim.hmac.key, "CB-ACCESS-TIMESTAMP": ts, "CB-ACCESS-SIGN": sign}
        session = requests.Session()
        session.trust_env = False
        return session.get(f"{sim.rest_url}/v2/accounts?limit=5", headers=headers, timeout=10)

    assert get("/v2/accounts?limit=5").status_code == 200
    assert get("/v2/accounts").status_code == 401  # the path alone is v3's rule, not v2's


def test_exchange_rates_peg_usdc_to_usd(sim_http_handle: Any) -> None:
    """Perps are USDC-quoted and valued 1:1 with USD everywhere in the sim; the v2 rates say the same."""
    usd = requests.get(f"{sim_http_handle.sim.rest_url}/v2/exchange-rates", timeout=10).json()["data"]
    assert usd["currency"] == "USD" and Decimal(usd["rates"]["USDC"]) == 1
    btc = Decimal(usd["rates"]["BTC"])
    assert 0 < btc < Decimal("0.001")  # units of BTC per dollar, from the BTC-USD last trade
    usdc = requests.get(f"{sim_http_handle.sim.rest_url}/v2/exchange-rates?currency=USDC", timeout=10).json()
    assert Decimal(usdc["data"]["rates"]["USD"]) == 1
