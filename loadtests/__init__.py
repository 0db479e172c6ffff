"""Benchmarks and load generators: `make bench` (BENCHMARKS.md) and `make loadtest`."""
