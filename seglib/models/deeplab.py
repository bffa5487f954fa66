"""DeepLab v1, v2, v3 and v3+ (Chen et al. 2015, 2018, 2017, 2018), sized for CPU training at 64×64.

The lectures' three challenges and DeepLab's answers:

- *reduced resolution*: an atrous backbone keeps an output stride (input size / feature size)
  of 8 or 16 by turning the last strides into dilations (``atrous_schedule``), so later
  layers keep their receptive field without shrinking the map;
- *objects at several scales*: atrous spatial pyramid pooling, parallel atrous convolutions at
  several rates: v2 sums per-rate class scores (``ASPPv2``, rates 6/12/18/24); v3 concatenates
  a 1×1 branch, three atrous 3×3 branches and an image-pooling branch, then projects (``ASPP``);
- *poor localisation*: a dense CRF (``seglib.crf``, v1/v2) or, in v3+, a light decoder that
  merges stride-4 features, with depthwise-separable convolutions.

Every model is a ``blocks.SegmentationModel``: it checks its input (height and width must be
multiples of the model's output stride, and the message says how to pad), runs the backbone,
whose ``forward`` returns named feature maps, then its head, and resizes the scores bilinearly
to the input.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import ConvBNReLU, SegmentationModel, SeparableConv2d, check_sizes, resize_to

__all__ = [
    "padding_fraction",
    "scaled_rates",
    "atrous_schedule",
    "AtrousBackbone",
    "ASPPv2",
    "ASPP",
    "DeepLabV1",
    "DeepLabV2",
    "DeepLabV3",
    "DeepLabV3Plus",
]


def padding_fraction(map_size: int, rate: int, kernel_size: int = 3) -> float:
    """Share of a ``kernel_size``² atrous kernel's taps, over every output position of a
    ``map_size``² map with "same" zero padding, that land on the padding. Per axis the centre tap
    is always inside and a tap at offset ``k·rate`` is inside at ``map_size - |k|·rate`` positions
    (none once ``|k|·rate >= map_size``); the 2-D share multiplies the two axes' inside shares.
    At a rate as large as the map the 3×3 kernel is a 1×1 kernel (DeepLab v3, Chen et al. 2017, §3.3)."""
    if map_size < 1 or rate < 1 or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(
            f"padding_fraction needs map_size >= 1, rate >= 1 and an odd kernel_size, "
            f"got {map_size}, {rate}, {kernel_size}"
        )
    half = kernel_size // 2
    inside = sum(max(map_size - abs(k) * rate, 0) for k in range(-half, half + 1))
    return 1 - (inside / (kernel_size * map_size)) ** 2


def scaled_rates(rates: tuple[int, ...], paper_map: int, map_size: int) -> tuple[int, ...]:
    """A paper's atrous rates scaled to another feature-map side: ``round(rate · map_size /
    paper_map)``, at least 1. The rates are a share of the map the paper trained on (v2: 41×41,
    a 321×321 crop at output stride 8; v3: 33×33, 513×513 at 16), so scaling keeps each branch's
    field of view and its share of taps on padding close to the paper's (``padding_fraction``)."""
    if paper_map < 1 or map_size < 1 or any(r < 1 for r in rates):
        raise ValueError(f"scaled_rates needs positive rates and map sides, got {rates}, {paper_map}, {map_size}")
    return tuple(max(1, round(r * map_size / paper_map)) for r in rates)


def atrous_schedule(strides: tuple[int, ...], output_stride: int) -> list[tuple[int, int]]:
    """(stride, dilation) per stage: strides are kept until their product reaches
    ``output_stride``; after that each stride becomes 1 and multiplies the dilation instead
    (torchvision's ``replace_stride_with_dilation``). As in torchvision, a stage's first
    convolution keeps the previous stage's dilation and the rest use the new one."""
    total = 1
    for s in strides:
        total *= s
    if output_stride < 1 or total % output_stride or output_stride & (output_stride - 1):
        raise ValueError(
            f"output_stride must be a power of 2 dividing the backbone's total stride {total}, got {output_stride}"
        )
    schedule, current, dilation = [], 1, 1
    for s in strides:
        if current * s <= output_stride:
            current *= s
            schedule.append((s, dilation))
        else:
            dilation *= s
            schedule.append((1, dilation))
    return schedule


class AtrousBackbone(nn.Module):
    """A small VGG/ResNet-style encoder: a stride-2 stem and stages of two ``ConvBNReLU``
    (the first strided), with a residual shortcut per stage. Nominal output stride 32; with
    ``output_stride`` 8 or 16 the last strides become dilations (``atrous_schedule``).

    ``forward`` returns ``{"low": ..., "out": ...}``: the stride-4 features (for the v3+ decoder)
    and the last stage's features at the output stride."""

    def __init__(self, in_channels: int = 3, widths: tuple[int, ...] = (16, 24, 32, 48, 64), output_stride: int = 8):
        super().__init__()
        check_sizes("AtrousBackbone", in_channels=in_channels, widths=widths, output_stride=output_stride)
        nominal = 2 ** len(widths)
        if output_stride < 2 or output_stride & (output_stride - 1) or nominal % output_stride:
            strides = [2**i for i in range(1, len(widths) + 1)]
            raise ValueError(
                f"output_stride must be one of {strides} (a power of 2 up to the backbone's "
                f"{nominal}), got {output_stride}"
            )
        self.in_channels, self.output_stride = in_channels, output_stride
        self.stem = ConvBNReLU(in_channels, widths[0], stride=2)
        schedule = atrous_schedule((2,) * (len(widths) - 1), output_stride // 2)
        self.stages = nn.ModuleList()
        channels = widths[0]
        previous = 1
        for width, (stride, dilation) in zip(widths[1:], schedule, strict=True):
            self.stages.append(_ResidualStage(channels, width, stride, previous, dilation))
            channels, previous = width, dilation
        self.low_channels, self.out_channels = widths[1], widths[-1]
        self.schedule = [(2, 1)] + schedule

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.stem(x)
        low = None
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i == 0:
                low = x
        return {"low": low, "out": x}


class _ResidualStage(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, first_dilation: int, dilation: int):
        super().__init__()
        self.body = nn.Sequential(
            ConvBNReLU(cin, cout, stride=stride, dilation=first_dilation),
            nn.Conv2d(cout, cout, 3, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


class ASPPv2(nn.Module):
    """DeepLab v2's ASPP: one branch per rate (3×3 atrous conv → ReLU → 1×1 conv to class
    scores), and the branches' scores are **summed**."""

    def __init__(self, in_channels: int, num_classes: int, rates: tuple[int, ...] = (6, 12, 18, 24), width: int = 64):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(in_channels, width, 3, padding=r, dilation=r),
                nn.ReLU(inplace=True),
                nn.Conv2d(width, num_classes, 1),
            )
            for r in rates
        )

    def forward(self, x):
        return sum(branch(x) for branch in self.branches)


class ASPP(nn.Module):
    """DeepLab v3's ASPP: a 1×1 branch, one 3×3 atrous branch per rate and an image-pooling
    branch (global average → 1×1 conv → upsample), concatenated and projected by a 1×1 conv.
    ``separable=True`` uses depthwise-separable atrous convolutions (v3+)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 64,
        rates: tuple[int, ...] = (6, 12, 18),
        separable: bool = False,
        dropout: float = 0.1,
    ):
        super().__init__()
        atrous = SeparableConv2d if separable else ConvBNReLU
        self.branches = nn.ModuleList([ConvBNReLU(in_channels, out_channels, kernel_size=1)])
        self.branches.extend(atrous(in_channels, out_channels, 3, dilation=r) for r in rates)
        self.pooling = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.ReLU(inplace=True)
        )
        self.project = nn.Sequential(
            ConvBNReLU(out_channels * (len(rates) + 2), out_channels, kernel_size=1), nn.Dropout(dropout)
        )

    def forward(self, x):
        pooled = self.pooling(x).expand(-1, -1, *x.shape[-2:])  # the 1×1 map, upsampled
        return self.project(torch.cat([branch(x) for branch in self.branches] + [pooled], 1))


class DeepLabV1(SegmentationModel):
    """DeepLab v1 (LargeFOV), VGG style: conv blocks with 2×2 max pools, only the first three
    pools kept (output stride 8; the paper sets the last two pools' stride to 1), the last block
    dilated 2, then "fc6" as a 3×3 convolution with
    dilation ``rate`` (12 in the paper), "fc7" 1×1 and a 1×1 classifier; bilinear upsampling."""

    def __init__(
        self,
        num_classes: int = 21,
        in_channels: int = 3,
        widths: tuple[int, ...] = (16, 32, 48, 64),
        fc_width: int = 128,
        rate: int = 4,
    ):
        super().__init__()
        check_sizes(
            "DeepLabV1", num_classes=num_classes, in_channels=in_channels, widths=widths, fc_width=fc_width, rate=rate
        )
        self.num_classes, self.in_channels = num_classes, in_channels
        self.multiple = self.min_size = 8
        layers, cin = [], in_channels
        for i, width in enumerate(widths):
            dilation = 2 if i == len(widths) - 1 else 1
            layers += [ConvBNReLU(cin, width, dilation=dilation), ConvBNReLU(width, width, dilation=dilation)]
            if i < 3:
                layers.append(nn.MaxPool2d(2, 2))
            cin = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Conv2d(cin, fc_width, 3, padding=rate, dilation=rate),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Conv2d(fc_width, fc_width, 1),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Conv2d(fc_width, num_classes, 1),
        )

    def encode(self, x):
        return {"out": self.features(x)}

    def decode(self, features):
        return self.head(features["out"])


class DeepLabV2(SegmentationModel):
    """DeepLab v2: the atrous backbone (output stride 8) and ``ASPPv2`` summing per-rate scores."""

    def __init__(
        self,
        num_classes: int = 21,
        in_channels: int = 3,
        widths=(16, 24, 32, 48, 64),
        rates: tuple[int, ...] = (6, 12, 18, 24),
        output_stride: int = 8,
    ):
        super().__init__()
        check_sizes(type(self).__name__, num_classes=num_classes)
        self.num_classes, self.in_channels = num_classes, in_channels
        self.multiple = self.min_size = output_stride
        self.backbone = AtrousBackbone(in_channels, widths, output_stride)
        self.aspp = ASPPv2(self.backbone.out_channels, num_classes, rates)

    def decode(self, features):
        return self.aspp(features["out"])


class DeepLabV3(SegmentationModel):
    """DeepLab v3: atrous backbone, ``ASPP`` with image pooling, 3×3 conv, 1×1 classifier,
    bilinear upsampling. Defaults fit 64×64 inputs: output stride 8 gives an 8×8 map, so the
    ASPP rates are (1, 2, 3) rather than the paper's (6, 12, 18) for 33×33 maps (notebook 06
    computes how much of a large rate samples padding)."""

    def __init__(
        self,
        num_classes: int = 21,
        in_channels: int = 3,
        widths=(16, 24, 32, 48, 64),
        output_stride: int = 8,
        rates: tuple[int, ...] = (1, 2, 3),
        aspp_channels: int = 64,
    ):
        super().__init__()
        check_sizes(type(self).__name__, num_classes=num_classes)
        self.num_classes, self.in_channels = num_classes, in_channels
        self.multiple = self.min_size = output_stride
        self.backbone = AtrousBackbone(in_channels, widths, output_stride)
        self.aspp = ASPP(self.backbone.out_channels, aspp_channels, rates)
        self.head = nn.Sequential(ConvBNReLU(aspp_channels, aspp_channels), nn.Conv2d(aspp_channels, num_classes, 1))

    def decode(self, features):
        return self.head(self.aspp(features["out"]))


class DeepLabV3Plus(SegmentationModel):
    """DeepLab v3+: an encoder (atrous backbone + separable ``ASPP``) and a decoder that
    upsamples the ASPP output to stride 4, concatenates the backbone's stride-4 features reduced
    by a 1×1 conv, refines with two separable 3×3 convs, classifies and upsamples ×4."""

    def __init__(
        self,
        num_classes: int = 21,
        in_channels: int = 3,
        widths=(16, 24, 32, 48, 64),
        output_stride: int = 16,
        rates: tuple[int, ...] = (1, 2, 3),
        aspp_channels: int = 64,
        low_channels: int = 16,
    ):
        super().__init__()
        check_sizes(type(self).__name__, num_classes=num_classes)
        self.num_classes, self.in_channels = num_classes, in_channels
        self.multiple = self.min_size = output_stride
        self.backbone = AtrousBackbone(in_channels, widths, output_stride)
        self.aspp = ASPP(self.backbone.out_channels, aspp_channels, rates, separable=True)
        self.reduce = ConvBNReLU(self.backbone.low_channels, low_channels, kernel_size=1)
        self.decoder = nn.Sequential(
            SeparableConv2d(aspp_channels + low_channels, aspp_channels),
            SeparableConv2d(aspp_channels, aspp_channels),
            nn.Conv2d(aspp_channels, num_classes, 1),
        )

    def decode(self, features):
        low = features["low"]
        high = resize_to(self.aspp(features["out"]), low.shape[-2:])
        return self.decoder(torch.cat([high, self.reduce(low)], 1))
