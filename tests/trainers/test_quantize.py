import pytest
import torch
from safetensors.torch import load_file

from kdaug.cli import main as kdaug
from kdaug.trainers.quantize import latent_weights, packed_bytes, quantize
from kdaug.trainers.students import StudentSpec, build_student, load_student
from kdaug.trainers.train import train
from tests.trainers.test_train import config

LABELS = {0: "negative", 1: "positive"}
TEXTS = ["a wonderful film", "a dull and lifeless story", "great acting"]


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_weights_take_at_most_2_to_the_bits_minus_1_levels_per_channel(bits):
    torch.manual_seed(0)
    model = quantize(torch.nn.Sequential(torch.nn.Linear(64, 8), torch.nn.LSTM(8, 4, bidirectional=True)), bits)
    for weight in (model[0].weight, model[1].weight_ih_l0, model[1].weight_hh_l0_reverse):
        levels = max(len(torch.unique(row)) for row in weight.detach())
        assert 2 < levels <= 2**bits - 1  # 2 bits: -s, 0, +s (ternary)
        scale = weight.detach().abs().amax(dim=1, keepdim=True) / (2 ** (bits - 1) - 1)
        assert torch.allclose(weight.detach() / scale, torch.round(weight.detach() / scale), atol=1e-4)


def test_the_gradient_passes_straight_through_the_rounding():
    torch.manual_seed(0)
    layer = quantize(torch.nn.Linear(16, 4), 4)
    x = torch.randn(5, 16)
    layer(x).pow(2).sum().backward()
    latent = layer.parametrizations.weight.original
    effective = layer.weight.detach().requires_grad_()  # the quantized weight, as a leaf
    torch.nn.functional.linear(x, effective, layer.bias).pow(2).sum().backward()
    torch.testing.assert_close(latent.grad, effective.grad)  # d loss / d latent = d loss / d quantized
    assert latent.grad.abs().sum() > 0


@pytest.mark.parametrize("spec", ["bilstm:hidden=16,embed_dim=8", "bert:layers=1,hidden=32,heads=2,intermediate=64"])
def test_a_quantized_student_saves_its_latent_weights_and_loads_quantized_again(tmp_path, tiny_teacher, spec):
    torch.manual_seed(0)
    student = build_student(StudentSpec.parse(spec), LABELS, str(tiny_teacher), TEXTS, quantize={"bits": 4})
    student.eval()
    student.save(tmp_path / "s")
    saved = load_file(str(next((tmp_path / "s").glob("*.safetensors"))))
    assert not any("parametrizations" in k for k in saved)  # plain names: any loader reads the file
    with latent_weights(student.model):
        latent = dict(student.model.state_dict())
    assert all(torch.equal(latent[k], v) for k, v in saved.items() if k in latent)
    loaded = load_student(tmp_path / "s").eval()
    assert loaded.config["quantize"] == {"bits": 4}
    with torch.inference_mode():
        torch.testing.assert_close(loaded(loaded.encode(TEXTS)), student(student.encode(TEXTS)))
    assert packed_bytes(loaded.model, 4) < sum(4 * p.numel() for p in loaded.parameters()) / 2


def test_a_quantized_distill_run_resumes_exactly_after_a_kill(tiny_dataset, tmp_path):
    settings = dict(quantize=2, quantize_activations=True)
    whole = train(config(tiny_dataset, tmp_path / "whole", **settings), progress=False)
    first = train(config(tiny_dataset, tmp_path / "killed", stop_after_steps=7, **settings), progress=False)
    assert first["stopped_early"]
    resumed = train(config(tiny_dataset, tmp_path / "killed", **settings), progress=False)
    assert resumed["history"] == whole["history"]
    best = load_student(tmp_path / "killed" / "best")
    assert best.config["quantize"] == {"bits": 2, "activations": True}
    assert max(len(torch.unique(row)) for row in best.model.head[0].weight.detach()) <= 3


def test_the_quantize_flag_is_checked_before_any_work(tiny_dataset, tmp_path, capsys):
    data, heldout = tiny_dataset
    base = ["distill", "--data", str(data), "--student", "bilstm", "--eval", str(heldout), "--output", str(tmp_path)]
    assert kdaug([*base, "--quantize", "3"]) == 2
    assert "--quantize takes 8, 4 or 2 bits" in capsys.readouterr().err
    assert kdaug([*base, "--quantize-activations"]) == 2
    assert "--quantize-activations needs --quantize" in capsys.readouterr().err
    assert not (tmp_path / "metrics.json").exists()


@pytest.mark.parametrize(("bits", "int8_file"), [(8, True), (2, False)])
def test_a_quantized_student_exports_its_quantized_weights(tmp_path, tiny_teacher, bits, int8_file):
    from kdaug.trainers.export import export_onnx
    from kdaug.trainers.inference import load_model

    torch.manual_seed(0)
    spec = StudentSpec.parse("bert:layers=1,hidden=32,heads=2,intermediate=64")
    build_student(spec, LABELS, str(tiny_teacher), TEXTS, quantize={"bits": bits}).save(tmp_path / "s")
    float_export = export_onnx(tmp_path / "s", tmp_path / "e")
    assert float_export["int8"] == int8_file  # 8 bits: stored as int8 without being asked
    low_bit = float_export["quantization_aware"]
    student = load_student(tmp_path / "s").eval()
    float_bytes = sum(4 * p.numel() for p in student.parameters())
    assert low_bit["bits"] == bits and low_bit["packed_bytes"] < float_bytes * (bits + 2) / 32
    with torch.inference_mode():
        expected = student(student.encode(TEXTS)).numpy()
    got = load_model(tmp_path / "e").logits(TEXTS)
    assert abs(got - expected).max() < (0.01 if int8_file else 1e-4)
