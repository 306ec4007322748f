import json
from importlib import resources

import pytest

from kdaug.core.publishing.card import TASK_IDS, dataset_card, hub_licenses, size_category
from kdaug.core.recipe import Recipe, RecipeError


def hub_resource(name: str):
    return json.loads(resources.files("datasets").joinpath(f"utils/resources/{name}").read_text())


def test_the_card_header_passes_the_hubs_metadata_checks(published_dataset):
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(published_dataset / "README.md")
    data = card.data.to_dict()
    assert data["license"] == "cc-by-4.0" and data["license"] in hub_licenses()
    assert data["pretty_name"] == "Tiny MR distillation set"
    assert data["source_datasets"] == ["extended|cornell-movie-review-data/rotten_tomatoes"]
    assert data["task_categories"] == ["text-classification"] and data["task_ids"] == ["sentiment-classification"]
    assert set(data["task_ids"]) <= set(TASK_IDS)
    # the values datasets' own metadata resources allow
    assert set(data["size_categories"]) <= set(hub_resource("size_categories.json"))
    creators = hub_resource("creators.json")
    assert data["annotations_creators"] == ["machine-generated"]
    assert set(data["annotations_creators"]) <= set(creators["annotations"])
    assert set(data["language_creators"]) <= set(creators["language"])
    assert set(data["language"]) <= set(hub_resource("languages.json"))
    assert set(data["multilinguality"]) <= set(hub_resource("multilingualities.json"))
    manifest = json.loads((published_dataset / "manifest.json").read_text())
    rows = sum(e["rows_written"] for e in manifest["splits"].values())
    assert data["size_categories"] == [size_category(rows)] == ["n<1K"]
    assert [c["name"] for c in data["dataset_info"]["splits"]] == ["train", "validation"]


def test_the_card_body_says_how_to_load_train_and_cite(published_dataset):
    text = (published_dataset / "README.md").read_text()
    for section in ("## Loading", "## Training on it", "## Limitations", "## Citations", "## Columns"):
        assert section in text
    assert "ungrammatical" in text and "teacher's errors" in text
    assert "WordNet" in text and "2305.12565" in text and "Distilling the Knowledge" in text
    assert "AugPro" not in text  # only the methods this dataset used are cited
    assert "Role-Wise" not in text and "- Role:" not in text  # a dataset of no role
    assert "kdaug materialize --split train" in text and "kdaug materialize --split validation" in text


def test_load_dataset_reads_both_splits_with_class_names(published_dataset):
    import datasets

    ds = datasets.load_dataset(str(published_dataset))
    manifest = json.loads((published_dataset / "manifest.json").read_text())
    assert {s: ds[s].num_rows for s in ds} == {s: e["rows_written"] for s, e in manifest["splits"].items()}
    for column in ("label", "teacher_pred"):
        feature = ds["train"].features[column]
        assert isinstance(feature, datasets.ClassLabel) and feature.names == ["negative", "positive"]
    assert ds["train"].features["label"].int2str(ds["train"][0]["label"]) in ("negative", "positive")


def test_size_categories_follow_the_hubs_buckets():
    assert [size_category(n) for n in (0, 999, 1000, 9999, 10_000, 2_500_000)] == [
        "n<1K",
        "n<1K",
        "1K<n<10K",
        "1K<n<10K",
        "10K<n<100K",
        "1M<n<10M",
    ]


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("license", "CC-BY", "not a Hugging Face Hub licence id"),
        ("task_ids", ["sentiment"], "not a Hub text-classification task id"),
        ("language", ["English"], "not a language code"),
    ],
)
def test_a_mistyped_card_value_fails_before_any_work(field, value, message):
    with pytest.raises(RecipeError, match=message):
        Recipe(input="in.jsonl", output="out", teacher="t", **{field: value})


def test_a_mistyped_licence_names_the_list_of_licence_ids_where_it_is():
    import re
    from pathlib import Path

    with pytest.raises(RecipeError) as err:
        Recipe(input="in.jsonl", output="out", teacher="t", license="CC-BY")
    listed = Path(re.search(r"the list: (\S+)\)", str(err.value)).group(1))
    assert listed.is_file() and "apache-2.0" in listed.read_text().split()


def test_card_values_never_change_the_job(tiny_teacher, tmp_path):
    """A licence added later must not make a rerun redo (or refuse) the work: not part of the job."""
    base = dict(input="in.jsonl", output=str(tmp_path), teacher=str(tiny_teacher))
    plain, carded = Recipe(**base), Recipe(**base, license="mit", pretty_name="x", source_datasets="a/b")
    assert plain.dataset_recipe() == carded.dataset_recipe()
    assert carded.card_info()["source_datasets"] == ["a/b"]


def test_without_a_licence_the_card_says_unknown_and_materialize_warns(tmp_path, mr_rows, materialize, caplog):
    from tests.conftest import write_jsonl

    corpus = write_jsonl(tmp_path / "in.jsonl", mr_rows[:6])
    with caplog.at_level("WARNING", logger="kdaug"):
        materialize(corpus, tmp_path / "ds", id_column="id")
    assert any("no license= given" in r.getMessage() for r in caplog.records)  # from Python: the keyword
    text = (tmp_path / "ds" / "README.md").read_text()
    assert "license: unknown" in text and "check the source corpus's terms" in text


def test_a_card_with_no_complete_split_says_so():
    assert "No split is complete yet" in dataset_card({"schema_version": 2, "splits": {}})
