import math

import torch

from kdaug.trainers.losses import ce_loss, kd_loss


def softmax(xs):
    m = max(xs)
    e = [math.exp(x - m) for x in xs]
    return [v / sum(e) for v in e]


def test_kd_loss_matches_a_hand_computation():
    s = [[1.0, -1.0, 0.5], [0.2, 0.1, -0.3]]
    t = [[2.0, 0.0, -1.0], [-0.5, 1.5, 0.0]]
    labels, gold = [0, 2], [True, False]
    T, alpha, w = 2.0, 0.7, [1.0, 0.5]
    expected = 0.0
    for i in range(2):
        p = softmax([x / T for x in t[i]])
        q = softmax([x / T for x in s[i]])
        kl = sum(pi * (math.log(pi) - math.log(qi)) for pi, qi in zip(p, q))
        ce = -math.log(softmax(s[i])[labels[i]]) if gold[i] else 0.0
        expected += w[i] * (alpha * T * T * kl + (1 - alpha) * ce)
    expected /= 2
    got = kd_loss(
        torch.tensor(s),
        torch.tensor(t),
        torch.tensor(labels),
        torch.tensor(gold),
        torch.tensor(w),
        temperature=T,
        alpha=alpha,
    )
    assert abs(got.item() - expected) < 1e-6


def test_kd_loss_is_zero_when_student_equals_teacher_without_gold():
    x = torch.randn(4, 3)
    loss = kd_loss(x, x, torch.full((4,), -1), torch.zeros(4, dtype=torch.bool))
    assert abs(loss.item()) < 1e-6


def test_copies_without_gold_train_on_the_teacher_only():
    s, t = torch.randn(2, 2, requires_grad=True), torch.randn(2, 2)
    with_label = kd_loss(s, t, torch.tensor([0, 1]), torch.tensor([False, False]), alpha=0.5)
    other_label = kd_loss(s, t, torch.tensor([1, 0]), torch.tensor([False, False]), alpha=0.5)
    assert torch.equal(with_label, other_label)


def test_ce_loss():
    s = torch.tensor([[2.0, 0.0]])
    assert abs(ce_loss(s, torch.tensor([0])).item() - (-math.log(softmax([2.0, 0.0])[0]))) < 1e-6


def test_kd_loss_on_top_k_soft_labels_is_the_kl_to_the_renormalized_top_k():
    s = torch.tensor([[0.3, -0.2, 1.0, 0.1]], requires_grad=True)
    t = torch.tensor([[2.0, float("-inf"), 0.5, float("-inf")]])  # top-2 stored; the rest -inf
    T = 2.0
    loss = kd_loss(s, t, torch.tensor([-1]), torch.tensor([False]), temperature=T, alpha=1.0)
    p = softmax([2.0 / T, 0.5 / T])
    q = softmax([x / T for x in [0.3, -0.2, 1.0, 0.1]])
    expected = T * T * (p[0] * (math.log(p[0]) - math.log(q[0])) + p[1] * (math.log(p[1]) - math.log(q[2])))
    assert abs(loss.item() - expected) < 1e-6
    loss.backward()
    assert torch.isfinite(s.grad).all()


def test_mse_kd_loss_is_the_squared_logit_error_and_ignores_the_temperature():
    s = torch.tensor([[1.0, -1.0], [0.2, 0.4]])
    t = torch.tensor([[2.0, 0.5], [0.0, 1.0]])
    labels, gold, alpha = torch.tensor([1, -1]), torch.tensor([True, False]), 0.6
    ce = -math.log(softmax([1.0, -1.0])[1])
    expected = (alpha * (1.0 + 1.5**2) + (1 - alpha) * ce + alpha * (0.2**2 + 0.6**2)) / 2
    for temperature in (1.0, 4.0):
        got = kd_loss(s, t, labels, gold, temperature=temperature, alpha=alpha, kind="mse")
        assert abs(got.item() - expected) < 1e-6
    assert abs(kd_loss(t, t, labels, torch.tensor([False, False]), kind="mse").item()) < 1e-9


def test_mse_kd_loss_on_top_k_soft_labels_compares_only_the_kept_classes():
    s = torch.tensor([[0.3, -0.2, 1.0, 0.1]], requires_grad=True)
    t = torch.tensor([[2.0, float("-inf"), 0.5, float("-inf")]])
    loss = kd_loss(s, t, torch.tensor([-1]), torch.tensor([False]), alpha=1.0, kind="mse")
    assert abs(loss.item() - ((0.3 - 2.0) ** 2 + (1.0 - 0.5) ** 2)) < 1e-6
    loss.backward()
    assert s.grad[0, 1] == 0 and s.grad[0, 3] == 0 and torch.isfinite(s.grad).all()
