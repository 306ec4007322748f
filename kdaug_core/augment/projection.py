"""Back from embedding space to text (AugPro's projection): a model's tokenizer and input-embedding table,
each perturbed position projected to its nearest allowed token by L2, and the copy rebuilt from the source
text with only the words whose tokens changed replaced."""

from __future__ import annotations

from bisect import bisect_right

from kdaug.core.augment.base import AugmentSpecError
from kdaug.core.models import load_pretrained, load_tokenizer, local_model_dir, pick_device
from kdaug.core.vocab import Vocabulary
from kdaug.core.words import word_tokens


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
