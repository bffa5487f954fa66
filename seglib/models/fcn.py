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
from .blocks import ConvBNReLU, SegmentationModel, check_input, check_sizes

__all__ = ["FCN", "FixedBilinearUpsample", "VGGBackbone", "VGGClassifier", "learned_upsample"]

VARIANTS = {"32s": 32, "16s": 16, "8s": 8}


class VGGBackbone(nn.Module):
    """VGG-style encoder: stage ``i`` is ``depths[i]`` ConvBNReLU layers of ``widths[i]``
    channels, then 2×2 max pooling. ``forward`` returns every stage's pooled output by name,
    ``{"pool1": ..., "pool5": ...}`` (strides 2, 4, 8, 16, 32 for five stages)."""

    def __init__(self, in_channels: int = 3, widths=(16, 32, 64, 96, 128), depths=(1, 1, 2, 2, 2)):
        super().__init__()
        if len(widths) != len(depths):
            raise ValueError(f"give one depth per stage: {len(widths)} widths but {len(depths)} depths")
        self.widths = tuple(widths)
        self.stages = nn.ModuleList()
        previous = in_channels
        for width, depth in zip(widths, depths, strict=True):
            layers = []
            for _ in range(depth):
                layers.append(ConvBNReLU(previous, width))
                previous = width
            layers.append(nn.MaxPool2d(2, 2))
            self.stages.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = {}
        for i, stage in enumerate(self.stages, start=1):
            x = stage(x)
            features[f"pool{i}"] = x
        return features


class VGGClassifier(nn.Module):
    """The classifier an FCN starts from (notebook 04 §1): a ``VGGBackbone`` on P×P crops, then
    "fc6" and "fc7" (linear, batch norm, ReLU) and a linear scorer of the centre pixel's class.

    Long et al. start FCN from VGG16 trained on ImageNet at 224×224, where pool5 is 7×7 and fc6
    becomes a 7×7 convolution. Here P = ``patch_size`` (a multiple of 32) gives a P/32 × P/32
    pool5 map, so ``FCN.from_classifier`` turns fc6 into a (P/32)×(P/32) convolution.
    """

    def __init__(
        self,
        num_classes: int = 21,
        in_channels: int = 3,
        widths=(16, 32, 64, 96, 128),
        depths=(1, 1, 2, 2, 2),
        head_width: int = 256,
        patch_size: int = 32,
    ):
        super().__init__()
        if patch_size % 32 or patch_size < 32:
            raise ValueError(f"patch_size must be a multiple of 32 (five 2× poolings), got {patch_size}")
        self.num_classes, self.in_channels, self.patch_size = num_classes, in_channels, patch_size
        self.backbone = VGGBackbone(in_channels, widths, depths)
        side = patch_size // 32
        self.head = nn.Sequential(  # fc6, fc7
            nn.Flatten(),
            nn.Linear(widths[-1] * side * side, head_width, bias=False),
            nn.BatchNorm1d(head_width),
            nn.ReLU(inplace=True),
            nn.Linear(head_width, head_width, bias=False),
            nn.BatchNorm1d(head_width),
            nn.ReLU(inplace=True),
        )
        self.score = nn.Linear(head_width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, in_channels=self.in_channels, model="VGGClassifier")
        if tuple(x.shape[-2:]) != (self.patch_size, self.patch_size):
            raise ValueError(
                f"VGGClassifier takes {self.patch_size}×{self.patch_size} crops, got "
                f"{tuple(x.shape[-2:])}; convolutionalize it (FCN.from_classifier) for whole images"
            )
        return self.score(self.head(self.backbone(x)["pool5"]))


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


class FCN(SegmentationModel):
    """FCN-32s, -16s or -8s (``variant``) on a ``VGGBackbone`` (Long et al., 2015).

    ``head_width`` is the width of "fc6" (a ``head_kernel``×``head_kernel`` convolution on pool5)
    and "fc7" (1×1), the convolutionalized fully connected layers. Inputs must have sides
    divisible by 32. Returns logits (N, num_classes, H, W). ``FCN.from_classifier`` builds one
    from a trained ``VGGClassifier``, as the paper starts from VGG16.
    """

    def __init__(
        self,
        num_classes: int = 21,
        variant: str = "8s",
        in_channels: int = 3,
        widths=(16, 32, 64, 96, 128),
        depths=(1, 1, 2, 2, 2),
        head_width: int = 256,
        dropout: float = 0.0,
        head_kernel: int = 3,
    ):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
        if len(widths) != 5:
            raise ValueError(f"FCN needs five backbone stages (pool3/4/5 at strides 8/16/32), got {len(widths)}")
        check_sizes(
            "FCN", num_classes=num_classes, in_channels=in_channels, widths=widths, depths=depths, head_width=head_width
        )
        self.variant, self.num_classes, self.in_channels = variant, num_classes, in_channels
        self.multiple = self.min_size = 32
        self.backbone = VGGBackbone(in_channels, widths, depths)
        self.head = nn.Sequential(  # fc6, fc7 as convolutions
            ConvBNReLU(widths[-1], head_width, head_kernel),
            nn.Dropout2d(dropout),
            ConvBNReLU(head_width, head_width, 1),
            nn.Dropout2d(dropout),
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

    @classmethod
    def from_classifier(cls, classifier: VGGClassifier, variant: str = "8s", **options) -> FCN:
        """Convolutionalize a trained ``VGGClassifier`` (Long et al. 2015, §3.1): copy its
        backbone, turn fc6 into a convolution whose kernel covers the classifier's pool5 map and
        fc7 and the scorer into 1×1 convolutions. The new skips start at zero, so the result
        first predicts what the classifier's coarse map says, upsampled."""
        head_width = classifier.score.in_features
        widths = classifier.backbone.widths
        depths = tuple(sum(isinstance(m, ConvBNReLU) for m in stage) for stage in classifier.backbone.stages)
        kernel = classifier.patch_size // 32
        if kernel % 2 == 0:
            raise ValueError(
                f"a {classifier.patch_size}-pixel classifier gives an even {kernel}×{kernel} fc6 kernel, "
                "which cannot keep FCN's sizes with 'same' padding; use an odd multiple of 32 (32, 96)"
            )
        model = cls(
            classifier.num_classes,
            variant,
            classifier.in_channels,
            widths,
            depths,
            head_width,
            head_kernel=kernel,
            **options,
        )
        model.backbone.load_state_dict(classifier.backbone.state_dict())
        fc6, bn6, _, fc7, bn7, _ = list(classifier.head)[1:]
        conv6, conv7 = model.head[0], model.head[2]
        with torch.no_grad():
            conv6[0].weight.copy_(fc6.weight.view(head_width, widths[-1], kernel, kernel))
            conv7[0].weight.copy_(fc7.weight[:, :, None, None])
            model.score_pool5.weight.copy_(classifier.score.weight[:, :, None, None])
            model.score_pool5.bias.copy_(classifier.score.bias)
        conv6[1].load_state_dict(bn6.state_dict())
        conv7[1].load_state_dict(bn7.state_dict())
        return model

    @property
    def model_name(self) -> str:
        return f"FCN-{self.variant}"

    def coarse_scores(self, x: torch.Tensor) -> torch.Tensor:
        """The stride-32 class scores of pool5, before any skip or upsampling (FCN-32s's "2×2 map")."""
        return self.score_pool5(self.head(self.backbone(x)["pool5"]))

    def decode(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        scores = self.score_pool5(self.head(features["pool5"]))  # = coarse_scores(x)
        for name, skip in self.skips.items():  # fuse: 2× up, add the skip's scores
            scores = self.up2[name](scores) + skip(features[name])
        return self.upsample(scores)  # fixed bilinear ×(32, 16 or 8): already the input's size
