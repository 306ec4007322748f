"""A subword vocabulary seen as words: which token ids are special, which begin a word, what each spells.

The augmenters that work with a model's own vocabulary read it through this one classification: kNN
over a teacher's embeddings and the masked LM keep the tokens that are whole alphabetic words, and
AugPro projects word-start positions onto word-start tokens and continuation positions onto
continuation pieces. Three marker conventions are told apart: WordPiece (BERT: a continuation starts
with "##"), byte-level BPE (GPT-2, RoBERTa: a word start carries "Ġ") and SentencePiece (T5, XLM-R:
"▁").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

WORD_START_MARKERS = ("Ġ", "▁")  # byte-level BPE, SentencePiece
CONTINUATION_MARKER = "##"  # WordPiece
_LETTERS = re.compile(r"[A-Za-z]+")
_MARKUP = re.compile(r"\[.*\]|<.*>")  # [unused0], [UNK], <unk>, <mask>: never a word


@dataclass(frozen=True)
class Vocabulary:
    special: np.ndarray  # bool [size]: special and markup tokens, and ids the tokenizer does not know
    word_start: np.ndarray  # bool [size]: the token begins a word (else it continues one)
    spelled: list[str]  # the token's text without its marker

    @property
    def size(self) -> int:
        return len(self.spelled)

    @classmethod
    def of(cls, tokenizer, size: int | None = None) -> Vocabulary:
        """Classifies ids 0 .. size-1 (default: the tokenizer's length; a model's embedding table may
        have more rows than the tokenizer has tokens, and those rows are special)."""
        size = len(tokenizer) if size is None else size
        known = min(size, len(tokenizer))
        tokens = tokenizer.convert_ids_to_tokens(list(range(known))) + [""] * (size - known)
        marked = sum(t.startswith(WORD_START_MARKERS) for t in tokens) > 100
        special_ids = set(tokenizer.all_special_ids)
        special = np.array(
            [i in special_ids or not t or _MARKUP.fullmatch(t) is not None for i, t in enumerate(tokens)], dtype=bool
        )
        if marked:
            word_start = np.array([t.startswith(WORD_START_MARKERS) for t in tokens], dtype=bool)
            spelled = [t[1:] if start else t for t, start in zip(tokens, word_start)]
        else:
            word_start = np.array([not t.startswith(CONTINUATION_MARKER) for t in tokens], dtype=bool)
            spelled = [t if start else t[len(CONTINUATION_MARKER) :] for t, start in zip(tokens, word_start)]
        return cls(special, word_start, spelled)

    def lettered(self) -> np.ndarray:
        """bool [size]: the token is spelled in ASCII letters only ("film", "##pid"; not ",", "ᵖ", "19")."""
        return np.array([bool(_LETTERS.fullmatch(t)) for t in self.spelled], dtype=bool) & ~self.special

    def whole_words(self) -> tuple[np.ndarray, list[str]]:
        """(ids, words), ids ascending: the tokens that are a whole alphabetic word on their own."""
        ids = [i for i in range(self.size) if not self.special[i] and self.word_start[i] and self.spelled[i].isalpha()]
        return np.asarray(ids, dtype=np.int64), [self.spelled[i] for i in ids]
