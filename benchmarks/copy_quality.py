"""Copy quality of the word-replacement augmenters: what the copies change, not only how much.

On MR sentences the augmenters are not tuned on, per configuration: the changed ratio, copies per
second, the share of replacements that are multi-word, number words or derivations of the word they
replace, and (a measure the context check does not use) the share whose GloVe similarity to the
replaced word is at least 0.5. The context check's configurations use the packaged MiniLM as their
encoder (in a job: the teacher). Reading the copies is the real check: docs/copy_quality.md lists
judged samples.

    python -m benchmarks.copy_quality [--sentences 200] [--ratio 0.3] [--teacher FINE_TUNED_DIR]
"""

from __future__ import annotations

import argparse
import difflib
import json
import random

import numpy as np

from benchmarks.common import rounded, table, timed, write_results

CONFIGS = [
    (
        "synonym, every sense, multi-word, no context check",
        "synonym:senses=all,multiword=true,context=none",
    ),
    ("synonym, frequent senses, no context check", "synonym:context=none"),
    ("synonym, context check (MiniLM), fill=all", "synonym:context={minilm},fill=all"),
    ("synonym, context check (MiniLM), fill=fitting (the default)", "synonym:context={minilm}"),
    ("knn GloVe, no context check", "knn:context=none"),
    ("knn GloVe, context check (MiniLM), fill=all", "knn:context={minilm},fill=all"),
    ("knn GloVe, context check (MiniLM), fill=fitting (the default)", "knn:context={minilm}"),
]
# With --teacher (a fine-tuned sequence classifier: FGSM takes its gradient through the head).
FGSM_CONFIGS = [
    ("augpro_fgsm, fixed step eps 2", "augpro_fgsm:eps=2.0,power_iterations=1,xi=0.001,model={teacher}"),
    ("augpro_fgsm, step searched for the ratio", "augpro_fgsm:ratio={ratio},model={teacher}"),
]


def heldout_sentences(n: int, seed: int = 13) -> list[str]:
    from kdaug.core.assets.mr import fetch_mr

    with open(fetch_mr(), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return [r["text"] for r in random.Random(seed).sample(rows[2000:3000], n)]


def replacements(source: str, copy: str) -> list[tuple[list[str], list[str]]]:
    """The (source words, copy words) of each changed run, aligned word by word."""
    from kdaug.core.words import words

    a, b = [w.lower() for w in words(source)], [w.lower() for w in words(copy)]
    ops = difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
    return [(a[i1:i2], b[j1:j2]) for op, i1, i2, j1, j2 in ops if op != "equal"]


def quality(pairs: list[tuple[list[str], list[str]]], glove) -> dict:
    from kdaug.core.augment.word_forms import derived
    from kdaug.core.words import NUMBER_WORDS

    index = {w: i for i, w in enumerate(glove.words)}
    unit = glove.vectors / np.maximum(np.linalg.norm(glove.vectors, axis=1, keepdims=True), 1e-8)
    similar, judged = 0, 0
    for old, new in pairs:
        if len(old) == 1 and len(new) == 1 and old[0] in index and new[0] in index:
            judged += 1
            similar += float(unit[index[old[0]]] @ unit[index[new[0]]]) >= 0.5
    n = max(len(pairs), 1)
    return {
        "replacements": len(pairs),
        "multi_word_share": sum(len(new) > len(old) for old, new in pairs) / n,
        "number_word_share": sum(any(w in NUMBER_WORDS for w in old) for old, _ in pairs) / n,
        "derivation_share": sum(len(o) == len(w) == 1 and derived(w[0], o[0]) for o, w in pairs) / n,
        "glove_similar_share": similar / max(judged, 1),
    }


def main(argv: list[str] | None = None) -> int:
    import torch

    from kdaug.core.assets.embeddings import load_glove
    from kdaug.core.assets.minilm import minilm_path
    from kdaug.core.augment import build_augmenters, parse_augment_spec
    from kdaug.core.corpus import SourceExample

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sentences", type=int, default=200)
    p.add_argument("--ratio", type=float, default=0.3)
    p.add_argument("--copies", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--teacher", help="a fine-tuned classifier directory: adds AugPro-FGSM's rows")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    texts = heldout_sentences(args.sentences)
    glove = load_glove("glove", limit=100_000)
    configs = [(name, f"{spec},ratio={args.ratio}") for name, spec in CONFIGS]
    configs += [(name, spec) for name, spec in FGSM_CONFIGS] if args.teacher else []
    print(
        f"Copy quality: {args.sentences} held-out MR sentences, ratio {args.ratio}, {args.copies} copies, "
        f"{args.threads} torch threads. Running {len(configs)} configurations (a minute or two each on 2 cores)."
    )
    rows = []
    for name, spec in configs:
        spec = spec.format(minilm=minilm_path(), teacher=args.teacher, ratio=args.ratio)
        aug = build_augmenters([parse_augment_spec(f"{spec},copies={args.copies}")])[0]
        aug.setup()
        sources = [SourceExample(str(i), t, None, None, "") for i, t in enumerate(texts)]
        aug.augment_batch(sources[:8], seed=0)  # load what loads lazily (the context encoder)
        secs, res = timed(aug.augment_batch, sources, seed=1)
        copies = [(s.text, c) for s, r in zip(sources, res) for c in r.copies]
        pairs = [pair for text, c in copies for pair in replacements(text, c.text)]
        rows.append(
            {
                "augmenter": name,
                "sources_per_s": len(sources) / secs,
                "copies": len(copies),
                "mean_changed_ratio": float(np.mean([c.shift.ratio for _, c in copies])) if copies else None,
                "p10_changed_ratio": float(np.percentile([c.shift.ratio for _, c in copies], 10)) if copies else None,
                "p90_changed_ratio": float(np.percentile([c.shift.ratio for _, c in copies], 90)) if copies else None,
                **quality(pairs, glove),
            }
        )
    columns = [
        "augmenter",
        "sources_per_s",
        "mean_changed_ratio",
        "p10_changed_ratio",
        "p90_changed_ratio",
        "multi_word_share",
        "number_word_share",
        "derivation_share",
        "glove_similar_share",
    ]
    print(table(rounded(rows), columns))
    path = write_results("copy_quality", {"settings": vars(args), "rows": rows})
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
