"""SegNet: an encoder-decoder that upsamples with the encoder's pooling indices
(Badrinarayanan et al., 2017; notebook 05).

Each encoder stage is ConvBNReLU layers then 2×2 max pooling that also returns *where* each
maximum came from (``return_indices=True``). The mirrored decoder stage puts every value back
at that position with ``nn.MaxUnpool2d`` (zeros elsewhere, a sparse map) and densifies it
with ConvBNReLU layers. Only the indices cross from encoder to decoder, not feature maps as in
U-Net, so the skip costs no memory for features and no parameters. DeconvNet (Noh et al.,
2015) uses the same unpooling, with transposed convolutions instead of convolutions after it.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

from .blocks import ConvBNReLU, SegmentationModel, check_sizes

__all__ = ["SegNet"]


def _convs(widths: list[int]) -> nn.Sequential:
    return nn.Sequential(*(ConvBNReLU(a, b) for a, b in pairwise(widths)))


class SegNet(SegmentationModel):
    """SegNet with ``len(widths)`` stages of ``convs_per_stage`` ConvBNReLU layers each; input
    sides must be divisible by 2^len(widths). Returns logits (N, num_classes, H, W).

    Decoder stage i mirrors encoder stage i: unpool, then ``convs_per_stage`` layers, the last
    of which narrows to the width of the stage above (the first decoder stage ends at
    ``widths[0]`` and a 3×3 convolution scores the classes)."""

    def __init__(self, num_classes: int = 21, in_channels: int = 3, widths=(16, 32, 64), convs_per_stage: int = 2):
        super().__init__()
        if convs_per_stage < 1:
            raise ValueError(f"convs_per_stage must be at least 1, got {convs_per_stage}")
        check_sizes("SegNet", num_classes=num_classes, in_channels=in_channels, widths=widths)
        self.in_channels, self.num_classes = in_channels, num_classes
        self.multiple = 2 ** len(widths)
        self.encoders = nn.ModuleList()
        previous = in_channels
        for width in widths:
            self.encoders.append(_convs([previous] + [width] * convs_per_stage))
            previous = width
        self.decoders = nn.ModuleList()
        for i in reversed(range(len(widths))):
            narrower = widths[i - 1] if i > 0 else widths[0]
            self.decoders.append(_convs([widths[i]] * convs_per_stage + [narrower]))
        self.pool = nn.MaxPool2d(2, 2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2, 2)
        self.classifier = nn.Conv2d(widths[0], num_classes, 3, padding=1)

    def smallest_map(self, x: torch.Tensor) -> int:
        return (x.shape[-2] * x.shape[-1]) // (self.multiple // 2) ** 2  # the last stage's, before pooling

    def encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Stage i's pooled map ``pool{i}`` and where each maximum came from, ``indices{i}``
        (the switches the decoder unpools with), i = 1 .. len(widths)."""
        features = {}
        for i, encoder in enumerate(self.encoders, start=1):
            features[f"pool{i}"], features[f"indices{i}"] = self.pool(encoder(x))  # remember where each maximum was
            x = features[f"pool{i}"]
        return features

    def decode(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        x = features[f"pool{len(self.encoders)}"]
        for i, decoder in zip(reversed(range(1, len(self.encoders) + 1)), self.decoders, strict=True):
            where = features[f"indices{i}"]
            x = decoder(self.unpool(x, where, output_size=[2 * s for s in where.shape[-2:]]))  # put it back there
        return self.classifier(x)
