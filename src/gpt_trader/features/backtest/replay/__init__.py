"""The replay engine: historical bars on a simulated clock, orders filled by the shared MatchingEngine.

Entry points: `run_replay` (engine.py), `BacktestBroker` (broker.py, a `Broker` + `SimulatedVenue`).
"""
