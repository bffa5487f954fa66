"""U-Net (Ronneberger et al., 2015; notebook 05): a contracting path of double 3×3
convolutions and 2×2 max pooling, an expanding path that upsamples, **concatenates** the
encoder's feature map of the same level (the skip) and applies another double convolution.

Options:

* ``depth`` (number of poolings) and ``base_width`` (channels of the first level; each level
  doubles them). The paper's network is ``depth=4, base_width=64``.
* ``padding="same"``: 3×3 convolutions with padding 1, the output has the input's size (sides
  divisible by 2^depth). ``padding="valid"``: no padding, as in the paper: every convolution
  removes a 1-pixel border, so the encoder's maps are larger than the decoder's and are
  **cropped** at the centre before concatenation ("copy and crop"); the output is smaller than
  the input (572 → 388 for depth 4). ``UNet.output_size`` and ``UNet.valid_input_size`` give
  the sizes.
* ``upsampling="transposed"``: a 2×2 transposed convolution with stride 2 that halves the
  channels (the paper's "up-conv"); ``"bilinear"``: bilinear interpolation then a 1×1
  convolution that halves the channels (no checkerboard artefacts, fewer parameters).
* ``se=True`` adds a Squeeze-and-Excitation block (Hu et al., 2018) after the bottleneck, the
  place the Piccoli & Barbato lecture suggests for it.
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
from torch import nn

from .blocks import SegmentationModel, SqueezeExcitation, check_sizes

__all__ = ["DoubleConv", "UNet", "center_crop"]

PADDINGS = ("same", "valid")
UPSAMPLINGS = ("transposed", "bilinear")


class DoubleConv(nn.Sequential):
    """(3×3 convolution → batch norm → ReLU) twice; ``padding`` 1 keeps the size, 0 loses 2 pixels each."""

    def __init__(self, in_channels: int, out_channels: int, padding: int = 1):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=padding, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=padding, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


def center_crop(x: torch.Tensor, size) -> torch.Tensor:
    """The central ``size`` = (h, w) window of a (N, C, H, W) map: U-Net's "crop"."""
    h, w = size
    top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
    if top < 0 or left < 0:
        raise ValueError(f"cannot crop {tuple(x.shape[-2:])} to the larger {(h, w)}")
    return x[..., top : top + h, left : left + w]


class Up(nn.Module):
    """Upsample 2× halving the channels, copy-and-crop the skip, concatenate, double conv."""

    def __init__(self, in_channels: int, out_channels: int, padding: int, upsampling: str):
        super().__init__()
        if upsampling == "transposed":
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, 2, stride=2)
        else:
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(in_channels, in_channels // 2, 1),
            )
        self.conv = DoubleConv(in_channels // 2 + out_channels, out_channels, padding)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        return self.conv(torch.cat([center_crop(skip, x.shape[-2:]), x], dim=1))


class UNet(SegmentationModel):
    """U-Net with ``depth`` poolings and ``base_width`` channels at the first level.

    Returns logits (N, num_classes, H', W'): H' = H with ``padding="same"``, and
    ``UNet.output_size(H, depth)`` with ``padding="valid"``. ``num_classes`` and ``in_channels``
    default to 21 and 3 like every model here (they used to default to the paper's 2 and 1:
    pass ``num_classes=2, in_channels=1`` for EM membranes).
    """

    def __init__(
        self,
        num_classes: int = 21,
        in_channels: int = 3,
        depth: int = 4,
        base_width: int = 64,
        padding: str = "same",
        upsampling: str = "transposed",
        se: bool = False,
        se_reduction: int = 16,
    ):
        super().__init__()
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {', '.join(PADDINGS)}, got {padding!r}")
        if upsampling not in UPSAMPLINGS:
            raise ValueError(f"upsampling must be one of {', '.join(UPSAMPLINGS)}, got {upsampling!r}")
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        check_sizes(
            "UNet",
            num_classes=num_classes,
            in_channels=in_channels,
            depth=depth,
            base_width=base_width,
            se_reduction=se_reduction,
        )
        self.num_classes, self.in_channels, self.depth, self.padding = num_classes, in_channels, depth, padding
        self.multiple = 2**depth if padding == "same" else 1
        self.resize_output = False  # "same" keeps the size; "valid" makes the output smaller on purpose
        pad = 1 if padding == "same" else 0
        widths = [base_width * 2**i for i in range(depth + 1)]
        self.downs = nn.ModuleList([DoubleConv(in_channels, widths[0], pad)])
        self.downs.extend(DoubleConv(a, b, pad) for a, b in pairwise(widths))
        self.pool = nn.MaxPool2d(2, 2)
        self.se = SqueezeExcitation(widths[-1], se_reduction) if se else nn.Identity()
        self.ups = nn.ModuleList(Up(widths[i + 1], widths[i], pad, upsampling) for i in reversed(range(depth)))
        self.classifier = nn.Conv2d(widths[0], num_classes, 1)

    @staticmethod
    def output_size(size: int, depth: int = 4, padding: str = "valid") -> int:
        """Output side for an input side ``size``: each valid double conv removes 4 pixels,
        pooling halves, up-convolution doubles. Raises for sizes the network cannot take."""
        if padding == "same":
            return size
        for _ in range(depth):
            size -= 4
            if size < 2 or size % 2:
                raise ValueError(
                    f"a valid-padding U-Net of depth {depth} cannot take this size "
                    f"(a map of odd or too small side {size} reaches a pooling); "
                    f"use UNet.valid_input_size"
                )
            size //= 2
        size -= 4
        for _ in range(depth):
            size = 2 * size - 4
        if size < 1:
            raise ValueError(f"a valid-padding U-Net of depth {depth} needs larger inputs; use UNet.valid_input_size")
        return size

    @staticmethod
    def valid_input_size(size: int, depth: int = 4) -> int:
        """The smallest input side ≥ ``size`` that a valid-padding U-Net of ``depth`` takes:
        n + 4 divisible by 2^depth and a bottleneck map of at least 8 pixels, so that every
        pooled map is even and the expanding path stays positive."""
        step = 2**depth
        return max(math.ceil((size + 4) / step), 12) * step - 4

    @property
    def model_name(self) -> str:
        return "UNet" if self.padding == "same" else "UNet(padding='valid')"

    def smallest_map(self, x: torch.Tensor) -> int | None:
        return super().smallest_map(x) if self.padding == "same" else None

    def check(self, x: torch.Tensor) -> None:
        super().check(x)
        if self.padding == "same":
            return
        h, w = x.shape[-2:]
        good_h, good_w = self.valid_input_size(h, self.depth), self.valid_input_size(w, self.depth)
        if (good_h, good_w) != (h, w):
            raise ValueError(
                f"UNet(padding='valid') of depth {self.depth} needs sides n with n + 4 divisible by "
                f"{2**self.depth} and n ≥ {self.valid_input_size(1, self.depth)}, got {h}×{w}. "
                f"Pad to {good_h}×{good_w}, e.g. torch.nn.functional.pad(x, (0, {good_w - w}, 0, {good_h - h}), "
                f"mode='reflect') (the paper mirrors the border), or crop the images."
            )

    def encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The contracting path: ``{"down0": ..., "down{depth}": ...}``, level i at stride 2^i
        (the last, the bottleneck, after the optional Squeeze-and-Excitation)."""
        features = {}
        for i, down in enumerate(self.downs):
            x = down(x if i == 0 else self.pool(x))
            features[f"down{i}"] = x
        features[f"down{self.depth}"] = self.se(x)
        return features

    def decode(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """The expanding path: up from the bottleneck, concatenating each level's map (the skips)."""
        x = features[f"down{self.depth}"]
        for i, up in zip(reversed(range(self.depth)), self.ups, strict=True):
            x = up(x, features[f"down{i}"])
        return self.classifier(x)
