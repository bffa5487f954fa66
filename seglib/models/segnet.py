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

from .blocks import ConvBNReLU, check_batch_norm, check_input, check_sizes

__all__ = ["SegNet"]


def _convs(widths: list[int]) -> nn.Sequential:
    return nn.Sequential(*(ConvBNReLU(a, b) for a, b in pairwise(widths)))


class SegNet(nn.Module):
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, in_channels=self.in_channels, multiple=self.multiple, model="SegNet")
        check_batch_norm(x, self.training, (x.shape[-2] * x.shape[-1]) // (self.multiple // 2) ** 2, "SegNet")
        indices, sizes = [], []
        for encoder in self.encoders:
            x = encoder(x)
            sizes.append(x.shape[-2:])
            x, where = self.pool(x)  # remember where each maximum was
            indices.append(where)
        for decoder in self.decoders:
            x = self.unpool(x, indices.pop(), output_size=sizes.pop())  # put it back there
            x = decoder(x)
        return self.classifier(x)
