"""Runs every benchmark: python -m benchmarks (or `make bench`). `python -m benchmarks.scale` (hours at a
million sources) runs on its own."""

from benchmarks import augment, copy_quality, costs, labelling, long_texts, students, training

if __name__ == "__main__":
    raise SystemExit(
        augment.main([])
        or copy_quality.main([])
        or long_texts.main([])
        or labelling.main([])
        or training.main([])
        or students.main([])
        or costs.main([])
    )
