import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from kdaug.core.logits import entropy_of_logits
from kdaug.core.models import ModelError, pick_device
from kdaug.core.teacher import Teacher, TeacherError, TeacherSettings, resolve_teacher
from kdaug.core.teacher_batches import Encoder, pack_by_budget


def direct_logits(model_dir, texts, pairs=None, max_length=128):
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir)).eval()
    out = []
    with torch.no_grad():
        for i, t in enumerate(texts):
            enc = tok(t, pairs[i] if pairs else None, truncation=True, max_length=max_length, return_tensors="pt")
            out.append(model(**enc).logits[0].numpy())
    return np.stack(out)


def test_resolve_reads_labels_and_hashes_weights(tiny_teacher):
    info = resolve_teacher(str(tiny_teacher))
    assert info.id2label == {0: "negative", 1: "positive"} and info.num_labels == 2
    assert len(info.weights_sha256) == 64 and info.max_length == 128
    assert resolve_teacher(str(tiny_teacher)).weights_sha256 == info.weights_sha256


def test_resolve_fails_clearly(tmp_path, tiny_teacher):
    with pytest.raises(TeacherError, match="does not exist"):
        resolve_teacher(str(tmp_path / "missing"))
    with pytest.raises(TeacherError, match="neither a local model directory nor a hub model id"):
        resolve_teacher("no-such-org/no-such-model-kdaug")
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((tiny_teacher / "config.json").read_text())
    (pickled / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(TeacherError, match="only pickled weights"):
        resolve_teacher(str(pickled))
    with pytest.raises(TeacherError, match="exceeds"):
        resolve_teacher(str(tiny_teacher), max_length=4096)


def test_a_teacher_without_a_trained_classifier_is_refused_before_any_work(tmp_path, tiny_teacher):
    import shutil

    from safetensors.torch import load_file, save_file

    from kdaug.core.teacher import Teacher
    from tests.conftest import _build_tiny_bert

    encoder = _build_tiny_bert(tmp_path / "encoder", "BertModel", seed=0)  # BertConfig's default: 2 labels
    with pytest.raises(TeacherError, match=r"no trained weights for classifier\.bias, classifier\.weight \(a bare"):
        resolve_teacher(str(encoder))  # from the weights' headers, before anything is loaded
    # A head that is there but an encoder weight that is not: transformers would draw it at random too.
    partial = tmp_path / "partial"
    shutil.copytree(tiny_teacher, partial)
    weights = load_file(partial / "model.safetensors")
    gone = next(k for k in weights if "pooler" in k)
    save_file({k: v for k, v in weights.items() if k != gone}, partial / "model.safetensors", {"format": "pt"})
    assert resolve_teacher(str(partial)).num_labels == 2
    with pytest.raises(TeacherError, match=f"no trained weights for {gone}"):
        Teacher.load(TeacherSettings(str(partial), device="cpu"))
    assert Teacher.load(TeacherSettings(str(tiny_teacher), device="cpu")).model is not None


def test_labels_equal_a_direct_forward_pass_in_input_order(tiny_teacher):
    texts = ["short", "a much longer sentence about a film that goes on and on", "mid length text here", "x"]
    teacher = TeacherSettings(str(tiny_teacher), device="cpu", token_budget=40).load()
    labels = teacher.label(texts)
    assert torch.is_grad_enabled()  # labelling must not switch autograd off for the rest of the process
    assert labels.logits.dtype == np.float32 and labels.logits.shape == (4, 2)
    np.testing.assert_allclose(labels.logits, direct_logits(tiny_teacher, texts), atol=1e-5)
    assert list(labels.pred) == list(labels.logits.argmax(-1))
    assert not labels.truncated.any()


def test_the_token_budget_follows_the_device_unless_given(tiny_teacher):
    on_cpu = TeacherSettings(str(tiny_teacher), device="cpu").load()
    assert on_cpu.token_budget == Teacher.CPU_TOKEN_BUDGET < Teacher.GPU_TOKEN_BUDGET
    texts = [" ".join(["word"] * (5 + i % 40)) for i in range(3000)]
    padded = [batch["input_ids"].numel() for _, batch, _ in on_cpu.batches(texts)]
    assert max(padded) <= Teacher.CPU_TOKEN_BUDGET and sum(padded) >= sum(len(t.split()) for t in texts)
    assert TeacherSettings(str(tiny_teacher), device="cpu", token_budget=512).load().token_budget == 512


def test_long_texts_are_truncated_for_the_teacher_and_flagged(tiny_teacher):
    long = " ".join(["word"] * 300)
    teacher = TeacherSettings(str(tiny_teacher), device="cpu").load()
    labels = teacher.label(["fine", long])
    assert list(labels.truncated) == [False, True]
    np.testing.assert_allclose(labels.logits, direct_logits(tiny_teacher, ["fine", long]), atol=1e-5)


def test_sentence_pairs(tiny_pair_teacher):
    texts, pairs = ["a man sleeps", "the cat"], ["a person rests", "a dog barks loudly at night"]
    labels = TeacherSettings(str(tiny_pair_teacher), device="cpu").load().label(texts, pairs)
    np.testing.assert_allclose(labels.logits, direct_logits(tiny_pair_teacher, texts, pairs), atol=1e-5)


LONG = " ".join(["word"] * 40) + " the end"
TEXTS = ["a man sleeps", LONG, "the cat", "x", LONG + " again and again"]
PAIRS = ["a person rests", "y", LONG, "z " * 30, LONG]


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("paired", [False, True])
def test_encode_equals_the_tokenizer_call(tiny_pair_teacher, side, paired):
    tok = AutoTokenizer.from_pretrained(str(tiny_pair_teacher))
    tok.truncation_side = side
    pairs = PAIRS if paired else None
    whole = tok(TEXTS, pairs, truncation=False)
    cut = tok(TEXTS, pairs, truncation=True, max_length=16)
    fast = Encoder(tok, max_length=16)
    slow = Encoder(tok, max_length=16)
    slow._whole = None  # the path a tokenizer without a Rust backend takes
    for encoder in (fast, slow):
        features, truncated = encoder.encode(TEXTS, pairs)
        assert list(truncated) == [len(ids) > 16 for ids in whole["input_ids"]] and truncated.sum() >= 2
        assert [sorted(f) for f in features] == [sorted(cut.keys())] * len(TEXTS)
        for key in cut:
            assert [f[key] for f in features] == cut[key], key


def test_encode_is_safe_from_several_threads(tiny_teacher):
    """Beam shares one Teacher between a worker's threads; encoding long and short texts at once must
    give every thread what it would get alone (a shared, re-configured tokenizer did not)."""
    import threading

    teacher = TeacherSettings(str(tiny_teacher), device="cpu", max_length=16).load()
    inputs = [[f"{LONG} {i}", f"short {i}"] * 50 for i in range(4)]
    expected = [teacher.encode(texts) for texts in inputs]
    failures = []

    def encode_repeatedly(i):
        for _ in range(20):
            features, truncated = teacher.encode(inputs[i])
            if features != expected[i][0] or not np.array_equal(truncated, expected[i][1]):
                failures.append(i)
                return

    threads = [threading.Thread(target=encode_repeatedly, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == [] and expected[0][1].sum() == 50


@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_equals_the_tokenizers_own(tiny_pair_teacher, side):
    teacher = TeacherSettings(str(tiny_pair_teacher), device="cpu").load()
    teacher.tokenizer.padding_side = side
    texts, pairs = ["a man sleeps", "the cat", "x"], ["a person rests", "a dog barks loudly at night", "y z"]
    for features in (teacher.encode(texts)[0], teacher.encode(texts, pairs)[0]):
        ours = teacher.pad(features)
        theirs = teacher.tokenizer.pad(features, padding=True, return_tensors="pt")
        assert set(ours) == set(theirs) == {"input_ids", "token_type_ids", "attention_mask"}
        for key in theirs:
            assert ours[key].dtype == theirs[key].dtype and torch.equal(ours[key], theirs[key]), key
        assert ours["attention_mask"].sum() < ours["attention_mask"].numel()  # some padding was added


def test_pack_by_budget_respects_budget_and_batch_size():
    lengths = [5, 50, 6, 7, 48, 10]
    order = sorted(range(6), key=lambda i: lengths[i])
    batches = pack_by_budget(order, lengths, token_budget=100, max_batch=3)
    assert sorted(i for b in batches for i in b) == list(range(6))
    for b in batches:
        assert len(b) <= 3 and max(lengths[i] for i in b) * len(b) <= 100 or len(b) == 1


def test_pack_by_budget_caps_padding_once_a_batch_is_full_enough():
    rng = np.random.default_rng(0)
    lengths = list(rng.integers(4, 60, size=400))
    order = sorted(range(400), key=lambda i: lengths[i])
    batches = pack_by_budget(order, lengths, token_budget=100_000, max_batch=1000, max_padding=0.2, min_batch=8)
    assert sorted(i for b in batches for i in b) == list(range(400))
    real = sum(lengths)
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    assert padded <= 1.2 * real and len(batches) < 40  # little padding, still big batches
    one_batch = pack_by_budget(order, lengths, token_budget=100_000, max_batch=1000, max_padding=10.0)
    assert len(one_batch) == 1 and max(lengths) * 400 > 1.5 * real  # what the cap avoids


def test_entropy_matches_hand_computation():
    logits = np.array([[0.0, 0.0], [2.0, 0.0]], np.float32)
    p = np.exp(2) / (1 + np.exp(2))
    np.testing.assert_allclose(
        entropy_of_logits(logits), [np.log(2), -(p * np.log(p) + (1 - p) * np.log(1 - p))], rtol=1e-6
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown when no GPU is usable")
def test_asking_for_a_gpu_without_one_fails_clearly():
    with pytest.raises(ModelError, match="no usable CUDA GPU"):
        pick_device("cuda")
    assert pick_device("auto") == "cpu"
