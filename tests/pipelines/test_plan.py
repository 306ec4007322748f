"""`kdaug plan`: what materialize would write and cost, checked against what it then writes."""

import json

from kdaug.cli import main
from tests.conftest import write_jsonl


def test_plan_counts_what_materialize_then_writes_and_writes_nothing_itself(
    tmp_path, mr_rows, tiny_teacher, materialize, capsys
):
    corpus = write_jsonl(tmp_path / "c.jsonl", mr_rows[:40] + ['{"broken'] + mr_rows[-40:])
    out, estimate = tmp_path / "ds", tmp_path / "plan.json"
    augment = "synonym:ratio=0.3,copies=2,context=none"
    common = ["--input", str(corpus), "--output", str(out), "--teacher", str(tiny_teacher), "--id-column", "id"]
    code = main(["plan", *common, "--augment", augment, "--sample", "100", "--cores", "4", "--json", str(estimate)])
    printed = capsys.readouterr().out
    assert code == 0
    assert not out.exists()  # a plan writes no dataset
    assert "sources 80 (1 bad records will be dead-lettered)" in printed
    assert "| augment synonym.0 |" in printed and "| label (teacher) |" in printed
    assert "ESTIMATED from FLOPs" in printed and "H100" in printed
    planned = json.loads(estimate.read_text())
    assert planned["cores"] == 4 and planned["sources"] == 80 and planned["bad_records"] == 1
    assert planned["sample"]["write_seconds_per_row"] > 0 and planned["worker_start_seconds"] > 0
    assert planned["wall_hours"] > planned["core_hours"] / 4

    manifest, rows = materialize(corpus, out, augment=[augment], id_column="id")
    entry = manifest["splits"]["train"]
    assert planned["rows"] == entry["rows_written"] == len(rows)  # the sample is the whole corpus here
    assert planned["copies"]["synonym.0"] == entry["augment"]["synonym.0"]["written"]
    assert planned["bad_records"] == entry["records_dead_lettered"]


def test_plan_fails_fast_on_a_bad_flag_or_sample(tmp_path, capsys, mr_rows, tiny_teacher):
    corpus = write_jsonl(tmp_path / "c.jsonl", mr_rows[:10])
    common = ["--input", str(corpus), "--output", str(tmp_path / "o"), "--teacher", str(tiny_teacher)]
    assert main(["plan", *common, "--sampel", "30"]) == 2
    assert "--sample" in capsys.readouterr().err
    assert main(["plan", *common, "--sample", "3"]) == 2
    assert "--sample must be at least 8" in capsys.readouterr().err
    assert main(["plan", *common, "--cores", "0"]) == 2
    assert "--cores must be at least 1" in capsys.readouterr().err
    assert main(["plan", *common, "--teacher", str(tmp_path / "missing")]) == 2
    assert "teacher" in capsys.readouterr().err
