import pytest
import torch

from kdaug.trainers.students import StudentSpec, StudentSpecError, build_student, load_student

LABELS = {0: "negative", 1: "positive"}
TEXTS = ["a wonderful film", "a dull and lifeless story", "great acting"]


@pytest.mark.parametrize(
    "spec",
    [
        "bilstm:hidden=16,embed_dim=8",
        "bilstm:hidden=8,embeddings=glove",
        "bert:layers=1,hidden=32,heads=2,intermediate=64",
        "bert_from_teacher:layers=1",
    ],
)
def test_each_student_trains_saves_and_loads(tmp_path, tiny_teacher, spec):
    torch.manual_seed(0)
    student = build_student(StudentSpec.parse(spec), LABELS, str(tiny_teacher), TEXTS)
    batch = student.encode(TEXTS, [None] * 3)
    logits = student(batch)
    assert logits.shape == (3, 2)
    logits.sum().backward()  # trainable end to end
    student.eval()
    before = student(student.encode(TEXTS))
    student.save(tmp_path / "s")
    assert (tmp_path / "s" / "kdaug_student.json").is_file()
    assert not list(tmp_path.rglob("*.bin")) and not list(tmp_path.rglob("*.pt"))  # safetensors only
    loaded = load_student(tmp_path / "s").eval()
    torch.testing.assert_close(loaded(loaded.encode(TEXTS)), before)


def test_hf_student_saves_as_a_directory_materialize_can_use_as_teacher(tmp_path, tiny_teacher):
    from kdaug.core.teacher import resolve_teacher

    student = build_student(StudentSpec.parse(f"hf:model={tiny_teacher}"), {0: "neg", 1: "pos"}, None)
    student.save(tmp_path / "t")
    info = resolve_teacher(str(tmp_path / "t"))
    assert info.id2label == {0: "neg", 1: "pos"} and len(info.weights_sha256) == 64


def test_glove_initialised_embeddings(tiny_teacher):
    from kdaug.core.assets.embeddings import load_glove

    texts = TEXTS + ["zqxwv blorptastic"]

    student = build_student(StudentSpec.parse("bilstm:hidden=8,embeddings=glove"), LABELS, None, texts)
    glove = load_glove("glove")
    i = student.tokenizer.index["wonderful"]
    torch.testing.assert_close(student.model.embed.weight[i], torch.tensor(glove.vectors[glove.index["wonderful"]]))
    # Words GloVe lacks (and [SEP]) start at GloVe's scale, not nn.Embedding's N(0, 1); [PAD] and [UNK] are zero.
    unknown = [j for j, w in enumerate(student.tokenizer.vocab) if j > 1 and w not in glove.index]
    assert len(unknown) >= 2
    spread = student.model.embed.weight[unknown].std().item()
    assert abs(spread - float(glove.vectors.std())) < 0.25, spread
    assert student.model.embed.weight[:2].abs().sum().item() == 0.0
    # GloVe's frequent words join the vocabulary, so a word first seen at test time keeps its vector.
    assert "dreadful" not in " ".join(texts) and len(student.tokenizer.vocab) == 50000
    j = student.tokenizer.index["dreadful"]
    torch.testing.assert_close(student.model.embed.weight[j], torch.tensor(glove.vectors[glove.index["dreadful"]]))
    assert student.tokenizer.encode(["a dreadful film"])["input_ids"][0, 1].item() == j


def test_bert_from_teacher_copies_chosen_layers(tiny_teacher):
    from transformers import AutoModelForSequenceClassification

    teacher = AutoModelForSequenceClassification.from_pretrained(str(tiny_teacher))
    student = build_student(StudentSpec.parse("bert_from_teacher:layers=1"), LABELS, str(tiny_teacher))
    assert student.config["spec"]["teacher_layers"] == [1]
    torch.testing.assert_close(
        student.model.bert.encoder.layer[0].attention.self.query.weight,
        teacher.bert.encoder.layer[1].attention.self.query.weight,
    )


def test_bad_specs():
    with pytest.raises(StudentSpecError, match="unknown student"):
        StudentSpec.parse("gpt")
    with pytest.raises(StudentSpecError, match="not one of"):
        StudentSpec.parse("bilstm:width=3")
    with pytest.raises(StudentSpecError, match="not a int"):
        StudentSpec.parse("bilstm:hidden=big")


def test_every_student_kind_declares_its_learning_rate_and_defaults():
    from kdaug.trainers.students import KINDS

    assert set(KINDS) == {"bilstm", "bert", "bert_from_teacher", "hf"}
    assert StudentSpec.parse("bilstm").learning_rate == 2e-3
    assert StudentSpec.parse("hf:model=x").learning_rate == 5e-5
    assert StudentSpec.parse("bert").params == KINDS["bert"].defaults
    with pytest.raises(StudentSpecError, match="embeddings must be random or glove"):
        StudentSpec.parse("bilstm:embeddings=word2vec")
    with pytest.raises(StudentSpecError, match="hf: needs model="):
        StudentSpec.parse("hf")


def test_a_new_head_is_said_once_in_kdaugs_words_not_as_transformers_missing_table(tmp_path, capfd, caplog):
    import logging

    from kdaug.trainers.students import StudentSpec, build_student
    from tests.conftest import _build_tiny_bert

    encoder = _build_tiny_bert(tmp_path / "encoder", "BertModel", 0)  # an encoder without a task head
    with caplog.at_level(logging.INFO, logger="kdaug"):
        student = build_student(StudentSpec.parse(f"hf:model={encoder}"), {0: "neg", 1: "pos"}, None, [], 32)
    printed = capfd.readouterr()
    assert "MISSING" not in printed.err + printed.out and "Loading weights" not in printed.err
    (said,) = [r.getMessage() for r in caplog.records if "head" in r.getMessage()]
    assert "a new 2-class head (classifier.bias, classifier.weight)" in said
    with torch.no_grad():
        assert student(student.encode(["a fine film"], [None])).shape == (1, 2)
