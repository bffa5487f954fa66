"""The convolutional auto-encoder of the Fall 2022 lectures 18-19 (Masci et al., 2011; notebook 05).

Two encoder-decoder pairs, both halving the resolution twice and restoring it:

* ``decoder="interpolate"`` is the slides' code: conv 3×3 + ReLU + 2×2 max pooling, twice;
  then nearest-neighbour ``F.interpolate`` ×2 + conv 3×3, twice, with a sigmoid at the end;
* ``decoder="transposed"`` is the slides' other variant: strided 3×3 convolutions down and
  3×3 transposed convolutions with stride 2 up. The slides write
  ``nn.ConvTranspose2d(16, 16, 3, stride=2, padding=1)``, which maps n pixels to 2n - 1; we add
  ``output_padding=1`` so that it maps n to 2n and the output matches the input.

Outputs lie in [0, 1] (sigmoid), so train them on images scaled to [0, 1] with an MSE loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import check_input, check_sizes

__all__ = ["ConvAutoencoder"]

DECODERS = ("interpolate", "transposed")


class ConvAutoencoder(nn.Module):
    """The slides' auto-encoder with ``widths = (16, 8)`` (or ``(16, 4)``, their second
    version): a (N, in_channels, H, W) image in [0, 1] → a code (N, widths[-1], H/4, W/4)
    → a reconstruction of the image's shape. ``encode`` and ``decode`` expose the halves.

    It reconstructs images, so it has no ``num_classes``. Its arguments are keyword-only:
    ``in_channels`` used to come first and default to 1; it now defaults to 3 like every model
    in ``seglib.models`` (pass ``in_channels=1`` for the slides' grey-level images)."""

    def __init__(self, *, in_channels: int = 3, widths=(16, 8), decoder: str = "interpolate"):
        super().__init__()
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
        check_sizes("ConvAutoencoder", in_channels=in_channels, widths=widths)
        first, code = widths
        self.in_channels, self.decoder = in_channels, decoder
        if decoder == "interpolate":
            self.conv1 = nn.Conv2d(in_channels, first, 3, padding=1)
            self.conv2 = nn.Conv2d(first, code, 3, padding=1)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv4 = nn.Conv2d(code, first, 3, padding=1)
            self.conv5 = nn.Conv2d(first, in_channels, 3, padding=1)
        else:
            self.conv1 = nn.Conv2d(in_channels, first, 3, stride=2, padding=1)
            self.conv2 = nn.Conv2d(first, code, 3, stride=2, padding=1)
            self.conv4 = nn.ConvTranspose2d(code, first, 3, stride=2, padding=1, output_padding=1)
            self.conv5 = nn.ConvTranspose2d(first, in_channels, 3, stride=2, padding=1, output_padding=1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, in_channels=self.in_channels, multiple=4, min_size=4, model="ConvAutoencoder")
        if self.decoder == "interpolate":
            x = self.pool(F.relu(self.conv1(x)))
            return self.pool(F.relu(self.conv2(x)))  # the compressed representation
        return F.relu(self.conv2(F.relu(self.conv1(x))))

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        if self.decoder == "interpolate":
            x = F.relu(self.conv4(F.interpolate(code, scale_factor=2, mode="nearest")))
            return torch.sigmoid(self.conv5(F.interpolate(x, scale_factor=2, mode="nearest")))
        return torch.sigmoid(self.conv5(F.relu(self.conv4(code))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
