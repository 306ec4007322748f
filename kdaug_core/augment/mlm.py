"""Masked-LM replacement with any transformers masked LM (hub id or local directory).

`mode=per_word` is TinyBERT's algorithm done right and batched: for each sentence, one masked copy per
replaceable word (the whole word becomes one mask token, so predictions are whole words), all masked
copies of all sentences in the batch sorted by length and padded into shared batches, one forward pass
per batch, the vocabulary head applied only at the masked positions. The top `top_m` candidates per
position exclude sub-word pieces, special and unused tokens, non-words, stopwords and the original
word; the asked-for copies are then drawn at the asked-for ratio from those candidates (the shared
ReplacementAugmenter machinery).

`mode=joint` is faster: each copy masks all its chosen positions at once and takes one forward pass
(TinyBERT needs one per word; nlpaug one per position).

On a GPU (device=auto picks it) the model runs in fp16; on a CPU with native bf16 in bf16 (precision=).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from kdaug_core.augment.base import (AugmentedCopy, AugmentResult, AugmentSpecError, Param, ReplacementAugmenter,
                                     Slot, _norm, _stochastic_round)
from kdaug_core.corpus import SourceExample
from kdaug_core.seeding import copy_seed
from kdaug_core.shift import Shift, measure
from kdaug_core.words import WordToken, match_case, replace_spans, word_tokens


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def model_dtype(precision: str, device: str):
    """The dtype the masked LM runs in. Candidates only need the ranking of the top-M words, which
    half precision keeps; on CPUs with native bf16 (AVX512-BF16, AMX) it runs about 4x faster."""
    import torch

    if precision == "auto":
        if device.startswith("cuda"):
            return torch.float16
        return torch.bfloat16 if torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported() \
            else torch.float32
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def _positive(v: int) -> str | None:
    return None if v >= 1 else "must be at least 1"


def _mode_ok(v: str) -> str | None:
    return None if v in ("per_word", "joint") else "must be per_word or joint"


class MlmAugmenter(ReplacementAugmenter):
    method = "mlm"
    PARAMS = {
        **ReplacementAugmenter.PARAMS,
        "model": Param(str, None, "a transformers masked LM: local directory or hub id (required)"),
        "top_m": Param(int, 15, "candidates kept per masked position", _positive),
        "mode": Param(str, "per_word", "per_word (one masked copy per word) or joint (one per copy)", _mode_ok),
        "batch_size": Param(int, 64, "masked sequences per forward pass", _positive),
        "max_length": Param(int, 128, "tokens per masked sequence", _positive),
        "device": Param(str, "auto", "auto, cpu, cuda, cuda:N"),
        "precision": Param(str, "auto", "auto (fp16 on GPU, bf16 on CPUs with native bf16, else fp32), "
                                         "fp32, bf16 or fp16", lambda v: None if v in PRECISIONS else f"must be one of {PRECISIONS}"),
    }

    def __init__(self, spec_key: str = "", **params):
        super().__init__(spec_key, **params)
        if not self.model:
            raise AugmentSpecError("mlm: model=PATH_OR_HUB_ID is required (a masked LM, e.g. bert-base-uncased)")

    # ----------------------------------------------------------------------------------------- model

    def setup(self) -> None:
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        from kdaug_core.teacher import TeacherError, _local_dir, pick_device

        super().setup()
        local = str(_local_dir(self.model))
        self.tok = AutoTokenizer.from_pretrained(local)
        if self.tok.mask_token is None:
            raise TeacherError(f"mlm: {self.model!r} has no mask token; it is not a masked LM")
        model, info = AutoModelForMaskedLM.from_pretrained(local, use_safetensors=True, output_loading_info=True)
        if info.get("missing_keys"):
            # e.g. a sequence classifier or a bare encoder: its LM head would be random, and so would
            # every "prediction". Refuse rather than augment with noise.
            raise TeacherError(f"mlm: {self.model!r} has no trained masked-LM head (missing weights: "
                               f"{sorted(info['missing_keys'])[:3]}...); pass a masked LM")
        self.torch_device = pick_device(self.device)
        self.dtype = model_dtype(self.precision, self.torch_device)
        self.lm = model.to(self.torch_device, dtype=self.dtype).eval()
        self._base, self._head = _split_head(self.lm)
        self._allowed_ids, self._allowed_words = self._vocabulary()

    def _vocabulary(self):
        """Token ids that are whole, alphabetic, non-stopword words, and the word each one spells."""
        special = set(self.tok.all_special_ids)
        vocab = self.tok.get_vocab()
        bpe_like = sum(t.startswith(("Ġ", "▁")) for t in list(vocab)[:5000]) > 100
        ids, spelled = [], []
        for token, idx in vocab.items():
            if idx in special or idx >= self.lm.config.vocab_size:
                continue
            if bpe_like:
                if not token.startswith(("Ġ", "▁")):
                    continue  # a continuation piece
                word = token[1:]
            else:
                if token.startswith("##"):
                    continue
                word = token
            if len(word) > 1 and word.isalpha() and word.lower() not in self._stopwords:
                ids.append(idx)
                spelled.append(word)
        order = np.argsort(ids)
        return np.asarray(ids)[order], [spelled[i] for i in order]

    def _predict(self, texts: list[str], pairs: list[str | None]) -> list[list[list[str]]]:
        """For each masked input, for each mask position (in order), the top-M allowed words."""
        import torch

        enc = self.tok(texts, pairs if any(p is not None for p in pairs) else None, truncation=True,
                       max_length=self.max_length)
        ids = enc["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        out: list[list[list[str]]] = [[] for _ in texts]
        allowed = torch.as_tensor(self._allowed_ids, device=self.torch_device)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            batch = self.tok.pad([{k: enc[k][i] for k in enc.keys()} for i in chunk], return_tensors="pt")
            batch = {k: v.to(self.torch_device) for k, v in batch.items()}
            with torch.inference_mode():
                hidden = self._base(**batch).last_hidden_state
                rows, cols = (batch["input_ids"] == self.tok.mask_token_id).nonzero(as_tuple=True)
                if len(rows) == 0:
                    continue
                logits = self._head(hidden[rows, cols]).float()[:, allowed]
                # One spare per position, since the original word is dropped from its own candidates.
                top = logits.topk(min(self.top_m + 1, logits.shape[1]), dim=-1).indices.cpu().numpy()
            for r, t in zip(rows.cpu().numpy(), top):
                out[chunk[r]].append([self._allowed_words[j] for j in t])
        return out

    # ------------------------------------------------------------------------------------ per_word

    def find_slots(self, sources: Sequence[SourceExample], sides: list[list[int]],
                   tokens: list[list[list[WordToken]]]) -> list[list[Slot]]:
        masked_texts, masked_pairs, where = [], [], []
        for s_idx, (src, sd, tok) in enumerate(zip(sources, sides, tokens)):
            texts = (src.text, src.text_pair)
            for side in sd:
                for i, t in enumerate(tok[side]):
                    if not self.replaceable(texts[side], t):
                        continue
                    masked = replace_spans(texts[side], {i: self.tok.mask_token}, tok[side])
                    masked_texts.append(masked if side == 0 else src.text)
                    masked_pairs.append(masked if side == 1 else src.text_pair)
                    where.append((s_idx, side, i, t.text))
        predictions = self._predict(masked_texts, masked_pairs)
        slots: list[list[Slot]] = [[] for _ in sources]
        for (s_idx, side, i, word), preds in zip(where, predictions):
            if preds:  # empty when truncation cut the mask away
                cands = [c for c in preds[0] if c.lower() != word.lower()][: self.top_m]
                slots[s_idx].append(Slot(side, i, [match_case(word, c.lower()) for c in cands]))
        return slots

    # --------------------------------------------------------------------------------------- joint

    def augment_batch(self, sources: Sequence[SourceExample], seed: int) -> list[AugmentResult]:
        if self.mode == "per_word":
            return super().augment_batch(sources, seed)
        return self._augment_joint(sources, seed)

    def _augment_joint(self, sources: Sequence[SourceExample], seed: int) -> list[AugmentResult]:
        results = [AugmentResult(s.id, requested=self.copies) for s in sources]
        states = []  # per source: sides, tokens, eligible (side, index) pairs, seen texts
        for src in sources:
            sd = self.sides_of(src)
            tok = [word_tokens(src.text), word_tokens(src.text_pair or "")]
            texts = (src.text, src.text_pair or "")
            eligible = [(side, i) for side in sd for i, t in enumerate(tok[side]) if self.replaceable(texts[side], t)]
            states.append((sd, tok, eligible, {_norm((src.text, src.text_pair))}))
        pending = [(s, c, np.random.default_rng(copy_seed(seed, sources[s].id, self.spec_key, c)))
                   for s in range(len(sources)) for c in range(self.copies) if states[s][2]]
        for _ in range(self.MAX_ATTEMPTS_PER_COPY):
            if not pending:
                break
            drafts = []
            for s, c, rng in pending:
                sd, tok, eligible, _ = states[s]
                n_words = sum(len(tok[side]) for side in sd)
                k = min(max(_stochastic_round(self.ratio * n_words, rng), 1), len(eligible))
                chosen = sorted(eligible[j] for j in rng.choice(len(eligible), size=k, replace=False))
                src = sources[s]
                masked = [src.text, src.text_pair]
                for side in (0, 1):
                    picks = {i: self.tok.mask_token for sd_, i in chosen if sd_ == side}
                    if picks:
                        masked[side] = replace_spans(masked[side], picks, tok[side])
                drafts.append((s, c, rng, chosen, masked))
            predictions = self._predict([d[4][0] for d in drafts], [d[4][1] for d in drafts])
            retry = []
            for (s, c, rng, chosen, _), preds in zip(drafts, predictions):
                src, (sd, tok, _, seen) = sources[s], states[s]
                texts = (src.text, src.text_pair)
                new: list[dict[int, str]] = [{}, {}]
                for (side, i), cands in zip(chosen, preds):
                    word = tok[side][i].text
                    cands = [x for x in cands if x.lower() != word.lower()][: self.top_m]
                    if cands:
                        new[side][i] = match_case(word, cands[rng.integers(len(cands))].lower())
                out = tuple(replace_spans(texts[i], new[i], tok[i]) if new[i] else texts[i] for i in (0, 1))
                if not any(new) or _norm(out) in seen:
                    retry.append((s, c, rng))
                    continue
                seen.add(_norm(out))
                shift = sum((measure(texts[i], out[i]) for i in sd), Shift(0, 0))
                aug_seed = copy_seed(seed, src.id, self.spec_key, c)
                results[s].copies.append(AugmentedCopy(out[0], out[1], shift, aug_seed, c))
            pending = retry
        for r in results:
            r.copies.sort(key=lambda c: c.copy_index)
        return results


def _split_head(model):
    """(encoder, vocabulary head) so the head runs only at masked positions: for BERT-style models the
    head is most of the cost of a short sentence (hidden x vocab per position)."""
    if hasattr(model, "cls"):  # BERT, and models built on BertOnlyMLMHead
        return model.base_model, model.cls
    if hasattr(model, "lm_head"):  # RoBERTa, XLM-R, ...
        return model.base_model, model.lm_head
    if hasattr(model, "vocab_projector"):  # DistilBERT
        def head(h):
            h = model.vocab_layer_norm(model.activation(model.vocab_transform(h)))
            return model.vocab_projector(h)

        return model.base_model, head
    raise AugmentSpecError(f"mlm: unsupported masked-LM architecture {type(model).__name__}")
