"""Benchmarks: ratios against baselines measured in the same run on the same machine. Each writes
benchmarks/results/NAME.json and prints a table. Run all with `make bench` (python -m benchmarks)."""
