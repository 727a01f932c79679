"""The fast engine: vectorized strategy signals + one compiled sequential pass (numba, cached to disk)."""
