"""Does a replacement fit its sentence? The contextual check shared by the word-replacement augmenters.

A dictionary or an embedding table proposes candidates for a word out of context: WordNet lists every
sense of "member" (one is "penis"), GloVe's neighbours of "good" include "bad". An encoder sees the word
in its sentence. For a word w at its place in a sentence and a candidate c, the encoder reads the
sentence once as it is and once with c in w's place, and compares the two contextual vectors at that
place (the mean of the word's sub-word vectors) at two depths: the middle layer, where a word's sense
still shows, and the last. The fit of c is the lower of the two cosines. A candidate is kept when its fit
reaches `min_fit`. The teacher is the default encoder, since every job has one and its view is the one
the copies are labelled by; both depths are needed for it: a fine-tuned classifier's last layer holds
mostly its task (for a sentiment teacher "good" -> "full" fits 0.86 there, "good" -> "bad" -0.37), its
middle layer mostly the sense ("full" 0.62).

Each word is read within a window of its sentence (WINDOW words either side), so a word's cost does not
grow with the text, and each source's variants form their own batches, so a source's candidates (and
copies) do not depend on the other sources of the batch it came in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kdaug.core.models import load_pretrained, load_tokenizer, local_model_dir, pick_device
from kdaug.core.words import WordToken

WINDOW = 5  # words of context either side of the word checked
BATCH = 64  # sequences per forward pass
PIECES_CACHED = 500_000  # words whose sub-word count is kept
EXTRA_PIECES = 1  # a candidate split into more sub-words than the word plus this is too rare to fit


@dataclass(frozen=True)
class FitQuery:
    """One word of one text and the candidates to check for it."""

    text: str
    tokens: Sequence[WordToken]
    index: int
    candidates: Sequence[str]


class ContextFit:
    """A contextual encoder (any transformers model directory or hub id) scoring candidates in context."""

    def __init__(self, model: str, device: str = "cpu", trust_remote_code: bool = False):
        import torch
        from transformers import AutoModel

        local = local_model_dir(model, "context model")
        self.tok = load_tokenizer(local, trust_remote_code)
        if not getattr(self.tok, "is_fast", False):
            raise ValueError(f"context model {model!r}: a fast tokenizer is needed (character offsets)")
        self.device = pick_device(device)
        # float64: a candidate is kept or dropped by comparing its fit with a threshold, so the fit must not
        # depend on how many threads summed it (float32 sums differ in the last bits with the thread count,
        # enough to flip a fit lying near min_fit between two runs of one job).
        self.encoder = load_pretrained(AutoModel, local, trust_remote_code).to(self.device, torch.float64).eval()
        self.max_length = min(int(getattr(self.encoder.config, "max_position_embeddings", 512) or 512), 512)
        self._pieces: dict[str, int] = {}

    def pieces(self, words: Sequence[str]) -> list[int]:
        """How many sub-word tokens the encoder's tokenizer splits each word into (as a word of its own);
        each word is tokenized once per process (a corpus asks for the same words again and again)."""
        new = [w for w in dict.fromkeys(words) if w not in self._pieces]
        if len(self._pieces) + len(new) > PIECES_CACHED:
            self._pieces.clear()  # a bound on memory: a corpus's common words come back soon enough
            new = list(dict.fromkeys(words))
        if new:
            ids = self.tok([f" {w}" for w in new], add_special_tokens=False)["input_ids"]
            self._pieces.update((w, len(i)) for w, i in zip(new, ids))
        return [self._pieces[w] for w in words]

    def common_enough(self, word: str, candidates: Sequence[str]) -> list[bool]:
        """Whether each candidate is about as common as the word, by the tokenizer's vocabulary (built by
        frequency): at most EXTRA_PIECES more sub-words than the word. WordNet's rare synonyms ("luxuria"
        for "lust", "denudate" for "bare", "palpates" for "feels") split into several pieces; in a copy
        they read as odd even where their sense is right."""
        own, *counts = self.pieces([word, *candidates])
        return [n <= own + EXTRA_PIECES for n in counts]

    def fits(self, queries: Sequence[FitQuery]) -> list[np.ndarray]:
        """For each query, the fit (the lower cosine of the middle and the last layer, in [-1, 1]) of each
        of its candidates, in order. Queries are scored together only with queries of the same text, so
        give one source's queries at a time."""
        texts: list[str] = []  # the window as it is, then each candidate's window, per query
        spans: list[tuple[int, int]] = []
        for q in queries:
            lo, hi = max(0, q.index - WINDOW), min(len(q.tokens), q.index + WINDOW + 1)
            start, end = q.tokens[lo].start, q.tokens[hi - 1].end
            word = q.tokens[q.index]
            before, after = q.text[start : word.start], q.text[word.end : end]
            for replacement in (q.text[word.start : word.end], *q.candidates):
                texts.append(before + replacement + after)
                spans.append((len(before), len(before) + len(replacement)))
        layers = self._word_vectors(texts, spans)  # [depth, text, dim]
        out, at = [], 0
        for q in queries:
            own, cands = layers[:, at], layers[:, at + 1 : at + 1 + len(q.candidates)]
            at += 1 + len(q.candidates)
            out.append(np.einsum("lcd,ld->lc", cands, own).min(axis=0))
        return out

    def _word_vectors(self, texts: list[str], spans: list[tuple[int, int]]) -> np.ndarray:
        """Unit vectors [2, texts, dim]: each text's vectors over the tokens that overlap its span, averaged,
        at the middle layer and the last."""
        import torch

        order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), i))
        dim = self.encoder.config.hidden_size
        out = np.zeros((2, len(texts), dim), dtype=np.float64)
        for b in range(0, len(order), BATCH):
            rows = order[b : b + BATCH]
            enc = self.tok(
                [texts[i] for i in rows],
                return_offsets_mapping=True,
                truncation=True,
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
            )
            offsets = enc.pop("offset_mapping").numpy()
            with torch.inference_mode():
                states = self.encoder(
                    **{k: v.to(self.device) for k, v in enc.items()}, output_hidden_states=True
                ).hidden_states
            depths = [states[len(states) // 2].cpu().numpy(), states[-1].cpu().numpy()]
            for r, i in enumerate(rows):
                start, end = spans[i]
                lo, hi = offsets[r, :, 0], offsets[r, :, 1]
                mask = (hi > lo) & (lo < end) & (hi > start)  # real tokens overlapping the span
                if mask.any():
                    for d, hidden in enumerate(depths):
                        v = hidden[r][mask].mean(axis=0)
                        out[d, i] = v / (np.linalg.norm(v) or 1.0)
        return out
