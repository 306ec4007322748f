"""What a big job costs, per step: the table in docs/running-at-scale.md.

Each augmenter at the demo's setting (ratio 0.3, 4 copies; AugPro 4 copies) on the same sample of MR
sentences, one core, through kdaug.core.cost (what `kdaug plan` measures): core-hours per million
sources. The models are MiniLM-sized (all-MiniLM-L6-v2: the context check's encoder, AugPro's embeddings;
the masked LM a BERT of MiniLM's shape built from a config, random weights: its cost is a trained one's).
Labelling per million rows for a MiniLM-sized and a BERT-base-sized teacher (12 layers, hidden 768, from a
config): CPU measured here; FLOPs per row from the parameters and the sample's tokens; GPU-hours ESTIMATED
from FLOPs at kdaug.core.cost's assumed share of each card's peak (no GPU measured them).

    python -m benchmarks.costs [--sample 128] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.common import rounded, table, write_results
from benchmarks.labelling import config_teacher, minilm_teacher

AUGMENTERS = {
    "synonym (context check, the default)": "synonym:ratio=0.3,copies=4",
    "synonym, no context check": "synonym:ratio=0.3,copies=4,context=none",
    "knn (context check, the default)": "knn:ratio=0.3,copies=4",
    "knn, no context check": "knn:ratio=0.3,copies=4,context=none",
    "mlm (MiniLM-sized, per_word)": "mlm:model={mlm},ratio=0.3,copies=4",
    "augpro_mix": "augpro_mix:copies=4",
    "augpro_fgsm": "augpro_fgsm:copies=4",
}


def mlm_model(dest: Path) -> Path:
    """A masked LM of MiniLM's shape (6 layers, hidden 384) with MiniLM's tokenizer, random weights."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    from kdaug.core.assets.minilm import minilm_path

    if (dest / "config.json").exists():
        return dest
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()))
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=12,
        intermediate_size=1536,
    )
    BertForMaskedLM(cfg).eval().save_pretrained(dest, safe_serialization=True)
    tokenizer.save_pretrained(dest)
    return dest


def sample_sources(n: int):
    from kdaug.core.assets.mr import mr_three_way_splits
    from kdaug.core.corpus import ColumnSpec, LabelSpace, plan_read_units
    from kdaug.core.cost import count_corpus

    train, _, _ = mr_three_way_splits()
    columns, labels = ColumnSpec("text", None, "label", "id"), LabelSpace({0: "negative", 1: "positive"})
    return count_corpus(plan_read_units(str(train)), columns, labels, n, seed=0).sample


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.costs", description=__doc__)
    p.add_argument("--sample", type=int, default=128)
    p.add_argument("--work", default="/tmp/kdaug_bench_costs")
    args = p.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    print(
        f"benchmarks.costs: {len(AUGMENTERS)} augmenters and 2 teachers on {args.sample} MR sentences, one core; "
        "roughly 10 minutes on 2 cores",
        flush=True,
    )
    from kdaug.core.augment import parse_augment_spec
    from kdaug.core.cost import ASSUMED_GPU_UTILIZATION, GPU_PEAK_TFLOPS, measure_costs
    from kdaug.core.recipe import with_teacher_default
    from kdaug.core.teacher import TeacherSettings

    minilm = work / "minilm"
    if not (minilm / "config.json").exists():
        minilm_teacher(minilm)
    base = work / "bert_base"
    if not (base / "config.json").exists():
        config_teacher(base, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
    mlm = mlm_model(work / "mlm")
    both = sample_sources(2 * args.sample)  # half warms the augmenters' caches, as kdaug plan does
    sources, warmup = both[: args.sample], both[args.sample :]

    augment_rows = []
    for name, spec in AUGMENTERS.items():
        parsed = with_teacher_default(parse_augment_spec(spec.format(mlm=mlm)), str(minilm))
        costs = measure_costs(sources, [parsed], 0, TeacherSettings(str(minilm), device="cpu"), warmup)
        key = next(iter(costs.augment_seconds))
        seconds = costs.augment_seconds[key]
        augment_rows.append(
            {
                "augmenter": name,
                "spec": spec,
                "ms_per_source": 1000 * seconds,
                "copies_per_source": costs.copies_per_source[key],
                "core_hours_per_million_sources": seconds * 1e6 / 3600,
            }
        )
        print(table(rounded(augment_rows[-1:]), list(augment_rows[-1])), flush=True)

    label_rows = []
    plain = [parse_augment_spec("synonym:ratio=0.3,copies=1,context=none")]
    for name, teacher in (("MiniLM-sized (6 x 384)", minilm), ("BERT-base-sized (12 x 768)", base)):
        costs = measure_costs(sources, plain, 0, TeacherSettings(str(teacher), device="cpu"))
        flops = costs.teacher_flops_per_row
        label_rows.append(
            {
                "teacher": name,
                "parameters_m": costs.teacher_parameters / 1e6,
                "tokens_per_row": costs.tokens_per_row,
                "gflops_per_row": flops / 1e9,
                "cpu_ms_per_row": 1000 * costs.label_seconds_per_row,
                "cpu_core_hours_per_million_rows": costs.label_seconds_per_row * 1e6 / 3600,
                **{
                    f"{gpu}_gpu_hours_per_million_rows_estimated": flops
                    * 1e6
                    / (peak * 1e12 * ASSUMED_GPU_UTILIZATION)
                    / 3600
                    for gpu, peak in GPU_PEAK_TFLOPS.items()
                },
            }
        )
        print(table(rounded(label_rows[-1:]), list(label_rows[-1])), flush=True)

    path = write_results(
        "costs",
        {
            "sample_sources": len(sources),
            "augment": augment_rows,
            "label": label_rows,
            "gpu_peak_tflops": GPU_PEAK_TFLOPS,
            "gpu_utilization_assumed": ASSUMED_GPU_UTILIZATION,
        },
    )
    print(json.dumps({"written": str(path)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
