"""Order-creation JWTs signed ahead (`CdpJwtSigner.presign`): each handed out once, only while 60 s of its
2-minute life are left, re-signed in the background at 30 s, claims exactly those of an on-demand token."""

from __future__ import annotations

import math

import cb_keys as keys
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from gpt_trader.features.brokerages.coinbase.auth import (
    JWT_TTL_S,
    PRESIGN_MIN_LIFE_S,
    PRESIGN_REFRESH_AGE_S,
    CdpJwtSigner,
)
from gpt_trader.features.brokerages.coinbase.rest import CoinbaseRestClient

HOST = "api.coinbase.com"
ORDERS = "/api/v3/brokerage/orders"
URI = f"POST {HOST}{ORDERS}"
T0 = 1_795_288_994.25


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def make(depth: int = 3) -> tuple[CdpJwtSigner, Clock]:
    clock = Clock()
    signer = CdpJwtSigner(keys.KEY_NAME, keys.EC_SEC1_PEM, clock=clock)
    assert signer.presign("post", HOST, ORDERS, depth) == URI
    return signer, clock


def fill(signer: CdpJwtSigner) -> int:
    """Run presign steps until the signer says nothing is due now; returns how many ran."""
    steps = 0
    while signer.presign_step() == 0.0:
        steps += 1
        assert steps < 100
    return steps


def token_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def decode(token: str) -> tuple[dict[str, object], dict[str, object]]:
    public = load_pem_public_key(keys.EC_PUBLIC_PEM.encode())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    claims = jwt.decode(token, public, algorithms=["ES256"], options={"verify_nbf": False, "verify_exp": False})
    return jwt.get_unverified_header(token), claims


def test_presigned_tokens_are_each_handed_out_once_with_the_claims_of_an_on_demand_token() -> None:
    signer, clock = make(depth=3)
    assert signer.presigned(URI) == 0
    fill(signer)
    assert signer.presigned(URI) == 3
    clock.now += 5  # used a little later: the claims are those of the signing moment
    tokens = [token_of(signer.rest_headers("POST", HOST, ORDERS, b"{}")) for _ in range(3)]
    assert signer.presigned(URI) == 0
    assert signer.presign_stats == {"signed": 3, "used": 3, "retired": 0, "on_demand": 0}
    assert len(set(tokens)) == 3
    nonces = set()
    for token in tokens:
        header, claims = decode(token)
        assert header == {"alg": "ES256", "typ": "JWT", "kid": keys.KEY_NAME, "nonce": header["nonce"]}
        assert isinstance(header["nonce"], str) and len(header["nonce"]) == 64
        nonces.add(header["nonce"])
        assert claims == {"sub": keys.KEY_NAME, "iss": "cdp", "nbf": int(T0), "exp": int(T0) + JWT_TTL_S, "uri": URI}
    assert len(nonces) == 3
    # the stock is empty: the next one is signed on the spot, never a repeat
    fourth = token_of(signer.rest_headers("POST", HOST, ORDERS, b"{}"))
    assert fourth not in tokens
    assert decode(fourth)[1]["nbf"] == int(clock.now)
    assert signer.presign_stats["on_demand"] == 1


def test_other_requests_never_take_a_presigned_token() -> None:
    signer, _ = make(depth=2)
    fill(signer)
    for method, path in (("GET", ORDERS), ("POST", ORDERS + "/batch_cancel"), ("POST", "/api/v3/brokerage/order")):
        _, claims = decode(token_of(signer.rest_headers(method, HOST, path, b"")))
        assert claims["uri"] == f"{method} {HOST}{path}"
    _, ws_claims = decode(signer.ws_fields("user", [])["jwt"])
    assert "uri" not in ws_claims
    assert signer.presigned(URI) == 2
    assert signer.presign_stats["used"] == 0 and signer.presign_stats["on_demand"] == 0
    # the query string is not part of the uri (COINBASE.md §2.1): it takes one
    signer.rest_headers("POST", HOST, ORDERS + "?x=1", b"")
    assert signer.presign_stats["used"] == 1


def test_a_token_with_less_than_a_minute_left_is_never_handed_out() -> None:
    signer, clock = make(depth=2)
    fill(signer)
    clock.now = int(T0) + (JWT_TTL_S - PRESIGN_MIN_LIFE_S)  # exactly 60 s left: still fine
    assert signer.presigned(URI) == 2
    _, claims = decode(token_of(signer.rest_headers("POST", HOST, ORDERS, b"")))
    assert claims["nbf"] == int(T0)
    clock.now += 0.5  # 59.5 s left
    _, claims = decode(token_of(signer.rest_headers("POST", HOST, ORDERS, b"")))
    assert claims["nbf"] == int(clock.now)  # signed on the spot
    assert signer.presign_stats == {"signed": 2, "used": 1, "retired": 1, "on_demand": 1}


def test_tokens_are_re_signed_in_the_background_once_30_s_old() -> None:
    signer, clock = make(depth=2)
    assert fill(signer) == 2
    due = signer.presign_step()
    assert due == pytest.approx(int(T0) + PRESIGN_REFRESH_AGE_S - T0)
    clock.now += due
    assert signer.presign_step() == 0.0  # re-signed the oldest
    assert signer.presign_step() == 0.0  # and the other
    clock.now += 0.5
    assert signer.presign_step() == pytest.approx(int(T0 + due) + PRESIGN_REFRESH_AGE_S - clock.now)
    assert signer.presign_stats == {"signed": 4, "used": 0, "retired": 2, "on_demand": 0}
    _, claims = decode(token_of(signer.rest_headers("POST", HOST, ORDERS, b"")))
    assert claims["nbf"] == int(T0 + due)


def test_a_wall_clock_that_went_back_drops_tokens_from_the_future() -> None:
    signer, clock = make(depth=2)
    fill(signer)
    clock.now -= 10
    assert signer.presigned(URI) == 0
    _, claims = decode(token_of(signer.rest_headers("POST", HOST, ORDERS, b"")))
    assert claims["nbf"] == int(clock.now)
    assert signer.presign_stats["retired"] == 2 and signer.presign_stats["on_demand"] == 1


def test_presign_depth_and_nothing_registered() -> None:
    signer = CdpJwtSigner(keys.KEY_NAME, keys.EC_SEC1_PEM)
    assert signer.presign_step() == math.inf
    with pytest.raises(ValueError, match=r"presign depth=-1 must be >= 0"):
        signer.presign("POST", HOST, ORDERS, -1)
    signer.presign("POST", HOST, ORDERS, 2)
    signer.presign("POST", HOST, ORDERS, 4)  # a second registration keeps the larger depth
    assert fill(signer) == 4


def test_presigned_tokens_never_appear_in_repr_or_stats() -> None:
    signer, _ = make(depth=1)
    fill(signer)
    stock = signer._stocks[URI].tokens[0][1]
    assert stock not in repr(signer)
    assert stock not in str(signer.presign_stats)


def test_depth_0_keeps_no_stock_and_counts_the_tokens_signed_on_the_spot() -> None:
    signer, clock = make(depth=0)
    assert signer.presign_step() == math.inf  # nothing to sign ahead: no timer is ever due
    assert signer.presigned(URI) == 0
    tokens = [token_of(signer.rest_headers("POST", HOST, ORDERS, b"{}")) for _ in range(2)]
    assert len(set(tokens)) == 2
    assert decode(tokens[1])[1]["nbf"] == int(clock.now)
    signer.rest_headers("GET", HOST, ORDERS, b"")  # another uri: not counted
    assert signer.presign_stats == {"signed": 0, "used": 0, "retired": 0, "on_demand": 2}
    # a second registration with a depth (another client sharing the key) signs ahead for both
    signer.presign("POST", HOST, ORDERS, 2)
    assert fill(signer) == 2


@pytest.mark.parametrize("retry", [(0.0, 60.0), (-1.0, 60.0), (10.0, 5.0), (5.0, math.inf)])
def test_the_retry_back_off_must_be_positive_and_bounded(retry: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match=r"presign_retry_s=.* must be \(first, longest\) seconds"):
        CoinbaseRestClient("https://api.coinbase.com", presign_retry_s=retry)
