import numpy as np
import pytest
import torch

from kdaug.core.errors import KdaugError
from kdaug.trainers.inference import load_model
from kdaug.trainers.students import load_student

TEXTS = ["a wonderful film", "a dull and lifeless story", "great acting", "not worth the ticket", "fine"]


@pytest.mark.parametrize("kind", ["bilstm", "bert", "bert_from_teacher", "hf"])
def test_every_student_kind_runs_on_new_text_as_it_scores_in_training(tiny_students, kind):
    model = load_model(tiny_students[kind], device="cpu", batch_size=2)  # batches of 2: order kept across them
    assert model.kind == kind and model.label_names == ["negative", "positive"]
    student = load_student(tiny_students[kind]).eval()
    with torch.inference_mode():
        expected = student(student.encode(TEXTS)).numpy()
    np.testing.assert_allclose(model.logits(TEXTS), expected, rtol=1e-5, atol=1e-5)
    proba = model.predict_proba(TEXTS)
    assert proba.shape == (5, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert model.predict(TEXTS) == [model.label_names[i] for i in expected.argmax(axis=1)]


def test_a_teacher_directory_runs_through_the_labelling_path(tiny_teacher):
    from kdaug.core.teacher import TeacherSettings

    model = load_model(tiny_teacher, device="cpu")
    assert model.kind == "teacher" and model.label_names == ["negative", "positive"]
    expected = TeacherSettings(spec=str(tiny_teacher), device="cpu").load().label(TEXTS).logits
    np.testing.assert_allclose(model.logits(TEXTS), expected, rtol=1e-6)
    assert model.logits([]).shape == (0, 2)


def test_a_pair_model_takes_the_pairs(tiny_pair_teacher):
    model = load_model(tiny_pair_teacher, device="cpu")
    single, paired = model.logits(["a man sleeps"]), model.logits(["a man sleeps"], ["nobody is awake"])
    assert paired.shape == (1, 3) and not np.allclose(single, paired)


def test_a_directory_that_is_no_model_fails_naming_what_it_holds(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(KdaugError, match=r"neither a kdaug student .* holds \['notes.txt'\]"):
        load_model(tmp_path)
    with pytest.raises(KdaugError, match="does not exist"):
        load_model(tmp_path / "missing" / "best")


def test_one_string_is_refused_rather_than_run_letter_by_letter(tiny_students):
    model = load_model(tiny_students["bilstm"], device="cpu")
    with pytest.raises(TypeError, match="list of texts"):
        model.predict("a wonderful film")
    with pytest.raises(ValueError, match="2 pairs for 1 texts"):
        model.logits(["a"], ["b", "c"])
