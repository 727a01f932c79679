"""VenueClock follows the venue's readings: its rate, its jumps, never backwards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gpt_trader.features.brokerages.core.venue_clock import VenueClock

T0 = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)


class Mono:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_learns_an_accelerated_rate_and_extrapolates() -> None:
    mono = Mono()
    clock = VenueClock(monotonic=mono)
    for i in range(4):  # a heartbeat a second from a venue running 60x
        clock.observe(T0 + timedelta(seconds=60 * i))
        mono.t += 1.0
    assert clock.rate == pytest.approx(60.0)
    # 1 s after the last reading (at T0+180 s): 60 venue seconds later
    assert clock.now() == T0 + timedelta(seconds=240)


def test_a_jump_moves_time_but_not_the_rate() -> None:
    mono = Mono()
    clock = VenueClock(monotonic=mono)
    for i in range(3):
        clock.observe(T0 + timedelta(seconds=i))
        mono.t += 1.0
    clock.observe(T0 + timedelta(hours=1))  # /admin/advance
    assert clock.jumps == 1
    assert clock.rate == pytest.approx(1.0)
    assert clock.now() == T0 + timedelta(hours=1)


def test_never_steps_back_when_a_reading_lags_the_extrapolation() -> None:
    mono = Mono()
    clock = VenueClock(monotonic=mono)
    clock.observe(T0)
    mono.t += 0.5
    ahead = clock.now()
    clock.observe(T0)  # a late frame stamped earlier
    assert clock.now() >= ahead


def test_unsynced_clock_reads_wall_time_and_reports_no_age() -> None:
    clock = VenueClock()
    assert not clock.synced and clock.age_s() is None
    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 5


def test_reading_before_the_first_observation_does_not_pin_the_clock_to_the_wall() -> None:
    clock = VenueClock(monotonic=Mono())
    clock.now()  # e.g. a session id taken before connect
    clock.observe(T0)  # the venue runs in the past (a simulator replaying yesterday)
    assert clock.now() == T0
