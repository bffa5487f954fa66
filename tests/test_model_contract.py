"""The model contract (CONTRIBUTING.md, "The model contract"), checked for every model in
``seglib.models.MODELS``: the keyword arguments and their defaults, the skeleton, the output
shape, the size error, backward, and the parameter count of a tiny configuration.

Adding a model: register it in ``seglib.models.MODELS`` and add a tiny case to ``CASES``;
``test_every_registered_model_has_a_case`` fails until you do.
"""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

from seglib import models
from seglib.analysis import count_params
from seglib.models.blocks import SegmentationModel

TINY = dict(widths=(4, 4, 4, 4, 4))
FCN_TINY = dict(widths=(4,) * 5, depths=(1,) * 5, head_width=8)

# case → model name in MODELS, tiny options, an input size (H, W) it takes, one it refuses, the
# parameter count with num_classes=5 and in_channels=3 (pinned: a refactor that changes it changes
# the architecture, and every checkpoint with it), and the channels it can be built for.
CASES = {
    "fcn32s": dict(model="fcn32s", options=FCN_TINY, size=(32, 64), bad=(32, 48), params=1153),
    "fcn16s": dict(model="fcn16s", options=FCN_TINY, size=(32, 64), bad=(32, 48), params=1578),
    "fcn8s": dict(model="fcn8s", options=FCN_TINY, size=(32, 64), bad=(32, 48), params=2003),
    "segnet": dict(model="segnet", options=dict(widths=(4, 6, 8)), size=(16, 24), bad=(16, 20), params=3957),
    "unet": dict(model="unet", options=dict(depth=2, base_width=4), size=(8, 12), bad=(8, 10), params=7569),
    "unet_valid": dict(
        model="unet",
        options=dict(depth=2, base_width=4, padding="valid"),
        size=(44, 52),
        bad=(44, 50),
        params=7569,
        out=(4, 12),
    ),  # valid convolutions: a smaller output
    "resnet_unet": dict(
        model="resnet_unet",
        options=dict(pretrained=False, decoder_channels=(4,) * 5),
        size=(32, 64),
        bad=(32, 40),
        params=11_214_937,
        channels=3,
    ),  # ResNet-18's RGB stem
    "deeplab_v1": dict(
        model="deeplab_v1", options=dict(widths=(4, 6, 8, 8), fc_width=8), size=(16, 24), bad=(16, 20), params=3757
    ),
    "deeplab_v2": dict(
        model="deeplab_v2", options=dict(rates=(1, 2), **TINY), size=(16, 24), bad=(16, 20), params=6814
    ),
    "deeplab_v3": dict(
        model="deeplab_v3", options=dict(aspp_channels=8, **TINY), size=(16, 24), bad=(16, 20), params=3393
    ),
    "deeplab_v3plus": dict(
        model="deeplab_v3plus",
        options=dict(aspp_channels=8, low_channels=4, **TINY),
        size=(16, 32),
        bad=(16, 24),
        params=2601,
    ),
    "pspnet": dict(model="pspnet", options=dict(bins=(1, 2), **TINY), size=(16, 24), bad=(16, 20), params=1773),
    "small_dilated": dict(model="small_dilated", options=dict(width=4), size=(8, 12), bad=(8, 10), params=749),
    "semantic": dict(model="semantic", options=dict(width=4), size=(16, 20), bad=(16, 18), params=2393),
}
NUM_CLASSES = 5


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def _build(case: dict, in_channels: int) -> nn.Module:
    torch.manual_seed(0)
    return models.build(case["model"], num_classes=NUM_CLASSES, in_channels=in_channels, **case["options"])


def test_every_registered_model_has_a_case():
    missing = sorted(set(models.MODELS) - {case["model"] for case in CASES.values()})
    assert not missing, f"add a tiny case for {missing} to CASES in tests/test_model_contract.py"


@pytest.mark.parametrize("name", CASES)
def test_model_meets_the_contract(name):
    case = CASES[name]
    channels = case.get("channels", 2)  # 2: not the default, so a model that ignores in_channels fails
    model = _build(case, channels).train()
    assert isinstance(model, SegmentationModel)
    assert (model.num_classes, model.in_channels) == (NUM_CLASSES, channels)
    parameters = inspect.signature(type(model)).parameters
    assert (parameters["num_classes"].default, parameters["in_channels"].default) == (21, 3)

    # output: (N, num_classes, H, W), the input's size unless the model says otherwise
    x = torch.randn(2, channels, *case["size"])
    out = model(x)
    assert out.shape == (2, NUM_CLASSES, *case.get("out", case["size"]))

    # backward: every parameter gets a gradient
    out.square().mean().backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, f"parameters without a gradient: {no_grad[:5]}"

    # the size error: a ValueError that says how to fix the input
    with pytest.raises(ValueError, match="Pad to"):
        model(torch.randn(2, channels, *case["bad"]))
    with pytest.raises(ValueError, match=f"in_channels={channels + 1}"):
        model(torch.randn(2, channels + 1, *case["size"]))

    # eval mode takes a batch of one
    assert model.eval()(x[:1]).shape == (1, NUM_CLASSES, *case.get("out", case["size"]))

    # the parameter count with the default 3 channels (pinned before the skeleton existed)
    assert count_params(_build(case, 3)) == case["params"]


@pytest.mark.parametrize(
    "module, name",
    [
        ("patch", "PatchClassifier"),
        ("fcn", "VGGClassifier"),
        ("autoencoder", "ConvAutoencoder"),
        ("maskrcnn", "TinyBackbone"),
    ],
)
def test_the_other_models_share_the_keyword_defaults(module, name):
    """Classifiers, the auto-encoder and the detector's backbone are not dense segmenters, but
    they take ``num_classes`` (where they have classes) and ``in_channels`` with the same defaults."""
    import importlib

    cls = getattr(importlib.import_module(f"seglib.models.{module}"), name)
    parameters = inspect.signature(cls).parameters
    assert parameters["in_channels"].default == 3
    if "num_classes" in parameters:
        assert parameters["num_classes"].default == 21


def test_register_and_build():
    class Tiny(SegmentationModel):
        def __init__(self, num_classes: int = 21, in_channels: int = 3):
            super().__init__()
            self.num_classes, self.in_channels, self.multiple = num_classes, in_channels, 2
            self.backbone = nn.Conv2d(in_channels, 4, 3, stride=2, padding=1)
            self.head = nn.Conv2d(4, num_classes, 1)

        def encode(self, x):
            return {"out": self.backbone(x)}

        def decode(self, features):
            return self.head(features["out"])

    models.register("tiny-test", Tiny)
    try:
        model = models.build("tiny-test", num_classes=4, in_channels=1)
        assert model(torch.randn(1, 1, 6, 10)).shape == (1, 4, 6, 10)  # resized to the input
        with pytest.raises(ValueError, match="already registered"):
            models.register("tiny-test", Tiny)
    finally:
        del models.MODELS["tiny-test"]
    with pytest.raises(KeyError, match="no model 'tiny-test'.*register"):
        models.build("tiny-test")
    with pytest.raises(NotImplementedError, match="decode"):
        SegmentationModel.decode(model, {})
