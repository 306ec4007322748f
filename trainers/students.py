"""Student models, each saved and loaded as a transformers-style directory (config.json +
model.safetensors + tokenizer files); nothing is pickled.

  bilstm[:hidden=300,embed_dim=300,embeddings=random|glove,max_vocab=50000]
      Tang et al. (2019): word embeddings, a BiLSTM, max-pooling over time, a 2-layer classifier.
      With embeddings=glove the table starts from GloVe 6B (its width, 50) where words are known, and the
      vocabulary adds GloVe's most frequent words to the training words, up to max_vocab.
  bert[:layers=4,hidden=256,heads=4,intermediate=1024]
      a small BERT built from a config, using the teacher's tokenizer.
  bert_from_teacher[:layers=3]
      DistilBERT-style: the teacher's embeddings and an evenly spaced subset of its layers.
  hf:model=PATH_OR_HUB_ID
      any pretrained transformers encoder with a new classification head (`model=minilm` is the packaged
      all-MiniLM-L6-v2): how `kdaug finetune` trains a teacher. Saved so that from_pretrained (and so
      `kdaug materialize --teacher DIR`) loads it directly.
"""

from __future__ import annotations

import json
import logging
from abc import abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kdaug.core.errors import KdaugError
from kdaug.core.flags import given
from kdaug.core.models import load_pretrained, load_tokenizer
from kdaug.core.words import words

log = logging.getLogger("kdaug")

PAD, UNK, SEP = "[PAD]", "[UNK]", "[SEP]"
MARKER = "kdaug_student.json"


class StudentSpecError(KdaugError, ValueError):
    """A --student spec is invalid; the message says why."""


@dataclass
class StudentSpec:
    kind: str
    params: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> StudentSpec:
        name, _, rest = text.partition(":")
        if name not in KINDS:
            raise StudentSpecError(f"unknown student {name!r}; known: {sorted(KINDS)}")
        kind = KINDS[name]
        params = dict(kind.defaults)
        for item in filter(None, rest.split(",")):
            key, eq, value = item.partition("=")
            if not eq or key not in params:
                raise StudentSpecError(f"{given('student', text)}: {item!r} is not one of {sorted(params)}=VALUE")
            default = params[key]
            try:
                params[key] = type(default)(value)
            except ValueError:
                raise StudentSpecError(
                    f"{given('student', text)}: {key}={value!r} is not a {type(default).__name__}"
                ) from None
        if kind.check is not None and (problem := kind.check(params)):
            raise StudentSpecError(f"{name}: {problem}")
        return cls(name, params)

    @property
    def learning_rate(self) -> float:
        return KINDS[self.kind].learning_rate


# ---------------------------------------------------------------------------------------------- BiLSTM


class WordTokenizer:
    """Lower-cased kdaug word tokens mapped to a fixed vocabulary; pairs joined by [SEP]."""

    def __init__(self, vocab: list[str], max_length: int = 128):
        self.vocab, self.max_length = vocab, max_length
        self.index = {w: i for i, w in enumerate(vocab)}

    @classmethod
    def build(cls, texts: Iterable[str], max_vocab: int, max_length: int = 128) -> WordTokenizer:
        counts = Counter(w.lower() for t in texts for w in words(t))
        ranked = sorted(counts, key=lambda w: (-counts[w], w))[: max_vocab - 3]
        return cls([PAD, UNK, SEP] + ranked, max_length)

    def encode(self, texts: list[str], pairs: list[str | None] | None = None) -> dict[str, torch.Tensor]:
        seqs = []
        for i, t in enumerate(texts):
            ids = [self.index.get(w.lower(), 1) for w in words(t)]
            pair = pairs[i] if pairs is not None else None
            if pair is not None:
                ids += [2] + [self.index.get(w.lower(), 1) for w in words(pair)]
            seqs.append(ids[: self.max_length] or [1])
        longest = max(len(s) for s in seqs)
        input_ids = torch.zeros(len(seqs), longest, dtype=torch.long)
        for i, s in enumerate(seqs):
            input_ids[i, : len(s)] = torch.tensor(s)
        return {"input_ids": input_ids, "attention_mask": (input_ids != 0).long()}

    def save(self, directory: Path) -> None:
        (directory / "vocab.txt").write_text("\n".join(self.vocab) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, max_length: int = 128) -> WordTokenizer:
        return cls((directory / "vocab.txt").read_text(encoding="utf-8").splitlines(), max_length)


class BiLstmClassifier(nn.Module):
    def __init__(self, vocab_size: int, embed_dim: int, hidden: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.lstm = nn.LSTM(embed_dim, hidden, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, num_labels))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.dropout(self.embed(input_ids))
        lengths = attention_mask.sum(1).clamp_min(1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=input_ids.shape[1])
        out = out.masked_fill(~attention_mask.bool()[..., None], float("-inf")).max(1).values
        return self.head(self.dropout(out))


# -------------------------------------------------------------------------------------------- students


class Student(nn.Module):
    """A model and its tokenizer: one forward over raw texts, and save/load as a directory."""

    def __init__(self, kind: str, config: dict, model: nn.Module, tokenizer: Any):
        super().__init__()
        self.kind, self.config, self.model, self.tokenizer = kind, config, model, tokenizer

    @abstractmethod
    def encode(self, texts: list[str], pairs: list[str | None] | None = None) -> dict[str, torch.Tensor]:
        """Texts (and second sentences) -> the model's input tensors."""

    @abstractmethod
    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Input tensors -> logits [batch, labels]."""

    def save(self, directory: str | Path) -> None:
        """The config and the weights; a quantized student's latent float weights (its config says how
        they are quantized again on load)."""
        from kdaug.trainers.quantize import latent_weights

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / MARKER).write_text(json.dumps({"kind": self.kind, **self.config}, indent=2))
        with latent_weights(self.model):
            self.save_weights(directory)

    @abstractmethod
    def save_weights(self, directory: Path) -> None:
        """The model and tokenizer files (safetensors, never pickled)."""


class BiLstmStudent(Student):
    def encode(self, texts, pairs=None):
        return self.tokenizer.encode(texts, pairs)

    def forward(self, batch):
        return self.model(batch["input_ids"], batch["attention_mask"])

    def save_weights(self, directory: Path) -> None:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in self.model.state_dict().items()}, str(directory / "model.safetensors"))
        self.tokenizer.save(directory)

    @classmethod
    def load(cls, directory: Path, config: dict) -> Student:
        from safetensors.torch import load_file

        model = BiLstmClassifier(
            config["vocab_size"], config["embed_dim"], config["hidden"], config["num_labels"], config["dropout"]
        )
        model.load_state_dict(load_file(str(directory / "model.safetensors")))
        return cls("bilstm", config, model, WordTokenizer.load(directory, config["max_length"]))


def encode_with(tokenizer, texts, pairs, max_length: int, tensors: str = "pt") -> dict:
    """A transformers tokenizer's batch: texts (and their pairs, where any has one), cut to max_length,
    padded to the longest; `tensors` "pt" (torch) or "np" (an exported model's runtime)."""
    has_pairs = pairs is not None and any(p is not None for p in pairs)
    return dict(
        tokenizer(
            texts,
            pairs if has_pairs else None,
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors=tensors,
        )
    )


class TransformersStudent(Student):
    """Any transformers sequence classifier; saved as a plain transformers directory, so from_pretrained
    and `kdaug materialize --teacher DIR` load it."""

    model: Any  # a transformers PreTrainedModel (save_pretrained, .logits), which nn.Module's typing hides

    def encode(self, texts, pairs=None):
        return encode_with(self.tokenizer, texts, pairs, self.config.get("max_length", 128))

    def forward(self, batch):
        return self.model(**batch).logits

    def save_weights(self, directory: Path) -> None:
        self.model.save_pretrained(directory, safe_serialization=True)
        self.tokenizer.save_pretrained(directory)

    @classmethod
    def load(cls, directory: Path, config: dict, kind: str = "hf") -> Student:
        from transformers import AutoModelForSequenceClassification

        model = load_pretrained(AutoModelForSequenceClassification, directory)
        return cls(kind, config, model, load_tokenizer(directory))


def _label_config(id2label: dict[int, str]) -> dict:
    return {"num_labels": len(id2label), "id2label": id2label, "label2id": {v: k for k, v in id2label.items()}}


def _build_bilstm(
    p: dict, id2label: dict[int, str], teacher: str | None, train_texts: Iterable[str], max_length: int
) -> Student:
    tokenizer = WordTokenizer.build(train_texts, p["max_vocab"], max_length)
    embed_dim = p["embed_dim"]
    vectors = None
    if p["embeddings"] == "glove":
        from kdaug.core.assets.embeddings import load_glove

        vectors = load_glove("glove")
        embed_dim = vectors.vectors.shape[1]
        # Up to max_vocab, GloVe's most frequent words join the training words: a word first met at test
        # time then keeps its GloVe vector instead of becoming [UNK], which is what GloVe is there for
        # on a small training set.
        known = set(tokenizer.vocab)
        extra = [w for w in vectors.words[: p["max_vocab"]] if w not in known]
        tokenizer = WordTokenizer(tokenizer.vocab + extra[: max(0, p["max_vocab"] - len(tokenizer.vocab))], max_length)
    config = {
        "vocab_size": len(tokenizer.vocab),
        "embed_dim": embed_dim,
        "hidden": p["hidden"],
        "num_labels": len(id2label),
        "dropout": p["dropout"],
        "max_length": max_length,
        "id2label": {str(k): v for k, v in id2label.items()},
    }
    model = BiLstmClassifier(len(tokenizer.vocab), embed_dim, p["hidden"], len(id2label), p["dropout"])
    if vectors is not None:
        with torch.no_grad():
            # Words GloVe lacks start at GloVe's own scale (Kim 2014): nn.Embedding's N(0, 1) is several
            # times larger, and such rows made some seeds' students far worse than others'.
            model.embed.weight.normal_(0.0, float(vectors.vectors.std()))
            # [PAD] and [UNK] are zero: training text has no [UNK] (every word is in the vocabulary), so a
            # random [UNK] row would stay untrained noise in every test sentence with an unknown word.
            model.embed.weight[:2] = 0.0
            rows = [(i, vectors.index[w]) for i, w in enumerate(tokenizer.vocab) if w in vectors.index]
            if rows:
                mine, theirs = zip(*rows)
                model.embed.weight[list(mine)] = torch.from_numpy(vectors.vectors[list(theirs)])
    return BiLstmStudent("bilstm", config, model, tokenizer)


def _transformers_student(kind: str, p: dict, id2label: dict[int, str], max_length: int, model, tokenizer) -> Student:
    config = {"spec": p, "max_length": max_length, "id2label": {str(k): v for k, v in id2label.items()}}
    return TransformersStudent(kind, config, model, tokenizer)


def _build_hf(
    p: dict, id2label: dict[int, str], teacher: str | None, train_texts: Iterable[str], max_length: int
) -> Student:
    from transformers import AutoModelForSequenceClassification

    source = p["model"]
    if source == "minilm":
        from kdaug.core.assets.minilm import minilm_path

        source = str(minilm_path())
    model, loading = load_pretrained(
        AutoModelForSequenceClassification, source, output_loading_info=True, **_label_config(id2label)
    )
    if loading.get("missing_keys"):  # expected: the encoder's new classification head, trained from here
        log.info(
            "student hf:model=%s: a new %d-class head (%s) on its encoder, trained from scratch",
            p["model"],
            len(id2label),
            ", ".join(sorted(loading["missing_keys"])),
        )
    return _transformers_student("hf", p, id2label, max_length, model, load_tokenizer(source))


def _named_teacher(kind: str, teacher: str | None) -> str:
    if not teacher:
        raise StudentSpecError(f"{kind} students use the teacher's tokenizer; the dataset names no teacher")
    return teacher


def _teacher_tokenizer(kind: str, teacher: str | None):
    return load_tokenizer(_named_teacher(kind, teacher))


def _build_bert(
    p: dict, id2label: dict[int, str], teacher: str | None, train_texts: Iterable[str], max_length: int
) -> Student:
    from transformers import BertConfig, BertForSequenceClassification

    tokenizer = _teacher_tokenizer("bert", teacher)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=p["hidden"],
        num_hidden_layers=p["layers"],
        num_attention_heads=p["heads"],
        intermediate_size=p["intermediate"],
        max_position_embeddings=max(512, max_length),
        **_label_config(id2label),
    )
    return _transformers_student("bert", p, id2label, max_length, BertForSequenceClassification(config), tokenizer)


def _build_bert_from_teacher(
    p: dict, id2label: dict[int, str], teacher: str | None, train_texts: Iterable[str], max_length: int
) -> Student:
    from transformers import AutoConfig, AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification

    teacher = _named_teacher("bert_from_teacher", teacher)
    tokenizer = load_tokenizer(teacher)
    teacher_model = load_pretrained(AutoModelForSequenceClassification, teacher)
    tconf = AutoConfig.from_pretrained(teacher)
    if tconf.model_type != "bert":
        raise StudentSpecError(f"bert_from_teacher needs a BERT teacher, not {tconf.model_type!r}")
    n = tconf.num_hidden_layers
    if not 1 <= p["layers"] <= n:
        raise StudentSpecError(f"bert_from_teacher: layers must be between 1 and the teacher's {n}")
    keep = [round(i * (n - 1) / max(p["layers"] - 1, 1)) for i in range(p["layers"])] if p["layers"] > 1 else [n - 1]
    config = BertConfig(**{**tconf.to_dict(), "num_hidden_layers": p["layers"], **_label_config(id2label)})
    model = BertForSequenceClassification(config)
    model.bert.embeddings.load_state_dict(teacher_model.bert.embeddings.state_dict())
    for mine, theirs in enumerate(keep):
        model.bert.encoder.layer[mine].load_state_dict(teacher_model.bert.encoder.layer[theirs].state_dict())
    if teacher_model.bert.pooler is not None and model.bert.pooler is not None:
        model.bert.pooler.load_state_dict(teacher_model.bert.pooler.state_dict())
    return _transformers_student(
        "bert_from_teacher", {**p, "teacher_layers": keep}, id2label, max_length, model, tokenizer
    )


def _check_bilstm(p: dict) -> str | None:
    return None if p["embeddings"] in ("random", "glove") else "embeddings must be random or glove"


def _check_hf(p: dict) -> str | None:
    return None if p["model"] else "needs model=PATH_OR_HUB_ID (or model=minilm)"


@dataclass(frozen=True)
class StudentKind:
    """One kind of student: its spec's parameters with their defaults, its AdamW learning rate, and how
    to build a fresh one and load a saved one."""

    name: str
    defaults: dict
    learning_rate: float
    build: Callable[..., Student]  # (params, id2label, teacher, train_texts, max_length) -> Student
    load: Callable[[Path, dict], Student]  # (directory, saved config) -> Student
    check: Callable[[dict], str | None] | None = None  # params -> what is wrong, or None


def _load_transformers(kind: str) -> Callable[[Path, dict], Student]:
    return lambda directory, config: TransformersStudent.load(directory, config, kind)


KINDS: dict[str, StudentKind] = {
    k.name: k
    for k in (
        StudentKind(
            "bilstm",
            {"hidden": 300, "embed_dim": 300, "embeddings": "random", "max_vocab": 50000, "dropout": 0.1},
            2e-3,
            _build_bilstm,
            BiLstmStudent.load,
            _check_bilstm,
        ),
        StudentKind(
            "bert",
            {"layers": 4, "hidden": 256, "heads": 4, "intermediate": 1024},
            1e-4,
            _build_bert,
            _load_transformers("bert"),
        ),
        StudentKind(
            "bert_from_teacher", {"layers": 3}, 1e-4, _build_bert_from_teacher, _load_transformers("bert_from_teacher")
        ),
        StudentKind("hf", {"model": ""}, 5e-5, _build_hf, _load_transformers("hf"), _check_hf),
    )
}


def build_student(
    spec: StudentSpec,
    id2label: dict[int, str],
    teacher: str | None,
    train_texts: Iterable[str] | None = None,
    max_length: int = 128,
    quantize: dict | None = None,
) -> Student:
    """A new student; `quantize` ({"bits": 8|4|2, "activations": bool}) makes it quantization-aware."""
    student = KINDS[spec.kind].build(spec.params, id2label, teacher, train_texts or [], max_length)
    if quantize:
        student.config["quantize"] = dict(quantize)
    return _quantized(student)


def load_student(directory: str | Path) -> Student:
    directory = Path(directory)
    config = json.loads((directory / MARKER).read_text())
    kind = config.pop("kind")
    return _quantized(KINDS[kind].load(directory, config))


def _quantized(student: Student) -> Student:
    """The student with its weights fake-quantized as its config says (trainers/quantize.py)."""
    setting = student.config.get("quantize")
    if setting:
        from kdaug.trainers.quantize import quantize

        quantize(student.model, int(setting["bits"]), bool(setting.get("activations")))
    return student
