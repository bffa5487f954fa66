"""Fully convolutional networks: FCN-32s, FCN-16s and FCN-8s (Long et al., 2015; notebook 04).

A small VGG-style backbone (five stages of 3×3 convolutions, each ending in 2×2 max pooling, so
pool3/pool4/pool5 sit at strides 8/16/32) is followed by the convolutionalized classifier head
("fc6" and "fc7" as convolutions) and a 1×1 scoring layer. The coarse stride-32 scores are
brought back to the input size by transposed convolutions initialised to bilinear
interpolation (``seglib.ops.bilinear_kernel``):

* **FCN-32s** upsamples the pool5 scores 32× in one step;
* **FCN-16s** upsamples them 2× (learned), adds 1×1 scores of pool4 (the skip), then 16×;
* **FCN-8s** adds pool3's scores after one more learned 2× step, then upsamples 8×.

As in the paper, the skip scoring layers start at zero (so a fresh FCN-16s starts from the
coarse prediction of its FCN-32s part), the 2× upsamplings are learned, and the last upsampling is fixed
bilinear interpolation (a buffer, not a parameter). Unlike the original we use "same" padding
and batch norm instead of the 100-pixel input padding and crop layers, and the widths are
small enough to train on a CPU.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..ops import bilinear_kernel
from .blocks import ConvBNReLU, check_batch_norm, check_input, check_sizes

__all__ = ["FCN", "FixedBilinearUpsample", "VGGBackbone", "learned_upsample"]

VARIANTS = {"32s": 32, "16s": 16, "8s": 8}


class VGGBackbone(nn.Module):
    """VGG-style encoder: stage ``i`` is ``depths[i]`` ConvBNReLU layers of ``widths[i]``
    channels, then 2×2 max pooling. ``forward`` returns every stage's pooled output
    (strides 2, 4, 8, 16, 32 for five stages)."""

    def __init__(self, in_channels: int = 3, widths=(16, 32, 64, 96, 128), depths=(1, 1, 2, 2, 2)):
        super().__init__()
        if len(widths) != len(depths):
            raise ValueError(f"give one depth per stage: {len(widths)} widths but {len(depths)} depths")
        self.widths = tuple(widths)
        self.stages = nn.ModuleList()
        previous = in_channels
        for width, depth in zip(widths, depths):
            layers = []
            for _ in range(depth):
                layers.append(ConvBNReLU(previous, width))
                previous = width
            layers.append(nn.MaxPool2d(2, 2))
            self.stages.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


def learned_upsample(channels: int, factor: int) -> nn.ConvTranspose2d:
    """A ``factor``× transposed convolution (kernel 2·factor, padding factor/2) initialised to
    bilinear interpolation, so it multiplies the size exactly by ``factor``."""
    layer = nn.ConvTranspose2d(channels, channels, 2 * factor, stride=factor, padding=factor // 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(bilinear_kernel(channels, channels, 2 * factor))
    return layer


class FixedBilinearUpsample(nn.Module):
    """Fixed bilinear upsampling by ``factor`` as a per-channel transposed convolution; the
    kernel is a buffer, not a parameter (FCN fixes its final upsampling this way)."""

    def __init__(self, channels: int, factor: int):
        super().__init__()
        if factor % 2:
            raise ValueError(f"factor must be even (kernel 2·factor, padding factor/2), got {factor}")
        self.channels, self.factor = channels, factor
        self.register_buffer("weight", bilinear_kernel(1, 1, 2 * factor).expand(channels, 1, -1, -1).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(x, self.weight, stride=self.factor, padding=self.factor // 2, groups=self.channels)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, factor={self.factor}"


class FCN(nn.Module):
    """FCN-32s, -16s or -8s (``variant``) on a ``VGGBackbone`` (Long et al., 2015).

    ``head_width`` is the width of "fc6" (a 3×3 convolution on pool5) and "fc7" (1×1), the
    convolutionalized fully connected layers. Inputs must have sides divisible by 32.
    Returns logits (N, num_classes, H, W).
    """

    def __init__(self, num_classes: int = 21, variant: str = "8s", in_channels: int = 3,
                 widths=(16, 32, 64, 96, 128), depths=(1, 1, 2, 2, 2), head_width: int = 256,
                 dropout: float = 0.0):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
        if len(widths) != 5:
            raise ValueError(f"FCN needs five backbone stages (pool3/4/5 at strides 8/16/32), got {len(widths)}")
        check_sizes("FCN", num_classes=num_classes, in_channels=in_channels, widths=widths, depths=depths,
                    head_width=head_width)
        self.variant, self.num_classes, self.in_channels = variant, num_classes, in_channels
        self.backbone = VGGBackbone(in_channels, widths, depths)
        self.head = nn.Sequential(  # fc6, fc7 as convolutions
            ConvBNReLU(widths[-1], head_width, 3), nn.Dropout2d(dropout),
            ConvBNReLU(head_width, head_width, 1), nn.Dropout2d(dropout),
        )
        self.score_pool5 = nn.Conv2d(head_width, num_classes, 1)
        self.skips = nn.ModuleDict()
        self.up2 = nn.ModuleDict()
        skips = {"32s": [], "16s": [("pool4", widths[3])], "8s": [("pool4", widths[3]), ("pool3", widths[2])]}
        for name, channels in skips[variant]:
            score = nn.Conv2d(channels, num_classes, 1)
            nn.init.zeros_(score.weight)  # the paper starts the skips at zero
            nn.init.zeros_(score.bias)
            self.skips[name] = score
            self.up2[name] = learned_upsample(num_classes, 2)
        self.upsample = FixedBilinearUpsample(num_classes, VARIANTS[variant])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, in_channels=self.in_channels, multiple=32, min_size=32, model=f"FCN-{self.variant}")
        check_batch_norm(x, self.training, (x.shape[-2] // 32) * (x.shape[-1] // 32), f"FCN-{self.variant}")
        features = self.backbone(x)
        pooled = {"pool3": features[2], "pool4": features[3]}
        scores = self.score_pool5(self.head(features[4]))
        for name, skip in self.skips.items():  # fuse: 2× up, add the skip's scores
            scores = self.up2[name](scores) + skip(pooled[name])
        return self.upsample(scores)
