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


def test_one_augment_spec_may_be_given_as_a_string(corpora, tiny_teacher):
    tmp, train, _ = corpora
    recipe = kdaug.Recipe(input=str(train), output="o", teacher=str(tiny_teacher), augment="synonym:ratio=0.3,copies=1")
    assert [a.method for a in recipe.augment] == ["synonym"] and recipe.augment[0].params["copies"] == 1
    manifest = kdaug.materialize(
        input=str(train),
        output=str(tmp / "one-spec"),
        teacher=str(tiny_teacher),
        augment="synonym:ratio=0.3,copies=1",
        beam_args=RUNNER,
    )
    assert manifest["splits"]["train"]["augment"]["synonym.0"]["requested"] == 40


@pytest.mark.parametrize(
    "call, where",
    [
        (lambda: kdaug.Recipe(input="a", output="b", teacher="c", text_colum="review"), "Recipe()"),
        (lambda: kdaug.materialize(input="a", output="b", teacher="c", text_colum="review"), "kdaug.materialize()"),
        (lambda: kdaug.distill("d", student="bilstm", eval="e", output="o", eval_text_colum="x"), "kdaug.distill()"),
        (lambda: kdaug.finetune("d", student="bilstm", eval="e", output="o", eval_text_colum="x"), "kdaug.finetune()"),
        (lambda: kdaug.TrainConfig(data="d", student="s", eval="e", output="o", eval_text_colum="x"), "TrainConfig()"),
    ],
)
def test_a_mistyped_keyword_names_itself_and_the_closest_one_at_every_entry_point(call, where, tmp_path):
    with pytest.raises(kdaug.KdaugError) as err:
        call()
    assert isinstance(err.value, TypeError)  # what Python raises for an unexpected keyword, too
    message = str(err.value)
    assert message.startswith(f"{where} got unknown keyword")
    assert "(did you mean 'text_column'?)" in message or "(did you mean 'eval_text_column'?)" in message


def test_messages_name_keywords_from_python_and_flags_from_the_command_line(corpora, tiny_teacher, tmp_path, capsys):
    from kdaug.cli import main as kdaug_cli

    _, train, _ = corpora
    with pytest.raises(kdaug.KdaugError) as err:
        kdaug.Recipe(input="a", output="b", teacher="c", split="a b")
    assert str(err.value).startswith("split='a b' must be") and "--" not in str(err.value)
    with pytest.raises(kdaug.KdaugError, match=r"text_column=\) is not in the corpus") as err:
        kdaug.materialize(input=str(train), output=str(tmp_path / "x"), teacher=str(tiny_teacher), text_column="review")
    assert kdaug_cli(["materialize", "--input", str(train), "--output", "o", "--teacher", "c", "--split", "a b"]) == 2
    assert "--split 'a b' must be" in capsys.readouterr().err


def test_a_materialize_from_python_prints_no_beam_gcp_warning(corpora, tiny_teacher, tmp_path):
    """Without Beam's GCP extra (apitools, which the test extra installs, hidden here), Beam logs 'apitools
    not found' through the root logger mid-run, and configures that logger for the caller."""
    _, train, _ = corpora
    code = f"""
import logging, sys
sys.modules["apitools"] = None  # as on an install without apache-beam[gcp]
import kdaug
kdaug.materialize(input={str(train)!r}, output={str(tmp_path / "kd")!r}, teacher={str(tiny_teacher)!r},
                  license="mit", beam_args=["--runner=DirectRunner"])
import apache_beam.io.gcp.internal.clients.bigquery  # already imported: the warning would have shown by now
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")
    assert "apitools" not in out.stderr and "Loading weights" not in out.stderr, out.stderr[-2000:]
