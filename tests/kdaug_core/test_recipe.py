import pytest

from kdaug.core.recipe import Recipe, RecipeError


def test_yaml_recipe_with_flag_overrides(tmp_path):
    cfg = tmp_path / "r.yaml"
    cfg.write_text(
        "input: in.jsonl\noutput: out\nteacher: t\nseed: 5\naugment:\n"
        "  - synonym:ratio=0.1,copies=2\n  - {method: synonym, ratio: 0.5, copies: 1}\n"
        "label-map: {-1: negative, 1: positive}\n"
    )
    r = Recipe.from_sources(str(cfg), seed=9, split="validation")
    assert r.seed == 9 and r.split == "validation" and r.input == "in.jsonl"
    assert [a.params["ratio"] for a in r.augment] == [0.1, 0.5]
    assert r.label_map == {"-1": "negative", "1": "positive"}
    d = r.dataset_recipe()
    assert "output" not in d and d["augment"][0]["method"] == "synonym"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"colour": "red"}, "unknown recipe key"),
        ({"split": "train/x"}, "--split"),
        ({"chunk_size": 0}, "--chunk-size"),
        ({"input_range_bytes": -1}, "--input-range-bytes"),
        ({"input_range_bytes": "64MB"}, "--input-range-bytes"),
        ({"soft_labels": "float8"}, "--soft-labels"),
        ({"soft_labels": "topk:0"}, "--soft-labels"),
        ({"teacher_precision": "int4"}, "--teacher-precision"),
        ({"input_format": "xml"}, "--input-format"),
    ],
)
def test_bad_values_fail_with_a_clear_message(kwargs, message):
    with pytest.raises(RecipeError, match=message):
        Recipe.from_sources(None, input="i", output="o", teacher="t", **kwargs)


def test_required_values():
    with pytest.raises(RecipeError, match="--teacher is required"):
        Recipe.from_sources(None, input="i", output="o")
