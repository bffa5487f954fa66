"""A U-Net whose encoder is a torchvision ResNet-18 (He et al., 2016; notebook 05).

Transfer learning, Piccoli & Barbato lecture: a classification network becomes a feature
extractor in one of two ways, and both are here so they can be compared:

* ``features="identity"``: **truncate** the network: its head (``avgpool``, ``fc``) becomes
  ``nn.Identity()`` and the forward pass runs the stem and the four residual stages by hand,
  keeping each stage's output;
* ``features="hooks"``: run the whole network unchanged and let **forward hooks** on the stem's
  ReLU and on ``layer1`` ... ``layer4`` record their outputs as they pass.

Both give the five feature maps at strides 2, 4, 8, 16, 32 (64, 64, 128, 256, 512 channels);
a U-Net decoder upsamples from the deepest, concatenating the others on the way up, like
``segmentation_models_pytorch.Unet``.

``pretrained``: ``"auto"`` loads the ImageNet weights only when they are already in the torch
hub cache (never downloads), ``True`` downloads them if needed, ``False`` starts from random
weights. ``weights_source`` says which happened.
"""

from __future__ import annotations

import functools
import http.client
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from ..data.paths import display_path
from .blocks import ConvBNReLU, SegmentationModel, check_sizes

__all__ = ["ResNet18Encoder", "ResNetUNet", "cached_weights_path"]

STRATEGIES = ("identity", "hooks")
HOOKED = ("relu", "layer1", "layer2", "layer3", "layer4")


def cached_weights_path(weights=None) -> Path:
    """Where torch keeps the downloaded ``weights`` (default ResNet-18 ImageNet) file."""
    weights = weights or torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name


def _resnet18(pretrained) -> tuple[nn.Module, str]:
    if pretrained not in ("auto", True, False):
        raise ValueError(f"pretrained must be 'auto', True or False, got {pretrained!r}")
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    model = torchvision.models.resnet18(weights=None)
    path = cached_weights_path(weights)
    if pretrained == "auto" and path.is_file():  # read the cache; never download
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model, f"ImageNet weights from the cache ({path.name})"
    if pretrained is True:  # explicit: download if needed
        try:
            model.load_state_dict(weights.get_state_dict(progress=True))
        except (OSError, http.client.HTTPException) as error:  # URLError, timeouts, refused connections
            raise ConnectionError(
                f"could not download the ResNet-18 ImageNet weights ({error}); offline? Use pretrained='auto' (only "
                f"cached weights) or pretrained=False, or put the file at {display_path(path)} (from {weights.url})"
            ) from None
        return model, f"ImageNet weights ({path.name})"
    if pretrained == "auto":
        return model, f"training from scratch: no cached ImageNet weights at {display_path(path)}"
    return model, "training from scratch (pretrained=False)"


class ResNet18Encoder(nn.Module):
    """ResNet-18 as a multi-scale feature extractor; ``forward`` returns five maps at strides
    2, 4, 8, 16, 32, named after the torchvision layers they come from (``relu``, the stem's,
    then ``layer1`` ... ``layer4``), taken by ``features`` = "identity" (truncation) or "hooks"."""

    channels = (64, 64, 128, 256, 512)

    def __init__(self, features: str = "identity", pretrained="auto"):
        super().__init__()
        if features not in STRATEGIES:
            raise ValueError(f"features must be one of {', '.join(STRATEGIES)}, got {features!r}")
        self.features = features
        self.resnet, self.weights_source = _resnet18(pretrained)
        self.resnet.avgpool = nn.Identity()  # strategy 1 of the lecture: drop the classifier head
        self.resnet.fc = nn.Identity()
        self._store: dict[str, torch.Tensor] = {}
        if features == "hooks":
            for name in HOOKED:  # strategy 2: intercept the activations as they pass
                getattr(self.resnet, name).register_forward_hook(functools.partial(self._hook, name))

    def _hook(self, name: str, module, inputs, output) -> None:
        self._store[name] = output

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        r = self.resnet
        if self.features == "hooks":
            self._store = {}
            r(x)  # the hooks fill self._store; the (identity) head's output is not needed
            features, self._store = self._store, {}
            return features
        x = r.relu(r.bn1(r.conv1(x)))
        features = {"relu": x}
        x = r.maxpool(x)
        for name in HOOKED[1:]:
            x = getattr(r, name)(x)
            features[name] = x
        return features


class DecoderBlock(nn.Module):
    """Upsample 2× (nearest), concatenate the skip (if any), two ConvBNReLU (smp's Unet block)."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Sequential(
            ConvBNReLU(in_channels + skip_channels, out_channels), ConvBNReLU(out_channels, out_channels)
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv(x)


class ResNetUNet(SegmentationModel):
    """U-Net with a ResNet-18 encoder: five decoder blocks of ``decoder_channels`` climb from
    stride 32 to stride 1, concatenating the encoder maps at strides 16, 8, 4, 2; a 3×3
    convolution scores the classes. Inputs: 3 channels (ResNet-18's stem), sides divisible by 32."""

    def __init__(
        self,
        num_classes: int = 21,
        features: str = "identity",
        pretrained="auto",
        decoder_channels=(128, 64, 32, 32, 16),
        *,
        in_channels: int = 3,
    ):
        super().__init__()
        if in_channels != 3:
            raise ValueError(
                f"ResNetUNet takes RGB images: ResNet-18's stem (and its ImageNet weights) has 3 input "
                f"channels, got in_channels={in_channels!r}; convert the images to 3 channels, or use "
                f"UNet(in_channels={in_channels!r})"
            )
        self.num_classes, self.in_channels = num_classes, in_channels
        self.multiple = self.min_size = 32
        if len(decoder_channels) != 5:
            raise ValueError(f"give five decoder_channels (strides 16, 8, 4, 2, 1), got {len(decoder_channels)}")
        check_sizes("ResNetUNet", num_classes=num_classes, decoder_channels=decoder_channels)
        self.encoder = ResNet18Encoder(features, pretrained)
        self.weights_source = self.encoder.weights_source
        skips = list(reversed(ResNet18Encoder.channels[:-1])) + [0]
        ins = [ResNet18Encoder.channels[-1], *decoder_channels[:-1]]
        self.decoder = nn.ModuleList(
            DecoderBlock(i, s, o) for i, s, o in zip(ins, skips, decoder_channels, strict=True)
        )
        self.classifier = nn.Conv2d(decoder_channels[-1], num_classes, 3, padding=1)

    def encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.encoder(x)

    def decode(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        skips = [features[name] for name in HOOKED]  # strides 2 .. 32
        x = skips.pop()
        for block in self.decoder:
            x = block(x, skips.pop() if skips else None)
        return self.classifier(x)
