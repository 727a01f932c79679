"""The venue contract's parts: every venue is MarketData + Execution + Account; what only some venues do
(their own clock, following the venue's clock, streaming, staleness reports) is an explicit protocol."""

from __future__ import annotations

from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.core.interfaces import (
    Account,
    Broker,
    Execution,
    MarketData,
    SimulatedVenue,
    StalenessReporting,
    StreamingVenue,
    VenueTimed,
)
from gpt_trader.features.brokerages.mock import MockBroker
from gpt_trader.features.paper_trade import PaperBroker
from gpt_trader.features.simulation import SimulatedExecution
from gpt_trader.orchestration.venue_settings import coinbase_settings_from_env


def test_the_mock_is_a_simulated_venue_that_does_not_stream() -> None:
    mock = MockBroker(symbols=["BTC-USD"], seed=1)
    assert isinstance(mock, Broker)
    assert isinstance(mock, MarketData) and isinstance(mock, Execution) and isinstance(mock, Account)
    assert isinstance(mock, SimulatedVenue)
    assert not isinstance(mock, VenueTimed) and not isinstance(mock, StreamingVenue)


def test_coinbase_and_paper_follow_the_venue_clock_and_stream() -> None:
    coinbase = CoinbaseBroker(coinbase_settings_from_env({}, require_credentials=False))
    paper = PaperBroker(coinbase, ["BTC-USD"])
    for venue in (coinbase, paper):
        assert isinstance(venue, Broker)
        assert isinstance(venue, VenueTimed) and isinstance(venue, StreamingVenue)
        assert isinstance(venue, StalenessReporting)
        assert not isinstance(venue, SimulatedVenue)
    assert not paper.user_stream_live(), "not connected: no order events yet"
    assert not coinbase.user_stream_live()


def test_mock_paper_and_backtest_share_one_simulated_execution() -> None:
    from gpt_trader.features.backtest.replay.broker import BacktestBroker

    coinbase = CoinbaseBroker(coinbase_settings_from_env({}, require_credentials=False))
    assert isinstance(MockBroker(symbols=["BTC-USD"], seed=1), SimulatedExecution)
    assert isinstance(PaperBroker(coinbase, ["BTC-USD"]), SimulatedExecution)
    assert issubclass(BacktestBroker, SimulatedExecution)
    assert not isinstance(coinbase, SimulatedExecution)
