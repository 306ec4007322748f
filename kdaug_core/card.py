"""The files beside the data: manifest.json (counts, recipe, versions, every file's sha256) and README.md,
a dataset card in the Hugging Face format whose YAML header the Hub's card checks accept. Pure functions
of the counts a run produced; one dataset directory can hold several splits, each run adding or replacing
its own."""

from __future__ import annotations

import contextlib
import json
import logging
import platform
import re
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata

import yaml

from kdaug.core.counts import RunCounts
from kdaug.core.dataset import COMPLETE
from kdaug.core.flags import given
from kdaug.core.markdown import table
from kdaug.core.schema import SoftLabels, hf_features, load_spec

log = logging.getLogger("kdaug")
# The Hub's size buckets (datasets/utils/resources/size_categories.json), by upper bound.
SIZE_CATEGORIES = [
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"),
    (100_000_000_000, "10B<n<100B"),
    (1_000_000_000_000, "100B<n<1T"),
]
# The Hub's task ids under text-classification, the task of every kdaug dataset.
TASK_IDS = (
    "acceptability-classification",
    "entity-linking-classification",
    "fact-checking",
    "intent-classification",
    "language-identification",
    "multi-class-classification",
    "multi-label-classification",
    "multi-input-text-classification",
    "natural-language-inference",
    "semantic-similarity-classification",
    "sentiment-classification",
    "topic-classification",
    "semantic-similarity-scoring",
    "sentiment-scoring",
    "sentiment-analysis",
    "hate-speech-detection",
    "text-scoring",
)
# The papers behind each augmentation method, cited by the cards of datasets that use it.
CITATIONS = {
    "shift": (
        "Wang, Han, Bao, Ji. Understanding the Effect of Data Augmentation on Knowledge Distillation. "
        "arXiv:2305.12565, 2023."
    ),
    "augpro": (
        "Wang, Wu, Liu, Liu, Hou, Yu, Li, Ji. Augmentation with Projection: Towards an Effective and Efficient "
        "Data Augmentation Paradigm for Distillation. ICLR 2023, arXiv:2210.11768."
    ),
    "rolewise": "Fu et al. Role-Wise Data Augmentation for Knowledge Distillation. arXiv:2004.08861, 2020.",
    "wordnet": "Miller. WordNet: A Lexical Database for English. Communications of the ACM 38(11), 1995.",
    "glove": "Pennington, Socher, Manning. GloVe: Global Vectors for Word Representation. EMNLP 2014.",
    "mlm": (
        "Jiao et al. TinyBERT: Distilling BERT for Natural Language Understanding. Findings of EMNLP 2020 "
        "(masked-LM word replacement for distillation data)."
    ),
    "kd": "Hinton, Vinyals, Dean. Distilling the Knowledge in a Neural Network. arXiv:1503.02531, 2015.",
}
METHOD_CITATIONS = {
    "synonym": ("shift", "wordnet"),
    "knn": ("shift", "glove"),
    "mlm": ("shift", "mlm"),
    "augpro_mix": ("augpro",),
    "augpro_fgsm": ("augpro",),
}


def hub_licenses_file():
    """The packaged list of the Hub's licence ids (a path wherever kdaug is installed)."""
    from importlib import resources

    return resources.files("kdaug.core").joinpath("assets/hub_licenses.txt")


def hub_licenses() -> list[str]:
    text = hub_licenses_file().read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def check_card_fields(license: str | None, language: list[str], task_ids: list[str]) -> None:
    """A mistyped card value fails before any work (the Hub would refuse the card at upload)."""
    if license is not None and license not in hub_licenses():
        raise ValueError(
            f"{given('license', license)} is not a Hugging Face Hub licence id (e.g. apache-2.0, mit, cc-by-4.0, "
            f"cc-by-sa-4.0, other, unknown; the list: {hub_licenses_file()})"
        )
    for code in language:
        if not isinstance(code, str) or not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*", code):
            raise ValueError(f"{given('language', code)} is not a language code (ISO 639-1/-3, e.g. en, de, fil)")
    for task in task_ids:
        if task not in TASK_IDS:
            raise ValueError(f"{given('task_ids', task)} is not a Hub text-classification task id; one of {TASK_IDS}")


def size_category(rows: int) -> str:
    return next((name for bound, name in SIZE_CATEGORIES if rows < bound), "n>1T")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("kdaug", "apache-beam", "torch", "transformers", "pyarrow", "nltk", "datasets"):
        with contextlib.suppress(importlib_metadata.PackageNotFoundError):
            out[pkg] = importlib_metadata.version(pkg)
    return out


def split_manifest(
    counts: RunCounts, recipe: dict, teacher: dict, command: str, data_files: list[str], dead_letter_files: list[str]
) -> dict:
    """The manifest entry for one split, from what the pipeline counted."""
    per_method = {m: counts.rows[m] for m in sorted(counts.rows)}
    mean_ratio = {m: counts.changed_ratio_sum.get(m, 0.0) / n if n else 0.0 for m, n in per_method.items()}
    augment = {
        s: {
            "requested": counts.copies_requested.get(s, 0),
            "written": counts.copies_written.get(s, 0),
            # copies not written: all of them, and those not drawn because the text was too short for the ratio
            "short": counts.copies_requested.get(s, 0) - counts.copies_written.get(s, 0),
            "short_text": counts.copies_short_text.get(s, 0),
        }
        for s in sorted(counts.copies_requested)
    }
    # The corpus's changed share per copy drawn or skipped as too short (skipped ones count as unchanged):
    # what an augmenter's ratio targets (on texts of any length its expectation is the ratio).
    skipped: dict[str, int] = {}
    for s, entry in augment.items():
        skipped[s.split(".")[0]] = skipped.get(s.split(".")[0], 0) + entry["short_text"]
    corpus_ratio = {
        m: counts.changed_ratio_sum.get(m, 0.0) / (n + skipped.get(m, 0)) if n + skipped.get(m, 0) else 0.0
        for m, n in per_method.items()
        if m != "original"
    }
    originals = per_method.get("original", 0)
    rows = sum(per_method.values())
    data_bytes, soft_bytes = counts.data_bytes, counts.soft_label_bytes
    return {
        "records_read": counts.records_read,
        "records_written": originals,
        "records_dead_lettered": counts.source_dead_letters,
        "copies_dead_lettered": counts.copy_dead_letters,
        "reconciles": counts.records_read == originals + counts.source_dead_letters,
        "rows_written": rows,
        "rows_per_method": per_method,
        "mean_changed_ratio": mean_ratio,
        "corpus_changed_ratio": corpus_ratio,
        "augment": augment,
        "dead_letter_reasons": dict(counts.dead_letters),
        "truncated_rows": counts.truncated_rows,
        # sources longer than the recipe's max_words: written whole, augmented within their first max_words words
        "augmented_in_window": counts.windowed_sources,
        # chunks this run made, and chunks an interrupted earlier run of the same job had staged
        "chunks": {"written": counts.chunks_written, "reused": counts.chunks_reused},
        "data_files": data_files,
        "data_bytes": data_bytes,
        "storage": {
            "soft_labels": SoftLabels.parse(recipe.get("soft_labels")).to_dict(),
            "bytes_per_row": round(data_bytes / rows, 2) if rows else 0.0,
            "soft_label_bytes_per_row": round(soft_bytes / rows, 2) if rows else 0.0,
        },
        "teacher_kl_to_source_mean": {
            m: counts.kl_to_source_sum.get(m, 0.0) / n if n else None for m, n in per_method.items() if m != "original"
        },
        "dead_letter_files": dead_letter_files,
        "teacher": teacher,
        "recipe": recipe,
        "command": command,
        "versions": versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def merge_manifest(existing: dict | None, split: str, entry: dict, card: dict | None = None) -> dict:
    """The manifest with the split's entry set; `card`, the card's metadata (the latest run's), when given."""
    manifest = dict(existing or {})
    manifest["schema_version"] = load_spec()["version"]
    if card is not None:
        manifest["card"] = card
    manifest.setdefault("splits", {})[split] = entry
    manifest["splits"] = dict(sorted(manifest["splits"].items()))
    return manifest


def complete_splits(manifest: dict) -> dict[str, dict]:
    return {s: e for s, e in manifest.get("splits", {}).items() if e.get("state", COMPLETE) == COMPLETE}


def label_names_of(splits: dict[str, dict]) -> list[str]:
    return list(next(iter(splits.values()))["teacher"]["label_names"]) if splits else []


def methods_of(splits: dict[str, dict]) -> list[str]:
    return sorted({m for e in splits.values() for m in e["rows_per_method"] if m != "original"})


def card_metadata(manifest: dict) -> dict:
    """The card's YAML header: what the Hub shows and searches (licence, language, task, size, sources,
    how the labels were made) and what `datasets` loads (configs, features with class names)."""
    splits = complete_splits(manifest)
    info = {**DEFAULT_CARD, **(manifest.get("card") or {})}
    pairs = any(e["recipe"].get("text_pair_column") for e in splits.values())
    first = next(iter(splits.values()))
    return {
        "pretty_name": info["pretty_name"] or "kdaug distillation dataset",
        "license": info["license"] or "unknown",
        "language": list(info["language"]),
        "annotations_creators": ["machine-generated"],  # every row's soft labels are the teacher's
        "language_creators": ["found", "machine-generated"],  # the corpus's texts, and the copies
        "multilinguality": ["monolingual" if len(info["language"]) <= 1 else "multilingual"],
        "size_categories": [size_category(sum(e["rows_written"] for e in splits.values()))],
        # "extended|X": made from dataset X (the Hub's convention); "original": nothing named
        "source_datasets": [f"extended|{s}" for s in info["source_datasets"]] or ["original"],
        "task_categories": ["text-classification"],
        "task_ids": list(info["task_ids"])
        or ["multi-input-text-classification" if pairs else "multi-class-classification"],
        "tags": ["knowledge-distillation", "data-augmentation", "soft-labels", "kdaug"],
        "configs": [
            {"config_name": "default", "data_files": [{"split": s, "path": e["data_files"]} for s, e in splits.items()]}
        ],
        "dataset_info": {
            "features": hf_features(
                manifest["schema_version"], SoftLabels.parse(first["recipe"].get("soft_labels")), label_names_of(splits)
            ),
            "splits": [
                {"name": s, "num_bytes": e.get("data_bytes", 0), "num_examples": e["rows_written"]}
                for s, e in splits.items()
            ],
        },
    }


DEFAULT_CARD = {"license": None, "source_datasets": [], "language": ["en"], "pretty_name": None, "task_ids": []}


def dataset_card(manifest: dict) -> str:
    """The card describes the complete splits only, each with its exact data files (a split being
    committed, or whose commit was interrupted, is left out until it is complete)."""
    splits = complete_splits(manifest)
    title = (manifest.get("card") or {}).get("pretty_name") or "kdaug distillation dataset"
    if not splits:
        return (
            f"# {title}\n\nNo split is complete yet: a `kdaug materialize` run is committing one, or was "
            f"interrupted while committing it (run the same command again to finish it).\n"
        )
    meta = card_metadata(manifest)
    labels = label_names_of(splits)
    methods = methods_of(splits)
    sources = (manifest.get("card") or {}).get("source_datasets") or []
    lines = [
        "---",
        yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip(),
        "---",
        "",
        f"# {title}",
        "",
        "A knowledge-distillation dataset materialized by [kdaug](https://pypi.org/project/kdaug/): the "
        "examples of a labelled text corpus"
        + (f" ({', '.join(sources)})" if sources else "")
        + f", plus augmented copies of them ({', '.join(methods) or 'none'}), every row labelled by a "
        f"fine-tuned teacher model: its logits (`teacher_logits`), its prediction (`teacher_pred`, one of "
        f"{labels}) and the entropy of its distribution. Each copy records how much of its source it "
        "changed (`changed_ratio`) and how far the teacher's view of it moved (`teacher_kl_to_source`).",
        "",
        f"- Licence: `{meta['license']}`"
        + (
            " (not given at materialize time: check the source corpus's terms before sharing)"
            if meta["license"] == "unknown"
            else " (the source corpus's licence applies to its texts and their copies)"
        ),
        f"- Language: {', '.join(meta['language'])}; task: text classification ({', '.join(meta['task_ids'])})",
        f"- Size: {sum(e['rows_written'] for e in splits.values())} rows in {len(splits)} split(s)",
        "",
        "## Loading",
        "",
        "```python",
        "import datasets",
        "ds = datasets.load_dataset('path/to/this/dir')  # or the Hub repo id",
        f"ds['{next(iter(splits))}'].features['label'].names  # {labels}",
        "```",
        "",
        "## Training on it",
        "",
        "Distill a student on the soft labels: every row (original or copy) has the teacher's "
        "`teacher_logits`; use a KD loss such as KL(softmax(t/T) || softmax(s/T)) with temperature T. "
        "The gold `label` is the corpus's and is trustworthy only on rows whose `aug_method` is `original`: "
        "a copy carries its source's label, which it may no longer deserve. To train on the gold labels "
        "alone, keep the `original` rows. `teacher_kl_to_source` and `teacher_entropy` let you drop "
        "copies the teacher found far from their source or was unsure about; `changed_ratio` lets you pick "
        "a shift degree. With kdaug: `kdaug distill --data DIR --student bilstm --eval dev.jsonl`.",
        "",
        "## Limitations",
        "",
        "- Copies are made by word replacement or embedding projection: they can be ungrammatical or change "
        "the meaning of their source. They are for training students, not for evaluation.",
        "- The teacher's errors are in the labels: a student learns them too. Its accuracy on held-out data "
        "bounds what these labels can teach.",
        "- Texts longer than the teacher's limit were truncated for labelling (counts below).",
        "",
    ]
    for split, e in splits.items():
        teacher = e["teacher"]
        lines += [
            f"## Split `{split}`",
            "",
            f"- Teacher: `{teacher['spec']}` (weights sha256 `{teacher['weights_sha256'][:16]}...`), "
            f"labels {teacher['label_names']}",
            f"- Records read {e['records_read']}, written {e['records_written']}, dead-lettered "
            f"{e['records_dead_lettered']}; rows written {e['rows_written']}; "
            f"texts truncated for the teacher: {e['truncated_rows']}",
        ]
        if "storage" in e:
            st = e["storage"]
            fmt = st["soft_labels"]
            lines.append(
                f"- Soft labels stored as {fmt['dtype']}"
                + (f", top {fmt['top_k']}" if fmt["top_k"] else ", every class")
                + f": {st['soft_label_bytes_per_row']:.1f} bytes per row"
                + f" (of {st['bytes_per_row']:.1f} in all, zstd Parquet)"
            )
        if e.get("files"):
            lines.append(
                f"- {len(e['files'])} files, each with its size and sha256 in `manifest.json` "
                "(`kdaug verify DIR` checks them)"
            )
        lines.append("")
        for note in e["recipe"].get("notes") or []:
            lines += [f"> **Note:** {note}", ""]
        kl = e.get("teacher_kl_to_source_mean", {})
        ratios = e.get("mean_changed_ratio", {})
        cells = []
        for method, n in e["rows_per_method"].items():
            asked = sum(a["requested"] for k, a in e["augment"].items() if k.split(".")[0] == method)
            short = sum(a["short"] for k, a in e["augment"].items() if k.split(".")[0] == method)
            kl_text = f"{kl[method]:.4f}" if kl.get(method) is not None else "-"
            copies = ["-", "-"] if method == "original" else [asked, short]
            cells.append([method, n, f"{ratios.get(method, 0.0):.3f}", kl_text, *copies])
        header = ["method", "rows", "mean changed_ratio", "mean teacher_kl_to_source", "copies asked", "copies short"]
        lines += table(header, cells, "lrrrrr")
        if e["dead_letter_reasons"]:
            lines += [
                "",
                "Dead-lettered (see `dead_letter/`): "
                + ", ".join(f"{k}: {v}" for k, v in sorted(e["dead_letter_reasons"].items())),
            ]
        lines += [
            "",
            "### How it was made",
            "",
            "```",
            e["command"],
            "```",
            "",
            "Recipe:",
            "",
            "```json",
            json.dumps(e["recipe"], indent=2, sort_keys=True),
            "```",
            "",
        ]
    columns = load_spec(manifest["schema_version"])["columns"]
    described = [
        [f"`{c['name']}`", c["type"] + ("" if c["nullable"] else ", not null"), c["description"]] for c in columns
    ]
    lines += ["## Columns", "", *table(["column", "type", "description"], described, "lll")]
    cited = ["kd"] + [c for m in methods for c in METHOD_CITATIONS.get(m, ())]
    if any("Role-wise" in " ".join(e["recipe"].get("notes") or []) for e in splits.values()):
        cited.append("rolewise")
    lines += ["", "## Citations", "", "The methods behind this dataset:", ""]
    lines += [f"- {CITATIONS[c]}" for c in dict.fromkeys(cited)]
    lines.append("")
    return "\n".join(lines)


def dataset_documents(manifest: dict) -> dict[str, str]:
    """The files written beside the manifest: the card, and Croissant metadata once a split is complete."""
    from kdaug.core.croissant import croissant_metadata
    from kdaug.core.dataset import CARD, CROISSANT

    documents = {CARD: dataset_card(manifest)}
    if complete_splits(manifest):
        documents[CROISSANT] = json.dumps(croissant_metadata(manifest), indent=2, ensure_ascii=False) + "\n"
    return documents
