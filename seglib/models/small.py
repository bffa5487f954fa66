"""The small dilated network of notebook 08's loss comparison (lecture 001, "losses").

Small on purpose, so that five losses × two seeds train to convergence on a CPU: a strided
encoder (two stride-2 convolutions), dilated convolutions for context (rates 2 and 4, as in
DeepLab, notebook 06) and a 1×1 classifier whose scores are upsampled bilinearly (FCN,
notebook 04) back to the input size.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import ConvBNReLU, SegmentationModel

__all__ = ["SmallDilatedNet"]


class SmallDilatedNet(SegmentationModel):
    """Output stride 4; ``width`` channels throughout; logits (N, ``num_classes``, H, W)."""

    def __init__(self, num_classes: int = 21, width: int = 24, in_channels: int = 3):
        super().__init__()
        self.num_classes, self.in_channels, self.multiple = num_classes, in_channels, 4
        self.features = nn.Sequential(
            ConvBNReLU(in_channels, width, stride=2),
            ConvBNReLU(width, width),
            ConvBNReLU(width, width, stride=2),
            ConvBNReLU(width, width, dilation=2),
            ConvBNReLU(width, width, dilation=4),
        )
        self.classifier = nn.Conv2d(width, num_classes, 1)
        self.upsample = nn.Upsample(scale_factor=4, mode="bilinear", align_corners=False)

    def encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"out": self.features(x)}

    def decode(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.upsample(self.classifier(features["out"]))
