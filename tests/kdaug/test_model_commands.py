import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kdaug.cli import main as kdaug
from kdaug.trainers.inference import load_model
from tests.conftest import write_jsonl

ROWS = [
    {"id": "r1", "text": "a wonderful, moving film", "label": "positive"},
    {"id": "r2", "text": "dull and lifeless", "label": "negative"},
    {"id": "r3", "text": "", "label": "negative"},  # no text: left out, said
    {"id": "r4", "text": "great acting, weak story", "label": "positive"},
]


def write_input(path, rows):
    if path.suffix == ".csv":
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    elif path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        write_jsonl(path, rows)
    return path


def read_output(path):
    if path.suffix == ".csv":
        with open(path) as f:
            return [
                {k: (float(v) if k.startswith("prob_") else int(v) if k == "label" else v) for k, v in r.items()}
                for r in csv.DictReader(f)
            ]
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize(
    ("kind", "fmt_in", "fmt_out"),
    [("bilstm", "jsonl", "csv"), ("bert", "csv", "parquet"), ("teacher", "parquet", "jsonl")],
)
def test_predict_writes_a_row_per_usable_record_in_input_order(
    tmp_path, tiny_students, tiny_teacher, caplog, kind, fmt_in, fmt_out
):
    model_dir = tiny_teacher if kind == "teacher" else tiny_students[kind]
    corpus = write_input(tmp_path / f"new.{fmt_in}", ROWS)
    out = tmp_path / "preds" / f"p.{fmt_out}"
    argv = ["predict", "--model", str(model_dir), "--input", str(corpus), "--output", str(out), "--id-column", "id"]
    assert kdaug(argv) == 0
    rows = read_output(out)
    assert [r["id"] for r in rows] == ["r1", "r2", "r4"]  # r3 has no text
    assert "1 records left out" in caplog.text and "r3" not in [r["id"] for r in rows]
    model = load_model(model_dir, device="cpu")
    texts = [r["text"] for r in ROWS if r["text"]]
    assert [r["label_name"] for r in rows] == model.predict(texts)
    for r, p in zip(rows, model.predict_proba(texts)):
        assert r["label_name"] == ["negative", "positive"][r["label"]]
        assert r["prob_negative"] == pytest.approx(p[0], abs=1e-6) and r["prob_positive"] == pytest.approx(
            p[1], abs=1e-6
        )
    assert not list(out.parent.glob(".*tmp*"))  # written whole, then renamed


def test_predict_without_an_id_column_names_rows_by_their_position(tmp_path, tiny_students):
    corpus = write_input(tmp_path / "new.jsonl", [{"text": "fine"}, {"text": "awful"}])
    out = tmp_path / "p.jsonl"
    assert kdaug(["predict", "--model", str(tiny_students["hf"]), "--input", str(corpus), "--output", str(out)]) == 0
    assert [r["id"] for r in read_output(out)] == ["new.jsonl:1", "new.jsonl:2"]


def test_evaluate_reports_accuracy_f1_confusion_and_calibration(tmp_path, tiny_students, capsys):
    data = write_input(tmp_path / "dev.jsonl", [r for r in ROWS if r["text"]] * 3)
    out = tmp_path / "scores.json"
    argv = ["evaluate", "--model", str(tiny_students["bilstm"]), "--data", str(data), "--output", str(out)]
    assert kdaug(argv) == 0
    scores = json.loads(out.read_text())
    model = load_model(tiny_students["bilstm"], device="cpu")
    predicted = model.predict([r["text"] for r in ROWS if r["text"]] * 3)
    gold = [r["label"] for r in ROWS if r["text"]] * 3
    assert scores["examples"] == 9
    assert scores["accuracy"] == pytest.approx(sum(p == g for p, g in zip(predicted, gold)) / 9)
    matrix = scores["confusion_matrix"]
    assert sum(map(sum, matrix)) == 9 and matrix[1][1] == sum(p == g == "positive" for p, g in zip(predicted, gold))
    assert 0.0 <= scores["ece"] <= 1.0 and 0.0 <= scores["macro_f1"] <= 1.0
    assert "| gold negative |" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("missing model", "does not exist"),
        ("foreign model", "neither a kdaug student"),
        ("missing text column", "column 'review'"),
        ("empty input", "no readable records"),
        ("undecodable input", "no readable records"),
        ("unwritable output", "its directory cannot be made"),
        ("unknown output format", "write predictions as"),
    ],
)
def test_bad_input_fails_before_any_work_with_one_line(tmp_path, tiny_students, capsys, case, says):
    model, corpus, out = str(tiny_students["bilstm"]), write_input(tmp_path / "in.jsonl", ROWS), tmp_path / "p.jsonl"
    extra = []
    if case == "missing model":
        model = str(tmp_path / "runs" / "nothing" / "best")
    elif case == "foreign model":
        (tmp_path / "foreign").mkdir()
        (tmp_path / "foreign" / "weights.txt").write_text("x")
        model = str(tmp_path / "foreign")
    elif case == "missing text column":
        extra = ["--text-column", "review"]
    elif case == "empty input":
        corpus = tmp_path / "empty.jsonl"
        corpus.write_text("")
    elif case == "undecodable input":
        corpus = tmp_path / "binary.jsonl"
        corpus.write_bytes(b"\xff\xfe\x00garbage\x00\n\x89PNG\r\n")
    elif case == "unwritable output":
        (tmp_path / "a-file").write_text("x")  # a directory that cannot be made (root may write anywhere)
        out = tmp_path / "a-file" / "p.jsonl"
    elif case == "unknown output format":
        out = tmp_path / "p.xlsx"
    code = kdaug(["predict", "--model", model, "--input", str(corpus), "--output", str(out), *extra])
    err = capsys.readouterr().err
    assert code == 2 and says in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and not out.exists()
