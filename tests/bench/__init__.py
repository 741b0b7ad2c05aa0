"""Benchmarks: what the product exists for, measured on this machine.

Run ``python -m tests.bench.run`` (or ``bash scripts/bench.sh``); see run.py.
Benchmarks report figures; they never fail on time.
"""
