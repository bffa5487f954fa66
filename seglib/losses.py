"""Losses for dense prediction beyond plain cross-entropy (lecture 001, "cross entropy vs focal").

Cross-entropy with ``ignore_index`` and class weights is ``torch.nn.CrossEntropyLoss``; this
module adds the focal loss (Lin et al., 2017), the soft Dice loss (Milletari et al., 2016) and
a weighted sum of losses. All take logits (N, C, H, W) and integer targets (N, H, W).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._guards import check_number

__all__ = ["focal_loss", "FocalLoss", "soft_dice_loss", "SoftDiceLoss", "CombinedLoss", "median_frequency_weights"]


def _check_logits_target(logits: torch.Tensor, target: torch.Tensor, ignore_index: int | None) -> None:
    if not logits.is_floating_point() or logits.dim() < 2:
        raise ValueError(f"logits must be a float tensor (N, C, ...), got {tuple(logits.shape)} {logits.dtype}")
    if target.is_floating_point() or target.dtype == torch.bool:
        raise TypeError(f"target must hold integer class indices (N, H, W), got {target.dtype}; use target.long()")
    if target.shape != logits.shape[:1] + logits.shape[2:]:
        raise ValueError(
            f"target shape {tuple(target.shape)} does not match logits {tuple(logits.shape)}: expected "
            f"{tuple(logits.shape[:1] + logits.shape[2:])} (logits without the class dimension)"
        )
    valid = target[target != ignore_index] if ignore_index is not None else target
    num_classes = logits.shape[1]
    if valid.numel() and (valid.min() < 0 or valid.max() >= num_classes):
        raise ValueError(
            f"target holds labels outside 0..{num_classes - 1} other than ignore_index={ignore_index}: "
            f"min {valid.min().item()}, max {valid.max().item()}"
        )


def _class_weights(alpha, num_classes: int, like: torch.Tensor) -> torch.Tensor | None:
    if alpha is None:
        return None
    alpha = torch.as_tensor(alpha, dtype=like.dtype, device=like.device)
    if alpha.dim() != 1 or alpha.numel() != num_classes:
        raise ValueError(f"alpha must hold one weight per class ({num_classes}), got shape {tuple(alpha.shape)}")
    _check_alpha(alpha)
    return alpha


def _check_alpha(alpha: torch.Tensor) -> None:
    if not bool(torch.isfinite(alpha).all()) or bool((alpha < 0).any()) or not bool((alpha > 0).any()):
        raise ValueError(
            f"alpha holds class weights: finite, non-negative and not all zero, got {alpha.tolist()}; e.g. inverse "
            "class frequencies, or None for equal weights"
        )


def _check_gamma(gamma) -> float:
    return check_number(gamma, "gamma", minimum=0, hint="the focusing parameter; 0 gives cross-entropy, 2 is usual")


def _check_smooth(smooth, eps=1e-7) -> None:
    check_number(smooth, "smooth", minimum=0, hint="Dice's smoothing term; 1 is usual")
    check_number(eps, "eps", minimum=0, strict=True, hint="a small positive number such as 1e-7")


def focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    gamma: float = 2.0,
    alpha=None,
    ignore_index: int | None = 255,
    reduction: str = "mean",
) -> torch.Tensor:
    """Multi-class focal loss FL(p_t) = -alpha_t (1 - p_t)^gamma log p_t (Lin et al., 2017).

    ``gamma`` = 0 and ``alpha`` = None give cross-entropy. ``alpha`` is one weight per class;
    the mean is then weighted like ``F.cross_entropy(weight=alpha)`` (divided by the sum of the
    weights of the counted pixels), so gamma = 0 reproduces weighted cross-entropy exactly.
    """
    _check_logits_target(logits, target, ignore_index)
    gamma = _check_gamma(gamma)
    valid = target != ignore_index if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
    safe_target = torch.where(valid, target, torch.zeros_like(target)).long()
    # -log p_t from torch's fused kernel (0 on void pixels); p_t = exp(log p_t).
    ce = F.cross_entropy(logits, safe_target, reduction="none")
    loss = ((1 - torch.exp(-ce)) ** gamma) * ce if gamma else ce
    weights = valid.to(logits.dtype)
    alpha = _class_weights(alpha, logits.shape[1], logits)
    if alpha is not None:
        weights = weights * alpha[safe_target]
    loss = loss * weights
    if reduction == "mean":
        return loss.sum() / weights.sum().clamp_min(torch.finfo(logits.dtype).tiny)
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def soft_dice_loss(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int | None = 255, smooth: float = 1.0, eps: float = 1e-7
) -> torch.Tensor:
    """1 - mean soft Dice over classes (Milletari et al., 2016), from softmax probabilities.

    Per class c, over the whole batch: Dice_c = (2 Σ p_c g_c + smooth) / (Σ p_c + Σ g_c + smooth),
    with g the one-hot target; ignored pixels count in neither sum. Classes absent from the
    target contribute 0 loss but stay in the mean (the convention of
    segmentation_models_pytorch's ``DiceLoss``, which the tests compare against).
    """
    _check_logits_target(logits, target, ignore_index)
    _check_smooth(smooth, eps)
    num_classes = logits.shape[1]
    valid = (target != ignore_index) if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
    probs = logits.softmax(1) * valid.unsqueeze(1)
    labels = torch.where(valid, target, torch.zeros_like(target)).long()
    # Σ p_c g_c is the probability of the true class, summed per class: no one-hot tensor needed.
    p_true = probs.gather(1, labels.unsqueeze(1)).reshape(-1)
    intersection = torch.zeros(num_classes, dtype=probs.dtype, device=probs.device).scatter_add(
        0, labels.reshape(-1), p_true
    )
    target_count = torch.bincount(labels[valid], minlength=num_classes).to(probs.dtype)
    cardinality = probs.transpose(0, 1).reshape(num_classes, -1).sum(1) + target_count
    dice = (2 * intersection + smooth) / (cardinality + smooth).clamp_min(eps)
    return ((1 - dice) * (target_count > 0)).mean()


def median_frequency_weights(masks: torch.Tensor, num_classes: int, ignore_index: int | None = 255) -> torch.Tensor:
    """Class weights for cross-entropy by median frequency balancing (Eigen and Fergus, 2015):
    ``median(freq) / freq_c`` over the labelled pixels of ``masks``; a class that never occurs
    gets weight 0 (it cannot be learned from these masks anyway)."""
    labels = masks[masks != ignore_index] if ignore_index is not None else masks.reshape(-1)
    if labels.numel() == 0:
        raise ValueError("masks hold no labelled pixel: cannot count class frequencies")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"mask values must lie in 0..{num_classes - 1} or be ignore_index={ignore_index}, "
            f"got {int(labels.min())}..{int(labels.max())}"
        )
    frequency = torch.bincount(labels.long(), minlength=num_classes).double()
    frequency /= frequency.sum()
    present = frequency > 0
    weights = torch.zeros(num_classes, dtype=torch.float64)
    weights[present] = frequency[present].median() / frequency[present]
    return weights.float()


class FocalLoss(nn.Module):
    """Module form of :func:`focal_loss`."""

    def __init__(self, gamma: float = 2.0, alpha=None, ignore_index: int | None = 255, reduction: str = "mean"):
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.gamma, self.ignore_index, self.reduction = _check_gamma(gamma), ignore_index, reduction
        self.register_buffer("alpha", None if alpha is None else torch.as_tensor(alpha, dtype=torch.float32))
        if self.alpha is not None:
            if self.alpha.dim() != 1:
                raise ValueError(f"alpha must hold one weight per class, got shape {tuple(self.alpha.shape)}")
            _check_alpha(self.alpha)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return focal_loss(logits, target, self.gamma, self.alpha, self.ignore_index, self.reduction)


class SoftDiceLoss(nn.Module):
    """Module form of :func:`soft_dice_loss`."""

    def __init__(self, ignore_index: int | None = 255, smooth: float = 1.0):
        super().__init__()
        _check_smooth(smooth)
        self.ignore_index, self.smooth = ignore_index, smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return soft_dice_loss(logits, target, self.ignore_index, self.smooth)


class CombinedLoss(nn.Module):
    """A weighted sum of losses, e.g. ``CombinedLoss([CrossEntropyLoss(...), SoftDiceLoss()], [1, 1])``.

    Cross-entropy gives well-behaved per-pixel gradients, Dice pulls towards the overlap metric
    that is reported; their sum is a common compromise for imbalanced classes.
    """

    def __init__(self, losses: Sequence[nn.Module], weights: Sequence[float] | None = None):
        super().__init__()
        weights = [1.0] * len(losses) if weights is None else list(weights)
        if not losses or len(weights) != len(losses):
            raise ValueError(f"need one weight per loss: {len(losses)} losses, {len(weights)} weights")
        for i, weight in enumerate(weights):
            check_number(weight, f"weights[{i}]", minimum=0, hint="each loss's weight is a finite number >= 0")
        self.losses = nn.ModuleList(losses)
        self.weights = weights

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(w * loss(logits, target) for w, loss in zip(self.weights, self.losses, strict=True))
