"""kdaug_core: the library behind kdaug (augmenters, shift measurement, teacher inference, schema access,
assets). No Beam and no training loops live here; pipelines/ and trainers/ are thin layers over it."""

__version__ = "0.1.0"
