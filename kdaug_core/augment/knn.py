"""Embedding-kNN replacement: a word becomes one of its nearest neighbours (cosine, top-k pool) in a
static embedding table: GloVe (default, the first `vocab_limit` rows, i.e. the most frequent words, as
TinyBERT does) or the teacher's own input embeddings (`source=teacher`, whole-word vocabulary entries).

Neighbours skip the word itself, its case variants and its inflections where they can be told (WordNet's
morphology when WordNet is installed, else common English suffixes), stopwords and non-words. They are
computed for all new words of a batch in one matrix product and cached per worker.
"""

from __future__ import annotations

import numpy as np

from kdaug.core.assets import MissingAssetError
from kdaug.core.assets.embeddings import load_glove, load_teacher_embeddings
from kdaug.core.augment.base import AugmentSpecError, Param
from kdaug.core.augment.replacement import CONTEXT_PARAMS, ReplacementAugmenter

_SUFFIXES = ("ingly", "ings", "ing", "edly", "ed", "ies", "es", "s", "ly", "er", "est", "ness")


def _k_ok(v: int) -> str | None:
    return None if 1 <= v <= 200 else "must be between 1 and 200"


def _limit_ok(v: int) -> str | None:
    return None if v >= 100 else "must be at least 100"


def stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)].rstrip("e")
    return word.rstrip("e")


class KnnAugmenter(ReplacementAugmenter):
    method = "knn"
    source: str
    model: str | None
    k: int
    vocab_limit: int
    PARAMS = {
        **ReplacementAugmenter.PARAMS,
        "source": Param(str, "glove", "glove, teacher, or a path to a GloVe .txt / .npy file"),
        "model": Param(str, None, "the model whose input embeddings source=teacher uses (default: the teacher)"),
        "k": Param(int, 10, "neighbours kept per word", _k_ok),
        "vocab_limit": Param(int, 100_000, "search only the first N rows of a GloVe table", _limit_ok),
        **CONTEXT_PARAMS,
    }

    def __init__(self, spec_key: str = "", **params):
        super().__init__(spec_key, **params)
        if self.source == "teacher" and not self.model:
            raise AugmentSpecError("knn: source=teacher needs model=PATH (materialize fills in the teacher)")

    def _load_table(self):
        if self.source == "teacher":
            assert self.model, "checked in __init__"
            return load_teacher_embeddings(self.model)
        return load_glove(self.source, limit=self.vocab_limit)

    def check(self) -> None:
        super().setup()
        self.check_context()
        self._load_table()  # WordNet is optional here: without it, suffix rules tell inflections apart

    def setup(self) -> None:
        super().setup()
        self.table = self._load_table()
        norms = np.linalg.norm(self.table.vectors, axis=1, keepdims=True)
        unit = self.table.vectors / np.maximum(norms, 1e-8)
        alpha = np.array([w.isalpha() for w in self.table.words])
        stop = np.array([w.lower() in self._stopwords for w in self.table.words])
        # Each kind of word searches only the rows it may become (content words the other content words,
        # stopwords the ~150 stopwords): nothing to mask, and a smaller matrix to read per look-up.
        self._content_pool = _Pool(unit, alpha & ~stop & np.array([len(w) > 1 for w in self.table.words]))
        self._stop_pool = _Pool(unit, alpha & stop)
        self._unit = unit
        self._cache: dict[str, list[str]] = {}
        self._stop_cache: dict[str, list[str]] = {}
        self._forms_cache: dict[str, frozenset[str]] = {}
        try:
            from kdaug.core.assets.wordnet import load_wordnet

            self._wn = load_wordnet()
        except MissingAssetError:
            self._wn = None  # inflections are then told apart by suffix rules alone

    def _key(self, word: str) -> str:
        return word.lower() if self.table.lowercase else word

    def candidates_for(self, words: list[str]) -> dict[str, list[str]]:
        return self._neighbours(words, self._content_pool, self._cache)

    def stopword_candidates_for(self, words: list[str]) -> dict[str, list[str]]:
        return self._neighbours(words, self._stop_pool, self._stop_cache)

    def _neighbours(self, words: list[str], pool: _Pool, cache: dict) -> dict[str, list[str]]:
        import torch

        new = [w for w in dict.fromkeys(words) if w not in cache]
        known = [w for w in new if self._key(w) in self.table.index]
        for w in set(new) - set(known):
            cache[w] = []
        if known:
            unit = torch.from_numpy(self._unit)
            size = max(0, min(self.k * 4 + 8, len(pool.rows) - 1))
            # torch, not numpy: its top-k beats a full argpartition of every row, and it runs on the
            # threads the worker was given (numpy's BLAS would start one per core in every process).
            with torch.inference_mode():
                for start in range(0, len(known), 64):  # 64 x pool similarities at a time: bounded memory
                    chunk = known[start : start + 64]
                    sims = unit[[self.table.index[self._key(w)] for w in chunk]] @ pool.vectors.T
                    scores, top = sims.topk(size, dim=1)
                    for w, row_scores, row_top in zip(chunk, scores.tolist(), top.tolist()):
                        # ties in table order, whatever order topk returned them in
                        ranked = sorted((-v, pool.rows[i]) for v, i in zip(row_scores, row_top))
                        cache[w] = self._filter(w, [self.table.words[i] for _, i in ranked])
        return {w: cache[w] for w in words}

    def _base_forms(self, word: str) -> frozenset[str]:
        """WordNet's base forms of a lowercase word in any part of speech (cached: candidates recur)."""
        forms = self._forms_cache.get(word)
        if forms is None:
            pos_tags = ("n", "v", "a", "r") if self._wn is not None else ()
            forms = frozenset(b for p in pos_tags for b in self._wn._morphy(word, p))
            self._forms_cache[word] = forms
        return forms

    def _filter(self, word: str, neighbours: list[str]) -> list[str]:
        lw = word.lower()
        forms = {lw, stem(lw)} | self._base_forms(lw)
        out = []
        for cand in neighbours:
            lc = cand.lower()
            if lc in forms or stem(lc) in forms or lc in out:
                continue
            if not forms.isdisjoint(self._base_forms(lc)):
                continue
            out.append(lc)
            if len(out) >= self.k:
                break
        return out


class _Pool:
    """The table rows a kind of word may become: their unit vectors (one contiguous matrix) and, for
    each, its row in the table."""

    def __init__(self, unit: np.ndarray, allowed: np.ndarray):
        import torch

        self.rows = np.flatnonzero(allowed).tolist()
        self.vectors = torch.from_numpy(np.ascontiguousarray(unit[allowed]))
