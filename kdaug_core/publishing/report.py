"""`kdaug report DIR`: DIR/report.html, one self-contained page (plots inlined, no network) that shows what
the augmenters did to a materialized dataset.

Per split: a table per method (rows, mean changed_ratio, drift from the source, label flips: the share
of copies whose teacher prediction differs from their source's); histograms of changed_ratio,
teacher_kl_to_source and teacher_entropy per method; copies beside their sources with the changed words
highlighted, for a sample (the same for the same data: chosen by a hash of the ids) and for the copies
that drifted most; dead letters grouped by stage and reason, with examples. Reads the numeric columns
in one pass and the texts of the chosen rows in a second, so it scales to datasets larger than memory.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import html
import io
import json
import logging
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from difflib import SequenceMatcher

import pyarrow.parquet as pq

from kdaug.core.dataset import DatasetDir, IncompleteDatasetError
from kdaug.core.publishing.manifest import complete_splits
from kdaug.core.words import word_tokens

log = logging.getLogger("kdaug")
REPORT = "report.html"
STAT_COLUMNS = [
    "id",
    "source_id",
    "aug_method",
    "changed_ratio",
    "teacher_kl_to_source",
    "teacher_entropy",
    "teacher_pred",
]
PLOTTED = [
    ("changed_ratio", "changed_ratio (share of source words changed)"),
    ("teacher_kl_to_source", "teacher_kl_to_source (nats)"),
    ("teacher_entropy", "teacher entropy (nats)"),
]


@dataclass
class SplitStats:
    values: dict[str, dict[str, list[float]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    rows: Counter = field(default_factory=Counter)
    flips: Counter = field(default_factory=Counter)  # copies whose teacher_pred differs from their source's
    compared: Counter = field(default_factory=Counter)  # copies whose source's prediction is known
    sample: dict[str, list] = field(default_factory=lambda: defaultdict(list))  # heaps of (-hash, id)
    drifted: dict[str, list] = field(default_factory=lambda: defaultdict(list))  # heaps of (kl, id)


def stable_rank(row_id: str) -> int:
    return int.from_bytes(hashlib.sha256(row_id.encode("utf-8")).digest()[:8], "big")


def collect(files: list[str], ds: DatasetDir, per_method: int) -> tuple[SplitStats, dict[str, str]]:
    """Pass 1: numeric columns, flips, and which copies to show. Returns the stats and {copy id: source id}."""
    stats = SplitStats()
    source_pred: dict[str, int] = {}
    for path in files:
        with ds.fs.open(path, "rb") as fh:
            for batch in pq.ParquetFile(fh).iter_batches(columns=STAT_COLUMNS):
                for row in batch.to_pylist():
                    method = row["aug_method"]
                    stats.rows[method] += 1
                    for column, _ in PLOTTED:
                        if row[column] is not None and (method != "original" or column == "teacher_entropy"):
                            stats.values[method][column].append(float(row[column]))
                    if method == "original":
                        source_pred[row["id"]] = row["teacher_pred"]
                        continue
                    pred = source_pred.get(row["source_id"])  # originals precede their copies in a file
                    if pred is not None:
                        stats.compared[method] += 1
                        stats.flips[method] += pred != row["teacher_pred"]
                    keep(stats.sample[method], (-stable_rank(row["id"]), row["id"], row["source_id"]), per_method)
                    if row["teacher_kl_to_source"] is not None:
                        keep(
                            stats.drifted[method],
                            (row["teacher_kl_to_source"], row["id"], row["source_id"]),
                            per_method,
                        )
    wanted = {cid: sid for heaps in (stats.sample, stats.drifted) for heap in heaps.values() for _, cid, sid in heap}
    return stats, wanted


def keep(heap: list, item: tuple, n: int) -> None:
    """Keeps the n largest items."""
    if len(heap) < n:
        heapq.heappush(heap, item)
    elif item > heap[0]:
        heapq.heapreplace(heap, item)


def fetch_rows(files: list[str], ds: DatasetDir, ids: set[str]) -> dict[str, dict]:
    """Pass 2: the texts and labels of the rows to show."""
    columns = ["id", "text", "text_pair", "aug_method", "changed_ratio", "teacher_kl_to_source", "teacher_pred"]
    out = {}
    for path in files:
        with ds.fs.open(path, "rb") as fh:
            for batch in pq.ParquetFile(fh).iter_batches(columns=columns):
                for row in batch.to_pylist():
                    if row["id"] in ids:
                        out[row["id"]] = row
    return out


def highlight(source: str, copy: str) -> tuple[str, str]:
    """HTML of both texts, the words that differ marked: <del> in the source, <mark> in the copy."""
    a, b = word_tokens(source), word_tokens(copy)
    gone: set[int] = set()
    new: set[int] = set()
    matcher = SequenceMatcher(None, [t.text.lower() for t in a], [t.text.lower() for t in b], autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op != "equal":
            gone.update(range(i1, i2))
            new.update(range(j1, j2))
    return _marked(source, a, gone, "del"), _marked(copy, b, new, "mark")


def _marked(text: str, tokens, marked: set[int], tag: str) -> str:
    out, at = [], 0
    for i, t in enumerate(tokens):
        if i in marked:
            out += [html.escape(text[at : t.start]), f"<{tag}>{html.escape(t.text)}</{tag}>"]
            at = t.end
    out.append(html.escape(text[at:]))
    return "".join(out)


def histogram_png(stats: SplitStats, split: str) -> str:
    """One figure per split, a panel per plotted column, a histogram per method; as a data: URI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PLOTTED), figsize=(4.2 * len(PLOTTED), 3.2))
    for ax, (column, title) in zip(axes, PLOTTED):
        series = {m: v[column] for m, v in sorted(stats.values.items()) if v.get(column)}
        if not series:
            ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
        else:
            high = max(max(v) for v in series.values())
            bins = [high * i / 30 for i in range(31)] if high > 0 else 10
            for method, values in series.items():
                ax.hist(
                    values, bins=bins, histtype="step", linewidth=1.6, density=True, label=f"{method} ({len(values)})"
                )
            ax.legend(fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("density", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"split {split}", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def dead_letter_groups(ds: DatasetDir, entry: dict, examples: int = 3) -> list[tuple[str, int, list[dict]]]:
    """[(stage: reason, count, first examples)], most frequent first; reasons cut at their first ':'
    detail so that letters of one kind group together."""
    groups: dict[str, list[dict]] = defaultdict(list)
    counts: Counter = Counter()
    for name in entry.get("dead_letter_files", []):
        with ds.fs.open(ds.path(name), "rb") as fh:
            for line in fh:
                if not line.strip():
                    continue
                letter = json.loads(line)
                stage = f"copy {letter.get('stage')}" if letter.get("copy") else letter.get("stage")
                key = f"{stage}: {str(letter.get('reason', '')).split(':')[0][:120]}"
                counts[key] += 1
                if len(groups[key]) < examples:
                    groups[key].append(letter)
    return [(key, n, groups[key]) for key, n in counts.most_common()]


def fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def split_section(ds: DatasetDir, split: str, entry: dict, per_method: int) -> str:
    files = [ds.path(f) for f in entry["data_files"]]
    stats, wanted = collect(files, ds, per_method)
    rows = fetch_rows(files, ds, set(wanted) | set(wanted.values()))
    labels = entry["teacher"]["label_names"]
    parts = [f'<section class="split" id="split-{html.escape(split)}"><h2>Split <code>{html.escape(split)}</code></h2>']
    parts += methods_table(stats)
    parts.append(
        f'<img class="plot" alt="histograms of split {html.escape(split)}" src="{histogram_png(stats, split)}">'
    )
    for title, heaps, order in (
        ("A sample of copies beside their sources", stats.sample, "sample"),
        ("The copies that drifted most (largest teacher_kl_to_source)", stats.drifted, "drifted"),
    ):
        parts += copies_table(title, heaps, order, rows, labels)
    parts += dead_letters_table(dead_letter_groups(ds, entry))
    parts.append("</section>")
    return "\n".join(parts)


def methods_table(stats: SplitStats) -> list[str]:
    """Per method: rows, mean changed_ratio, KL to source and entropy, and label flips."""
    parts = [
        '<table class="methods"><tr><th>method</th><th>rows</th><th>mean changed_ratio</th>'
        "<th>mean teacher_kl_to_source</th><th>mean teacher entropy</th><th>label flips</th></tr>"
    ]
    for method in sorted(stats.rows, key=lambda m: (m != "original", m)):
        means = {c: sum(v) / len(v) if (v := stats.values[method].get(c)) else None for c, _ in PLOTTED}
        flips = (
            f"{stats.flips[method] / stats.compared[method]:.1%} ({stats.flips[method]} of {stats.compared[method]})"
            if stats.compared[method]
            else "-"
        )
        parts.append(
            f"<tr><td>{html.escape(method)}</td><td>{stats.rows[method]}</td><td>{fmt(means['changed_ratio'])}</td>"
            f"<td>{fmt(means['teacher_kl_to_source'], 4)}</td><td>{fmt(means['teacher_entropy'], 4)}</td>"
            f"<td>{flips}</td></tr>"
        )
    parts.append("</table>")
    parts.append(
        '<p class="note">Label flips: copies whose teacher prediction differs from their source\'s. A flip is '
        "not an error: it may be a copy whose meaning changed, which the teacher's soft label then teaches.</p>"
    )
    return parts


def copies_table(title: str, heaps: dict, order: str, rows: dict[str, dict], labels: list[str]) -> list[str]:
    """Copies beside their sources, the changed words highlighted, with the teacher's view of each."""
    parts = [
        f"<h3>{title}</h3>",
        f'<table class="diff" data-kind="{order}"><tr><th>method</th><th>source</th><th>copy</th>'
        "<th>changed_ratio</th><th>KL to source</th><th>teacher: source &rarr; copy</th></tr>",
    ]
    for method in sorted(heaps):
        for _, cid, sid in sorted(heaps[method], reverse=True):
            copy, source = rows.get(cid), rows.get(sid)
            if copy is None or source is None:
                continue
            before, after = highlight(source["text"], copy["text"])
            if copy.get("text_pair") is not None and source.get("text_pair") is not None:
                pb, pa = highlight(source["text_pair"], copy["text_pair"])
                before, after = f"{before}<br><i>pair:</i> {pb}", f"{after}<br><i>pair:</i> {pa}"
            flip = source["teacher_pred"] != copy["teacher_pred"]
            parts.append(
                f"<tr><td>{html.escape(method)}</td><td>{before}</td><td>{after}</td>"
                f"<td>{fmt(copy['changed_ratio'])}</td><td>{fmt(copy['teacher_kl_to_source'], 4)}</td>"
                f'<td class="{"flip" if flip else ""}">{html.escape(labels[source["teacher_pred"]])} &rarr; '
                f"{html.escape(labels[copy['teacher_pred']])}</td></tr>"
            )
    parts.append("</table>")
    return parts


def dead_letters_table(groups: list[tuple[str, int, list[dict]]]) -> list[str]:
    parts = ["<h3>Dead letters</h3>"]
    if not groups:
        return parts + ["<p>None: every record and copy was written.</p>"]
    parts.append('<table class="dead"><tr><th>stage: reason</th><th>count</th><th>examples</th></tr>')
    for key, n, examples in groups:
        shown = "<br>".join(
            html.escape(f"{e.get('position', '')} id={e.get('id')}: {e.get('reason', '')}"[:300]) for e in examples
        )
        parts.append(f"<tr><td>{html.escape(key)}</td><td>{n}</td><td>{shown}</td></tr>")
    parts.append("</table>")
    return parts


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; vertical-align: top; text-align: left; }
th { background: #f2f2f2; }
table.diff td:nth-child(2), table.diff td:nth-child(3) { max-width: 520px; }
mark { background: #ffe066; padding: 0 1px; }
del { background: #ffc9c9; text-decoration: line-through; }
td.flip { color: #b00020; font-weight: 600; }
img.plot { max-width: 100%; border: 1px solid #eee; }
.note { color: #555; font-size: 0.85em; }
"""


# Once the page has loaded, the body records how many plots the browser decoded: what a headless browser
# test reads back (and harmless to a reader).
RENDER_CHECK = (
    "<script>window.addEventListener('load', () => { const imgs = Array.from(document.images); "
    "document.body.dataset.plots = imgs.length; document.body.dataset.plotsRendered = "
    "imgs.filter(i => i.complete && i.naturalWidth > 0).length; });</script>"
)


def render(url: str, per_method: int = 10) -> str:
    ds = DatasetDir(url)
    manifest = ds.read_manifest()
    if manifest is None:
        raise IncompleteDatasetError(f"{url!r} is not a materialized dataset (no manifest.json)")
    splits = complete_splits(manifest)
    if not splits:
        raise IncompleteDatasetError(f"{url!r} has no complete split to report on")
    title = (manifest.get("card") or {}).get("pretty_name") or "kdaug distillation dataset"
    body = [split_section(ds, split, entry, per_method) for split, entry in splits.items()]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}: augmentation report</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}: what the augmenters did</h1>"
        f'<p class="note">Dataset <code>{html.escape(url)}</code>; made by '
        f"<code>{html.escape(next(iter(splits.values()))['command'])}</code>. Changed words: "
        "<del>removed from the source</del>, <mark>put in the copy</mark>.</p>"
        + "\n".join(body)
        + RENDER_CHECK
        + "</body></html>\n"
    )


def write_report(url: str, output: str | None = None, per_method: int = 10) -> str:
    """Writes the report (default DIR/report.html) and returns where."""
    ds = DatasetDir(url)
    text = render(url, per_method)
    target = output or ds.path(REPORT)
    if output:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        ds.write(target, text.encode("utf-8"))
    return output or ds.shown(target)
