"""seglib.losses against torch's cross-entropy, a direct per-pixel formula and smp's DiceLoss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from segmentation_models_pytorch.losses import DiceLoss
from torch import nn

from seglib.losses import CombinedLoss, FocalLoss, SoftDiceLoss, focal_loss, soft_dice_loss


def logits_and_target(seed: int, num_classes: int = 4, shape=(2, 5, 6), dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    logits = (2 * torch.randn(shape[0], num_classes, *shape[1:], generator=g, dtype=dtype)).requires_grad_()
    target = torch.randint(0, num_classes, shape, generator=g)
    target[torch.rand(shape, generator=g) < 0.15] = 255
    return logits, target


def focal_by_the_formula(logits, target, gamma, alpha, ignore_index=255):
    """FL = -alpha_t (1 - p_t)^gamma log p_t, one pixel at a time (the slide's formula)."""
    probs = logits.softmax(1)
    total, weight_sum = 0.0, 0.0
    n, _, h, w = logits.shape
    for b in range(n):
        for i in range(h):
            for j in range(w):
                t = int(target[b, i, j])
                if t == ignore_index:
                    continue
                a = 1.0 if alpha is None else float(alpha[t])
                p = probs[b, t, i, j]
                total = total - a * (1 - p) ** gamma * torch.log(p)
                weight_sum += a
    return total / weight_sum


@pytest.mark.parametrize("seed", range(4))
def test_focal_with_gamma_zero_is_cross_entropy(seed):
    logits, target = logits_and_target(seed)
    weights = torch.tensor([0.2, 1.0, 3.0, 0.5], dtype=torch.float64)
    assert torch.allclose(focal_loss(logits, target, gamma=0), F.cross_entropy(logits, target, ignore_index=255))
    assert torch.allclose(
        focal_loss(logits, target, gamma=0, alpha=weights),
        F.cross_entropy(logits, target, weight=weights, ignore_index=255),
    )


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0, 5.0])
@pytest.mark.parametrize("use_alpha", [False, True])
def test_focal_matches_the_formula_values_and_gradients(gamma, use_alpha):
    logits, target = logits_and_target(int(gamma * 10))
    alpha = torch.tensor([0.25, 0.75, 1.0, 2.0], dtype=torch.float64) if use_alpha else None
    ours = focal_loss(logits, target, gamma=gamma, alpha=alpha)
    (grad_ours,) = torch.autograd.grad(ours, logits)
    reference = focal_by_the_formula(logits, target, gamma, alpha)
    (grad_ref,) = torch.autograd.grad(reference, logits)
    assert torch.allclose(ours, reference)
    assert torch.allclose(grad_ours, grad_ref)


def test_focal_down_weights_easy_pixels():
    logits, target = logits_and_target(7)
    ce = focal_loss(logits, target, gamma=0, reduction="none")
    losses = [focal_loss(logits, target, gamma=g, reduction="none") for g in (0.5, 2.0, 5.0)]
    for smaller, larger in zip(losses[1:], losses[:-1], strict=True):
        assert bool((smaller <= larger + 1e-12).all())
    assert bool((losses[0] <= ce + 1e-12).all())
    assert torch.allclose(focal_loss(logits, target, reduction="sum"), losses[1].sum())


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("smooth", [0.0, 2.0])
def test_soft_dice_matches_segmentation_models_pytorch(seed, smooth):
    logits, target = logits_and_target(seed, num_classes=5)
    # smp writes Dice as (I + s) / ((P + G) / 2 + s): its s is half of ours.
    reference = DiceLoss("multiclass", from_logits=True, smooth=smooth / 2, ignore_index=255)(logits, target)
    assert torch.allclose(soft_dice_loss(logits, target, smooth=smooth), reference)


def test_soft_dice_of_a_confident_correct_prediction_is_zero():
    target = torch.randint(0, 3, (2, 8, 8))
    logits = 50.0 * F.one_hot(target, 3).permute(0, 3, 1, 2).float()
    assert soft_dice_loss(logits, target, smooth=0).item() == pytest.approx(0.0, abs=1e-6)
    assert soft_dice_loss(-logits, target, smooth=0).item() == pytest.approx(1.0, abs=1e-6)


def test_modules_and_combination():
    logits, target = logits_and_target(3)
    ce = nn.CrossEntropyLoss(ignore_index=255)
    combined = CombinedLoss([ce, SoftDiceLoss(), FocalLoss(gamma=2.0)], [1.0, 0.5, 2.0])
    expected = ce(logits, target) + 0.5 * soft_dice_loss(logits, target) + 2.0 * focal_loss(logits, target)
    assert torch.allclose(combined(logits, target), expected)
    with pytest.raises(ValueError, match="one weight per loss"):
        CombinedLoss([ce], [1.0, 2.0])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda lg, t: focal_loss(lg, t.float()), "integer class indices"),
        (lambda lg, t: focal_loss(lg, t[:, :3]), "does not match logits"),
        (lambda lg, t: focal_loss(lg, torch.full_like(t, 9)), "outside 0..3"),
        (lambda lg, t: focal_loss(lg, t, gamma=-1), "gamma must be >= 0"),
        (lambda lg, t: focal_loss(lg, t, alpha=[1.0, 2.0]), "one weight per class"),
        (lambda lg, t: focal_loss(lg, t, reduction="avg"), "reduction must be"),
        (lambda lg, t: soft_dice_loss(lg, t.float()), "integer class indices"),
    ],
)
def test_bad_inputs(call, match):
    logits, target = logits_and_target(0)
    with pytest.raises((ValueError, TypeError), match=match):
        call(logits, target)


def test_median_frequency_weights_match_eigen_and_fergus():
    from seglib.losses import median_frequency_weights

    masks = torch.tensor([[0, 0, 0, 0, 0, 0, 1, 1, 2, 255]])  # frequencies 6/9, 2/9, 1/9; class 3 absent
    weights = median_frequency_weights(masks, 4)
    torch.testing.assert_close(weights, torch.tensor([(2 / 9) / (6 / 9), 1.0, (2 / 9) / (1 / 9), 0.0]))
    with pytest.raises(ValueError, match="no labelled pixel"):
        median_frequency_weights(torch.full((2, 2), 255), 4)
    with pytest.raises(ValueError, match="0..3"):
        median_frequency_weights(torch.tensor([[0, 7]]), 4)


def test_small_dilated_net_keeps_the_input_size_and_says_what_is_wrong():
    from seglib.models.small import SmallDilatedNet

    net = SmallDilatedNet(num_classes=5, width=8)
    assert net(torch.rand(2, 3, 32, 48)).shape == (2, 5, 32, 48)
    with pytest.raises(ValueError, match="multiple of 4|divisible by 4"):
        net(torch.rand(2, 3, 30, 32))
