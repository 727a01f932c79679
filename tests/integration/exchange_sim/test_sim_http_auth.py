"""Auth and HTTP error behaviour seen from a client: 401 plain text, 400/404 JSON bodies, 429 headers."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import jwt
import pytest
import requests
from coinbase import jwt_generator

from gpt_trader.exchange_sim.auth import hmac_signature, load_private_key

pytestmark = pytest.mark.integration
ACCOUNTS = "/api/v3/brokerage/accounts"


def response_of(exc: requests.HTTPError) -> requests.Response:
    assert exc.response is not None
    return exc.response


def get(handle: Any, path: str, headers: dict[str, str] | None = None) -> requests.Response:
    return handle.http.get(f"{handle.sim.rest_url}{path}", headers=headers or {}, timeout=10)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sdk_token(handle: Any, name: str, secret: str, method: str = "GET", path: str = ACCOUNTS) -> str:
    return jwt_generator.build_rest_jwt(f"{method} {handle.sim.base_url}{path}", name, secret)


def hmac_headers(key: str, secret: str, ts: int, method: str, path: str, body: str = "") -> dict[str, str]:
    return {
        "CB-ACCESS-KEY": key,
        "CB-ACCESS-TIMESTAMP": str(ts),
        "CB-ACCESS-SIGN": hmac_signature(secret, str(ts), method, path, body),
    }


def assert_401(resp: requests.Response) -> None:
    assert resp.status_code == 401
    assert resp.text == "Unauthorized" and resp.headers["Content-Type"].startswith("text/plain")


def test_good_es256_eddsa_and_hmac_accepted(sim_handle: Any) -> None:
    key = sim_handle.sim.cdp_key
    assert key.algorithm == "ES256"
    resp = get(sim_handle, ACCOUNTS, bearer(sdk_token(sim_handle, key.name, key.private_key)))
    assert resp.status_code == 200 and resp.json()["accounts"]
    ed = sim_handle.admin("POST", "/keys", {"kind": "ed25519"})
    client = sim_handle.sdk_rest()
    client.api_key, client.api_secret = ed["name"], ed["private_key"]
    assert client.get_accounts().accounts  # the SDK picks EdDSA for the Ed25519 key
    header = jwt.get_unverified_header(sdk_token(sim_handle, ed["name"], ed["private_key"]))
    assert header["alg"] == "EdDSA"
    hm = sim_handle.sim.hmac
    resp = get(sim_handle, ACCOUNTS, hmac_headers(hm.key, hm.secret, int(time.time()), "GET", ACCOUNTS))
    assert resp.status_code == 200
    body = json.dumps({"order_ids": ["nope"]})
    path = "/api/v3/brokerage/orders/batch_cancel"
    resp = sim_handle.http.post(
        f"{sim_handle.sim.rest_url}{path}",
        data=body,
        headers={
            **hmac_headers(hm.key, hm.secret, int(time.time()), "POST", path, body),
            "Content-Type": "application/json",
        },
        timeout=10,
    )
    assert resp.status_code == 200 and resp.json()["results"][0]["failure_reason"] == "UNKNOWN_CANCEL_ORDER"


def test_bad_credentials_get_401(sim_handle: Any) -> None:
    key = sim_handle.sim.cdp_key
    stranger = sim_handle.sim.add_account_key("ec")  # valid key for this server, wrong key material below
    assert_401(get(sim_handle, ACCOUNTS, bearer(sdk_token(sim_handle, key.name, stranger.private_key))))
    assert_401(get(sim_handle, ACCOUNTS, bearer(sdk_token(sim_handle, "organizations/x/apiKeys/y", key.private_key))))
    # expired: signed correctly, but exp is in the past
    now = int(time.time())
    expired = jwt.encode(
        {
            "sub": key.name,
            "iss": "cdp",
            "nbf": now - 300,
            "exp": now - 180,
            "uri": f"GET {sim_handle.sim.base_url}{ACCOUNTS}",
        },
        load_private_key(key.private_key),
        algorithm="ES256",
        headers={"kid": key.name, "nonce": secrets.token_hex()},
    )
    assert_401(get(sim_handle, ACCOUNTS, bearer(expired)))
    # wrong path in uri: a token minted for /accounts used on /orders/historical/batch
    token = sdk_token(sim_handle, key.name, key.private_key)
    assert_401(get(sim_handle, "/api/v3/brokerage/orders/historical/batch", bearer(token)))
    # stale HMAC timestamp (31 s old)
    hm = sim_handle.sim.hmac
    assert_401(get(sim_handle, ACCOUNTS, hmac_headers(hm.key, hm.secret, int(time.time()) - 31, "GET", ACCOUNTS)))
    headers = hmac_headers(hm.key, hm.secret, int(time.time()), "GET", ACCOUNTS)
    headers["CB-ACCESS-SIGN"] = headers["CB-ACCESS-SIGN"].upper()
    assert_401(get(sim_handle, ACCOUNTS, headers))
    assert_401(get(sim_handle, ACCOUNTS))  # no credentials at all


def test_public_routes_need_no_auth_and_v2_stubs(sim_handle: Any) -> None:
    resp = get(sim_handle, "/api/v3/brokerage/market/products/BTC-USD")
    assert resp.status_code == 200 and resp.json()["product_id"] == "BTC-USD"
    assert get(sim_handle, "/api/v3/brokerage/time").json()["epochSeconds"].isdigit()
    for path in ("/v2/currencies", "/v2/currencies/crypto", "/v2/exchange-rates"):
        assert "data" in get(sim_handle, path).json()
    book = get(sim_handle, "/api/v3/brokerage/market/product_book?product_id=ETH-USD&limit=3").json()
    assert len(book["pricebook"]["bids"]) == 3


def test_error_bodies(sim_handle: Any) -> None:
    client = sim_handle.sdk_rest()
    resp = get(sim_handle, "/api/v3/brokerage/nowhere")
    assert resp.status_code == 404 and resp.json()["error"] == "NOT_FOUND"
    with pytest.raises(requests.HTTPError) as info:
        client.get_product("NOPE-USD")
    assert response_of(info.value).status_code == 404
    with pytest.raises(requests.HTTPError) as info:
        client.get_order("not-an-order")
    assert response_of(info.value).status_code == 404
    with pytest.raises(requests.HTTPError) as info:
        client.create_order("", "BTC-USD", "BUY", {"limit_limit_gtc": {"base_size": "1", "limit_price": "1"}}, foo=1)
    body = response_of(info.value).json()
    assert body["error"] == "unknown" and 'unknown field "foo"' in body["error_details"] and body["message"]
    with pytest.raises(requests.HTTPError) as info:
        client.cancel_orders([f"id-{i}" for i in range(101)])
    assert (
        response_of(info.value).status_code == 400 and "at most 100" in response_of(info.value).json()["error_details"]
    )


def test_rate_limit_429_with_headers(sim_factory: Any) -> None:
    handle = sim_factory(rate_limit_private=5, rate_limit_public=3, synthetic=False)
    client = handle.sdk_rest(rate_limit_headers=True)
    first = client.get_accounts()
    assert first.rate_limit_limit == "5" and int(first.rate_limit_remaining) <= 4
    statuses = []
    for _ in range(12):
        resp = get(handle, ACCOUNTS, bearer(sdk_token(handle, handle.sim.cdp_key.name, handle.sim.cdp_key.private_key)))
        statuses.append(resp.status_code)
        if resp.status_code == 429:
            assert resp.headers["x-ratelimit-remaining"] == "0"
            assert int(resp.headers["x-ratelimit-reset"]) >= int(time.time())
            assert resp.json()["error"] == "RATE_LIMIT_EXCEEDED"
    assert 429 in statuses
    public = [get(handle, "/api/v3/brokerage/time").status_code for _ in range(6)]
    assert 429 in public
    time.sleep(1.05)
    assert get(handle, "/api/v3/brokerage/time").status_code == 200
