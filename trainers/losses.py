"""The distillation objective, explicit about which variant it is (the field mixes several):

    loss_i = w_i * [ alpha * T^2 * KL(softmax(t_i / T) || softmax(s_i / T))
                     + (1 - alpha) * CE(s_i, y_i) * has_gold_i ]

averaged over the batch (sum of w_i-weighted terms / number of rows). The KL term is Hinton's, scaled by
T^2 as in HF's DistilBERT (TextBrewer's soft cross-entropy drops the T^2). The hard-label term applies
only to rows with a trustworthy gold label (originals): augmented copies have none and train on the
teacher's distribution alone. w_i weights augmented rows relative to originals (weight 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    has_gold: torch.Tensor,
    weights: torch.Tensor | None = None,
    temperature: float = 2.0,
    alpha: float = 0.5,
) -> torch.Tensor:
    """student_logits, teacher_logits [B, C]; labels [B] (any value where has_gold is False);
    has_gold [B] bool; weights [B] or None."""
    t = temperature
    log_p_student = F.log_softmax(student_logits / t, dim=-1)
    # Top-k soft labels arrive with -inf for the classes not kept: probability 0, and xlogy(0, 0) = 0.
    p_teacher = F.softmax(teacher_logits.float() / t, dim=-1)
    kl = (torch.xlogy(p_teacher, p_teacher) - p_teacher * log_p_student).sum(-1)  # [B]
    ce = F.cross_entropy(student_logits, labels.clamp_min(0), reduction="none") * has_gold.float()
    per_row = alpha * t * t * kl + (1.0 - alpha) * ce
    if weights is not None:
        per_row = per_row * weights
    return per_row.mean()


def ce_loss(student_logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Fine-tuning: cross-entropy on gold labels (copies inherit their source's label)."""
    per_row = F.cross_entropy(student_logits, labels, reduction="none")
    return (per_row * weights).mean() if weights is not None else per_row.mean()
