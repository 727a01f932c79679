"""JWT / HMAC verification against tokens built the way the official SDK and ccxt build them."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import coinbase.jwt_generator as jwt_generator
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from gpt_trader.exchange_sim.auth import (
    Authenticator,
    AuthFailure,
    KeyStore,
    generate_cdp_key,
    generate_hmac_key,
    hmac_signature,
    load_cdp_key_file,
    load_private_key,
    uri_path,
)

PATH = "/api/v3/brokerage/accounts"


@pytest.fixture()
def store() -> KeyStore:
    ks = KeyStore()
    ks.add_cdp(generate_cdp_key("ec", account_id="acct-ec"))
    ks.add_cdp(generate_cdp_key("ed25519", account_id="acct-ed"))
    ks.add_hmac(generate_hmac_key(account_id="acct-hmac"))
    return ks


def sdk_rest_jwt(key_name: str, secret: str, host: str = "127.0.0.1:8443", path: str = PATH) -> str:
    return jwt_generator.build_rest_jwt(f"GET {host}{path}", key_name, secret)


def test_sdk_es256_and_eddsa_tokens_accepted(store: KeyStore) -> None:
    auth = Authenticator(store)
    for key in store.cdp_keys:
        principal = auth.verify_jwt(sdk_rest_jwt(key.name, key.private_key), method="GET", path=PATH)
        assert principal.account_id == key.account_id
        assert principal.method == "jwt"
    algs = sorted(k.algorithm for k in store.cdp_keys)
    assert algs == ["ES256", "EdDSA"]


def test_sdk_ws_jwt_without_uri_accepted_for_ws_only(store: KeyStore) -> None:
    auth = Authenticator(store)
    key = store.cdp_keys[0]
    token = jwt_generator.build_ws_jwt(key.name, key.private_key)
    assert auth.verify_jwt(token).account_id == key.account_id
    with pytest.raises(AuthFailure, match="no uri"):
        auth.verify_jwt(token, method="GET", path=PATH)


def _ccxt_style(key_name: str, secret: str, uri_claim: dict[str, object], iss: str, aud: str) -> str:
    now = int(time.time())
    private = load_private_key(secret)
    alg = "EdDSA" if isinstance(private, ed25519.Ed25519PrivateKey) else "ES256"
    claims = {
        "aud": [aud],
        "iss": iss,
        "nbf": now,
        "iat": now,
        "exp": now + 120,
        "sub": key_name,
        **uri_claim,
    }
    return jwt.encode(claims, private, algorithm=alg, headers={"kid": key_name, "nonce": secrets.token_hex(16)})


def test_ccxt_variants_accepted(store: KeyStore) -> None:
    auth = Authenticator(store)
    ec_key = next(k for k in store.cdp_keys if k.algorithm == "ES256")
    ed_key = next(k for k in store.cdp_keys if k.algorithm == "EdDSA")
    t1 = _ccxt_style(
        ec_key.name,
        ec_key.private_key,
        {"uri": f"GET http://127.0.0.1:18081{PATH}"},
        "coinbase-cloud",
        "retail_rest_api_proxy",
    )
    assert auth.verify_jwt(t1, method="GET", path=PATH).account_id == "acct-ec"
    t2 = _ccxt_style(ed_key.name, ed_key.private_key, {"uris": [f"GET 127.0.0.1:1{PATH}"]}, "cdp", "cdp_service")
    assert auth.verify_jwt(t2, method="GET", path=PATH).account_id == "acct-ed"


def test_wrong_key_expired_and_wrong_path_rejected(store: KeyStore) -> None:
    auth = Authenticator(store)
    key = store.cdp_keys[0]
    stranger = generate_cdp_key("ec", name=key.name)  # same name, different key material
    with pytest.raises(AuthFailure, match="signature"):
        auth.verify_jwt(sdk_rest_jwt(key.name, stranger.private_key), method="GET", path=PATH)
    unknown = generate_cdp_key("ec")
    with pytest.raises(AuthFailure, match="unknown API key"):
        auth.verify_jwt(sdk_rest_jwt(unknown.name, unknown.private_key), method="GET", path=PATH)
    with pytest.raises(AuthFailure, match="does not match"):
        auth.verify_jwt(sdk_rest_jwt(key.name, key.private_key), method="GET", path="/api/v3/brokerage/orders")
    with pytest.raises(AuthFailure, match="does not match"):
        auth.verify_jwt(sdk_rest_jwt(key.name, key.private_key), method="POST", path=PATH)
    later = Authenticator(store, now=lambda: time.time() + 600)
    with pytest.raises(AuthFailure, match="expired"):
        later.verify_jwt(sdk_rest_jwt(key.name, key.private_key), method="GET", path=PATH)
    earlier = Authenticator(store, now=lambda: time.time() - 600)
    with pytest.raises(AuthFailure, match="not yet valid"):
        earlier.verify_jwt(sdk_rest_jwt(key.name, key.private_key), method="GET", path=PATH)


def test_bad_issuer_and_audience_rejected(store: KeyStore) -> None:
    auth = Authenticator(store)
    key = next(k for k in store.cdp_keys if k.algorithm == "ES256")
    bad_iss = _ccxt_style(key.name, key.private_key, {"uri": f"GET h{PATH}"}, "someone", "retail_rest_api_proxy")
    with pytest.raises(AuthFailure, match="iss"):
        auth.verify_jwt(bad_iss, method="GET", path=PATH)
    bad_aud = _ccxt_style(key.name, key.private_key, {"uri": f"GET h{PATH}"}, "cdp", "elsewhere")
    with pytest.raises(AuthFailure, match="aud"):
        auth.verify_jwt(bad_aud, method="GET", path=PATH)


def test_hmac_check_vector_and_window(store: KeyStore) -> None:
    # COINBASE.md §2.2 vector: secret `legacysecret`, prehash `1795288994GET/api/v3/brokerage/accounts`
    sig = hmac_signature("legacysecret", "1795288994", "GET", PATH, b"")
    assert sig.startswith("47955db7") and sig.endswith("c6d39f")
    key = store.hmac_keys[0]
    now = time.time()
    auth = Authenticator(store, now=lambda: now)
    ts = str(int(now))
    good = hmac_signature(key.secret, ts, "GET", PATH, b"")
    assert auth.verify_hmac(key.key, ts, good, "GET", PATH, b"").account_id == "acct-hmac"
    with pytest.raises(AuthFailure, match="mismatch"):
        auth.verify_hmac(key.key, ts, good.upper(), "GET", PATH, b"")
    stale = str(int(now) - 31)
    with pytest.raises(AuthFailure, match="window"):
        auth.verify_hmac(key.key, stale, hmac_signature(key.secret, stale, "GET", PATH, b""), "GET", PATH, b"")
    with pytest.raises(AuthFailure, match="mismatch"):
        auth.verify_hmac(key.key, ts, good, "GET", PATH, b'{"x":1}')


def test_hmac_signs_the_query_on_v2_only(store: KeyStore) -> None:
    """v3 signs the path alone; Coinbase App v2 signs path + '?' + query (what ccxt sends on v2 GETs)."""
    key = store.hmac_keys[0]
    now = time.time()
    auth = Authenticator(store, now=lambda: now)
    ts = str(int(now))

    def headers(prehash_path: str) -> dict[str, str]:
        sign = hmac_signature(key.secret, ts, "GET", prehash_path, b"")
        return {"CB-ACCESS-KEY": key.key, "CB-ACCESS-TIMESTAMP": ts, "CB-ACCESS-SIGN": sign}

    v2 = "/v2/accounts"
    signed = auth.authenticate_rest("GET", v2, headers(f"{v2}?limit=250"), b"", query="limit=250")
    assert signed.account_id == "acct-hmac"
    assert auth.authenticate_rest("GET", v2, headers(v2), b"").account_id == "acct-hmac"  # no query at all
    with pytest.raises(AuthFailure, match="mismatch"):
        auth.authenticate_rest("GET", v2, headers(v2), b"", query="limit=250")
    assert auth.authenticate_rest("GET", PATH, headers(PATH), b"", query="limit=250").account_id == "acct-hmac"
    with pytest.raises(AuthFailure, match="mismatch"):
        auth.authenticate_rest("GET", PATH, headers(f"{PATH}?limit=250"), b"", query="limit=250")


def test_uri_path_strips_scheme_host_and_query() -> None:
    assert uri_path("GET https://api.coinbase.com/api/v3/x?y=1") == ("GET", "/api/v3/x")
    assert uri_path("post localhost:1/api") == ("POST", "/api")
    with pytest.raises(AuthFailure):
        uri_path("GET")


def test_key_file_loading(tmp_path: Path) -> None:
    key = generate_cdp_key("ed25519")
    path = tmp_path / "cdp.json"
    path.write_text(json.dumps({"name": "organizations/o/apiKeys/k", "privateKey": key.private_key}))
    loaded = load_cdp_key_file(path, account_id="a")
    assert loaded.name == "organizations/o/apiKeys/k" and loaded.algorithm == "EdDSA"
    path.write_text(json.dumps({"id": "k2", "privateKey": generate_cdp_key("ec").private_key}))
    assert load_cdp_key_file(path).algorithm == "ES256"
    path.write_text(json.dumps({"name": "k3"}))
    with pytest.raises(ValueError, match="privateKey"):
        load_cdp_key_file(path)
    with pytest.raises(ValueError, match="kind"):
        generate_cdp_key("rsa")


def test_key_repr_hides_secret() -> None:
    key = generate_cdp_key("ec")
    assert key.private_key not in repr(key)
    hk = generate_hmac_key()
    assert hk.secret not in repr(hk)
