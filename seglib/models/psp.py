"""PSPNet's pyramid pooling module (Zhao et al. 2017), notebook 06's "other models".

The module average-pools the feature map into 1×1, 2×2, 3×3 and 6×6 bins, reduces each pooled
map with a 1×1 conv, upsamples them back and concatenates them with the input: every pixel then
sees the image's global and regional context, with features *shared* across scales (the
multi-scale information comes from pooling, not from separate paths as in RefineNet).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import ConvBNReLU, SegmentationModel, check_sizes
from .deeplab import AtrousBackbone

__all__ = ["PyramidPooling", "PSPNet"]


class PyramidPooling(nn.Module):
    """Concatenate ``x`` with, per bin size b, adaptive-average-pool to b×b → 1×1 ConvBNReLU to
    ``in_channels / len(bins)`` channels → bilinear upsample. Output channels: 2 × in_channels."""

    def __init__(self, in_channels: int, bins: tuple[int, ...] = (1, 2, 3, 6)):
        super().__init__()
        if in_channels % len(bins):
            raise ValueError(f"in_channels ({in_channels}) must be divisible by the number of bins ({len(bins)})")
        self.bins = tuple(bins)
        self.stages = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(b), ConvBNReLU(in_channels, in_channels // len(bins), kernel_size=1))
            for b in bins
        )
        self.out_channels = 2 * in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = [F.interpolate(stage(x), size=size, mode="bilinear", align_corners=False) for stage in self.stages]
        return torch.cat([x, *pooled], 1)


class PSPNet(SegmentationModel):
    """A small PSPNet: atrous backbone (output stride 8), ``PyramidPooling``, 3×3 conv,
    1×1 classifier, bilinear upsampling. Input sides must be multiples of 8."""

    def __init__(
        self,
        num_classes: int = 21,
        in_channels: int = 3,
        widths=(16, 24, 32, 48, 64),
        bins: tuple[int, ...] = (1, 2, 3, 6),
        output_stride: int = 8,
    ):
        super().__init__()
        check_sizes("PSPNet", num_classes=num_classes, bins=bins)
        self.num_classes, self.in_channels = num_classes, in_channels
        self.multiple = self.min_size = output_stride
        self.backbone = AtrousBackbone(in_channels, widths, output_stride)
        self.ppm = PyramidPooling(self.backbone.out_channels, bins)
        self.head = nn.Sequential(
            ConvBNReLU(self.ppm.out_channels, widths[-1]), nn.Dropout(0.1), nn.Conv2d(widths[-1], num_classes, 1)
        )

    def smallest_map(self, x: torch.Tensor) -> int:
        return 1  # the 1×1 pyramid bin is normalised too

    def decode(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.ppm(features["out"]))
