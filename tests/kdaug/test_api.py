"""The Python API the README documents: kdaug.Recipe, kdaug.materialize, kdaug.distill, kdaug.finetune."""

import json
import subprocess
import sys

import pytest

import kdaug
from tests.conftest import RUNNER, read_rows, write_jsonl


@pytest.fixture(scope="module")
def corpora(tmp_path_factory, mr_rows):
    tmp = tmp_path_factory.mktemp("api")
    train = write_jsonl(tmp / "train.jsonl", mr_rows[:20] + mr_rows[-20:])
    dev = write_jsonl(tmp / "dev.jsonl", mr_rows[200:210] + mr_rows[-210:-200])
    return tmp, train, dev


def test_materialize_distill_and_finetune_as_documented(corpora, tiny_teacher):
    tmp, train, dev = corpora
    recipe = kdaug.Recipe(
        input=str(train),
        output=str(tmp / "kd"),
        teacher=str(tiny_teacher),
        augment=["synonym:ratio=0.3,copies=2"],
        seed=13,
    )
    manifest = kdaug.materialize(recipe, beam_args=RUNNER)
    split = manifest["splits"]["train"]
    assert split["records_read"] == 40 and split["reconciles"] and split["rows_per_method"]["original"] == 40
    assert len(read_rows(tmp / "kd")) == split["rows_written"]

    metrics = kdaug.distill(
        str(tmp / "kd"),
        student="bilstm:hidden=8,embed_dim=8",
        eval=str(dev),
        output=str(tmp / "student"),
        epochs=1,
        batch_size=16,
    )
    assert metrics["best"]["epoch"] == 1 and 0.0 <= metrics["best"]["accuracy"] <= 1.0
    assert json.loads((tmp / "student" / "metrics.json").read_text())["config"]["objective"] == "distill"

    teacher = kdaug.finetune(
        str(train),
        student=f"hf:model={tiny_teacher}",
        eval=str(dev),
        output=str(tmp / "teacher"),
        epochs=1,
        batch_size=16,
    )
    assert teacher["config"]["objective"] == "finetune"
    # the fine-tuned teacher labels a dataset through the same API, the recipe given as keywords
    again = kdaug.materialize(
        input=str(train),
        output=str(tmp / "kd2"),
        teacher=str(tmp / "teacher" / "best"),
        augment=["synonym:ratio=0.5,copies=1"],
        beam_args=RUNNER,
    )
    assert again["splits"]["train"]["rows_per_method"]["original"] == 40


def test_a_recipe_with_roles_gives_a_manifest_per_role(corpora, tiny_teacher):
    tmp, train, _ = corpora
    manifests = kdaug.materialize(
        input=str(train),
        output=str(tmp / "roles"),
        teacher=str(tiny_teacher),
        roles={
            "teacher": {"augment": ["synonym:ratio=0.1,copies=1"]},
            "student": {"augment": ["synonym:ratio=0.5,copies=2"]},
        },
        beam_args=RUNNER,
    )
    assert set(manifests) == {"teacher", "student"}
    assert manifests["student"]["splits"]["train"]["augment"]["synonym.0"]["requested"] == 80


def test_errors_come_before_any_work_as_kdaug_errors(corpora, tmp_path):
    _, train, dev = corpora
    with pytest.raises(kdaug.KdaugError, match="does not exist"):
        kdaug.materialize(input=str(train), output=str(tmp_path / "x"), teacher=str(tmp_path / "no-teacher"))
    with pytest.raises(kdaug.KdaugError, match="not a materialized dataset"):
        kdaug.distill(str(tmp_path), student="gpt", eval=str(dev), output=str(tmp_path / "s"))
    with pytest.raises(TypeError, match="not both"):
        kdaug.materialize(kdaug.Recipe(input="a", output="b", teacher="c"), seed=3)
    assert not (tmp_path / "x").exists()


def test_import_kdaug_is_cheap():
    """The API names load on first use: importing kdaug loads neither torch nor Beam."""
    code = "import sys, kdaug; print(sorted(m for m in ('torch', 'apache_beam', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert set(kdaug.__all__) <= set(dir(kdaug))
