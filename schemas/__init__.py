"""The versioned schema of materialized datasets: one JSON file per version, read by the pipeline that
writes datasets and by the trainer that reads them (through kdaug_core.schema)."""

from importlib import resources

CURRENT_VERSION = 3
# Versions the trainer still reads (v1: dense float32 logits only, no teacher_kl_to_source; v2: no
# Hugging Face features in the file metadata).
READABLE_VERSIONS = (1, 2, 3)


def schema_text(version: int = CURRENT_VERSION) -> str:
    name = f"kd_dataset.v{version}.json"
    path = resources.files(__package__).joinpath(name)
    if not path.is_file():
        raise FileNotFoundError(f"no schema version {version} (schemas/{name})")
    return path.read_text(encoding="utf-8")
