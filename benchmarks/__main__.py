"""Runs every benchmark: python -m benchmarks (or `make bench`)."""

from benchmarks import augment, labelling

if __name__ == "__main__":
    raise SystemExit(augment.main([]) or labelling.main([]))
