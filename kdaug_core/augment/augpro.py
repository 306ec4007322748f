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

from bisect import bisect_right
from collections.abc import Sequence

import numpy as np

from kdaug.core.augment.base import Augmenter, AugmentSpecError, Param
from kdaug.core.augment.draw import AugmentResult, Draft, Pending
from kdaug.core.corpus import SourceExample
from kdaug.core.models import load_pretrained, load_tokenizer, local_model_dir, pick_device
from kdaug.core.shift import changed_by_edits
from kdaug.core.vocab import Vocabulary
from kdaug.core.words import word_tokens


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
    if not 0.0 < mu < 1.0:
        raise ValueError("must be in (0, 1) or beta:A")
    return "fixed", mu


class Projector:
    """A model's tokenizer and input-embedding table, and nearest-token projection by L2."""

    def __init__(self, model_spec: str, device: str = "auto", trust_remote_code: bool = False):
        import torch
        from transformers import AutoModelForSequenceClassification

        local = local_model_dir(model_spec, "AugPro model")
        self.device = pick_device(device)
        self.tok = load_tokenizer(local, trust_remote_code)
        if not self.tok.is_fast:
            raise AugmentSpecError(f"AugPro needs a fast tokenizer (offsets) for {model_spec!r}")
        model, info = load_pretrained(
            AutoModelForSequenceClassification, local, trust_remote_code, output_loading_info=True
        )
        # Weights the directory lacks (an encoder without a classifier) are drawn at random on each load.
        self.untrained = sorted(info.get("missing_keys", []))
        self.model = model.to(self.device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.table = self.model.get_input_embeddings().weight.detach()
        self.table_std = float(self.table.float().std())
        self.vocab = Vocabulary.of(self.tok, self.table.shape[0])
        usable = torch.tensor(~self.vocab.special, device=self.device)
        starts = torch.tensor(self.vocab.word_start, device=self.device)
        self.lettered = torch.tensor(self.vocab.lettered(), device=self.device)
        self.wordlike = torch.tensor([t.isalnum() for t in self.vocab.spelled], device=self.device) & usable
        # Each position is scored against the tokens it may become only: word starts or continuation
        # pieces as it is one, and, where its source token is spelled in letters, tokens spelled in letters
        # (a word never becomes "too-,pid" or "ᵖ"). (ids, their embeddings, their squared norms) per kind.
        self.allowed, self.candidates = {}, {}
        for continuation in (False, True):
            for letters in (False, True):
                ok = usable & (~starts if continuation else starts) & (self.lettered if letters else usable)
                ids = ok.nonzero().squeeze(1)
                rows = self.table[ids].float()
                self.allowed[continuation, letters] = ok
                self.candidates[continuation, letters] = (ids, rows, (rows**2).sum(-1))

    def encode(self, texts: list[str], max_length: int):
        return self.tok(texts, truncation=True, max_length=max_length, return_offsets_mapping=True)

    def project(self, embeds, keep, continuation, prefer_ids=None, source_ids=None):
        """embeds [B, L, d]; keep [B, L] bool (special and padding positions, left as they are: not scored);
        continuation [B, L] bool -> ids [B, L], the nearest allowed token by L2 (0 where kept). With
        `source_ids` [B, L], a position whose source token is spelled in letters becomes one spelled in
        letters. With `prefer_ids` [B, L] (the source's tokens), a position whose preferred token is as
        near as the nearest (within TIE_TOLERANCE, relative) takes it: a tie, such as a source and a partner
        token mixed at mu 0.5, which floating-point rounding would break one way on a CPU and the other on
        a GPU, is broken the same way everywhere."""
        import torch

        flat, cont = embeds.reshape(-1, embeds.shape[-1]), continuation.reshape(-1)
        todo = ~keep.reshape(-1)
        src = prefer_ids.reshape(-1) if prefer_ids is not None else None
        letters = self.lettered[source_ids.reshape(-1)] if source_ids is not None else torch.zeros_like(todo)
        out = torch.zeros(flat.shape[0], dtype=torch.long, device=embeds.device)
        for (kind, spelled), (ids, rows, sq_norms) in self.candidates.items():
            positions = (todo & (cont == kind) & (letters == spelled)).nonzero().squeeze(1)
            # bounded memory whatever the batch and length: POSITIONS x candidates scores at a time
            for start in range(0, positions.shape[0], PROJECT_POSITIONS):
                chunk = positions[start : start + PROJECT_POSITIONS]
                e = flat[chunk].float()
                scores = 2 * e @ rows.T - sq_norms
                best, at = scores.max(-1)
                out[chunk] = ids[at]
                if src is not None:
                    own = self.table[src[chunk]].float()
                    own_score = 2 * (e * own).sum(-1) - (own**2).sum(-1)
                    tie = best - own_score <= TIE_TOLERANCE * (best.abs() + own_score.abs()).clamp_min(1e-6)
                    tie &= self.allowed[kind, spelled][src[chunk]]  # one this position may become
                    out[chunk] = torch.where(tie, src[chunk], out[chunk])
        return out.reshape(embeds.shape[:2]), keep


PROJECT_POSITIONS = 256
TIE_TOLERANCE = 1e-5  # relative: far above float32 rounding (~1e-7), far below real score gaps


def text_edits(
    tok, text: str, enc_one, old_ids: list[int], new_ids: list[int], sequence: int | None = None
) -> list[tuple[int, int, str]]:
    """(start, end, new surface) for each word of `text` whose token ids changed, in text order. For a
    pair encoded together, `sequence` (0 or 1) says which of its two texts `text` is."""
    word_ids = enc_one.word_ids
    offsets = enc_one.offsets
    in_text = enc_one.sequence_ids if sequence is not None else [0] * len(word_ids)
    spans: dict[int, list[int]] = {}
    for pos, w in enumerate(word_ids):
        if w is not None and in_text[pos] == (sequence or 0):
            spans.setdefault(w, []).append(pos)
    edits = []
    for positions in spans.values():
        if all(old_ids[p] == new_ids[p] for p in positions):
            continue
        surface = tok.convert_tokens_to_string(tok.convert_ids_to_tokens([new_ids[p] for p in positions])).strip()
        start, end = offsets[positions[0]][0], offsets[positions[-1]][1]
        original = text[start:end]
        if original[:1].isupper() and surface:
            surface = surface[:1].upper() + surface[1:]
        if surface and surface.lower() != original.lower():
            edits.append((start, end, surface))
    return sorted(edits)


def word_index(text: str, offsets, sequence_ids=None, sequence: int = 0, first: int = 0) -> list[int]:
    """For each token (character `offsets` in `text`), the index of the word of `text` it lies in (the
    words the changed ratio counts: kdaug.core.words), plus `first`; -1 for a token outside every word
    (punctuation between words, specials, padding, or the other text of a pair)."""
    spans = [(t.start, t.end) for t in word_tokens(text)]
    starts = [a for a, _ in spans]
    out = []
    for pos, (a, b) in enumerate(offsets):
        k = bisect_right(starts, a) - 1
        inside = b > a and k >= 0 and a < spans[k][1] and (sequence_ids is None or sequence_ids[pos] == sequence)
        out.append(first + k if inside else -1)
    return out


def apply_edits(text: str, edits: list[tuple[int, int, str]]) -> str:
    out, cursor = [], 0
    for start, end, surface in edits:
        out.append(text[cursor:start])
        out.append(surface)
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def rebuild_text(tok, text: str, enc_one, old_ids: list[int], new_ids: list[int]) -> str:
    """The source text with each word whose token ids changed replaced by the new tokens' surface form;
    everything else (spacing, punctuation, casing, text beyond truncation) kept as it was."""
    return apply_edits(text, text_edits(tok, text, enc_one, old_ids, new_ids))


class _AugProBase(Augmenter):
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
    PARAMS = {
        **_AugProBase.PARAMS,
        "mu": Param(str, "0.5", "weight of the source: a number in (0, 1) or beta:A (Beta(A, A) per copy)", _mu_ok),
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


class AugProFgsm(_AugProBase):
    method = "augpro_fgsm"
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
