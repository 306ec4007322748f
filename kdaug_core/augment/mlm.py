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

On a GPU (device=auto picks it) the model runs in bf16 or fp16; on a CPU with native bf16 in bf16 (precision=).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kdaug.core.augment.base import AugmentSpecError, Param
from kdaug.core.augment.draw import AugmentResult, Draft, Pending, choose_positions
from kdaug.core.augment.replacement import ReplacementAugmenter, Slot, agree_articles, with_replacements
from kdaug.core.corpus import SourceExample
from kdaug.core.models import ModelError, load_pretrained, load_tokenizer, local_model_dir, pick_device
from kdaug.core.precision import PRECISIONS, resolve_precision, torch_dtype
from kdaug.core.vocab import Vocabulary
from kdaug.core.words import WordToken, match_case, word_tokens


def _positive(v: int) -> str | None:
    return None if v >= 1 else "must be at least 1"


def _mode_ok(v: str) -> str | None:
    return None if v in ("per_word", "joint") else "must be per_word or joint"


class MlmAugmenter(ReplacementAugmenter):
    method = "mlm"
    model: str  # required: checked in __init__
    top_m: int
    mode: str
    batch_size: int
    max_length: int
    device: str
    precision: str
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
            "auto (bf16 or fp16 on a GPU, bf16 on CPUs with native bf16, else fp32: precision.py), fp32, bf16 or fp16",
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
        self.dtype = torch_dtype(resolve_precision(self.precision, self.torch_device, half_on_cpu=True))
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

    def _predict(self, requests: list[MaskRequest]) -> list[list[dict[str, list[str]] | None]]:
        """For each request (a source and the word spans to mask in it), for each span in order: the top-M
        content words and the top-M stopwords the model predicts there, or None where nothing could be
        predicted. Spans are masked in windows of the model's length around them (a long text is never
        fed whole), windows of all requests run in shared length-sorted batches."""
        out: list[list[dict[str, list[str]] | None]] = [[None] * len(r.spans) for r in requests]
        cache: dict[tuple[int, int], _Tokenized] = {}  # each text is tokenized once for all its windows
        for start in range(0, len(requests), REQUESTS_PER_PASS):  # bounded memory: a long text has many
            part = requests[start : start + REQUESTS_PER_PASS]
            for n, predictions in enumerate(self._predict_part(part, cache)):
                out[start + n] = predictions
        return out

    def _predict_part(self, requests: list[MaskRequest], cache: dict) -> list[list[dict[str, list[str]] | None]]:
        import torch

        inputs = self._masked_inputs(requests, cache)
        out: list[list[dict[str, list[str]] | None]] = [[None] * len(r.spans) for r in requests]
        allowed = {k: torch.as_tensor(ids, device=self.torch_device) for k, (ids, _) in self._vocab.items()}
        order = sorted(range(len(inputs)), key=lambda i: len(inputs[i].ids))
        for start in range(0, len(order), self.batch_size):
            chunk = [inputs[i] for i in order[start : start + self.batch_size]]
            width = max(len(x.ids) for x in chunk)
            ids = torch.full((len(chunk), width), self.tok.pad_token_id or 0, dtype=torch.long)
            types = torch.zeros((len(chunk), width), dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, x in enumerate(chunk):
                ids[row, : len(x.ids)] = torch.as_tensor(x.ids)
                types[row, : len(x.types)] = torch.as_tensor(x.types)
                mask[row, : len(x.ids)] = 1
            batch = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.tok.model_input_names:
                batch["token_type_ids"] = types
            batch = {k: v.to(self.torch_device) for k, v in batch.items()}
            with torch.inference_mode():
                hidden = self._base(**batch).last_hidden_state
                rows = [row for row, x in enumerate(chunk) for _ in x.masks]
                cols = [col for x in chunk for col, _ in x.masks]
                if not rows:
                    continue
                masked = hidden[rows, cols]
                parts: dict[str, list] = {k: [] for k in allowed}
                # The vocabulary head, a slice of mask positions at a time: a window of a long text in
                # joint mode holds dozens of masks, and masks x vocabulary logits would not be bounded.
                for at in range(0, len(rows), HEAD_POSITIONS):
                    logits = self._head(masked[at : at + HEAD_POSITIONS]).float()
                    for k, ids in allowed.items():
                        # one spare per position, since the original word is dropped from its own candidates
                        parts[k].append(logits[:, ids].topk(min(self.top_m + 1, len(ids)), dim=-1).indices.cpu())
                top = {k: torch.cat(v).numpy() for k, v in parts.items()}
            targets = [(x.request, span) for x in chunk for _, span in x.masks]
            for n, (request, span) in enumerate(targets):
                out[request][span] = {k: [self._vocab[k][1][j] for j in top[k][n]] for k in top}
        return out

    def _masked_inputs(self, requests: list[MaskRequest], cache: dict | None = None) -> list[MaskedInput]:
        """Model inputs (ids with each span's tokens replaced by one mask token) for the requests: the
        whole text where it fits the model, else one input per window of spans that fits, with the
        text around them as context. Texts are tokenized as text: a literal "[MASK]" or "[SEP]" in the
        data is never a control token (the tokenizer splits special tokens), so every mask is ours."""
        pair = any(r.source.text_pair is not None for r in requests)
        budget = self.max_length - self.tok.num_special_tokens_to_add(pair=pair) - WINDOW_SLACK
        tokenized: dict[tuple[int, int], _Tokenized] = {} if cache is None else cache  # (source id, side)

        def offsets(r: MaskRequest, side: int) -> _Tokenized:
            key = (id(r.source), side)
            if key not in tokenized:
                text = (r.source.text, r.source.text_pair)[side] or ""
                found = self.tok(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
                tokenized[key] = _Tokenized(found, [a for a, _ in found], [b for _, b in found])
            return tokenized[key]

        plans = []  # (request index, [(side, char window start, end) x 2], [span indices])
        for n, r in enumerate(requests):
            sides = [0] if r.source.text_pair is None else [0, 1]
            full = [(0, len((r.source.text, r.source.text_pair)[s] or "")) for s in (0, 1)]
            sizes = [len(offsets(r, s).offsets) for s in sides] + ([0] if len(sides) == 1 else [])
            if sum(sizes) <= budget:
                plans.append((n, full, list(range(len(r.spans)))))
                continue
            for side in sides:
                other = 1 - side
                keep_other = min(sizes[other], budget // 2) if len(sides) == 2 else 0
                own = budget - keep_other
                span_ids = [i for i, (s, _, _) in enumerate(r.spans) if s == side]
                tok = offsets(r, side)
                for group, (a, b) in _windows(tok, [r.spans[i][1:] for i in span_ids], own):
                    windows = list(full)
                    windows[side] = (tok.starts[a], tok.ends[b - 1])
                    if keep_other:
                        windows[other] = (0, offsets(r, other).ends[keep_other - 1])
                    plans.append((n, windows, [span_ids[g] for g in group]))
        texts, pairs = [], []
        for n, windows, _ in plans:
            src = requests[n].source
            texts.append(src.text[windows[0][0] : windows[0][1]])
            pairs.append(None if src.text_pair is None else src.text_pair[windows[1][0] : windows[1][1]])
        inputs = []
        for at in range(0, len(plans), WINDOWS_PER_CALL):  # the tokenizer's memory stays bounded too
            part = plans[at : at + WINDOWS_PER_CALL]
            enc = self.tok(
                texts[at : at + WINDOWS_PER_CALL],
                pairs[at : at + WINDOWS_PER_CALL] if pair else None,
                truncation=True,
                max_length=self.max_length,
                return_offsets_mapping=True,
            )
            inputs += [
                self._mask_one(enc, row, requests[n], windows, span_ids, n)
                for row, (n, windows, span_ids) in enumerate(part)
            ]
        return inputs

    def _mask_one(self, enc, row: int, request: MaskRequest, windows, span_ids: list[int], n: int) -> MaskedInput:
        """One tokenized window with each of its spans' tokens replaced by a single mask token."""
        spans = [(i, *request.spans[i]) for i in span_ids]
        seq = enc.sequence_ids(row)
        types = enc["token_type_ids"][row] if "token_type_ids" in enc else [0] * len(seq)
        ids, token_types, masks, done = [], [], [], set()
        for pos, (token, side) in enumerate(zip(enc["input_ids"][row], seq)):
            hit = None
            if side is not None:
                a, b = enc["offset_mapping"][row][pos]
                shift = windows[side][0]
                hit = next(
                    (i for i, s, start, end in spans if s == side and a + shift < end and b + shift > start), None
                )
            if hit is None:
                ids.append(token)
                token_types.append(types[pos])
            elif hit not in done:  # the span's first token becomes the mask; its other tokens go
                done.add(hit)
                masks.append((len(ids), hit))
                ids.append(self.tok.mask_token_id)
                token_types.append(types[pos])
        return MaskedInput(n, ids, token_types, masks)

    # ------------------------------------------------------------------------------------ per_word

    def find_slots(
        self, sources: Sequence[SourceExample], sides: list[list[int]], tokens: list[list[list[WordToken]]]
    ) -> list[list[Slot]]:
        # Stopword positions are masked only for sentences whose content words are too few for the ratio.
        wanted = []
        for s_idx, (src, sd, tok) in enumerate(zip(sources, sides, tokens)):
            texts = (src.text, src.text_pair or "")
            kinds = [
                (side, i, t, k)
                for side in sd
                for i, (t, k) in enumerate(zip(tok[side], self.word_kinds(texts[side], tok[side])))
            ]
            content = [(side, i, t) for side, i, t, k in kinds if k == "content"]
            n_words = sum(len(tok[side]) for side in sd)
            stops = (
                [(side, i, t) for side, i, t, k in kinds if k == "stopword"]
                if self.needs_stopwords(n_words, len(content))
                else []
            )
            wanted += [(s_idx, side, i, t, False) for side, i, t in content]
            wanted += [(s_idx, side, i, t, True) for side, i, t in stops]
        requests = [MaskRequest(sources[s_idx], [(side, t.start, t.end)]) for s_idx, side, _, t, _ in wanted]
        predictions = self._predict(requests)
        slots: list[list[Slot]] = [[] for _ in sources]
        for (s_idx, side, i, t, stop), (pred,) in zip(wanted, predictions):
            if pred is not None:
                cands = [c for c in pred["stopword" if stop else "content"] if c.lower() != t.text.lower()]
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
            kinds = [(side, i, kind) for side in sd for i, kind in enumerate(self.word_kinds(texts[side], tok[side]))]
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
            chosen_per_copy = []
            for p in pending:
                i = p.source
                n_words = sum(len(tokens[i][side]) for side in sides[i])
                chosen_per_copy.append(sorted(choose_positions(p.rng, self.ratio, n_words, content[i], stops[i])))
            requests = [
                MaskRequest(
                    sources[p.source],
                    [(s, tokens[p.source][s][w].start, tokens[p.source][s][w].end) for s, w in chosen],
                )
                for p, chosen in zip(pending, chosen_per_copy)
            ]
            predictions = self._predict(requests)
            drafts: list[Draft | None] = []
            for p, chosen, preds in zip(pending, chosen_per_copy, predictions):
                i, src = p.source, sources[p.source]
                new: list[dict[int, str]] = [{}, {}]
                for (side, w), top in zip(chosen, preds):
                    if top is None:
                        continue
                    word = tokens[i][side][w].text
                    kind = "stopword" if (side, w) in stops[i] else "content"
                    cands = [x for x in top[kind] if x.lower() != word.lower()][: self.top_m]
                    if cands:
                        new[side][w] = match_case(word, cands[p.rng.integers(len(cands))].lower())
                agree_articles((src.text, src.text_pair), new, tokens[i])
                texts = with_replacements((src.text, src.text_pair), new, tokens[i])
                drafts.append(Draft(texts, len(new[0]) + len(new[1])) if any(new) else None)
            return drafts

        eligible = [bool(c or st) for c, st in zip(content, stops)]
        return self.draw(
            sources, sides, draft, seed, together=True, max_attempts=self.MAX_ATTEMPTS_PER_COPY, eligible=eligible
        )


@dataclass(frozen=True)
class MaskRequest:
    """Word spans to mask in a source: (side, start, end) character offsets in its text or text_pair."""

    source: SourceExample
    spans: list[tuple[int, int, int]]


@dataclass
class MaskedInput:
    request: int  # which request it serves
    ids: list[int]
    types: list[int]
    masks: list[tuple[int, int]]  # (position of a mask token, the request's span it stands for)


WINDOW_SLACK = 4  # tokens kept free in a window: a text cut at a window's edge may tokenize a little longer


@dataclass(frozen=True)
class _Tokenized:
    """A text's tokens, by character offsets (with their starts and ends apart, for bisection)."""

    offsets: list[tuple[int, int]]
    starts: list[int]
    ends: list[int]


REQUESTS_PER_PASS = 2048  # masked inputs built and run at a time
HEAD_POSITIONS = 64  # mask positions through the vocabulary head at a time
WINDOWS_PER_CALL = 256  # windows tokenized in one call


def _windows(tok: _Tokenized, spans: list[tuple[int, int]], size: int):
    """Groups character spans into token windows of at most `size` tokens that each hold their spans
    with the text around them: yields ([span positions], (first token, end token)). Costs
    O(spans x log tokens): bisection in the text's token offsets, one pass over the spans in order."""
    starts, ends, n_tokens = tok.starts, tok.ends, len(tok.offsets)
    tokens = []  # each span's token range [first, end)
    for start, end in spans:
        first = min(bisect.bisect_right(ends, start), n_tokens - 1)
        tokens.append((first, max(bisect.bisect_left(starts, end), first + 1)))
    order = sorted(range(len(spans)), key=lambda i: tokens[i])
    group: list[int] = []
    lo = hi = 0
    for i in [*order, None]:
        if group and (i is None or max(hi, tokens[i][1]) - lo > size):
            around = max(size - (hi - lo), 0)
            a = max(0, min(lo - around // 2, n_tokens - size))
            yield group, (a, min(n_tokens, max(hi, a + size)))
            group = []
        if i is not None:
            if not group:
                lo, hi = tokens[i]
            group.append(i)
            hi = max(hi, tokens[i][1])


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
