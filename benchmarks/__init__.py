"""Benchmarks: convergence-rate studies and speed ratios against peers, one module per comparison.

Each module has a ``main(argv=None)`` that prints a table and writes JSON (``--out DIR``).
"""
