"""Building blocks shared by the model families in ``seglib.models``.

:class:`SegmentationModel` is the skeleton the dense models share (CONTRIBUTING.md, "The model
contract"): check the input → backbone (a dict of named feature maps) → head → resize to the
input, as torchvision's ``_SimpleSegmentationModel`` does.

Every model checks its input with :func:`check_input`, so a wrong shape gets one kind of
message everywhere: what was wrong, and the padding or resize that fixes it (the way
segmentation_models.pytorch reports sizes its encoder cannot take).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def check_input(
    x: torch.Tensor, *, in_channels: int | None = None, multiple: int = 1, min_size: int = 1, model: str = "model"
) -> None:
    """Raise a ``ValueError`` that says how to fix ``x`` unless it is a float (N, C, H, W) batch
    with ``in_channels`` channels and H, W divisible by ``multiple`` and at least ``min_size``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{model} expects a torch.Tensor of shape (N, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        hint = " Add a batch dimension with x.unsqueeze(0)." if x.ndim == 3 else ""
        raise ValueError(f"{model} expects a 4-D batch (N, C, H, W), got shape {tuple(x.shape)}.{hint}")
    if not x.is_floating_point():
        raise ValueError(
            f"{model} expects a floating-point image batch, got dtype {x.dtype}; "
            "convert with x.float() (and scale uint8 images to [0, 1])."
        )
    if in_channels is not None and x.shape[1] != in_channels:
        raise ValueError(
            f"{model} was built for {in_channels} input channel(s), got {x.shape[1]} "
            f"(shape {tuple(x.shape)}). Build it with in_channels={x.shape[1]} or convert the images."
        )
    height, width = x.shape[-2:]
    if height < min_size or width < min_size:
        raise ValueError(
            f"{model} needs images of at least {min_size}×{min_size} pixels, got {height}×{width}. "
            "Resize or pad the images."
        )
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
            raise ValueError(
                f"{model}: {name} must be {'positive ints' if isinstance(value, (tuple, list)) else 'a positive int'}, "
                f"got {value!r}"
            )


def check_batch_norm(x: torch.Tensor, training: bool, pixels: int, model: str) -> None:
    """Batch norm in train mode needs more than one value per channel: refuse, with the fix, a
    batch whose smallest normalised map (``pixels`` per image) holds a single value."""
    if training and x.shape[0] * pixels < 2:
        raise ValueError(
            f"{model} in train mode cannot take a batch of {x.shape[0]} image of {x.shape[-2]}×{x.shape[-1]}: its "
            f"smallest map holds {pixels} pixel(s), so batch norm sees one value per channel. Use batches of at least "
            f"2 images (DataLoader(..., drop_last=True) drops a last batch of one), larger images, or model.eval()"
        )


def resize_to(logits: torch.Tensor, size) -> torch.Tensor:
    """``logits`` (N, C, h, w) resized bilinearly to ``size`` = (H, W), unchanged when they are
    already that size (FCN's and DeepLab's last step: scores at the output stride → the input)."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)


class SegmentationModel(nn.Module):
    """The skeleton of a dense segmentation model (torchvision's ``_SimpleSegmentationModel``):
    ``forward(x)`` = :meth:`check` → :meth:`encode` (the backbone: a dict of named feature maps)
    → :meth:`decode` (the head: logits) → :func:`resize_to` the input's size.

    A subclass sets ``num_classes`` and ``in_channels`` in ``__init__`` and, where it needs them,
    ``multiple`` (input sides must be divisible by it: the output stride), ``min_size`` and
    ``resize_output`` (False when the output is smaller on purpose, as a valid-padding U-Net's);
    it implements :meth:`decode` and, if its backbone is not ``self.backbone``, :meth:`encode`.
    Keep the submodules' attribute names: they are the state-dict keys checkpoints load by.
    """

    num_classes: int
    in_channels: int
    multiple: int = 1
    min_size: int = 1
    resize_output: bool = True

    @property
    def model_name(self) -> str:
        """The name error messages use (the class name unless a family says more, "FCN-8s")."""
        return type(self).__name__

    def smallest_map(self, x: torch.Tensor) -> int | None:
        """Pixels per image of the smallest map batch norm normalises (None: no batch norm
        check): by default the map at stride ``multiple``."""
        return (x.shape[-2] // self.multiple) * (x.shape[-1] // self.multiple)

    def check(self, x: torch.Tensor) -> None:
        """Refuse, with the fix, an input the model cannot take: not a float (N, C, H, W) batch,
        the wrong channels, sides not divisible by ``multiple`` or below ``min_size``, or a
        train-mode batch whose smallest map leaves batch norm one value per channel."""
        check_input(
            x, in_channels=self.in_channels, multiple=self.multiple, min_size=self.min_size, model=self.model_name
        )
        pixels = self.smallest_map(x)
        if pixels is not None:
            check_batch_norm(x, self.training, pixels, self.model_name)

    def encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The backbone's named feature maps (``self.backbone(x)``)."""
        return self.backbone(x)

    def decode(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """The head: class scores (N, num_classes, h, w) from the named feature maps."""
        raise NotImplementedError(f"{type(self).__name__} must implement decode(features) -> logits")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check(x)
        logits = self.decode(self.encode(x))
        return resize_to(logits, x.shape[-2:]) if self.resize_output else logits


class ConvBNReLU(nn.Sequential):
    """Convolution → batch norm → ReLU, with "same" padding by default (``padding=None``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | None = None,
        dilation: int = 1,
        groups: int = 1,
    ):
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

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, dilation: int = 1):
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
        scale = x.mean(dim=(2, 3), keepdim=True)  # 1. squeeze: C×H×W → C×1×1
        scale = torch.relu(self.fc1(scale))  # 2. excitation bottleneck C → C/r
        scale = torch.sigmoid(self.fc2(scale))  # 3. back to C weights in (0, 1)
        return x * scale  # 4. rescale each channel
