"""PBO (CSCV) and the deflated Sharpe ratio on returns whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from gpt_trader.features.optimize.overfitting import deflated_sharpe, expected_max_sharpe, pbo_cscv
from gpt_trader.features.optimize.summary import daily_returns


def test_a_truly_better_configuration_is_not_overfit() -> None:
    rng = np.random.default_rng(1)
    rets = rng.normal(0.0, 0.01, (400, 8))
    rets[:, 3] += 0.01  # one configuration with a real edge in every period
    pbo, logits = pbo_cscv(rets, blocks=8)
    assert pbo == 0.0 and logits.size == 70  # C(8, 4) splits


def test_pure_noise_is_overfit_about_half_the_time() -> None:
    # no configuration is better: the in-sample winner is a coin flip out of sample (averaged over seeds)
    pbos = [pbo_cscv(np.random.default_rng(s).normal(0.0, 0.01, (320, 16)), blocks=8)[0] for s in range(20)]
    assert 0.4 < float(np.mean(pbos)) < 0.6


def test_pbo_refuses_what_it_cannot_measure() -> None:
    with pytest.raises(ValueError, match="at least 2 configurations"):
        pbo_cscv(np.zeros((100, 1)))
    with pytest.raises(ValueError, match="even number"):
        pbo_cscv(np.zeros((100, 4)), blocks=5)
    with pytest.raises(ValueError, match="at least 32 periods"):
        pbo_cscv(np.zeros((20, 4)), blocks=16)


def test_deflated_sharpe_falls_with_the_number_of_trials() -> None:
    rng = np.random.default_rng(3)
    best = rng.normal(0.002, 0.01, 365)
    few = deflated_sharpe(best, rng.normal(0.0, 0.05, 5))
    many = deflated_sharpe(best, rng.normal(0.0, 0.05, 5000))
    assert few is not None and many is not None and 0.0 <= many < few <= 1.0
    assert expected_max_sharpe(np.array([0.1])) == 0.0  # one trial: no luck to deflate
    assert deflated_sharpe(np.zeros(10), np.ones(3)) is None  # a flat curve has no Sharpe


def test_daily_returns_take_each_days_last_bar() -> None:
    day = 86_400_000_000_000
    ts = np.array([0, day // 2, day, day + 1, 2 * day], dtype=np.int64)
    eq = np.array([101.0, 110.0, 120.0, 99.0, 132.0])
    np.testing.assert_allclose(daily_returns(eq, ts, 100.0), [0.10, 99 / 110 - 1, 132 / 99 - 1])
