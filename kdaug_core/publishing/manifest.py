"""manifest.json, the commit record of a dataset directory: per split its counts (they reconcile), the
recipe and teacher it was made with, the command and package versions, and (added at commit) every file
with its size and sha256. Pure functions of the counts a run produced; one directory can hold several
splits, each run adding or replacing its own."""

from __future__ import annotations

import contextlib
import platform
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata

from kdaug.core.augment import spec_key
from kdaug.core.counts import RunCounts
from kdaug.core.dataset import COMPLETE
from kdaug.core.schema import SoftLabels, load_spec


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
    augment = augment_entries(counts, recipe)
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
        "corpus_changed_ratio": corpus_changed_ratio(counts, augment),
        "augment": augment,
        "dead_letter_reasons": dict(counts.dead_letters),  # source records', per stage
        "copy_dead_letter_reasons": dict(counts.copy_dead_letters_by_stage),  # copies', per stage
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


def augment_entries(counts: RunCounts, recipe: dict) -> dict[str, dict]:
    """Per augment spec (by its key): its method, copies asked and written, and those short."""
    method_of_key = {spec_key(a["method"], i): a["method"] for i, a in enumerate(recipe.get("augment", []))}
    return {
        s: {
            "method": method_of_key[s],
            "requested": counts.copies_requested.get(s, 0),
            "written": counts.copies_written.get(s, 0),
            # copies not written: all of them, and those not drawn because the text was too short for the ratio
            "short": counts.copies_requested.get(s, 0) - counts.copies_written.get(s, 0),
            "short_text": counts.copies_short_text.get(s, 0),
        }
        for s in sorted(counts.copies_requested)
    }


def corpus_changed_ratio(counts: RunCounts, augment: dict[str, dict]) -> dict[str, float]:
    """The corpus's changed share per copy drawn or skipped as too short (skipped ones count as unchanged),
    per method: what an augmenter's ratio targets (on texts of any length its expectation is the ratio)."""
    skipped: dict[str, int] = {}
    for entry in augment.values():
        skipped[entry["method"]] = skipped.get(entry["method"], 0) + entry["short_text"]
    return {
        m: counts.changed_ratio_sum.get(m, 0.0) / (n + skipped.get(m, 0)) if n + skipped.get(m, 0) else 0.0
        for m, n in sorted(counts.rows.items())
        if m != "original"
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


def augment_by_method(entry: dict) -> dict[str, dict[str, int]]:
    """A split's copies asked and short, summed per method over its augment specs. Manifests written before
    each spec's entry named its method (kdaug 0.1.0's first datasets) name it only in the spec's key."""
    out: dict[str, dict[str, int]] = {}
    for key, spec in entry.get("augment", {}).items():
        method = spec.get("method") or key.rpartition(".")[0]
        totals = out.setdefault(method, {"requested": 0, "short": 0})
        totals["requested"] += spec["requested"]
        totals["short"] += spec["short"]
    return out
