"""Benchmarks for igbridge: ``python -m bench`` prints the figures and writes RESULTS.md."""
