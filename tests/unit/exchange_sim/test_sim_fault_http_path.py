"""The `http_path` / `slow_path` faults: fail or hold only requests whose path contains the fragment."""

from __future__ import annotations

import pytest

from gpt_trader.exchange_sim.faults import FaultInjector, FaultSpecError


def test_http_path_fails_only_matching_paths_count_times() -> None:
    faults = FaultInjector(seed=1)
    faults.apply("http_path:2:/intx/portfolio, http_path:1:/key_permissions:429")
    base = "/api/v3/brokerage"
    assert faults.take_path_fault(f"{base}/products") is None
    assert faults.take_path_fault(f"{base}/intx/portfolio/abc") == 503
    assert faults.take_path_fault(f"{base}/key_permissions") == 429
    assert faults.take_path_fault(f"{base}/key_permissions") is None
    assert faults.snapshot()["http_path"] == [{"remaining": 1, "path": "/intx/portfolio", "status": 503}]
    assert faults.take_path_fault(f"{base}/intx/portfolio/abc") == 503
    assert faults.take_path_fault(f"{base}/intx/portfolio/abc") is None
    assert faults.snapshot()["fired"]["http_path"] == 3
    faults.apply("http_path:1:/intx")
    faults.clear()
    assert faults.take_path_fault(f"{base}/intx/portfolio/abc") is None


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("http_path", "needs an argument"),
        ("http_path:2", "path fragment starting with '/'"),
        ("http_path:2:intx", "path fragment starting with '/'"),
        ("http_path:0:/intx", "count must be >= 1"),
        ("http_path:1:/intx:404", "status must be 429 or 500..599"),
        ("http_path:1:/intx:600", "status must be 429 or 500..599"),
        ("slow_path:1:/intx", "needs the delay in milliseconds"),
        ("slow_path:1:/intx:soon", "milliseconds must be a number"),
    ],
)
def test_http_path_spec_errors(spec: str, match: str) -> None:
    with pytest.raises(FaultSpecError, match=match):
        FaultInjector().apply(spec)


def test_slow_path_holds_only_matching_paths() -> None:
    faults = FaultInjector()
    faults.apply("slow_path:1:/intx:250")
    assert faults.take_slow_path("/api/v3/brokerage/products") == 0
    assert faults.take_slow_path("/api/v3/brokerage/intx/portfolio/x") == 0.25
    assert faults.take_slow_path("/api/v3/brokerage/intx/portfolio/x") == 0


def test_a_fragment_ending_in_dollar_matches_only_at_the_end_of_the_path() -> None:
    faults = FaultInjector()
    faults.apply("slow_path:5:/brokerage/orders$:100,http_path:5:/brokerage/orders$:502")
    assert faults.take_slow_path("/api/v3/brokerage/orders/historical/fills") == 0
    assert faults.take_path_fault("/api/v3/brokerage/orders/historical/batch") is None
    assert faults.take_slow_path("/api/v3/brokerage/orders") == 0.1
    assert faults.take_path_fault("/api/v3/brokerage/orders") == 502
