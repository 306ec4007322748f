"""Shared fixtures: tiny teachers built from a config (real MiniLM tokenizer, random tiny weights),
corpora written by the tests, and the real MR corpus fetched by the set-up script."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from kdaug.core.recipe import Recipe
from kdaug.pipelines.materialize import prepare, run

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

LABELS = {0: "negative", 1: "positive"}


def _build_tiny_bert(dest: Path, model_class: str, seed: int, **config) -> Path:
    """A 2-layer, 32-wide BERT with MiniLM's real tokenizer and random weights (seeded), saved to `dest`."""
    import torch
    import transformers

    from kdaug.core.assets.minilm import minilm_path

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(minilm_path()))
    config = transformers.BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        **config,
    )
    torch.manual_seed(seed)
    getattr(transformers, model_class)(config).eval().save_pretrained(dest, safe_serialization=True)
    tokenizer.save_pretrained(dest)
    return dest


def build_tiny_teacher(dest: Path, num_labels: int = 2, id2label: dict | None = None, seed: int = 0) -> Path:
    id2label = id2label or ({i: f"LABEL_{i}" for i in range(num_labels)})
    return _build_tiny_bert(
        dest,
        "BertForSequenceClassification",
        seed,
        num_labels=len(id2label),
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory) -> Path:
    """A 2-class teacher with label names negative/positive."""
    return build_tiny_teacher(tmp_path_factory.mktemp("teacher") / "tiny", id2label=LABELS)


@pytest.fixture(scope="session")
def tiny_pair_teacher(tmp_path_factory) -> Path:
    """A 3-class teacher with generic label names (LABEL_0..2), as an NLI head would have."""
    return build_tiny_teacher(tmp_path_factory.mktemp("teacher") / "tiny3", num_labels=3, seed=1)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory, mr_rows, tiny_teacher):
    """A tiny materialized dataset (60 MR sentences, 2 synonym copies each) and a held-out set."""
    tmp = tmp_path_factory.mktemp("distill")
    corpus = write_jsonl(tmp / "train.jsonl", mr_rows[:30] + mr_rows[-30:])
    heldout = write_jsonl(tmp / "dev.jsonl", mr_rows[100:120] + mr_rows[-120:-100])
    run(
        Recipe(
            input=str(corpus),
            output=str(tmp / "ds"),
            teacher=str(tiny_teacher),
            id_column="id",
            augment=["synonym:ratio=0.3,copies=2"],
        ),
        ["--runner=DirectRunner"],
        command="pytest",
    )
    return tmp / "ds", heldout


CARD = dict(
    license="cc-by-4.0",
    source_datasets=["cornell-movie-review-data/rotten_tomatoes"],
    pretty_name="Tiny MR distillation set",
    task_ids=["sentiment-classification"],
)


@pytest.fixture(scope="session")
def published_dataset(tmp_path_factory, mr_rows, tiny_teacher) -> Path:
    """A small dataset as a publisher would make it: card flags set, two splits (train with synonym copies
    and one unreadable record, dead-lettered; validation without copies). Copy it before changing it."""
    tmp = tmp_path_factory.mktemp("published")
    train = write_jsonl(tmp / "train.jsonl", mr_rows[:15] + ["{not json"] + mr_rows[-15:])
    validation = write_jsonl(tmp / "validation.jsonl", mr_rows[200:210])
    for split, corpus, augment in (("train", train, ["synonym:ratio=0.3,copies=2"]), ("validation", validation, [])):
        recipe = Recipe(
            input=str(corpus),
            output=str(tmp / "ds"),
            teacher=str(tiny_teacher),
            id_column="id",
            split=split,
            augment=augment,
            **CARD,
        )
        run(recipe, ["--runner=DirectRunner"], command=f"kdaug materialize --split {split}")
    return tmp / "ds"


def build_tiny_mlm(dest: Path, seed: int = 0) -> Path:
    return _build_tiny_bert(dest, "BertForMaskedLM", seed)


@pytest.fixture(scope="session")
def tiny_mlm(tmp_path_factory) -> Path:
    """A tiny BertForMaskedLM (random weights, MiniLM's real tokenizer): plumbing, ratios, batching."""
    return build_tiny_mlm(tmp_path_factory.mktemp("mlm") / "tiny-mlm")


@pytest.fixture(scope="session")
def mr_corpus() -> Path:
    from kdaug.core.assets.mr import fetch_mr

    return fetch_mr()


@pytest.fixture(scope="session")
def mr_rows(mr_corpus) -> list[dict]:
    with open(mr_corpus, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def make_augmenter(spec: str):
    """One augmenter from an --augment spec, set up."""
    from kdaug.core.augment import build_augmenters, parse_augment_spec

    aug = build_augmenters([parse_augment_spec(spec)])[0]
    aug.setup()
    return aug


def as_sources(rows: list[dict], n: int) -> list:
    from kdaug.core.corpus import SourceExample

    return [SourceExample(str(i), r["text"], None, None, "") for i, r in enumerate(rows[:n])]


def write_jsonl(path: Path, rows: list) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return path


RUNNER = ["--runner=DirectRunner"]


@pytest.fixture
def materialize(tiny_teacher):
    """Runs the pipeline on the DirectRunner and returns (manifest, rows sorted by id)."""

    def _run(input_path, output, beam_args=(), scale=None, **kw):
        kw.setdefault("teacher", str(tiny_teacher))
        recipe = Recipe(input=str(input_path), output=str(output), **kw)
        manifest = run(recipe, RUNNER + list(beam_args), command="pytest", plan=prepare(recipe, "pytest", scale))
        return manifest, read_rows(output, recipe.split)

    return _run


def read_rows(output, split="train"):
    files = sorted((output / "data").glob(f"{split}-*.parquet"))
    rows = [r for f in files for r in pq.read_table(f).to_pylist()]
    return sorted(rows, key=lambda r: r["id"])


def read_dead_letters(output, split="train"):
    out = []
    for f in sorted((output / "dead_letter").glob(f"{split}-*.jsonl")):
        out += [json.loads(line) for line in f.read_text().splitlines()]
    return out


def reseal(dataset_dir, split="train"):
    """Records a test's edit of a dataset's data files in its manifest (sizes, sha256s, row counts), as a
    materialize run that wrote those files would have: the dataset then reads as consistent, other data."""
    from collections import Counter

    from kdaug.core.dataset import DatasetDir

    ds = DatasetDir(str(dataset_dir))
    manifest = ds.read_manifest()
    entry = manifest["splits"][split]
    entry["files"] = [ds.file_entry(ds.path(f["path"]), f["path"]) for f in entry["files"]]
    methods = Counter(m for name in entry["data_files"] for m in pq.read_table(ds.path(name))["aug_method"].to_pylist())
    entry["rows_written"], entry["rows_per_method"] = sum(methods.values()), dict(methods)
    (Path(dataset_dir) / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


STUDENT_SPECS = {
    "bilstm": "bilstm:hidden=16,embed_dim=8",
    "bert": "bert:layers=1,hidden=32,heads=2,intermediate=64",
    "bert_from_teacher": "bert_from_teacher:layers=1",
    "hf": "hf:model={teacher}",
}


@pytest.fixture(scope="session")
def tiny_students(tmp_path_factory, tiny_teacher) -> dict[str, Path]:
    """One saved student directory per kind (untrained, seeded), as `kdaug distill` writes best/."""
    import torch

    from kdaug.trainers.students import StudentSpec, build_student

    root = tmp_path_factory.mktemp("students")
    texts = ["a wonderful film", "a dull and lifeless story", "great acting", "not worth the ticket"]
    out = {}
    for kind, spec in STUDENT_SPECS.items():
        torch.manual_seed(0)
        student = build_student(StudentSpec.parse(spec.format(teacher=tiny_teacher)), LABELS, str(tiny_teacher), texts)
        student.save(root / kind)
        out[kind] = root / kind
    return out
