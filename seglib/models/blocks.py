"""Building blocks shared by the model families in ``seglib.models``.

Every model checks its input with :func:`check_input`, so a wrong shape gets one kind of
message everywhere: what was wrong, and the padding or resize that fixes it (the way
segmentation_models.pytorch reports sizes its encoder cannot take).
"""
from __future__ import annotations

import math

import torch
from torch import nn


def check_input(x: torch.Tensor, *, in_channels: int | None = None, multiple: int = 1,
                min_size: int = 1, model: str = "model") -> None:
    """Raise a ``ValueError`` that says how to fix ``x`` unless it is a float (N, C, H, W) batch
    with ``in_channels`` channels and H, W divisible by ``multiple`` and at least ``min_size``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{model} expects a torch.Tensor of shape (N, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        hint = " Add a batch dimension with x.unsqueeze(0)." if x.ndim == 3 else ""
        raise ValueError(f"{model} expects a 4-D batch (N, C, H, W), got shape {tuple(x.shape)}.{hint}")
    if not x.is_floating_point():
        raise ValueError(f"{model} expects a floating-point image batch, got dtype {x.dtype}; "
                         "convert with x.float() (and scale uint8 images to [0, 1]).")
    if in_channels is not None and x.shape[1] != in_channels:
        raise ValueError(f"{model} was built for {in_channels} input channel(s), got {x.shape[1]} "
                         f"(shape {tuple(x.shape)}). Build it with in_channels={x.shape[1]} or convert the images.")
    height, width = x.shape[-2:]
    if height < min_size or width < min_size:
        raise ValueError(f"{model} needs images of at least {min_size}×{min_size} pixels, got {height}×{width}. "
                         "Resize or pad the images.")
    if height % multiple or width % multiple:
        good_h, good_w = (math.ceil(s / multiple) * multiple for s in (height, width))
        raise ValueError(
            f"{model} needs height and width divisible by {multiple}, got {height}×{width}. "
            f"Pad to {good_h}×{good_w}, e.g. torch.nn.functional.pad(x, (0, {good_w - width}, 0, {good_h - height})), "
            "or resize the images."
        )


def check_sizes(model: str, **sizes) -> None:
    """Raise a ``ValueError`` naming the argument unless every size is a positive int (a tuple of
    them for widths): ``base_width=0`` or ``num_classes=0`` would build an empty model."""
    for name, value in sizes.items():
        values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
        if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
            raise ValueError(f"{model}: {name} must be {'positive ints' if isinstance(value, (tuple, list)) else 'a positive int'}, "
                             f"got {value!r}")


def check_batch_norm(x: torch.Tensor, training: bool, pixels: int, model: str) -> None:
    """Batch norm in train mode needs more than one value per channel: refuse, with the fix, a
    batch whose smallest normalised map (``pixels`` per image) holds a single value."""
    if training and x.shape[0] * pixels < 2:
        raise ValueError(
            f"{model} in train mode cannot take a batch of {x.shape[0]} image of {x.shape[-2]}×{x.shape[-1]}: its "
            f"smallest map holds {pixels} pixel(s), so batch norm sees one value per channel. Use batches of at least "
            f"2 images (DataLoader(..., drop_last=True) drops a last batch of one), larger images, or model.eval()"
        )


class ConvBNReLU(nn.Sequential):
    """Convolution → batch norm → ReLU, with "same" padding by default (``padding=None``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 padding: int | None = None, dilation: int = 1, groups: int = 1):
        if padding is None:
            padding = dilation * (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class SeparableConv2d(nn.Sequential):
    """Depthwise-separable convolution (Xception, MobileNet; DeepLabv3+): a per-channel k×k
    convolution (``groups=in_channels``) then a 1×1 pointwise one, each with batch norm and ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 dilation: int = 1):
        super().__init__(
            ConvBNReLU(in_channels, in_channels, kernel_size, stride, dilation=dilation, groups=in_channels),
            ConvBNReLU(in_channels, out_channels, kernel_size=1),
        )


class SqueezeExcitation(nn.Module):
    """Squeeze-and-Excitation (Hu et al. 2018), the lectures' four steps: squeeze by global
    average pooling, a bottleneck FC + ReLU, an FC + sigmoid, then rescale each channel.

    The FC layers are 1×1 convolutions named ``fc1``/``fc2`` like ``torchvision.ops.SqueezeExcitation``,
    so weights copy across and the two can be tested against each other."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        squeeze = max(1, channels // reduction)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean(dim=(2, 3), keepdim=True)            # 1. squeeze: C×H×W → C×1×1
        scale = torch.relu(self.fc1(scale))                  # 2. excitation bottleneck C → C/r
        scale = torch.sigmoid(self.fc2(scale))               # 3. back to C weights in (0, 1)
        return x * scale                                     # 4. rescale each channel
