"""The files beside the data: manifest.json (counts, recipe, versions) and README.md, a dataset card in
the Hugging Face format. Pure functions of the counts a run produced; one dataset directory can hold
several splits, each run adding or replacing its own."""

from __future__ import annotations

import contextlib
import json
import platform
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata

import yaml

from kdaug.core.counts import RunCounts
from kdaug.core.dataset import COMPLETE
from kdaug.core.schema import SoftLabels, hf_features, load_spec


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


def merge_manifest(existing: dict | None, split: str, entry: dict) -> dict:
    manifest = dict(existing or {})
    manifest["schema_version"] = load_spec()["version"]
    manifest.setdefault("splits", {})[split] = entry
    manifest["splits"] = dict(sorted(manifest["splits"].items()))
    return manifest


def dataset_card(manifest: dict, title: str = "kdaug distillation dataset") -> str:
    """The card describes the complete splits only, each with its exact data files (a split being
    committed, or whose commit was interrupted, is left out until it is complete)."""
    splits = {s: e for s, e in manifest["splits"].items() if e.get("state", COMPLETE) == COMPLETE}
    if not splits:
        return (
            f"# {title}\n\nNo split is complete yet: a `kdaug materialize` run is committing one, or was "
            f"interrupted while committing it (run the same command again to finish it).\n"
        )
    header = {
        "configs": [
            {"config_name": "default", "data_files": [{"split": s, "path": e["data_files"]} for s, e in splits.items()]}
        ],
        "dataset_info": {
            "features": hf_features(
                manifest["schema_version"], SoftLabels.parse(next(iter(splits.values()))["recipe"].get("soft_labels"))
            ),
            "splits": [
                {"name": s, "num_bytes": e.get("data_bytes", 0), "num_examples": e["rows_written"]}
                for s, e in splits.items()
            ],
        },
        "tags": ["knowledge-distillation", "data-augmentation", "kdaug"],
    }
    lines = [
        "---",
        yaml.safe_dump(header, sort_keys=False).rstrip(),
        "---",
        "",
        f"# {title}",
        "",
        "Materialized by [kdaug](https://pypi.org/project/kdaug/): original examples plus augmented "
        "copies, every row labelled by a teacher model. Train students on `teacher_logits`; the gold "
        "`label` is trustworthy only on rows whose `aug_method` is `original`.",
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
        lines.append("")
        for note in e["recipe"].get("notes") or []:
            lines += [f"> **Note:** {note}", ""]
        lines += [
            "| method | rows | mean changed_ratio | mean teacher_kl_to_source | copies asked | copies short |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        kl = e.get("teacher_kl_to_source_mean", {})
        ratios = e.get("mean_changed_ratio", {})
        for method, n in e["rows_per_method"].items():
            asked = sum(a["requested"] for k, a in e["augment"].items() if k.split(".")[0] == method)
            short = sum(a["short"] for k, a in e["augment"].items() if k.split(".")[0] == method)
            kl_text = f"{kl[method]:.4f}" if kl.get(method) is not None else "-"
            lines.append(
                f"| {method} | {n} | {ratios.get(method, 0.0):.3f} | {kl_text} | "
                f"{asked if method != 'original' else '-'} | {short if method != 'original' else '-'} |"
            )
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
    lines += ["## Columns", "", "| column | type | description |", "|---|---|---|"]
    for c in load_spec(manifest["schema_version"])["columns"]:
        lines.append(f"| `{c['name']}` | {c['type']}{'' if c['nullable'] else ', not null'} | {c['description']} |")
    lines += [
        "",
        "## Loading",
        "",
        "```python",
        "import datasets",
        "ds = datasets.load_dataset('path/to/this/dir')",
        "```",
        "",
    ]
    return "\n".join(lines)
