"""Student models, each saved and loaded as a transformers-style directory (config.json +
model.safetensors + tokenizer files); nothing is pickled.

  bilstm[:hidden=300,embed_dim=300,embeddings=random|glove,max_vocab=50000]
      Tang et al. (2019): word embeddings, a BiLSTM, max-pooling over time, a 2-layer classifier.
      With embeddings=glove the table starts from GloVe 6B (its width, 50) where words are known.
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

from kdaug.core.errors import KdaugError

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import torch
from torch import nn

from kdaug.core.words import words

PAD, UNK, SEP = "[PAD]", "[UNK]", "[SEP]"
MARKER = "kdaug_student.json"


class StudentSpecError(KdaugError, ValueError):
    """A --student spec is invalid; the message says why."""


@dataclass
class StudentSpec:
    kind: str
    params: dict = field(default_factory=dict)

    DEFAULTS = {
        "bilstm": {"hidden": 300, "embed_dim": 300, "embeddings": "random", "max_vocab": 50000, "dropout": 0.1},
        "bert": {"layers": 4, "hidden": 256, "heads": 4, "intermediate": 1024},
        "bert_from_teacher": {"layers": 3},
        "hf": {"model": ""},
    }

    @classmethod
    def parse(cls, text: str) -> "StudentSpec":
        kind, _, rest = text.partition(":")
        if kind not in cls.DEFAULTS:
            raise StudentSpecError(f"unknown student {kind!r}; known: {sorted(cls.DEFAULTS)}")
        params = dict(cls.DEFAULTS[kind])
        for item in filter(None, rest.split(",")):
            key, eq, value = item.partition("=")
            if not eq or key not in params:
                raise StudentSpecError(f"--student {text!r}: {item!r} is not one of {sorted(params)}=VALUE")
            default = params[key]
            try:
                params[key] = type(default)(value)
            except ValueError:
                raise StudentSpecError(f"--student {text!r}: {key}={value!r} is not a {type(default).__name__}") from None
        if kind == "bilstm" and params["embeddings"] not in ("random", "glove"):
            raise StudentSpecError("bilstm: embeddings must be random or glove")
        if kind == "hf" and not params["model"]:
            raise StudentSpecError("hf: needs model=PATH_OR_HUB_ID (or model=minilm)")
        return cls(kind, params)


# ---------------------------------------------------------------------------------------------- BiLSTM

class WordTokenizer:
    """Lower-cased kdaug word tokens mapped to a fixed vocabulary; pairs joined by [SEP]."""

    def __init__(self, vocab: list[str], max_length: int = 128):
        self.vocab, self.max_length = vocab, max_length
        self.index = {w: i for i, w in enumerate(vocab)}

    @classmethod
    def build(cls, texts: Iterable[str], max_vocab: int, max_length: int = 128) -> "WordTokenizer":
        counts = Counter(w.lower() for t in texts for w in words(t))
        ranked = sorted(counts, key=lambda w: (-counts[w], w))[: max_vocab - 3]
        return cls([PAD, UNK, SEP] + ranked, max_length)

    def encode(self, texts: list[str], pairs: list[str | None] | None = None) -> dict[str, torch.Tensor]:
        seqs = []
        for i, t in enumerate(texts):
            ids = [self.index.get(w.lower(), 1) for w in words(t)]
            if pairs is not None and pairs[i] is not None:
                ids += [2] + [self.index.get(w.lower(), 1) for w in words(pairs[i])]
            seqs.append(ids[: self.max_length] or [1])
        longest = max(len(s) for s in seqs)
        input_ids = torch.zeros(len(seqs), longest, dtype=torch.long)
        for i, s in enumerate(seqs):
            input_ids[i, : len(s)] = torch.tensor(s)
        return {"input_ids": input_ids, "attention_mask": (input_ids != 0).long()}

    def save(self, directory: Path) -> None:
        (directory / "vocab.txt").write_text("\n".join(self.vocab) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, max_length: int = 128) -> "WordTokenizer":
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
    """A model and its tokenizer, with one forward over raw texts and save/load as a directory."""

    def __init__(self, kind: str, config: dict, model: nn.Module, tokenizer):
        super().__init__()
        self.kind, self.config, self.model, self.tokenizer = kind, config, model, tokenizer

    def encode(self, texts: list[str], pairs: list[str | None] | None = None) -> dict[str, torch.Tensor]:
        if self.kind == "bilstm":
            return self.tokenizer.encode(texts, pairs)
        has_pairs = pairs is not None and any(p is not None for p in pairs)
        return dict(self.tokenizer(texts, pairs if has_pairs else None, truncation=True,
                                   max_length=self.config.get("max_length", 128), padding=True, return_tensors="pt"))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.kind == "bilstm":
            return self.model(batch["input_ids"], batch["attention_mask"])
        return self.model(**batch).logits

    def save(self, directory: str | Path) -> None:
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / MARKER).write_text(json.dumps({"kind": self.kind, **self.config}, indent=2))
        if self.kind == "bilstm":
            save_file({k: v.contiguous() for k, v in self.model.state_dict().items()}, str(directory / "model.safetensors"))
            self.tokenizer.save(directory)
        else:  # a plain transformers directory: from_pretrained and kdaug materialize --teacher load it
            self.model.save_pretrained(directory, safe_serialization=True)
            self.tokenizer.save_pretrained(directory)


def build_student(spec: StudentSpec, id2label: dict[int, str], teacher: str | None,
                  train_texts: Iterable[str] | None = None, max_length: int = 128) -> Student:
    num_labels = len(id2label)
    p = spec.params
    if spec.kind == "bilstm":
        tokenizer = WordTokenizer.build(train_texts or [], p["max_vocab"], max_length)
        embed_dim = p["embed_dim"]
        vectors = None
        if p["embeddings"] == "glove":
            from kdaug.core.assets.embeddings import load_glove

            table = load_glove("glove")
            embed_dim = table.vectors.shape[1]
            vectors = table
        config = {"vocab_size": len(tokenizer.vocab), "embed_dim": embed_dim, "hidden": p["hidden"],
                  "num_labels": num_labels, "dropout": p["dropout"], "max_length": max_length,
                  "id2label": {str(k): v for k, v in id2label.items()}}
        model = BiLstmClassifier(len(tokenizer.vocab), embed_dim, p["hidden"], num_labels, p["dropout"])
        if vectors is not None:
            with torch.no_grad():
                for i, w in enumerate(tokenizer.vocab):
                    if w in vectors.index:
                        model.embed.weight[i] = torch.tensor(vectors.vectors[vectors.index[w]])
        return Student("bilstm", config, model, tokenizer)

    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, BertConfig, \
        BertForSequenceClassification

    labels = {"num_labels": num_labels, "id2label": id2label, "label2id": {v: k for k, v in id2label.items()}}
    if spec.kind == "hf":
        source = p["model"]
        if source == "minilm":
            from kdaug.core.assets.minilm import minilm_path

            source = str(minilm_path())
        model = AutoModelForSequenceClassification.from_pretrained(source, use_safetensors=True, **labels)
        return Student("hf", {"spec": p, "max_length": max_length, "id2label": {str(k): v for k, v in id2label.items()}},
                       model, AutoTokenizer.from_pretrained(source))
    if not teacher:
        raise StudentSpecError(f"{spec.kind} students use the teacher's tokenizer; the dataset names no teacher")
    tokenizer = AutoTokenizer.from_pretrained(teacher)
    if spec.kind == "bert":
        config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=p["hidden"], num_hidden_layers=p["layers"],
                            num_attention_heads=p["heads"], intermediate_size=p["intermediate"],
                            max_position_embeddings=max(512, max_length), **labels)
        model = BertForSequenceClassification(config)
    else:
        teacher_model = AutoModelForSequenceClassification.from_pretrained(teacher, use_safetensors=True)
        tconf = AutoConfig.from_pretrained(teacher)
        if tconf.model_type != "bert":
            raise StudentSpecError(f"bert_from_teacher needs a BERT teacher, not {tconf.model_type!r}")
        n = tconf.num_hidden_layers
        if not 1 <= p["layers"] <= n:
            raise StudentSpecError(f"bert_from_teacher: layers must be between 1 and the teacher's {n}")
        keep = [round(i * (n - 1) / max(p["layers"] - 1, 1)) for i in range(p["layers"])] if p["layers"] > 1 else [n - 1]
        config = BertConfig(**{**tconf.to_dict(), "num_hidden_layers": p["layers"], **labels})
        model = BertForSequenceClassification(config)
        model.bert.embeddings.load_state_dict(teacher_model.bert.embeddings.state_dict())
        for mine, theirs in enumerate(keep):
            model.bert.encoder.layer[mine].load_state_dict(teacher_model.bert.encoder.layer[theirs].state_dict())
        if teacher_model.bert.pooler is not None and model.bert.pooler is not None:
            model.bert.pooler.load_state_dict(teacher_model.bert.pooler.state_dict())
        p = {**p, "teacher_layers": keep}
    return Student(spec.kind, {"spec": p, "max_length": max_length,
                               "id2label": {str(k): v for k, v in id2label.items()}}, model, tokenizer)


def load_student(directory: str | Path) -> Student:
    from safetensors.torch import load_file

    directory = Path(directory)
    config = json.loads((directory / MARKER).read_text())
    kind = config.pop("kind")
    if kind == "bilstm":
        model = BiLstmClassifier(config["vocab_size"], config["embed_dim"], config["hidden"], config["num_labels"],
                                 config["dropout"])
        model.load_state_dict(load_file(str(directory / "model.safetensors")))
        return Student(kind, config, model, WordTokenizer.load(directory, config["max_length"]))
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(directory, use_safetensors=True)
    return Student(kind, config, model, AutoTokenizer.from_pretrained(directory))
