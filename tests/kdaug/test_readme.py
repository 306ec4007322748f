"""The README's own-data example runs as written, on a CSV whose columns are not kdaug's defaults."""

import csv
import re
import shlex
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def own_data_blocks() -> tuple[str, str]:
    """The bash and the Python block of the README's "Your own data" section."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Your own data") :]
    section = section[: section.index("\n## ", 1)]
    (bash,) = re.findall(r"```bash\n(.*?)```", section, re.S)
    (python,) = re.findall(r"```python\n(.*?)```", section, re.S)
    return bash, python


def commands(bash: str) -> list[list[str]]:
    joined = re.sub(r"\\\n\s*", " ", bash)
    return [shlex.split(line) for line in joined.splitlines() if line.strip() and not line.startswith("#")]


def write_reviews(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["review", "sentiment"])
        writer.writerows([r["text"], r["label"]] for r in rows)  # MR's labels are class names


@pytest.mark.real_assets  # fine-tunes the packaged MiniLM, as the README's first command does
def test_the_readmes_own_data_example_runs_as_written(tmp_path, monkeypatch, mr_rows, capsys):
    from kdaug.cli import main as kdaug_cli

    write_reviews(tmp_path / "reviews.csv", mr_rows[:24] + mr_rows[-24:])
    write_reviews(tmp_path / "dev.csv", mr_rows[300:310] + mr_rows[-310:-300])
    monkeypatch.chdir(tmp_path)
    bash, python = own_data_blocks()
    steps = commands(bash)
    assert [s[1] for s in steps] == [
        "finetune",
        "materialize",
        "distill",
        "predict",
        "evaluate",
        "evaluate",
        "report",
        "verify",
        "publish",
    ]
    for argv in steps:
        assert argv[0] == "kdaug" and kdaug_cli(argv[1:]) == 0, argv
    assert (tmp_path / "runs" / "bilstm-kd" / "metrics.json").is_file()
    assert (tmp_path / "out" / "reviews-kd" / "report.html").is_file()
    assert len((tmp_path / "preds.csv").read_text().splitlines()) == 1 + 20  # a header and dev.csv's 20 rows
    capsys.readouterr()

    exec(compile(python, "README.md", "exec"), {})  # the Python version, on the files the commands made
    best = capsys.readouterr().out
    assert "accuracy" in best and "macro_f1" in best and ("['positive']" in best or "['negative']" in best)
    import json

    metrics = json.loads((tmp_path / "runs" / "bilstm-kd" / "metrics.json").read_text())
    assert len(metrics["history"]) == 5 and metrics["config"]["eval_text_column"] == "review"


def test_docs_list_every_train_config_field():
    from dataclasses import fields

    from kdaug import TrainConfig

    docs = (README.parent / "docs" / "training.md").read_text(encoding="utf-8")
    table = docs[docs.index("## Every setting") :]
    missing = [f.name for f in fields(TrainConfig) if f"`{f.name}`" not in table]
    assert not missing, f"docs/training.md's table lacks {missing}"
