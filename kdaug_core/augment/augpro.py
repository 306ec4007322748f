"""AugPro: augment in embedding space, then project back to real tokens (Wang et al., ICLR 2023).

augpro_mix   e' = mu * E(x_i) + (1 - mu) * E(x_j), position by position, x_j a partner from the same
             batch; mu fixed or drawn from Beta(a, a) per copy.
augpro_fgsm  e' = E(x) + eps * sign(d), d the virtual-adversarial direction of a reference model: by
             default the teacher's own (L = KL(p(x) || p(E(x) + r))), or a student checkpoint's given by
             path (L = KL(p_teacher(x) || p_student(E_student(x) + r))), so a second round can target what
             a first-round student gets wrong; d by power iteration from a seeded random start r
             (power_iterations=2: r <- xi * grad L / |grad L|). eps is searched per copy (bisection) so
             that the copy changes `ratio` of its words, or fixed (eps=, the paper's way: the ratio then
             ranges from almost nothing to almost everything, text by text).

Every perturbed position is projected to its nearest vocabulary token by L2 distance
(argmin ||e - E_w||^2 = argmax 2 e.E_w - ||E_w||^2; a raw dot product favours large-norm tokens), with
special, [unused*] and [UNK] rows dropped from the table, word-start positions projected to word-start
tokens and continuation positions to continuation pieces, and positions whose source token is spelled in
letters to tokens spelled in letters. Special positions ([CLS], [SEP], [PAD]) and punctuation inside a
word ("isn't", "too-tepid") are kept. The copy is rebuilt from the source text: words whose tokens did
not change keep their original characters, so the measured changed_ratio counts real changes only. Labels
are never interpolated: the teacher labels the projected text like any other copy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kdaug.core.augment.base import Augmenter, AugmentSpecError, Param
from kdaug.core.augment.draw import AugmentResult, Draft, Pending
from kdaug.core.augment.projection import Projector, apply_edits, text_edits, word_index
from kdaug.core.corpus import SourceExample
from kdaug.core.shift import changed_by_edits


def _mu_ok(v: str) -> str | None:
    try:
        parse_mu(v)
        return None
    except ValueError as err:
        return str(err)


def parse_mu(v: str) -> tuple[str, float]:
    """'0.5' -> ('fixed', 0.5); 'beta:0.4' -> ('beta', 0.4)."""
    v = str(v)
    if v.startswith("beta:"):
        a = float(v[5:])
        if a <= 0:
            raise ValueError("beta:A needs A > 0")
        return "beta", a
    mu = float(v)
    if not 0.0 < mu <= 0.5:
        # above 1/2 the mixed point is nearer its source token than its partner's at every position, and
        # the projection gives the source back: on MR, no copy of 12,000 at mu 0.7 differed from its source
        raise ValueError(f"{v}: must be in (0, 0.5] or beta:A (above 0.5 the projection gives the source back)")
    return "fixed", mu


class _AugProBase(Augmenter):
    model: str  # the teacher's when not given (set in __init__)
    max_length: int
    device: str
    proj: Projector
    PARAMS = {
        # AugPro has no ratio to ask for: its shift follows from mu or eps, and is measured per copy.
        **{k: v for k, v in Augmenter.PARAMS.items() if k != "ratio"},
        "model": Param(str, None, "the model whose embeddings are used (default: the teacher)"),
        "max_length": Param(int, 128, "tokens per sequence", lambda v: None if v >= 8 else "must be at least 8"),
        "device": Param(str, "auto", "auto, cpu, cuda, cuda:N"),
    }
    MAX_ROUNDS = 4

    def __init__(self, spec_key: str = "", **params):
        super().__init__(spec_key, **params)
        if not self.model:
            raise AugmentSpecError(f"{self.method}: needs model=PATH (materialize fills in the teacher)")

    def augment_batch(self, sources: Sequence[SourceExample], seed: int) -> list[AugmentResult]:
        """Each round drafts every pending copy, one batched pass per augmented side."""
        sides = [self.sides_of(s) for s in sources]

        def draft(pending: list[Pending]) -> list[Draft]:
            texts = {(p.source, p.copy): [sources[p.source].text, sources[p.source].text_pair] for p in pending}
            changed = dict.fromkeys(texts, 0)
            paired = [p for p in pending if self.PAIRS_TOGETHER and sources[p.source].text_pair is not None]
            if paired:  # a model trained on pairs reads the pair: both texts in one sequence
                for p, drafted in zip(paired, self.perturb_pairs(sources, sides, paired)):
                    for side, (text, n) in drafted.items():
                        texts[(p.source, p.copy)][side] = text
                        changed[(p.source, p.copy)] += n
            single = [p for p in pending if p not in paired]
            for side in (0, 1):
                todo = [p for p in single if side in sides[p.source]]
                if todo:
                    for p, (text, n) in zip(todo, self.perturb_side(sources, side, todo)):
                        texts[(p.source, p.copy)][side] = text
                        changed[(p.source, p.copy)] += n
            return [Draft(tuple(texts[(p.source, p.copy)]), changed[(p.source, p.copy)]) for p in pending]

        return self.draw(sources, sides, draft, seed, together=True, max_attempts=self.MAX_ROUNDS)

    PAIRS_TOGETHER = False  # whether a sentence pair is perturbed as one sequence (perturb_pairs)

    def perturb_side(self, sources, side: int, pending: list[Pending]) -> list[tuple[str, int]]:
        """The drafted text of `side` for each pending copy, and how many of its words changed."""
        raise NotImplementedError

    def perturb_pairs(self, sources, sides, pending: list[Pending]) -> list[dict[int, tuple[str, int]]]:
        """For each pending copy of a sentence pair: {side: (drafted text, words changed)}."""
        raise NotImplementedError

    def _encode_side(self, sources, side: int, rows: list[int]):
        import torch

        texts = [(sources[i].text, sources[i].text_pair)[side] for i in rows]
        enc = self.proj.encode(texts, self.max_length)
        batch = self.proj.tok.pad(
            {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}, return_tensors="pt"
        )
        ids = batch["input_ids"].to(self.proj.device)
        mask = batch["attention_mask"].to(self.proj.device)
        special = torch.tensor(
            [[t in self.proj.tok.all_special_ids for t in row] for row in batch["input_ids"].tolist()],
            device=self.proj.device,
        ) | (mask == 0)
        word_of = self._word_of([word_index(t, enc[b].offsets) for b, t in enumerate(texts)], ids.shape[1])
        continuation = ~torch.tensor(self.proj.vocab.word_start, device=self.proj.device)[ids]
        return texts, enc, ids, mask, special | self._inside_words(ids, word_of), continuation, word_of

    def _word_of(self, rows: list[list[int]], width: int):
        """[B, width] long: each position's word (word_index), -1 beyond a row's tokens."""
        import torch

        return torch.tensor([r + [-1] * (width - len(r)) for r in rows], device=self.proj.device)

    def _inside_words(self, ids, word_of):
        """Punctuation inside a word ("isn't", "too-tepid", "nijinsky's"): kept, since a word in its place
        would glue two words into one ("nijinskycras")."""
        return (word_of >= 0) & ~self.proj.wordlike[ids]

    def _finish(self, texts, enc, ids, special, continuation, embeds, prefer=None) -> list[tuple[str, int]]:
        """(rebuilt text, words changed) per row: the projected tokens, back in the source's own text. Ties
        go to `prefer` (default: the source's own tokens)."""
        import torch

        new_ids, _ = self.proj.project(
            embeds, special, continuation, prefer_ids=ids if prefer is None else prefer, source_ids=ids
        )
        new_ids = torch.where(special, ids, new_ids)
        return [self._rebuilt(text, enc[b], ids[b], new_ids[b]) for b, text in enumerate(texts)]

    def _rebuilt(self, text: str, one, old_ids, new_ids, sequence: int | None = None) -> tuple[str, int]:
        """(the text with each word whose tokens changed rewritten, words changed) for one encoded row
        (`one`, its Encoding; `sequence`: which text of a pair encoded together)."""
        n = len(one.ids)
        edits = text_edits(self.proj.tok, text, one, old_ids[:n].tolist(), new_ids[:n].tolist(), sequence)
        return apply_edits(text, edits), changed_by_edits(text, edits)


class AugProMix(_AugProBase):
    method = "augpro_mix"
    mu: str
    ties: str
    PARAMS = {
        **_AugProBase.PARAMS,
        "mu": Param(str, "0.5", "weight of the source: a number in (0, 0.5] or beta:A (Beta(A, A) per copy)", _mu_ok),
        "ties": Param(
            str,
            "source",
            "a position as near its source token as its partner's (mu 0.5 makes every such position a tie): "
            "source keeps the source token; coin takes either, by a seeded coin per position",
            lambda v: None if v in ("source", "coin") else "must be source or coin",
        ),
    }

    def setup(self) -> None:
        self.proj = Projector(self.model, self.device)
        self._mu = parse_mu(self.mu)

    def perturb_side(self, sources, side, pending) -> list[tuple[str, int]]:
        import torch

        if not hasattr(self, "proj"):
            self.setup()
        partners, mus = [], []
        for p in pending:
            i, rng = p.source, p.rng
            others = [j for j in range(len(sources)) if j != i and (sources[j].text, sources[j].text_pair)[side]]
            partners.append(others[rng.integers(len(others))] if others else i)
            # As in mixup, mu is not folded: after projection a position whose mu is above 1/2 mostly
            # keeps the source token, below 1/2 takes the partner's, and near 1/2 a third token.
            mus.append(float(rng.beta(self._mu[1], self._mu[1])) if self._mu[0] == "beta" else self._mu[1])
        coins = [p.rng.random(self.max_length + 2) < 0.5 for p in pending] if self.ties == "coin" else None
        rows = [p.source for p in pending]
        texts, enc, ids, mask, special, continuation, _ = self._encode_side(sources, side, sorted(set(rows + partners)))
        index = {r: k for k, r in enumerate(sorted(set(rows + partners)))}
        a = torch.tensor([index[r] for r in rows], device=self.proj.device)
        b = torch.tensor([index[p] for p in partners], device=self.proj.device)
        mu = torch.tensor(mus, device=self.proj.device)[:, None, None]
        with torch.no_grad():
            e_src = self.proj.table[ids[a]].float()
            e_partner = self.proj.table[ids[b]].float()  # the partner's [PAD] rows where it is shorter
            mixed = mu * e_src + (1 - mu) * e_partner
        prefer = None
        if coins is not None:  # a tied position takes the partner's token where its coin says so
            width = ids.shape[1]
            heads = torch.tensor(np.stack([c[:width] for c in coins]), device=self.proj.device)
            prefer = torch.where(heads, ids[b], ids[a])
        return self._finish(
            [texts[index[r]] for r in rows],
            _EncView(enc, [index[r] for r in rows]),
            ids[a],
            special[a],
            continuation[a],
            mixed,
            prefer,
        )


class _EncView:
    """A row subset of a BatchEncoding, indexable like one (enc["input_ids"][b], enc[b])."""

    def __init__(self, enc, rows: list[int]):
        self.enc, self.rows = enc, rows

    def __getitem__(self, key):
        if isinstance(key, str):
            return [self.enc[key][r] for r in self.rows]
        return self.enc[self.rows[key]]
