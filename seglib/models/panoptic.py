"""Panoptic fusion in the style of UPSNet (Xiong et al., 2019), and a small semantic head.

Lecture 002 (panoptic segmentation): a semantic head labels stuff *and* things per pixel, an
instance head (Mask R-CNN) proposes things; where they disagree, a pixel needs one answer.
UPSNet's panoptic head has no parameters. Per pixel it stacks

* the **stuff** logits of the semantic head, one channel per stuff class;
* one channel per detected **instance** i of class c_i: its mask logits pasted into its box
  plus the semantic head's logit for c_i, inside the box only (the instance cannot claim a
  pixel outside its box);
* optionally an **unknown** channel, max over the semantic head's thing logits minus max over
  the pasted mask logits (zero outside every box, as in UPSNet's padding): large where the
  semantic head sees a thing that no instance accounts for;

and takes the argmax (the softmax of UPSNet's training loss does not change it). A stuff
channel gives that stuff class, an instance channel that instance, the unknown channel void.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._guards import check_allocation, check_finite, check_number
from .blocks import ConvBNReLU, SegmentationModel, check_sizes

__all__ = ["SemanticNet", "paste_mask_logits", "upsnet_fusion"]


def paste_mask_logits(
    mask_logits: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int], outside: float = float("-inf")
) -> torch.Tensor:
    """RoI mask logits (K, M, M) → image-sized logits (K, H, W), each resized into its box.

    Box k = (x0, y0, x1, y1) in pixels (x1, y1 exclusive, as torchvision's). A pixel whose
    centre lies inside the box samples the M×M grid bilinearly at the matching point (the
    inverse of RoIAlign's sampling, like ``F.interpolate(..., align_corners=False)``); every
    other pixel gets ``outside``.
    """
    if not isinstance(mask_logits, torch.Tensor) or mask_logits.ndim != 3 or not mask_logits.is_floating_point():
        raise ValueError(f"mask_logits must be a float tensor (K, M, M), got {_describe(mask_logits)}")
    boxes = _check_boxes(boxes, len(mask_logits), mask_logits)
    height, width = (
        check_number(side, name, minimum=1, integer=True, hint="size is the image's (height, width)")
        for side, name in zip(_pair(size), ("height", "width"), strict=True)
    )
    k = len(mask_logits)
    if k == 0:
        return mask_logits.new_zeros((0, height, width))
    if 0 in mask_logits.shape[1:]:
        raise ValueError(
            f"mask_logits has empty RoI masks {tuple(mask_logits.shape[1:])}; each must be M×M with M >= 1"
        )
    check_allocation(
        24.0 * k * height * width,
        f"pasting {k} masks into a {height}×{width} image",
        "give the image's real size, or fewer detections",
    )
    xs = torch.arange(width, dtype=mask_logits.dtype, device=mask_logits.device) + 0.5
    ys = torch.arange(height, dtype=mask_logits.dtype, device=mask_logits.device) + 0.5
    x0, y0, x1, y1 = (boxes[:, i, None] for i in range(4))
    gx = 2 * (xs - x0) / (x1 - x0).clamp(min=1e-6) - 1  # (K, W) in [-1, 1] inside the box
    gy = 2 * (ys - y0) / (y1 - y0).clamp(min=1e-6) - 1  # (K, H)
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=-1)  # (K, H, W, 2)
    pasted = F.grid_sample(mask_logits[:, None], grid, mode="bilinear", padding_mode="border", align_corners=False)[
        :, 0
    ]
    inside = (gx.abs() <= 1)[:, None, :] & (gy.abs() <= 1)[:, :, None]
    return pasted.masked_fill(~inside, outside)


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    return type(value).__name__


def _pair(size) -> tuple:
    try:
        height, width = size
    except (TypeError, ValueError):
        raise ValueError(f"size must be the image's (height, width), got {size!r}") from None
    return height, width


def _check_boxes(boxes, k: int, like: torch.Tensor) -> torch.Tensor:
    """``boxes`` as a (K, 4) float tensor of finite (x0, y0, x1, y1) with x1 > x0 and y1 > y0: an
    empty or inverted box would make its instance vanish without a word."""
    boxes = torch.as_tensor(boxes, dtype=like.dtype, device=like.device)
    if boxes.shape != (k, 4):
        raise ValueError(f"boxes must be (K, 4) = ({k}, 4), one (x0, y0, x1, y1) per mask, got {tuple(boxes.shape)}")
    check_finite(boxes, "boxes", "pass the detector's boxes (x0, y0, x1, y1) in pixels")
    bad = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
    if bool(bad.any()):
        index = int(bad.nonzero()[0])
        raise ValueError(
            f"box {index} = {boxes[index].tolist()} is empty or inverted; boxes are (x0, y0, x1, y1) "
            f"with x1 > x0 and y1 > y0 (torchvision's order, not (x, y, w, h))"
        )
    return boxes


def _check_ids(ids, name: str, channels: int) -> list[int]:
    ids = list(ids)
    bad = [c for c in ids if isinstance(c, bool) or not isinstance(c, numbers.Integral) or not 0 <= c < channels]
    if bad:
        raise ValueError(f"{name} {bad} have no channel in semantic_logits: give int category ids in 0..{channels - 1}")
    return [int(c) for c in ids]


def upsnet_fusion(
    semantic_logits: torch.Tensor,
    mask_logits: torch.Tensor,
    boxes: torch.Tensor,
    labels: torch.Tensor,
    *,
    stuff_ids: Sequence[int],
    thing_ids: Sequence[int],
    unknown: bool = True,
    label_divisor: int = 1000,
    void_label: int = -1,
    return_logits: bool = False,
):
    """UPSNet's parameter-free panoptic head: a panoptic map (H, W) int64 for one image.

    ``semantic_logits`` (C, H, W) has one channel per category id (channel c = category c);
    ``mask_logits`` (K, M, M) are the RoI mask logits of K detections of classes ``labels``
    (K,) in ``boxes`` (K, 4), best first. Stuff pixels get ``category * label_divisor``,
    instance k's pixels ``labels[k] * label_divisor + k + 1``, the unknown class
    ``void_label``. With ``return_logits`` also returns the stacked panoptic logits
    (S + K [+ 1], H, W).
    """
    if (
        not isinstance(semantic_logits, torch.Tensor)
        or semantic_logits.ndim != 3
        or not semantic_logits.is_floating_point()
    ):
        raise ValueError(
            f"semantic_logits must be (C, H, W) float logits for one image, got {_describe(semantic_logits)}"
        )
    check_finite(
        semantic_logits,
        "semantic_logits",
        "a NaN wins every argmax: the semantic head has diverged, or its input holds NaN",
    )
    channels, height, width = semantic_logits.shape
    label_divisor = check_number(label_divisor, "label_divisor", minimum=1, integer=True)
    stuff_ids, thing_ids = _check_ids(stuff_ids, "stuff_ids", channels), _check_ids(thing_ids, "thing_ids", channels)
    if not stuff_ids:
        raise ValueError("give at least one stuff id: every pixel no instance claims needs a stuff class")
    if set(stuff_ids) & set(thing_ids):
        raise ValueError(
            f"categories {sorted(set(stuff_ids) & set(thing_ids))} are both stuff and thing; each "
            f"category is one or the other"
        )
    if unknown and not thing_ids:
        raise ValueError(
            "the unknown channel compares the semantic head's thing logits with the instances: give "
            "thing_ids, or pass unknown=False"
        )
    labels = torch.as_tensor(labels, device=semantic_logits.device).reshape(-1)
    if labels.numel() and (labels.is_floating_point() or labels.dtype == torch.bool):  # [] is a float tensor
        raise TypeError(f"labels must be integer category ids, got {labels.dtype}; pass the detector's labels")
    labels = labels.long()
    if len(labels) != len(mask_logits):
        raise ValueError(f"{len(mask_logits)} mask logits but {len(labels)} labels")
    if any(int(c) not in thing_ids for c in labels):
        raise ValueError(f"instance labels {sorted(set(labels.tolist()))} must be thing ids {thing_ids}")
    if len(labels) >= label_divisor:
        raise ValueError(f"{len(labels)} instances reach label_divisor={label_divisor}; raise label_divisor")

    mask_logits = mask_logits.to(semantic_logits) if isinstance(mask_logits, torch.Tensor) else mask_logits
    if len(labels):
        check_finite(mask_logits, "mask_logits", "pass the detector's raw RoI mask logits")
    pasted = paste_mask_logits(mask_logits, boxes, (height, width))  # -inf outside each box
    instance = pasted + semantic_logits[labels]  # -inf outside the box stays -inf
    parts = [semantic_logits[stuff_ids], instance]
    if unknown:
        zero_padded = torch.nan_to_num(pasted, neginf=0.0).amax(0) if len(labels) else 0.0
        parts.append((semantic_logits[thing_ids].amax(0) - zero_padded)[None])
    logits = torch.cat(parts)
    winner = logits.argmax(0)

    ids = torch.tensor([c * label_divisor for c in stuff_ids], dtype=torch.long, device=winner.device)
    ids = torch.cat([ids, labels * label_divisor + torch.arange(1, len(labels) + 1, device=winner.device)])
    if unknown:
        if bool((ids == void_label).any()):
            raise ValueError(
                f"void_label={void_label} is also the id of a stuff or instance segment; use a negative void_label (-1)"
            )
        ids = torch.cat([ids, torch.tensor([void_label], device=winner.device)])
    panoptic = ids[winner]
    return (panoptic, logits) if return_logits else panoptic


class SemanticNet(SegmentationModel):
    """A small fully convolutional semantic head for 128 px scenes: logits (N, C, H, W).

    Two stride-2 stages, three dilated convolutions (rates 2, 4, 8: a receptive field of
    about 60 px, enough to see a thing's shape against the stuff around it), a 1×1
    classifier and bilinear upsampling by 4 (lecture 002's FCN + DeepLab's atrous convolution).
    """

    def __init__(self, num_classes: int = 21, width: int = 32, in_channels: int = 3):
        super().__init__()
        check_sizes("SemanticNet", num_classes=num_classes, width=width, in_channels=in_channels)
        self.num_classes, self.in_channels, self.multiple, self.min_size = num_classes, in_channels, 4, 16
        self.features = nn.Sequential(
            ConvBNReLU(in_channels, width, 3, stride=2),
            ConvBNReLU(width, width),
            ConvBNReLU(width, 2 * width, 3, stride=2),
            ConvBNReLU(2 * width, 2 * width, 3, dilation=2),
            ConvBNReLU(2 * width, 2 * width, 3, dilation=4),
            ConvBNReLU(2 * width, 2 * width, 3, dilation=8),
        )
        self.classifier = nn.Conv2d(2 * width, num_classes, 1)

    def encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"out": self.features(x)}

    def decode(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.classifier(features["out"])  # at stride 4; the skeleton resizes it to the input
