import base64
import json
import logging
from pathlib import Path
from typing import Any

import cb_keys as keys
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

from gpt_trader.features.brokerages.coinbase.auth import (
    CdpJwtSigner,
    CredentialError,
    HmacSigner,
    load_cdp_key_file,
    load_signer,
)
from gpt_trader.features.brokerages.coinbase.jws_keys import Backend
from gpt_trader.features.brokerages.core.interfaces import AuthError

NOW = 1_795_288_994
CDP_KEY = "COINBASE_PROD_CDP_API_KEY"
CDP_SECRET = "COINBASE_PROD_CDP_PRIVATE_KEY"
BATCH = "/api/v3/brokerage/orders/historical/batch?limit=5"
CANCEL = "/api/v3/brokerage/orders/batch_cancel"


def _clock() -> float:
    return float(NOW)


def _decode(
    token: str, public_key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey, alg: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, public_key, algorithms=[alg], options={"verify_nbf": False, "verify_exp": False})
    return header, claims


def _ec_public() -> ec.EllipticCurvePublicKey:
    key = load_pem_public_key(keys.EC_PUBLIC_PEM.encode())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


@pytest.mark.parametrize("pem", [keys.EC_SEC1_PEM, keys.EC_PKCS8_PEM])
@pytest.mark.parametrize("backend", ["openssl", "cryptography"])
def test_ec_key_signs_es256_verifiable_with_known_public_key(pem: str, backend: Backend) -> None:
    signer = CdpJwtSigner(keys.KEY_NAME, pem, clock=_clock, backend=backend)
    assert signer.algorithm == "ES256"
    assert load_der_public_key(signer.public_key_der()) == _ec_public()
    token = signer.build_jwt("GET api.coinbase.com/api/v3/brokerage/accounts")
    header, claims = _decode(token, _ec_public(), "ES256")
    assert header["alg"] == "ES256"
    assert header["kid"] == keys.KEY_NAME
    assert len(header["nonce"]) == 64
    assert claims == {
        "sub": keys.KEY_NAME,
        "iss": "cdp",
        "nbf": NOW,
        "exp": NOW + 120,
        "uri": "GET api.coinbase.com/api/v3/brokerage/accounts",
    }


def test_ec_key_with_escaped_newlines_from_env_loads() -> None:
    signer = CdpJwtSigner(keys.KEY_NAME, keys.EC_SEC1_PEM.replace("\n", "\\n"))
    assert signer.algorithm == "ES256"


def _ed_public() -> ed25519.Ed25519PublicKey:
    return ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(keys.ED25519_PUBLIC_HEX))


@pytest.mark.parametrize(
    "material",
    [
        keys.ED25519_PKCS8_PEM,
        base64.b64encode(bytes.fromhex(keys.ED25519_SEED_HEX)).decode(),
        base64.b64encode(bytes.fromhex(keys.ED25519_SEED_HEX + keys.ED25519_PUBLIC_HEX)).decode(),
    ],
    ids=["pkcs8", "seed32", "seed64"],
)
@pytest.mark.parametrize("backend", ["openssl", "cryptography"])
def test_ed25519_rfc8032_key_signs_eddsa(material: str, backend: Backend) -> None:
    signer = CdpJwtSigner(keys.KEY_NAME, material, clock=_clock, backend=backend)
    assert signer.algorithm == "EdDSA"
    public_key = load_der_public_key(signer.public_key_der())
    assert isinstance(public_key, ed25519.Ed25519PublicKey)
    raw_pub = public_key.public_bytes_raw()
    assert raw_pub.hex() == keys.ED25519_PUBLIC_HEX
    token = signer.build_jwt("POST api.coinbase.com/api/v3/brokerage/orders")
    header, claims = _decode(token, _ed_public(), "EdDSA")
    assert header["alg"] == "EdDSA"
    assert claims["uri"] == "POST api.coinbase.com/api/v3/brokerage/orders"
    assert claims["sub"] == keys.KEY_NAME and claims["iss"] == "cdp"


@pytest.mark.parametrize("backend", ["openssl", "cryptography"])
def test_ed25519_signature_matches_rfc8032_vector(backend: Backend) -> None:
    seed = base64.b64encode(bytes.fromhex(keys.ED25519_SEED_HEX)).decode()
    signer = CdpJwtSigner(keys.KEY_NAME, seed, backend=backend)
    assert signer._key.sign(b"").hex() == keys.ED25519_EMPTY_MSG_SIG_HEX


def test_rest_uri_has_no_scheme_and_no_query_and_is_fresh_per_request() -> None:
    signer = CdpJwtSigner(keys.KEY_NAME, keys.EC_SEC1_PEM, clock=_clock)
    h1 = signer.rest_headers("get", "127.0.0.1:8443", BATCH, b"")
    h2 = signer.rest_headers("get", "127.0.0.1:8443", BATCH, b"")
    assert h1["Authorization"] != h2["Authorization"]  # fresh nonce + signature each time
    token = h1["Authorization"].removeprefix("Bearer ")
    _, claims = _decode(token, _ec_public(), "ES256")
    assert claims["uri"] == "GET 127.0.0.1:8443/api/v3/brokerage/orders/historical/batch"


def test_ws_jwt_has_no_uri() -> None:
    signer = CdpJwtSigner(keys.KEY_NAME, keys.EC_SEC1_PEM, clock=_clock)
    fields = signer.ws_fields("user", [])
    _, claims = _decode(fields["jwt"], _ec_public(), "ES256")
    assert "uri" not in claims
    assert claims["sub"] == keys.KEY_NAME


def test_hmac_known_vector() -> None:
    signer = HmacSigner("legacykey", keys.HMAC_SECRET)
    sig = signer.sign(keys.HMAC_VECTOR_PREHASH_TS, "GET", "/api/v3/brokerage/accounts", "")
    assert sig.startswith("47955db7") and sig.endswith("c6d39f")
    assert sig == keys.HMAC_VECTOR_SIG


def test_hmac_headers_drop_query_and_include_body() -> None:
    signer = HmacSigner("legacykey", keys.HMAC_SECRET, clock=_clock)
    headers = signer.rest_headers("GET", "api.coinbase.com", "/api/v3/brokerage/accounts?limit=1", b"")
    assert headers == {
        "CB-ACCESS-KEY": "legacykey",
        "CB-ACCESS-TIMESTAMP": str(NOW),
        "CB-ACCESS-SIGN": keys.HMAC_VECTOR_SIG,
    }
    body = b'{"order_ids":["x"]}'
    post = signer.rest_headers("POST", "api.coinbase.com", CANCEL, body)
    assert post["CB-ACCESS-SIGN"] == signer.sign(str(NOW), "POST", CANCEL, body)
    assert post["CB-ACCESS-SIGN"] != keys.HMAC_VECTOR_SIG


def test_key_file_json_name_or_id(tmp_path: Path) -> None:
    f1 = tmp_path / "k1.json"
    f1.touch(0o600)
    f1.write_text(json.dumps({"name": keys.KEY_NAME, "privateKey": keys.EC_SEC1_PEM}))
    assert load_cdp_key_file(f1).key_name == keys.KEY_NAME
    f2 = tmp_path / "k2.json"
    f2.touch(0o600)
    seed64 = base64.b64encode(bytes.fromhex(keys.ED25519_SEED_HEX + keys.ED25519_PUBLIC_HEX)).decode()
    f2.write_text(json.dumps({"id": "key-id-1", "privateKey": seed64}))
    s2 = load_cdp_key_file(f2)
    assert s2.key_name == "key-id-1" and s2.algorithm == "EdDSA"
    signer = load_signer({"COINBASE_AUTH_TYPE": "cdp", "COINBASE_CDP_KEY_FILE": str(f2)})
    assert isinstance(signer, CdpJwtSigner)


def test_env_selection() -> None:
    cdp = load_signer({CDP_KEY: keys.KEY_NAME, CDP_SECRET: keys.EC_SEC1_PEM})
    assert isinstance(cdp, CdpJwtSigner)
    hm = load_signer({"COINBASE_AUTH_TYPE": "HMAC", "COINBASE_API_KEY": "k", "COINBASE_API_SECRET": "s"})
    assert isinstance(hm, HmacSigner)
    assert load_signer({}, required=False) is None
    with pytest.raises(CredentialError, match="no Coinbase credentials"):
        load_signer({})


SECRET_MARKER = "MHcCAQEEIHKKGU4JXxLuudDlimSLAd34ocOw"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"COINBASE_AUTH_TYPE": "oauth"}, "allowed values: cdp, hmac"),
        (
            {"COINBASE_AUTH_TYPE": "cdp", CDP_SECRET: keys.EC_SEC1_PEM},
            "COINBASE_PROD_CDP_API_KEY",
        ),
        (
            {"COINBASE_AUTH_TYPE": "cdp", CDP_KEY: keys.KEY_NAME},
            "COINBASE_PROD_CDP_PRIVATE_KEY",
        ),
        (
            {
                CDP_KEY: keys.KEY_NAME,
                CDP_SECRET: keys.EC_SEC1_PEM[:-40],
            },
            "not a readable",
        ),
        (
            {
                CDP_KEY: keys.KEY_NAME,
                CDP_SECRET: SECRET_MARKER + "!!",
            },
            "neither PEM nor base64",
        ),
        (
            {
                CDP_KEY: keys.KEY_NAME,
                CDP_SECRET: SECRET_MARKER + "AAAA",
            },
            "Ed25519 key must be 32",
        ),
        (
            {CDP_KEY: keys.KEY_NAME, CDP_SECRET: keys.EC_P384_PEM},
            "P-256",
        ),
        ({"COINBASE_AUTH_TYPE": "hmac", "COINBASE_API_KEY": "k"}, "COINBASE_API_SECRET"),
        ({"COINBASE_AUTH_TYPE": "hmac", "COINBASE_API_SECRET": SECRET_MARKER}, "COINBASE_API_KEY"),
    ],
)
def test_bad_credentials_give_clear_error_without_secret(
    env: dict[str, str], expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CredentialError) as info:
        load_signer(env)
    assert isinstance(info.value, AuthError)
    text = str(info.value) + repr(info.value) + caplog.text
    assert expected in str(info.value)
    assert SECRET_MARKER not in text
    assert "PRIVATE KEY-----" not in text
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_signer_repr_hides_secret() -> None:
    assert "legacysecret" not in repr(HmacSigner("legacykey", keys.HMAC_SECRET))
    assert SECRET_MARKER not in repr(CdpJwtSigner(keys.KEY_NAME, keys.EC_SEC1_PEM))
