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

from collections.abc import Sequence

import numpy as np

from kdaug.core.augment.base import AugmentSpecError, Param, ReplacementAugmenter, Slot, with_replacements
from kdaug.core.augment.draw import AugmentResult, Draft, Pending, choose_positions
from kdaug.core.corpus import SourceExample
from kdaug.core.models import ModelError, load_pretrained, load_tokenizer, local_model_dir, pick_device
from kdaug.core.vocab import Vocabulary
from kdaug.core.words import WordToken, match_case, replace_spans, word_tokens

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def model_dtype(precision: str, device: str):
    """The dtype the masked LM runs in. Candidates only need the ranking of the top-M words, which
    half precision keeps; on CPUs with native bf16 (AVX512-BF16, AMX) it runs about 4x faster."""
    import torch

    if precision == "auto":
        if device.startswith("cuda"):
            return torch.float16
        return (
            torch.bfloat16
            if torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
            else torch.float32
        )
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
        "precision": Param(
            str,
            "auto",
            "auto (fp16 on GPU, bf16 on CPUs with native bf16, else fp32), fp32, bf16 or fp16",
            lambda v: None if v in PRECISIONS else f"must be one of {PRECISIONS}",
        ),
    }

    def __init__(self, spec_key: str = "", **params):
        super().__init__(spec_key, **params)
        if not self.model:
            raise AugmentSpecError("mlm: model=PATH_OR_HUB_ID is required (a masked LM, e.g. bert-base-uncased)")

    # ----------------------------------------------------------------------------------------- model

    def setup(self) -> None:
        from transformers import AutoModelForMaskedLM

        super().setup()
        local = local_model_dir(self.model, "mlm model")
        self.tok = load_tokenizer(local)
        if self.tok.mask_token is None:
            raise ModelError(f"mlm: {self.model!r} has no mask token; it is not a masked LM")
        model, info = load_pretrained(AutoModelForMaskedLM, local, output_loading_info=True)
        if info.get("missing_keys"):
            # e.g. a sequence classifier or a bare encoder: its LM head would be random, and so would
            # every "prediction". Refuse rather than augment with noise.
            raise ModelError(
                f"mlm: {self.model!r} has no trained masked-LM head (missing weights: "
                f"{sorted(info['missing_keys'])[:3]}...); pass a masked LM"
            )
        self.torch_device = pick_device(self.device)
        self.dtype = model_dtype(self.precision, self.torch_device)
        self.lm = model.to(self.torch_device, dtype=self.dtype).eval()
        self._base, self._head = _split_head(self.lm)
        self._vocab = self._vocabulary()

    def _vocabulary(self):
        """{'content': (ids, words), 'stopword': (ids, words)}: the whole-word tokens the masked LM may
        propose, split into content words and stopwords. Single letters only as stopwords ("a", "I")."""
        ids, spelled = Vocabulary.of(self.tok, self.lm.config.vocab_size).whole_words()
        keep = np.array([len(w) > 1 or w.lower() in self._stopwords for w in spelled], dtype=bool)
        ids, spelled = ids[keep], [w for w, k in zip(spelled, keep) if k]
        is_stop = np.array([w.lower() in self._stopwords for w in spelled], dtype=bool)
        return {
            kind: (ids[mask], [w for w, m in zip(spelled, mask) if m])
            for kind, mask in (("content", ~is_stop), ("stopword", is_stop))
        }

    def _predict(self, texts: list[str], pairs: list[str | None]) -> list[list[dict[str, list[str]]]]:
        """For each masked input, for each mask position (in order), the top-M content words and the
        top-M stopwords the model predicts there."""
        import torch

        enc = self.tok(
            texts, pairs if any(p is not None for p in pairs) else None, truncation=True, max_length=self.max_length
        )
        ids = enc["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        out: list[list[dict[str, list[str]]]] = [[] for _ in texts]
        allowed = {k: torch.as_tensor(ids, device=self.torch_device) for k, (ids, _) in self._vocab.items()}
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            batch = self.tok.pad([{k: enc[k][i] for k in enc} for i in chunk], return_tensors="pt")
            batch = {k: v.to(self.torch_device) for k, v in batch.items()}
            with torch.inference_mode():
                hidden = self._base(**batch).last_hidden_state
                rows, cols = (batch["input_ids"] == self.tok.mask_token_id).nonzero(as_tuple=True)
                if len(rows) == 0:
                    continue
                logits = self._head(hidden[rows, cols]).float()
                # One spare per position, since the original word is dropped from its own candidates.
                top = {
                    k: logits[:, ids].topk(min(self.top_m + 1, len(ids)), dim=-1).indices.cpu().numpy()
                    for k, ids in allowed.items()
                }
            for n, r in enumerate(rows.cpu().numpy()):
                out[chunk[r]].append({k: [self._vocab[k][1][j] for j in top[k][n]] for k in top})
        return out

    # ------------------------------------------------------------------------------------ per_word

    def find_slots(
        self, sources: Sequence[SourceExample], sides: list[list[int]], tokens: list[list[list[WordToken]]]
    ) -> list[list[Slot]]:
        kinds = [
            [
                (side, i, t, self.word_kind((src.text, src.text_pair or "")[side], t))
                for side in sd
                for i, t in enumerate(tok[side])
            ]
            for src, sd, tok in zip(sources, sides, tokens)
        ]
        # Stopword positions are masked only for sentences whose content words are too few for the ratio.
        wanted = []
        for s_idx, (ks, sd, tok) in enumerate(zip(kinds, sides, tokens)):
            content = [(side, i, t) for side, i, t, k in ks if k == "content"]
            n_words = sum(len(tok[side]) for side in sd)
            stops = (
                [(side, i, t) for side, i, t, k in ks if k == "stopword"]
                if self.needs_stopwords(n_words, len(content))
                else []
            )
            wanted += [(s_idx, side, i, t, False) for side, i, t in content]
            wanted += [(s_idx, side, i, t, True) for side, i, t in stops]
        masked_texts, masked_pairs = [], []
        for s_idx, side, i, _, _ in wanted:
            src = sources[s_idx]
            masked = replace_spans((src.text, src.text_pair)[side], {i: self.tok.mask_token}, tokens[s_idx][side])
            masked_texts.append(masked if side == 0 else src.text)
            masked_pairs.append(masked if side == 1 else src.text_pair)
        predictions = self._predict(masked_texts, masked_pairs)
        slots: list[list[Slot]] = [[] for _ in sources]
        for (s_idx, side, i, t, stop), preds in zip(wanted, predictions):
            if preds:  # empty when truncation cut the mask away
                cands = [c for c in preds[0]["stopword" if stop else "content"] if c.lower() != t.text.lower()]
                slots[s_idx].append(Slot(side, i, [match_case(t.text, c.lower()) for c in cands[: self.top_m]], stop))
        return slots

    # --------------------------------------------------------------------------------------- joint

    def augment_batch(self, sources: Sequence[SourceExample], seed: int) -> list[AugmentResult]:
        if self.mode == "per_word":
            return super().augment_batch(sources, seed)
        return self._augment_joint(sources, seed)

    def _augment_joint(self, sources: Sequence[SourceExample], seed: int) -> list[AugmentResult]:
        sides, tokens, content, stops = [], [], [], []  # per source; positions are (side, word index)
        for src in sources:
            sd = self.sides_of(src)
            tok = [word_tokens(src.text), word_tokens(src.text_pair or "")]
            texts = (src.text, src.text_pair or "")
            kinds = [(side, i, self.word_kind(texts[side], t)) for side in sd for i, t in enumerate(tok[side])]
            n_words = sum(len(tok[side]) for side in sd)
            cont = [(side, i) for side, i, k in kinds if k == "content"]
            sides.append(sd)
            tokens.append(tok)
            content.append(cont)
            stops.append(
                [(side, i) for side, i, k in kinds if k == "stopword"]
                if self.needs_stopwords(n_words, len(cont))
                else []
            )

        def draft(pending: list[Pending]) -> list[Draft | None]:
            """Masks each copy's chosen positions at once; one batched prediction for every copy."""
            chosen_per_copy, masked = [], []
            for p in pending:
                i, src = p.source, sources[p.source]
                n_words = sum(len(tokens[i][side]) for side in sides[i])
                chosen = sorted(choose_positions(p.rng, self.ratio, n_words, content[i], stops[i]))
                texts = [src.text, src.text_pair]
                for side in (0, 1):
                    picks = {w: self.tok.mask_token for s, w in chosen if s == side}
                    if picks:
                        texts[side] = replace_spans(texts[side], picks, tokens[i][side])
                chosen_per_copy.append(chosen)
                masked.append(texts)
            predictions = self._predict([m[0] for m in masked], [m[1] for m in masked])
            drafts: list[Draft | None] = []
            for p, chosen, preds in zip(pending, chosen_per_copy, predictions):
                i, src = p.source, sources[p.source]
                new: list[dict[int, str]] = [{}, {}]
                for (side, w), top in zip(chosen, preds):
                    word = tokens[i][side][w].text
                    kind = "stopword" if (side, w) in stops[i] else "content"
                    cands = [x for x in top[kind] if x.lower() != word.lower()][: self.top_m]
                    if cands:
                        new[side][w] = match_case(word, cands[p.rng.integers(len(cands))].lower())
                texts = with_replacements((src.text, src.text_pair), new, tokens[i])
                drafts.append(Draft(texts, len(new[0]) + len(new[1])) if any(new) else None)
            return drafts

        eligible = [bool(c or st) for c, st in zip(content, stops)]
        return self.draw(
            sources, sides, draft, seed, together=True, max_attempts=self.MAX_ATTEMPTS_PER_COPY, eligible=eligible
        )


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
