"""README.md beside the data: a dataset card in the Hugging Face format whose YAML header the Hub's card
checks accept, made from manifest.json (card_template.md, its computed sections one function each); and
the card's fields a recipe gives (licence, languages, task ids), checked before any work."""

from __future__ import annotations

import json
import logging
import re
import string
from importlib import resources

import yaml

from kdaug.core.flags import given
from kdaug.core.markdown import table
from kdaug.core.publishing.manifest import augment_by_method, complete_splits, label_names_of, methods_of
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
    """README.md: card_template.md filled in, one function per computed section. The card describes the
    complete splits only, each with its exact data files (a split being committed, or whose commit was
    interrupted, is left out until it is complete)."""
    splits = complete_splits(manifest)
    info = manifest.get("card") or {}
    title = info.get("pretty_name") or "kdaug distillation dataset"
    if not splits:
        return (
            f"# {title}\n\nNo split is complete yet: a `kdaug materialize` run is committing one, or was "
            f"interrupted while committing it (run the same command again to finish it).\n"
        )
    meta = card_metadata(manifest)
    sources = info.get("source_datasets") or []
    template = resources.files("kdaug.core.publishing").joinpath("card_template.md").read_text(encoding="utf-8")
    return string.Template(template).substitute(
        metadata=yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip(),
        title=title,
        sources=f" ({', '.join(sources)})" if sources else "",
        methods=", ".join(methods_of(splits)) or "none",
        labels=label_names_of(splits),
        facts=facts_section(meta, splits, info.get("role")),
        first_split=next(iter(splits)),
        splits="".join(split_section(split, entry) for split, entry in splits.items()),
        columns="\n".join(columns_section(manifest["schema_version"])),
        citations="\n".join(f"- {CITATIONS[c]}" for c in cited_papers(splits, info.get("role"))),
    )


def facts_section(meta: dict, splits: dict[str, dict], role: str | None) -> str:
    """Licence, language and task, size; and the role a role-wise dataset serves."""
    licence = f"- Licence: `{meta['license']}`" + (
        " (not given at materialize time: check the source corpus's terms before sharing)"
        if meta["license"] == "unknown"
        else " (the source corpus's licence applies to its texts and their copies)"
    )
    lines = [
        licence,
        f"- Language: {', '.join(meta['language'])}; task: text classification ({', '.join(meta['task_ids'])})",
        f"- Size: {sum(e['rows_written'] for e in splits.values())} rows in {len(splits)} split(s)",
    ]
    if role:
        lines.append(f"- Role: the `{role}` role's dataset of a role-wise recipe (Fu et al.; see Citations)")
    return "\n".join(lines)


def split_section(split: str, e: dict) -> str:
    """One split: teacher, counts and storage, notes, copies per method, dead letters, how it was made."""
    teacher = e["teacher"]
    lines = [
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
    lines += methods_table(e)
    reasons = dead_letter_reasons(e)
    if reasons:
        lines += ["", "Dead-lettered (see `dead_letter/`): " + ", ".join(f"{k}: {v}" for k, v in reasons)]
    recipe = json.dumps(e["recipe"], indent=2, sort_keys=True)
    lines += ["", "### How it was made", "", "```", e["command"], "```", "", "Recipe:", "", "```json", recipe, "```"]
    return "\n".join(lines) + "\n\n"


def methods_table(e: dict) -> list[str]:
    """Rows, mean changed_ratio and teacher_kl_to_source, copies asked and short, per method."""
    kl = e.get("teacher_kl_to_source_mean", {})
    ratios = e.get("mean_changed_ratio", {})
    copies = augment_by_method(e)
    cells = []
    for method, n in e["rows_per_method"].items():
        kl_text = f"{kl[method]:.4f}" if kl.get(method) is not None else "-"
        asked = copies.get(method, {"requested": 0, "short": 0})
        counted = ["-", "-"] if method == "original" else [asked["requested"], asked["short"]]
        cells.append([method, n, f"{ratios.get(method, 0.0):.3f}", kl_text, *counted])
    header = ["method", "rows", "mean changed_ratio", "mean teacher_kl_to_source", "copies asked", "copies short"]
    return table(header, cells, "lrrrrr")


def dead_letter_reasons(e: dict) -> list[tuple[str, int]]:
    """(stage, count) of the split's dead letters, sources' stages first, then the copies' ("copy label")."""
    sources = sorted(e.get("dead_letter_reasons", {}).items())
    copies = sorted((f"copy {stage}", n) for stage, n in e.get("copy_dead_letter_reasons", {}).items())
    return sources + copies


def columns_section(schema_version: int) -> list[str]:
    columns = load_spec(schema_version)["columns"]
    described = [
        [f"`{c['name']}`", c["type"] + ("" if c["nullable"] else ", not null"), c["description"]] for c in columns
    ]
    return table(["column", "type", "description"], described, "lll")


def cited_papers(splits: dict[str, dict], role: str | None) -> list[str]:
    """CITATIONS keys: KD, the papers of the methods used, and role-wise augmentation for a role's dataset."""
    cited = ["kd"] + [c for m in methods_of(splits) for c in METHOD_CITATIONS.get(m, ())]
    if role:
        cited.append("rolewise")
    return list(dict.fromkeys(cited))


def dataset_documents(manifest: dict) -> dict[str, str]:
    """The files written beside the manifest: the card, and Croissant metadata once a split is complete."""
    from kdaug.core.dataset import CARD, CROISSANT
    from kdaug.core.publishing.croissant import croissant_metadata

    documents = {CARD: dataset_card(manifest)}
    if complete_splits(manifest):
        documents[CROISSANT] = json.dumps(croissant_metadata(manifest), indent=2, ensure_ascii=False) + "\n"
    return documents
