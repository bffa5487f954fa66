"""Segmentation models, one module per family (DESIGN.md), shared blocks in ``blocks``:

- ``patch``: Ciresan-style patch classifier, sliding window, ``convolutionalize`` (notebooks 03, 04)
- ``fcn``: FCN-32s/16s/8s on a small VGG-style backbone (notebook 04)
- ``autoencoder``, ``segnet``, ``unet``, ``resnet_unet``: encoder-decoders (notebook 05)
- ``deeplab``, ``psp``, ``crfrnn``: atrous networks, ASPP, pyramid pooling, CRF-as-RNN (notebook 06)
- ``maskrcnn``, ``panoptic``: a small Mask R-CNN and UPSNet-style panoptic fusion (notebook 07)
- ``small``: the small dilated network of the loss comparison (notebook 08)

Import the family you need, e.g. ``from seglib.models.unet import UNet``. The dense models share
one skeleton, ``blocks.SegmentationModel``, and one contract (CONTRIBUTING.md, "The model
contract"; ``tests/test_model_contract.py`` checks it): ``num_classes=21`` and ``in_channels=3``
keyword arguments, logits (N, num_classes, H, W) at the input's size, a ``ValueError`` that says
how to pad an input of the wrong size. :data:`MODELS` names a builder for each, and
:func:`build` makes one by name; :func:`register` adds a model of your own.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from torch import nn

__all__ = ["MODELS", "register", "build"]

Builder = Callable[..., nn.Module]


def _lazy(module: str, name: str, **fixed) -> Builder:
    """A builder that imports ``seglib.models.<module>`` only when called (ResNet and Mask R-CNN
    import torchvision's model zoo; ``import seglib.models`` should stay cheap)."""

    def builder(**options) -> nn.Module:
        cls = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        return cls(**fixed, **options)

    builder.__qualname__ = builder.__name__ = f"{name}" + (
        f"({', '.join(f'{k}={v!r}' for k, v in fixed.items())})" if fixed else ""
    )
    return builder


#: Name → builder of every dense model that meets the contract: ``MODELS[name](num_classes=...,
#: in_channels=..., **options)`` returns the model (``build(name, ...)`` does the same).
MODELS: dict[str, Builder] = {
    "fcn32s": _lazy("fcn", "FCN", variant="32s"),
    "fcn16s": _lazy("fcn", "FCN", variant="16s"),
    "fcn8s": _lazy("fcn", "FCN", variant="8s"),
    "segnet": _lazy("segnet", "SegNet"),
    "unet": _lazy("unet", "UNet"),
    "resnet_unet": _lazy("resnet_unet", "ResNetUNet"),
    "deeplab_v1": _lazy("deeplab", "DeepLabV1"),
    "deeplab_v2": _lazy("deeplab", "DeepLabV2"),
    "deeplab_v3": _lazy("deeplab", "DeepLabV3"),
    "deeplab_v3plus": _lazy("deeplab", "DeepLabV3Plus"),
    "pspnet": _lazy("psp", "PSPNet"),
    "small_dilated": _lazy("small", "SmallDilatedNet"),
    "semantic": _lazy("panoptic", "SemanticNet"),
}


def register(name: str, builder: Builder, *, replace: bool = False) -> Builder:
    """Add ``builder`` (a model class or a function taking ``num_classes``, ``in_channels`` and
    options) to :data:`MODELS` as ``name``; refuses to overwrite an entry unless ``replace``.
    Returns ``builder``, so it also works as ``register("name", MyNet)`` after the class."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"register needs a non-empty name, got {name!r}")
    if not callable(builder):
        raise TypeError(
            f"register({name!r}, ...) needs a model class or a function that builds one, got {type(builder).__name__}"
        )
    if name in MODELS and not replace:
        raise ValueError(
            f"a model named {name!r} is already registered ({MODELS[name].__name__}); choose another "
            "name or pass replace=True"
        )
    MODELS[name] = builder
    return builder


def build(name: str, *, num_classes: int = 21, in_channels: int = 3, **options) -> nn.Module:
    """A fresh model ``name`` from :data:`MODELS` for ``num_classes`` classes and ``in_channels``
    channels; ``options`` go to its constructor (``build("unet", depth=3, base_width=16)``)."""
    if name not in MODELS:
        raise KeyError(f"no model {name!r}; the models are {', '.join(MODELS)} (seglib.models.register adds one)")
    return MODELS[name](num_classes=num_classes, in_channels=in_channels, **options)
