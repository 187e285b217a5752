"""Benchmarks: `python -m tradekit.bench NAME [--json]`. Figures, not pass/fail tests."""
