"""What a held-out set is read with: the training data's columns unless told otherwise, checked before any
training; and a dataset whose files are not the ones its manifest records is refused."""

import csv

import pyarrow.parquet as pq
import pytest

from kdaug.core.dataset import DamagedDatasetError
from kdaug.core.errors import KdaugError
from kdaug.trainers.config import TrainConfig, TrainConfigError
from kdaug.trainers.train import train

PAIRS = [
    ("a man plays a guitar", "a person makes music", 0),
    ("a dog runs in the park", "an animal is outside", 0),
    ("two kids eat lunch", "nobody is eating", 2),
    ("a woman reads a book", "the woman is asleep", 2),
    ("a boy kicks a ball", "a child plays football", 0),
    ("the chef cooks pasta", "someone is cooking", 0),
    ("a cat sleeps on a sofa", "the cat is running", 2),
    ("people sing in a choir", "a group is silent", 2),
    ("a girl paints a wall", "a wall is being painted", 0),
]


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def pair_dataset(tmp_path_factory, tiny_pair_teacher):
    from kdaug.core.recipe import Recipe
    from kdaug.pipelines.materialize import run

    tmp = tmp_path_factory.mktemp("pairs")
    train_csv = write_csv(tmp / "train.csv", ["premise", "hypothesis", "gold"], PAIRS * 3)
    recipe = Recipe(
        input=str(train_csv),
        output=str(tmp / "ds"),
        teacher=str(tiny_pair_teacher),
        text_column="premise",
        text_pair_column="hypothesis",
        label_column="gold",
        label_map={"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"},
    )
    run(recipe, ["--runner=DirectRunner"], command="pytest")
    return tmp


def pair_config(tmp, out, eval_path, **kw):
    return TrainConfig(
        data=str(tmp / "ds"),
        student="bilstm:hidden=8,embed_dim=8",
        eval=str(eval_path),
        output=str(out),
        epochs=1,
        batch_size=8,
        **kw,
    )


def test_a_pair_dataset_is_evaluated_on_pairs_read_with_its_own_columns(pair_dataset, tmp_path, monkeypatch):
    import kdaug.trainers.train as train_module

    dev = write_csv(tmp_path / "dev.csv", ["premise", "hypothesis", "gold"], PAIRS)
    seen = {}
    real = train_module.evaluate

    def spy(student, texts, pairs, gold, **kw):
        seen["pairs"] = list(pairs)
        return real(student, texts, pairs, gold, **kw)

    monkeypatch.setattr(train_module, "evaluate", spy)
    metrics = train(pair_config(pair_dataset, tmp_path / "run", dev), progress=False)
    assert seen["pairs"] == [h for _, h, _ in PAIRS]  # the second sentences, not None
    cfg = metrics["config"]
    assert (cfg["eval_text_column"], cfg["eval_text_pair_column"], cfg["eval_label_column"]) == (
        "premise",
        "hypothesis",
        "gold",
    )


def test_a_pair_dataset_evaluated_without_its_pair_column_is_refused_before_training(pair_dataset, tmp_path):
    dev = write_csv(tmp_path / "dev.csv", ["premise", "gold"], [(p, g) for p, _, g in PAIRS])
    with pytest.raises(KdaugError) as err:
        train(pair_config(pair_dataset, tmp_path / "run", dev), progress=False)
    message = str(err.value)
    assert "column 'hypothesis' (eval_text_pair_column=)" in message and "['gold', 'premise']" in message
    assert not (tmp_path / "run" / "checkpoint").exists()


def test_single_texts_evaluated_as_pairs_are_refused(tiny_dataset, tmp_path):
    data, heldout = tiny_dataset
    cfg = TrainConfig(
        data=str(data), student="bilstm", eval=str(heldout), output=str(tmp_path / "r"), eval_text_pair_column="text"
    )
    with pytest.raises(TrainConfigError, match="holds single texts.*drop eval_text_pair_column="):
        train(cfg, progress=False)


def test_eval_columns_missing_fail_before_work_naming_the_files_columns_and_the_flag(tiny_dataset, tmp_path, capsys):
    from kdaug.cli import main as kdaug

    data, _ = tiny_dataset
    dev = write_csv(tmp_path / "dev.csv", ["review", "sentiment"], [("a fine film", "positive")] * 4)
    argv = ["distill", "--data", str(data), "--student", "bilstm", "--eval", str(dev), "--output", str(tmp_path / "r")]
    assert kdaug(argv) == 2
    err = capsys.readouterr().err
    assert "column 'text' (--eval-text-column) is not in --eval" in err and "['review', 'sentiment']" in err
    assert not (tmp_path / "r").exists()
    assert kdaug([*argv, "--eval-text-column", "review", "--eval-label-column", "sentiment", "--epochs", "1"]) == 0


def damaged_copy(tiny_dataset, tmp_path):
    import shutil

    data, _ = tiny_dataset
    copy = tmp_path / "ds"
    shutil.copytree(data, copy)
    return copy, sorted((copy / "data").glob("*.parquet"))[0]


def test_a_data_file_cut_short_is_refused_naming_it(tiny_dataset, tmp_path):
    copy, first = damaged_copy(tiny_dataset, tmp_path)
    table = pq.read_table(first)
    pq.write_table(table.slice(0, table.num_rows // 2), first, compression="zstd")  # readable, fewer rows
    cfg = TrainConfig(data=str(copy), student="bilstm", eval=str(tiny_dataset[1]), output=str(tmp_path / "r"))
    with pytest.raises(DamagedDatasetError, match=f"{first.name} has \\d+ bytes, the manifest .* says \\d+"):
        train(cfg, progress=False)
    assert not (tmp_path / "r").exists()


def test_a_data_file_changed_in_place_is_refused_by_its_sha256(tiny_dataset, tmp_path):
    copy, first = damaged_copy(tiny_dataset, tmp_path)
    data = bytearray(first.read_bytes())
    data[len(data) // 4] ^= 0xFF  # one byte of a data page: same size, same footer (rows, schema), other bytes
    first.write_bytes(bytes(data))
    cfg = TrainConfig(data=str(copy), student="bilstm", eval=str(tiny_dataset[1]), output=str(tmp_path / "r"))
    with pytest.raises(DamagedDatasetError, match=f"{first.name}: sha256 .* is not the manifest's"):
        train(cfg, progress=False)
    assert not (tmp_path / "r" / "checkpoint").exists()


def test_fine_tuning_on_a_corpus_of_one_class_is_refused(tmp_path):
    from kdaug.core.corpus import CorpusError

    corpus = write_csv(tmp_path / "one.csv", ["review", "sentiment"], [("a fine film", "positive")] * 4)
    cfg = TrainConfig(
        data=str(corpus),
        student="bilstm",
        eval=str(corpus),
        output=str(tmp_path / "r"),
        objective="finetune",
        text_column="review",
        label_column="sentiment",
    )
    with pytest.raises(
        CorpusError, match="column 'sentiment' holds 1 class\\(es\\) \\(positive\\); a classifier needs"
    ):
        train(cfg, progress=False)
