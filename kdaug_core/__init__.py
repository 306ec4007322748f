"""kdaug.core: the library behind kdaug (corpus reading, augmenters, shift measurement, teacher
inference, schema access, assets). No Beam and no training loops live here: kdaug.pipelines and
kdaug.trainers are thin layers over it, and it imports neither."""
