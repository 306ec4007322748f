import json

import numpy as np
import pyarrow as pa
import pytest

from kdaug import schemas
from kdaug.core.schema import (
    SchemaMismatchError,
    SoftLabels,
    arrow_schema,
    check_schema,
    column_names,
    dense_logits,
    load_spec,
    soft_label_arrays,
)


def test_schema_file_is_the_source_of_truth():
    spec = json.loads(schemas.schema_text(3))
    assert spec["version"] == 3 == schemas.CURRENT_VERSION
    v1 = set(column_names(1))
    required = {
        "id",
        "source_id",
        "text",
        "text_pair",
        "label",
        "aug_method",
        "aug_params",
        "aug_seed",
        "changed_ratio",
        "teacher_logits",
        "teacher_pred",
        "teacher_entropy",
    }
    assert required <= v1 and set(column_names()) - v1 == {"teacher_topk_indices", "teacher_kl_to_source"}
    s = arrow_schema()
    assert s.field("teacher_logits").type == pa.list_(pa.float32())
    assert s.field("teacher_topk_indices").type == pa.list_(pa.int32()) and s.field("teacher_kl_to_source").nullable
    assert s.field("text_pair").nullable and s.field("label").nullable and not s.field("id").nullable
    assert [f.name for f in s] == [c["name"] for c in load_spec()["columns"]]
    assert arrow_schema(soft_labels=SoftLabels("float16")).field("teacher_logits").type == pa.list_(pa.float16())


def test_v3_adds_only_the_hugging_face_features_and_a_nullable_teacher_pred():
    v2, v3 = load_spec(2), load_spec(3)
    differ = [(a["name"], a["nullable"], b["nullable"]) for a, b in zip(v2["columns"], v3["columns"]) if a != b]
    assert differ == [("teacher_pred", False, True)] and set(v3["metadata"]) - set(v2["metadata"]) == {"huggingface"}
    s = arrow_schema({"label_names": ["neg", "pos"]})
    features = json.loads(s.metadata[b"huggingface"])["info"]["features"]
    assert features == {c: {"names": ["neg", "pos"], "_type": "ClassLabel"} for c in ("label", "teacher_pred")}
    assert b"huggingface" not in arrow_schema({"label_names": ["neg", "pos"]}, version=2).metadata
    check_schema(arrow_schema({"teacher": "t"}, version=2))  # v2 files stay readable


def test_metadata_round_trips():
    s = arrow_schema(
        {
            "teacher": "t",
            "teacher_sha256": "ab",
            "label_names": ["neg", "pos"],
            "recipe": {"seed": 3},
            "split": "train",
        },
        soft_labels=SoftLabels("float16", 5),
    )
    meta = check_schema(s)
    assert (meta.schema_version, meta.teacher, meta.label_names, meta.recipe, meta.split, meta.soft_labels) == (
        3,
        "t",
        ["neg", "pos"],
        {"seed": 3},
        "train",
        SoftLabels("float16", 5),
    )


def test_the_reader_still_accepts_version_1():
    meta = check_schema(arrow_schema({"teacher": "t"}, version=1))
    assert meta.schema_version == 1 and meta.soft_labels == SoftLabels()


def test_mismatches_fail_with_one_clear_message():
    good = arrow_schema({"teacher": "t"})
    with pytest.raises(SchemaMismatchError, match="not written by kdaug"):
        check_schema(pa.schema(list(good)))
    with pytest.raises(SchemaMismatchError, match="schema version 7"):
        check_schema(good.with_metadata({**good.metadata, b"kdaug.schema_version": b"7"}))
    dropped = pa.schema([f for f in good if f.name != "teacher_logits"], metadata=good.metadata)
    with pytest.raises(SchemaMismatchError, match="missing column 'teacher_logits'"):
        check_schema(dropped)
    # float16 values under metadata that says float32
    half = arrow_schema({"teacher": "t"}, soft_labels=SoftLabels("float16"))
    with pytest.raises(SchemaMismatchError, match="teacher_logits.*halffloat"):
        check_schema(pa.schema(list(half), metadata=good.metadata))
    with pytest.raises(FileNotFoundError):
        schemas.schema_text(99)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("float32", SoftLabels()),
        ("float16", SoftLabels("float16")),
        ("topk:5", SoftLabels("float32", 5)),
        ("float16,topk:2", SoftLabels("float16", 2)),
        ({"dtype": "float16", "top_k": None}, SoftLabels("float16")),
    ],
)
def test_soft_label_specs_parse(text, expected):
    assert SoftLabels.parse(text) == expected


def test_soft_label_storage_round_trips():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 5)).astype(np.float32)
    logits[0, 1] = logits[0, 3]  # a tie: the lower class index comes first
    for fmt in (
        SoftLabels(),
        SoftLabels("float16"),
        SoftLabels("float32", 5),
        SoftLabels("float32", 2),
        SoftLabels("float16", 3),
    ):
        values, indices = soft_label_arrays(logits, fmt)
        dense = np.array([dense_logits(v, i, 5) for v, i in zip(values.to_pylist(), indices.to_pylist())])
        k = fmt.stored_k(5)
        assert len(values[0]) == k
        if fmt.top_k is None:
            assert indices.null_count == 6
        kept = np.isfinite(dense)
        assert (kept.sum(axis=1) == k).all()
        top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
        assert all(set(np.flatnonzero(kept[r])) == set(top[r]) for r in range(6))
        tol = 2e-3 if fmt.dtype == "float16" else 0.0
        np.testing.assert_allclose(dense[kept], logits[kept], atol=tol * 4, rtol=tol)
    tied = np.array([[0.5, 2.0, 2.0, -1.0]], np.float32)
    values, indices = soft_label_arrays(tied, SoftLabels("float32", 2))
    assert indices[0].as_py() == [1, 2] and values[0].as_py() == [2.0, 2.0]
