"""AugPro-FGSM: a virtual-adversarial step in embedding space, searched per copy for the changed ratio,
projected back to tokens (see augpro.py for both AugPro methods and what they share)."""

from __future__ import annotations

import numpy as np

from kdaug.core.augment.augpro import _AugProBase
from kdaug.core.augment.base import AugmentSpecError, Param
from kdaug.core.augment.projection import Projector, word_index
from kdaug.core.words import word_tokens


class AugProFgsm(_AugProBase):
    method = "augpro_fgsm"
    eps: float | None
    power_iterations: int
    xi: float
    reference: str
    PARAMS = {
        **_AugProBase.PARAMS,
        "ratio": Param(
            float,
            0.3,
            "share of a copy's tokens to change: each copy's step is searched (bisection on eps) to come nearest it",
            lambda v: None if 0 < v <= 1 else "must be in (0, 1]",
        ),
        "eps": Param(
            float,
            None,
            "a fixed step instead of the searched one (AugPro's own), in units of the embedding table's "
            "per-dimension std; the changed ratio then follows from it (ratio is not used); a redraw "
            "multiplies it by 1.5",
            lambda v: None if v > 0 else "must be > 0",
        ),
        "power_iterations": Param(
            int,
            2,
            "gradient evaluations for the virtual-adversarial direction (1: the gradient at the random start)",
            lambda v: None if 1 <= v <= 10 else "must be between 1 and 10",
        ),
        "xi": Param(
            float,
            0.1,
            "norm of each power iteration's probe (first the copy's seeded random start, then the last "
            "gradient's direction), in embedding units",
            lambda v: None if v >= 0 else "must be >= 0",
        ),
        "reference": Param(
            str,
            "teacher",
            "teacher (its virtual-adversarial direction) or a student "
            "checkpoint directory (same tokenizer as the teacher)",
        ),
    }

    def setup(self) -> None:
        if self.reference == "teacher":
            self.proj = Projector(self.model, self.device)
            self.teacher = None
        else:
            self.proj = Projector(self.reference, self.device)  # perturb and project in the student's space
            self.teacher = Projector(self.model, self.device)
            if self.teacher.tok.get_vocab() != self.proj.tok.get_vocab():
                raise AugmentSpecError("augpro_fgsm: the reference student must share the teacher's tokenizer")
        # The gradient runs through the classifier: a random one would give other copies on every load.
        models = [(self.model, self.teacher or self.proj)] + ([(self.reference, self.proj)] if self.teacher else [])
        for spec, proj in models:
            if proj.untrained:
                raise AugmentSpecError(
                    f"augpro_fgsm: {spec} has no trained classifier ({', '.join(proj.untrained[:4])} are not in "
                    f"its weights), so its gradient would come from a random head and the copies would change "
                    f"with every load; give a fine-tuned sequence classifier"
                )

    PAIRS_TOGETHER = True

    def __init__(self, spec_key: str = "", **params):
        super().__init__(spec_key, **params)
        if self.eps is not None:  # a fixed step: the ratio follows from it, and the provenance says so
            self.ratio = self.params["ratio"] = None

    def step_size(self, attempt: int) -> float:
        """The fixed step (eps given) of a copy's `attempt`-th draft (0 first), in units of the embedding
        table's std, so one eps means the same for every model. A copy being redrawn (its last draft
        repeated the source or an earlier copy) steps further; both sides of a pair take the same step."""
        assert self.eps is not None, "a fixed step only where eps is given"
        return self.eps * 1.5**attempt

    def perturb_pairs(self, sources, sides, pending) -> list[dict[int, tuple[str, int]]]:
        """The pair as the model reads it (one sequence, token types), the gradient taken on it, the step
        and the projection on the augmented side(s) only."""
        import torch

        if not hasattr(self, "proj"):
            self.setup()
        rows = sorted({p.source for p in pending})
        index = {r: k for k, r in enumerate(rows)}
        enc = self.proj.tok(
            [sources[i].text for i in rows],
            [sources[i].text_pair for i in rows],
            truncation=True,
            max_length=self.max_length,
            return_offsets_mapping=True,
        )
        fields = {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}
        batch = self.proj.tok.pad(fields, return_tensors="pt")
        sel = torch.tensor([index[p.source] for p in pending])
        ids = batch["input_ids"][sel].to(self.proj.device)
        mask = batch["attention_mask"][sel].to(self.proj.device)
        types = batch["token_type_ids"][sel].to(self.proj.device) if "token_type_ids" in batch else None
        width = ids.shape[1]
        sequence = torch.full((len(pending), width), -1, dtype=torch.long)
        for k, p in enumerate(pending):
            for pos, s in enumerate(enc[index[p.source]].sequence_ids):
                if s is not None and s in sides[p.source]:
                    sequence[k, pos] = s  # an augmented side's token
        word_rows = []
        for p in pending:
            one, texts = enc[index[p.source]], (sources[p.source].text, sources[p.source].text_pair)
            row, first = [-1] * len(one.offsets), 0
            for side in sides[p.source]:  # the augmented side(s), numbered on from one to the next
                at = word_index(texts[side], one.offsets, one.sequence_ids, side, first)
                row = [a if a >= 0 else r for a, r in zip(at, row)]
                first += len(word_tokens(texts[side]))
            word_rows.append(row)
        word_of = self._word_of(word_rows, width)
        # specials, padding, the other side, punctuation inside a word
        frozen = (sequence < 0).to(self.proj.device) | (mask == 0) | self._inside_words(ids, word_of)
        continuation = ~torch.tensor(self.proj.vocab.word_start, device=self.proj.device)[ids]
        new_ids = self._step_and_project(pending, ids, mask, frozen, continuation, word_of, types)
        out = []
        for k, p in enumerate(pending):
            texts = (sources[p.source].text, sources[p.source].text_pair)
            one = enc[index[p.source]]
            out.append({side: self._rebuilt(texts[side], one, ids[k], new_ids[k], side) for side in sides[p.source]})
        return out

    def perturb_side(self, sources, side, pending) -> list[tuple[str, int]]:
        import torch

        if not hasattr(self, "proj"):
            self.setup()
        keys = [(p.source, p.copy) for p in pending]
        rows = sorted({i for i, _ in keys})
        texts, enc, ids, mask, special, continuation, word_of = self._encode_side(sources, side, rows)
        index = {r: k for k, r in enumerate(rows)}
        sel = torch.tensor([index[i] for i, _ in keys], device=self.proj.device)
        ids, mask, special, continuation, word_of = ids[sel], mask[sel], special[sel], continuation[sel], word_of[sel]
        new_ids = self._step_and_project(pending, ids, mask, special, continuation, word_of)
        return [self._rebuilt(texts[index[i]], enc[index[i]], ids[b], new_ids[b]) for b, (i, _) in enumerate(keys)]

    def _step_and_project(self, pending, ids, mask, frozen, continuation, word_of, types=None):
        """The sign-gradient step along each copy's virtual-adversarial direction (power iterations from
        its seeded random start), on the positions not `frozen`, projected to tokens (the frozen ones keep
        theirs). The step is eps where given, else searched per copy to change `ratio` of its tokens."""
        import torch

        free = ~frozen
        embeds = self.proj.table[ids].float()
        direction = self._adversarial_direction(pending, embeds, ids, mask, free, types).sign() * free[..., None]

        # Word by word, as the copy's changed ratio is measured (kdaug.core.words): a word changed where
        # any of its tokens did, and punctuation turned into a word counts as one. Bucket 0 gathers the
        # tokens outside every word.
        bucket = word_of + 1
        buckets = torch.zeros((ids.shape[0], int(bucket.max()) + 1), dtype=torch.long, device=ids.device)
        words = buckets.scatter_reduce(1, bucket, free.long(), "amax")[:, 1:]

        def projected(eps):  # eps [B], in table-std units -> new ids, share of the words changed
            step = (eps * self.proj.table_std)[:, None, None] * direction
            new_ids, _ = self.proj.project(embeds + step, frozen, continuation, prefer_ids=ids, source_ids=ids)
            new_ids = torch.where(frozen, ids, new_ids)
            moved = (new_ids != ids) & free
            changed = buckets.scatter_reduce(1, bucket, moved.long(), "amax")
            gained = (moved & (word_of < 0) & self.proj.wordlike[new_ids]).sum(1)  # punctuation become a word
            return new_ids, ((changed[:, 1:] * words).sum(1) + gained) / words.sum(1).clamp_min(1)

        if self.eps is not None:
            return projected(torch.tensor([self.step_size(p.attempt) for p in pending], device=ids.device))[0]
        return self._searched(projected, len(pending), ids.device)

    def _searched(self, projected, n: int, device):
        """Bisection on log eps, per copy, for the step whose changed share comes nearest `ratio`: the share
        grows with the step (not strictly: projection is discrete), so a fixed eps gives one text almost
        nothing and another almost everything (eps 2 on MR: p10 0.03, p90 0.83)."""
        import torch

        lo = torch.full((n,), EPS_RANGE[0], device=device)
        hi = torch.full((n,), EPS_RANGE[1], device=device)
        best_ids, best_gap = None, torch.full((n,), float("inf"), device=device)
        for _ in range(SEARCH_STEPS):
            mid = (lo * hi).sqrt()
            new_ids, share = projected(mid)
            gap = (share - self.ratio).abs()
            better = gap < best_gap
            best_ids = new_ids if best_ids is None else torch.where(better[:, None], new_ids, best_ids)
            best_gap = torch.where(better, gap, best_gap)
            below = share < self.ratio
            lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
        return best_ids

    def _adversarial_direction(self, pending, embeds, ids, mask, free, types=None):
        """d, the direction whose small step most changes the reference's prediction from the target's
        (virtual adversarial training's power iteration): from a seeded random start r, `power_iterations`
        times r <- xi * grad / |grad| of KL(p_target(x) || p_reference(x + r)); returns the last gradient.
        Each copy draws its start for its own perturbable positions from its own generator, so neither
        the batch's padded width nor its neighbours change a copy."""
        import torch
        import torch.nn.functional as F

        extra = {} if types is None else {"token_type_ids": types}
        r = torch.zeros_like(embeds)
        free_cpu = free.cpu()
        for k, p in enumerate(pending):
            at = free_cpu[k].nonzero().squeeze(1)
            draw = torch.from_numpy(p.rng.standard_normal((len(at), embeds.shape[-1])).astype(np.float32))
            r[k, at.to(r.device)] = draw.to(r.device)
        with torch.no_grad():
            target_model = self.teacher.model if self.teacher is not None else self.proj.model
            target_table = self.teacher.table if self.teacher is not None else self.proj.table
            p_target = F.softmax(
                target_model(inputs_embeds=target_table[ids].float(), attention_mask=mask, **extra).logits.float(), -1
            )
        for _ in range(self.power_iterations):
            norm = r.flatten(1).norm(dim=1).clamp_min(1e-12)[:, None, None]
            x = (embeds + self.xi * r / norm * free[..., None]).detach().requires_grad_(True)
            with torch.enable_grad():
                logits = self.proj.model(inputs_embeds=x, attention_mask=mask, **extra).logits.float()
                loss = F.kl_div(F.log_softmax(logits, -1), p_target, reduction="batchmean")
                (r,) = torch.autograd.grad(loss, x)
            r = r * free[..., None]
        return r


EPS_RANGE = (0.05, 32.0)  # the searched step's bounds, in table-std units
SEARCH_STEPS = 8
