"""Simulated execution: the one execution wrapper over the shared MatchingEngine.

Entry point: `SimulatedExecution` (execution.py), the Execution and Account parts of the venue contract
over one engine account, used by the mock broker, the paper broker and the backtest replay broker. (The
MatchingEngine itself still lives in `features/brokerages/core/matching`.)
"""

from gpt_trader.features.simulation.execution import SimulatedExecution

__all__ = ["SimulatedExecution"]
