"""The distillation objective, explicit about which variant it is (the field mixes several):

    loss_i = w_i * [ alpha * soft_i + (1 - alpha) * CE(s_i, y_i) * has_gold_i ]

    soft_i = T^2 * KL(softmax(t_i / T) || softmax(s_i / T))     kd_loss="kl" (default)
    soft_i = || s_i - t_i ||^2                                   kd_loss="mse" (Tang et al. 2019)

averaged over the batch (sum of w_i-weighted terms / number of rows). The KL term is Hinton's, scaled by
T^2 as in HF's DistilBERT (TextBrewer's soft cross-entropy drops the T^2). The hard-label term applies
only to rows with a trustworthy gold label (originals): augmented copies have none and train on the
teacher's distribution alone. w_i weights augmented rows relative to originals (weight 1).

"mse" regresses the teacher's raw logits, as Tang et al. distil BiLSTMs from BERT: no temperature, and
the logits' scale, which softmax discards, is kept. With top-k soft labels only the stored classes are
compared (the others' logits were not kept).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

KD_LOSSES = ("kl", "mse")


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    has_gold: torch.Tensor,
    weights: torch.Tensor | None = None,
    temperature: float = 1.0,
    alpha: float = 0.5,
    kind: str = "kl",
) -> torch.Tensor:
    """student_logits, teacher_logits [B, C]; labels [B] (any value where has_gold is False);
    has_gold [B] bool; weights [B] or None; kind: one of KD_LOSSES."""
    if kind == "kl":
        t = temperature
        log_p_student = F.log_softmax(student_logits / t, dim=-1)
        # Top-k soft labels arrive with -inf for the classes not kept: probability 0, and xlogy(0, 0) = 0.
        p_teacher = F.softmax(teacher_logits.float() / t, dim=-1)
        soft = t * t * (torch.xlogy(p_teacher, p_teacher) - p_teacher * log_p_student).sum(-1)  # [B]
    elif kind == "mse":
        kept = torch.isfinite(teacher_logits)
        target = torch.where(kept, teacher_logits.float(), student_logits.detach())  # no pull where not kept
        soft = ((student_logits - target) ** 2).sum(-1)
    else:
        raise ValueError(f"kd loss must be one of {KD_LOSSES}, not {kind!r}")
    ce = F.cross_entropy(student_logits, labels.clamp_min(0), reduction="none") * has_gold.float()
    per_row = alpha * soft + (1.0 - alpha) * ce
    if weights is not None:
        per_row = per_row * weights
    return per_row.mean()


def ce_loss(student_logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Fine-tuning: cross-entropy on gold labels (copies inherit their source's label)."""
    per_row = F.cross_entropy(student_logits, labels, reduction="none")
    return (per_row * weights).mean() if weights is not None else per_row.mean()
