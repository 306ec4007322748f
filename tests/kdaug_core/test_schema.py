import json

import pyarrow as pa
import pytest

import schemas
from kdaug_core.schema import SchemaMismatchError, arrow_schema, check_schema, column_names, load_spec


def test_schema_file_is_the_source_of_truth():
    spec = json.loads(schemas.schema_text(1))
    assert spec["version"] == 1 == schemas.CURRENT_VERSION
    required = {"id", "source_id", "text", "text_pair", "label", "aug_method", "aug_params", "aug_seed",
                "changed_ratio", "teacher_logits", "teacher_pred", "teacher_entropy"}
    assert required <= set(column_names())
    s = arrow_schema()
    assert s.field("teacher_logits").type == pa.list_(pa.float32())
    assert s.field("text_pair").nullable and s.field("label").nullable and not s.field("id").nullable
    assert [f.name for f in s] == [c["name"] for c in load_spec()["columns"]]


def test_metadata_round_trips():
    s = arrow_schema({"teacher": "t", "teacher_sha256": "ab", "label_names": ["neg", "pos"],
                      "recipe": {"seed": 3}, "split": "train"})
    meta = check_schema(s)
    assert (meta.schema_version, meta.teacher, meta.label_names, meta.recipe, meta.split) == (
        1, "t", ["neg", "pos"], {"seed": 3}, "train")


def test_mismatches_fail_with_one_clear_message():
    good = arrow_schema({"teacher": "t"})
    with pytest.raises(SchemaMismatchError, match="not written by kdaug"):
        check_schema(pa.schema(list(good)))
    with pytest.raises(SchemaMismatchError, match="schema version 7"):
        check_schema(good.with_metadata({b"kdaug.schema_version": b"7"}))
    dropped = pa.schema([f for f in good if f.name != "teacher_logits"], metadata=good.metadata)
    with pytest.raises(SchemaMismatchError, match="missing column 'teacher_logits'"):
        check_schema(dropped)
    with pytest.raises(FileNotFoundError):
        schemas.schema_text(99)
