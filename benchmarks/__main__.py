"""Runs every benchmark: python -m benchmarks (or `make bench`)."""

from benchmarks import augment, labelling, long_texts, training

if __name__ == "__main__":
    raise SystemExit(augment.main([]) or long_texts.main([]) or labelling.main([]) or training.main([]))
