import pytest

from kdaug.core import precision
from kdaug.core.precision import resolve_precision, torch_dtype


def test_one_rule_for_every_model(monkeypatch):
    import torch

    assert resolve_precision("fp16", "cpu") == "fp16" and resolve_precision("fp32", "cuda") == "fp32"
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision("auto", "cpu") == "fp32"  # the teacher: exact logits on a CPU
    assert resolve_precision("auto", "cpu", half_on_cpu=True) == "bf16"  # the masked LM: a ranking
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto", "cpu", half_on_cpu=True) == "fp32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert resolve_precision("auto", "cuda:0") == "fp16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert resolve_precision("auto", "cuda") == "bf16"
    assert torch_dtype("bf16") is torch.bfloat16 and torch_dtype("fp32") is torch.float32
    with pytest.raises(ValueError, match="not one of"):
        resolve_precision("int8", "cpu")


def test_the_teacher_and_the_masked_lm_use_it():
    from kdaug.core.teacher import TeacherError
    from kdaug.core.teacher import resolve_precision as teacher_precision

    assert teacher_precision("auto", "cpu") == "fp32"
    with pytest.raises(TeacherError, match="teacher precision 'half'"):
        teacher_precision("half", "cpu")
