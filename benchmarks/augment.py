"""Augmentation throughput, side by side in one run on the same corpus (MR sentences), ratio and copies.

Masked LM, with a BERT-base-sized masked LM built from a config (random weights: speed only):
  - TinyBERT's per-word loop, reimplemented faithfully (data_augmentation.py): BERT's basic tokenizer,
    one full BertForMaskedLM forward per single-piece content word at batch size 1, argsort of the whole
    vocabulary, GloVe kNN for multi-piece words, then N copies replacing each candidate word with
    probability p (= the ratio);
  - nlpaug's ContextualWordEmbsAug (PyPI), given the same local model directory;
  - kdaug `mlm` in per_word and joint modes.
Synonym and kNN: examples per second on one core, and how that scales with copies.
AugPro (mix and FGSM, MiniLM with a seeded 2-class head): kdaug's projection, which scores each position
against the tokens it may become only (word starts or continuation pieces) and skips special and padding
positions, against the whole-vocabulary masked scoring it replaced (same copies, checked identical).

    python -m benchmarks.augment [--sentences 40] [--device cpu|cuda] [--only mlm,replacement,augpro]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, rounded, table, timed, write_results


def build_bert_base_mlm(dest: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    from kdaug.core.assets.minilm import minilm_path

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()))  # bert-base-uncased's WordPiece vocab
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size)  # the defaults are BERT-base: 12 x 768, 110M
    BertForMaskedLM(config).eval().save_pretrained(dest, safe_serialization=True)
    tokenizer.save_pretrained(dest)
    return dest


def mr_sentences(n: int) -> list[str]:
    from kdaug.core.assets.mr import fetch_mr

    with open(fetch_mr(), encoding="utf-8") as f:
        return [json.loads(line)["text"] for _, line in zip(range(n), f)]


# ---------------------------------------------------------------------------------- TinyBERT baseline


class TinyBertLoop:
    """TinyBERT's data_augmentation.py, faithfully: one forward per word, batch size 1, M=15."""

    def __init__(self, model_dir: Path, glove, device: str = "cpu", M: int = 15):
        import torch
        from transformers import BertForMaskedLM, BertTokenizer

        from kdaug.core.assets import load_stopwords

        self.torch = torch
        self.tokenizer = BertTokenizer.from_pretrained(str(model_dir))
        self.model = BertForMaskedLM.from_pretrained(str(model_dir)).to(device).eval()
        self.device, self.M = device, M
        self.stopwords = load_stopwords()
        self.glove_words = glove.words
        self.glove_index = glove.index
        self.glove_norm = glove.vectors / np.linalg.norm(glove.vectors, axis=1, keepdims=True)

    def _masked_language_model(self, words: list[str], mask_pos: int) -> list[str]:
        torch = self.torch
        pieces = [self.tokenizer.tokenize(w) for w in words]
        pieces[mask_pos] = ["[MASK]"]
        tokenized = ["[CLS]"] + [p for ps in pieces for p in ps][:510] + ["[SEP]"]
        mask_index = tokenized.index("[MASK]")
        ids = torch.tensor([self.tokenizer.convert_tokens_to_ids(tokenized)], device=self.device)
        segments = torch.zeros_like(ids)
        with torch.no_grad():
            predictions = self.model(ids, token_type_ids=segments).logits
        candidates = torch.argsort(predictions[0, mask_index], descending=True)[: self.M].tolist()
        return [w for w in self.tokenizer.convert_ids_to_tokens(candidates) if not w.startswith("##")]

    def _word_distance(self, word: str) -> list[str]:
        if word not in self.glove_index:
            return []
        dist = self.glove_norm @ self.glove_norm[self.glove_index[word]]
        return [self.glove_words[i] for i in np.argsort(-dist)[1 : self.M + 1]]

    def augment(self, sentence: str, copies: int, p: float, rng: random.Random) -> list[str]:
        # BERT's basic tokenizer (lower-casing, punctuation split): in transformers 5 it is the fast
        # tokenizer's normalizer + pre-tokenizer.
        backend = self.tokenizer.backend_tokenizer
        words = [w for w, _ in backend.pre_tokenizer.pre_tokenize_str(backend.normalizer.normalize_str(sentence))]
        candidates = {}
        for idx, word in enumerate(words):
            if word in self.stopwords or not word.isalpha():
                continue
            if len(self.tokenizer.tokenize(word)) == 1:
                candidates[idx] = self._masked_language_model(list(words), idx)
            else:
                candidates[idx] = self._word_distance(word)
        out = []
        for _ in range(copies):
            new = [
                rng.choice(candidates[i]) if i in candidates and candidates[i] and rng.random() < p else w
                for i, w in enumerate(words)
            ]
            out.append(" ".join(new))
        return out


# ------------------------------------------------------------------------------------ nlpaug baseline


def nlpaug_augmenter(model_dir: Path, ratio: float, device: str):
    import transformers

    # nlpaug 1.1.11 calls two private tokenizer methods that transformers 5 renamed; these adapters
    # call the public equivalents and change nothing else about its algorithm or speed.
    transformers.BertTokenizer._convert_token_to_id = lambda self, t: self.convert_tokens_to_ids(t)
    transformers.BertTokenizer._convert_id_to_token = lambda self, i: self.convert_ids_to_tokens(i)
    import nlpaug.augmenter.word as naw

    return naw.ContextualWordEmbsAug(model_path=str(model_dir), model_type="bert", aug_p=ratio, top_k=15, device=device)


# ------------------------------------------------------------------------------------------ running


def mean_ratio(sources: list[str], copies: list[list[str]]) -> float:
    """The baselines' real changed ratio, by kdaug's measure (they lower-case and re-space text, which
    the measure ignores; splitting "he's" into "he ' s" still counts, so this slightly overstates)."""
    from kdaug.core.shift import measure

    return float(np.mean([measure(s, c).ratio for s, cs in zip(sources, copies) for c in cs]))


def bench_mlm(n: int, copies: int, ratio: float, device: str, skip_nlpaug: bool) -> list[dict]:
    from kdaug.core.assets.embeddings import load_glove
    from kdaug.core.augment import build_augmenters, parse_augment_spec
    from kdaug.core.corpus import SourceExample

    texts = mr_sentences(n)
    sources = [SourceExample(str(i), t, None, None, "") for i, t in enumerate(texts)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_bert_base_mlm(Path(tmp) / "bert-base-mlm")
        for mode, precision in (("per_word", "fp32"), ("per_word", "auto"), ("joint", "fp32"), ("joint", "auto")):
            aug = build_augmenters(
                [
                    parse_augment_spec(
                        f"mlm:model={model_dir},ratio={ratio},copies={copies},"
                        f"mode={mode},device={device},precision={precision}"
                    )
                ]
            )[0]
            aug.setup()
            aug.augment_batch(sources[:4], seed=0)  # warm-up
            secs, res = timed(aug.augment_batch, sources, seed=0)
            made = [c for r in res for c in r.copies]
            rows.append(
                {
                    "method": f"kdaug mlm ({mode}, {str(aug.dtype).replace('torch.', '')})",
                    "seconds": secs,
                    "examples_per_s": n / secs,
                    "copies": len(made),
                    "mean_changed_ratio": float(np.mean([c.shift.ratio for c in made])),
                }
            )
        loop = TinyBertLoop(model_dir, load_glove("glove", limit=100_000), device)
        rng = random.Random(0)
        loop.augment(texts[0], copies, ratio, rng)  # warm-up
        secs, out = timed(lambda: [loop.augment(t, copies, ratio, rng) for t in texts])
        rows.append(
            {
                "method": "TinyBERT per-word loop",
                "seconds": secs,
                "examples_per_s": n / secs,
                "mean_changed_ratio": mean_ratio(texts, out),
            }
        )
        if not skip_nlpaug:
            aug = nlpaug_augmenter(model_dir, ratio, device)
            aug.augment(texts[:2])  # warm-up
            secs, out = timed(lambda: aug.augment([t for t in texts for _ in range(copies)]))
            rows.append(
                {
                    "method": "nlpaug ContextualWordEmbsAug",
                    "seconds": secs,
                    "examples_per_s": n / secs,
                    "mean_changed_ratio": mean_ratio(texts, [out[i * copies : (i + 1) * copies] for i in range(n)]),
                }
            )
    base = {r["method"]: r["examples_per_s"] for r in rows}
    for r in rows:
        r["vs_tinybert"] = r["examples_per_s"] / base["TinyBERT per-word loop"]
        if "nlpaug ContextualWordEmbsAug" in base:
            r["vs_nlpaug"] = r["examples_per_s"] / base["nlpaug ContextualWordEmbsAug"]
    return rows


def bench_replacement(n: int, ratio: float) -> list[dict]:
    import torch

    from kdaug.core.augment import build_augmenters, parse_augment_spec
    from kdaug.core.corpus import SourceExample

    torch.set_num_threads(1)
    texts = mr_sentences(n)
    rows = []
    for method in ("synonym", "knn"):
        for copies in (1, 4, 16):
            aug = build_augmenters([parse_augment_spec(f"{method}:ratio={ratio},copies={copies}")])[0]
            aug.setup()
            sources = [SourceExample(f"w{i}", t, None, None, "") for i, t in enumerate(texts)]
            aug.augment_batch(sources, seed=0)  # warm the per-word caches, as a long job would be
            sources = [SourceExample(str(i), t, None, None, "") for i, t in enumerate(texts)]
            secs, res = timed(aug.augment_batch, sources, seed=1, repeat=3)
            made = sum(len(r.copies) for r in res)
            rows.append(
                {
                    "method": method,
                    "copies": copies,
                    "examples_per_s_per_core": n / secs,
                    "copies_per_s_per_core": made / secs,
                }
            )
    return rows


SECTIONS = ("mlm", "replacement", "augpro")


def kept_results(name: str, only: list[str]) -> dict:
    """The last run's sections that this run does not redo (--only), each still with its own baseline."""
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        return {}
    last = json.loads(path.read_text())
    return {k: last[k] for k in SECTIONS if k in last and k not in only}


def whole_vocabulary_project(self, embeds, keep, continuation):
    """The projection as it was: every position (kept ones too) scored against the whole vocabulary,
    disallowed tokens masked to -inf afterwards."""
    import torch

    from kdaug.core.augment.projection import PROJECT_POSITIONS

    table = self.table.float()
    sq_norms = (table**2).sum(-1)
    flat, cont = embeds.reshape(-1, embeds.shape[-1]), continuation.reshape(-1)
    out = torch.empty(flat.shape[0], dtype=torch.long, device=embeds.device)
    for start in range(0, flat.shape[0], PROJECT_POSITIONS):
        scores = 2 * flat[start : start + PROJECT_POSITIONS].float() @ table.T - sq_norms
        allowed = torch.where(cont[start : start + PROJECT_POSITIONS, None], self.continuation_ok, self.word_start_ok)
        out[start : start + PROJECT_POSITIONS] = scores.masked_fill_(~allowed, float("-inf")).argmax(-1)
    return out.reshape(embeds.shape[:2]), keep


def augment_all(aug, batches) -> list:
    return [r for batch in batches for r in aug.augment_batch(batch, seed=1)]


def bench_augpro(n: int, copies: int, device: str) -> list[dict]:
    from unittest import mock

    import torch

    from benchmarks.labelling import minilm_teacher
    from kdaug.core.augment import build_augmenters, parse_augment_spec
    from kdaug.core.augment.projection import Projector
    from kdaug.core.corpus import SourceExample

    torch.set_num_threads(1)
    sources = [SourceExample(str(i), t, None, None, "") for i, t in enumerate(mr_sentences(n))]
    batches = [sources[k : k + 32] for k in range(0, n, 32)]  # materialize's batch of sources
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = minilm_teacher(Path(tmp) / "minilm-classifier")  # FGSM's gradient needs a classifier
        for spec in (f"augpro_mix:mu=0.5,copies={copies}", f"augpro_fgsm:copies={copies}"):
            aug = build_augmenters([parse_augment_spec(f"{spec},model={model_dir},device={device}")])[0]
            aug.setup()
            aug.augment_batch(sources[:4], seed=0)  # warm-up
            made = {}
            for projection in ("whole vocabulary, masked", "kdaug (per kind, kept positions skipped)"):
                if projection.startswith("whole"):
                    with mock.patch.object(Projector, "project", whole_vocabulary_project):
                        secs, res = timed(augment_all, aug, batches)
                else:
                    secs, res = timed(augment_all, aug, batches)
                made[projection] = [[c.text for c in r.copies] for r in res]
                method = spec.split(":")[0]
                rows.append({"method": method, "projection": projection, "seconds": secs, "sources_per_s": n / secs})
            if len(set(map(str, made.values()))) != 1:
                raise AssertionError(f"{spec}: the two projections made different copies")
            rows[-1]["speedup"] = rows[-2]["seconds"] / rows[-1]["seconds"]
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sentences", type=int, default=40, help="MR sentences for the masked-LM comparison")
    p.add_argument("--replacement-sentences", type=int, default=1000)
    p.add_argument("--copies", type=int, default=4)
    p.add_argument("--ratio", type=float, default=0.3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--skip-nlpaug", action="store_true")
    p.add_argument("--augpro-sentences", type=int, default=96)
    p.add_argument("--augpro-copies", type=int, default=8)
    p.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run ({', '.join(SECTIONS)}); the others keep their last results",
    )
    args = p.parse_args(argv)
    only = [s.strip() for s in args.only.split(",")]
    if not set(only) <= set(SECTIONS):
        p.error(f"--only: sections are {', '.join(SECTIONS)}, not {args.only!r}")

    name = "augment" if args.device == "cpu" else f"augment_{args.device.replace(':', '')}"
    results = {}
    if "mlm" in only:
        results["mlm"] = mlm = bench_mlm(args.sentences, args.copies, args.ratio, args.device, args.skip_nlpaug)
        print(
            f"\nMasked LM (BERT-base from a config), {args.sentences} MR sentences, ratio {args.ratio}, "
            f"{args.copies} copies, device {args.device}"
        )
        columns = ["method", "seconds", "examples_per_s", "vs_tinybert", "vs_nlpaug", "mean_changed_ratio"]
        print(table(rounded(mlm), columns))
    if "replacement" in only:
        results["replacement"] = replacement = bench_replacement(args.replacement_sentences, args.ratio)
        print(f"\nSynonym and kNN, {args.replacement_sentences} MR sentences, one core")
        print(table(rounded(replacement), ["method", "copies", "examples_per_s_per_core", "copies_per_s_per_core"]))
    if "augpro" in only:
        results["augpro"] = augpro = bench_augpro(args.augpro_sentences, args.augpro_copies, args.device)
        print(f"\nAugPro projection, {args.augpro_sentences} MR sentences, {args.augpro_copies} copies, one thread")
        print(table(rounded(augpro), ["method", "projection", "seconds", "sources_per_s", "speedup"]))
    path = write_results(name, {**kept_results(name, only), "settings": vars(args), **results})
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
