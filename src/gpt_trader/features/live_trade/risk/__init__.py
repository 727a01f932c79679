"""Risk rails: pre-trade validation, runtime guards and circuit breakers (DESIGN §4).

Entry points: `config.RiskConfig` (thresholds, from the profile + config/risk/*.json + env).
"""
