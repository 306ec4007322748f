import pytest

from kdaug.core.flags import KeywordError, command_line
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
        ({"split": "train/x"}, "split='train/x'"),
        ({"chunk_size": 0}, "chunk_size="),
        ({"input_range_bytes": -1}, "input_range_bytes="),
        ({"input_range_bytes": "64MB"}, "input_range_bytes="),
        ({"soft_labels": "float8"}, "soft_labels="),
        ({"soft_labels": "topk:0"}, "soft_labels="),
        ({"teacher_precision": "int4"}, "teacher_precision='int4'"),
        ({"input_format": "xml"}, "input_format='xml'"),
    ],
)
def test_bad_values_fail_with_a_clear_message(kwargs, message):
    with pytest.raises(RecipeError, match=message):
        Recipe.from_sources(None, input="i", output="o", teacher="t", **kwargs)
    with command_line(), pytest.raises(RecipeError, match="--" + message.split("=")[0].replace("_", "-")):
        Recipe.from_sources(None, input="i", output="o", teacher="t", **kwargs)


def test_an_unknown_key_fails_naming_the_closest_one(tmp_path):
    with pytest.raises(KeywordError, match="kdaug.materialize\\(\\) got unknown keyword 'colour'"):
        Recipe.from_sources(None, input="i", output="o", teacher="t", colour="red")
    cfg = tmp_path / "r.yaml"
    cfg.write_text("input: i\noutput: o\nteacher: t\ntext-colum: review\n")
    with pytest.raises(KeywordError, match="recipe file .* 'text_colum' \\(did you mean 'text_column'\\?\\)"):
        Recipe.from_sources(str(cfg))


def test_required_values():
    with pytest.raises(RecipeError, match="teacher= is required"):
        Recipe.from_sources(None, input="i", output="o")
    with command_line(), pytest.raises(RecipeError, match="--teacher is required"):
        Recipe.from_sources(None, input="i", output="o")


def test_workers_see_every_local_path_absolute_while_the_dataset_records_them_as_given(tmp_path, monkeypatch):
    import json

    from kdaug.core.augment import build_augmenters

    monkeypatch.chdir(tmp_path)
    (tmp_path / "teacher").mkdir()
    (tmp_path / "mlm").mkdir()
    given = Recipe(
        input="corpus/*.jsonl",
        output="out",
        teacher="teacher",
        augment=["synonym:ratio=0.3,copies=2", "mlm:model=mlm,copies=1", "knn:ratio=0.3,copies=1,source=glove"],
    )
    seen = given.with_absolute_paths()
    assert seen.input == str(tmp_path / "corpus" / "*.jsonl") and seen.output == str(tmp_path / "out")
    assert seen.teacher == str(tmp_path / "teacher")
    assert seen.augment[0].params["context"] == str(tmp_path / "teacher")  # the teacher, filled in as the encoder
    assert seen.augment[1].params["model"] == str(tmp_path / "mlm")
    assert seen.augment[2].params["source"] == "glove"  # a keyword, not a path here
    assert seen.dataset_recipe()["teacher"] != given.dataset_recipe()["teacher"] == "teacher"

    remote = Recipe(input="gs://b/corpus", output="gs://b/out", teacher="org/model").with_absolute_paths()
    assert (remote.input, remote.output, remote.teacher) == ("gs://b/corpus", "gs://b/out", "org/model")

    ran, recorded = (
        build_augmenters(seen.augment[:1], recorded=given.augment[:1])[0],
        build_augmenters(given.augment[:1])[0],
    )
    assert ran.context == str(tmp_path / "teacher")  # what it loads
    assert ran.aug_params_json() == recorded.aug_params_json()  # what its rows say
    assert json.loads(ran.aug_params_json())["context"] == "teacher"
