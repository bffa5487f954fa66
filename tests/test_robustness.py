"""Bad input and injected faults (issue 22): no silent wrong result, no crash, no code run from a file.

Every row of ``REFUSED`` calls seglib with one bad input and asserts the exception type and the key
words of its message (what was wrong and how to fix it). ``CORRECT`` holds edge cases whose right
answer is a result, not an error. The tests after the tables inject faults into ``fit``: a NaN
loss at batch k, a kill while a checkpoint is written, corrupt, foreign and hostile checkpoints.
Everything uses tiny tensors and models, so the module runs in seconds on one core.
"""

from __future__ import annotations

import io
import json
import os
import re
import pickle
import tarfile
import urllib.error
from pathlib import Path
from unittest import mock

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from seglib import analysis, check, cluster, crf, data, instance, kernels, losses, metrics, ops, student, train, viz
from seglib.check import CheckFailed
from seglib.data import cache, cli, labels as data_labels, panoptic as data_panoptic, voc, vocformat
from seglib.data.download import ArchiveError, safe_extract
from seglib.models import maskrcnn
from seglib.models.autoencoder import ConvAutoencoder
from seglib.models.crfrnn import CRFRNN
from seglib.models.deeplab import DeepLabV1, DeepLabV2, DeepLabV3, DeepLabV3Plus
from seglib.models.fcn import FCN
from seglib.models.panoptic import SemanticNet, paste_mask_logits, upsnet_fusion
from seglib.models.patch import PatchClassifier
from seglib.models.psp import PSPNet
from seglib.models.resnet_unet import ResNetUNet
from seglib.models.segnet import SegNet
from seglib.models.unet import UNet
from seglib.train import NonFiniteLossError

HUGE = 10**6
TINY_WIDTHS = (2, 2, 2, 2, 2)


def x4(n=1, c=2, h=5, w=5):
    return torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(0))


def w4(cout=3, cin=2, k=3):
    return torch.randn(cout, cin, k, k, generator=torch.Generator().manual_seed(1))


def probs(c=3, h=6, w=6):
    return torch.softmax(torch.randn(c, h, w, generator=torch.Generator().manual_seed(2)), 0)


def rgb(h=6, w=6):
    return torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))


def labels(n=2, h=4, w=4, c=3):
    return torch.randint(0, c, (n, h, w), generator=torch.Generator().manual_seed(4))


def pan(value, shape=(8, 8)):
    return np.full(shape, value, np.int64)


def train_mode(model):
    return model.train()


def one_image(model, size, channels=3):
    """A train-mode forward pass on a batch of one image."""
    return train_mode(model)(torch.randn(1, channels, size, size))


def focal(**kw):
    return losses.focal_loss(torch.randn(2, 3, 4, 4), labels(), **kw)


def dice(**kw):
    return losses.soft_dice_loss(torch.randn(2, 3, 4, 4), labels(), **kw)


def dense(**kw):
    return crf.dense_crf(probs(), rgb(), n_iters=1, **kw)


def cm_update(pred, target, c=3):
    m = metrics.ConfusionMatrix(c)
    m.update(pred, target)
    return m.compute()


def nan_logits(n=2, c=3, h=4, w=4):
    return torch.full((n, c, h, w), float("nan"))


# --- UPSNet fusion: a 4-category semantic map of 8x8, two instances of thing 1 (stuff 2 and 3)
def semantic(c=4, h=8, w=8):
    return torch.randn(c, h, w, generator=torch.Generator().manual_seed(5))


def roi_logits(k=2, m=6):
    return torch.randn(k, m, m, generator=torch.Generator().manual_seed(6))


def boxes(*rows):
    return torch.tensor(rows or [[0.0, 0.0, 4.0, 4.0], [2.0, 2.0, 8.0, 8.0]])


def fuse(sem=None, masks=None, box=None, labels_=(1, 1), **kw):
    kw = {"stuff_ids": [2, 3], "thing_ids": [1], **kw}
    return upsnet_fusion(
        semantic() if sem is None else sem,
        roi_logits() if masks is None else masks,
        boxes() if box is None else box,
        torch.tensor(labels_),
        **kw,
    )


def target(instances, semantic_map=None):
    instances = np.asarray(instances)
    semantic_map = np.ones(instances.shape, np.uint8) if semantic_map is None else np.asarray(semantic_map, np.uint8)
    return data_panoptic.maskrcnn_target({"instances": instances, "semantic": semantic_map})


def scenes(folder: Path, category=1, category_ids=(1,), split_ids=(0,), meta=None):
    """A one-image COCO-panoptic folder whose panoptic.json can be broken in one way."""
    for sub in ("images", "panoptic"):
        (folder / sub).mkdir()
        Image.fromarray(np.ones((4, 4, 3), np.uint8)).save(folder / sub / "a.png")  # segment id 1 + 256 + 65536
    segment = {"id": 65793, "category_id": category, "area": 16, "bbox": [0, 0, 4, 4], "iscrowd": 0}
    meta = (
        meta
        if meta is not None
        else {
            "categories": [{"id": i, "name": f"c{i}", "isthing": 1, "color": [1, 2, 3]} for i in category_ids],
            "images": [{"id": 0, "file_name": "a.png", "height": 4, "width": 4}],
            "annotations": [{"image_id": 0, "file_name": "a.png", "segments_info": [segment]}],
            "train": list(split_ids),
        }
    )
    (folder / "panoptic.json").write_text(json.dumps(meta))
    return data_panoptic.PanopticScenes(folder, "train")[0]


# --- Albumentations pipelines: one RGB uint8 image and its mask
def transformed(image=None, mask=None):
    image = np.zeros((8, 8, 3), np.uint8) if image is None else image
    mask = np.zeros((8, 8), np.uint8) if mask is None else mask
    return data.eval_transform(8)(image=image, mask=mask)


# --- the lab's self-checks: datasets that read (image, mask) pairs of 8x8
class Pairs(torch.utils.data.Dataset):
    """Two items; ``random`` images differ on every read (an augmented training set)."""

    split = "train"

    def __init__(self, image=None, random=False):
        self.image, self.random = image, random

    def __len__(self):
        return 2

    def __getitem__(self, index):
        image = torch.randn(3, 8, 8) if self.random else (torch.zeros(3, 8, 8) if self.image is None else self.image)
        return image, torch.zeros(8, 8, dtype=torch.long)


def lab_task_1(train_set=None, train_loader=None):
    train_set = train_set or Pairs(random=True)
    val_set = Pairs()
    val_set.split = "val"
    loader = train_loader if train_loader is not None else DataLoader(train_set, batch_size=2, shuffle=True)
    return check.dataset_and_loader(train_set, val_set, loader, DataLoader(val_set, batch_size=2), image_size=8)


class NaNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 21, 1)

    def forward(self, x):
        return self.conv(x) / 0.0 * 0.0


def never_rendered(**values):
    raise AssertionError("static_slider rendered a frame before checking the grid")


def offline_pretrained():
    error = urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
    with (
        mock.patch("torchvision.models.ResNet18_Weights.IMAGENET1K_V1.get_state_dict", side_effect=error, create=True),
        mock.patch("torchvision.models._api.WeightsEnum.get_state_dict", side_effect=error),
    ):
        ResNetUNet(pretrained=True)


# --------------------------------------------------------------------------- refused inputs
# (call, exception type, regex the message must match); ``call`` takes a tmp folder.
REFUSED = {
    # ops: wrong types, empty inputs, non-finite scales, absurd sizes
    "conv2d-numpy": (lambda t: ops.conv2d(x4().numpy(), w4()), TypeError, "torch.Tensor.*from_numpy"),
    "conv2d-1d": (lambda t: ops.conv2d(torch.randn(5), w4()), ValueError, r"\(N, C, H, W\)"),
    "conv2d-2d": (lambda t: ops.conv2d(torch.randn(5, 5), w4()), ValueError, r"x\[None, None\]"),
    "conv2d-empty-height": (lambda t: ops.conv2d(x4(h=0), w4(), padding=1), ValueError, "empty height"),
    "conv2d-empty-width": (lambda t: ops.conv2d(x4(w=0), w4()), ValueError, "empty height or width"),
    "conv2d-bias-list": (
        lambda t: ops.conv2d(x4(), w4(), bias=[0.0, 0.0, 0.0]),
        TypeError,
        "bias must be a tensor.*torch.tensor",
    ),
    "conv2d-bias-shape": (
        lambda t: ops.conv2d(x4(), w4(), bias=torch.zeros(2)),
        ValueError,
        r"bias must have shape \(3,\)",
    ),
    "conv2d-bias-dtype": (
        lambda t: ops.conv2d(x4(), w4(), bias=torch.zeros(3, dtype=torch.float64)),
        TypeError,
        "bias.*dtype",
    ),
    "conv2d-padding-absurd": (
        lambda t: ops.conv2d(x4(), w4(), padding=HUGE),
        MemoryError,
        "padded.*would need.*padding",
    ),
    "conv2d-padding-negative": (lambda t: ops.conv2d(x4(), w4(), padding=-1), ValueError, "padding must be >= 0"),
    "conv2d-padding-word": (lambda t: ops.conv2d(x4(), w4(), padding="full"), ValueError, "'valid' or 'same'"),
    "conv2d-same-strided": (lambda t: ops.conv2d(x4(), w4(), stride=2, padding="same"), ValueError, "stride 1"),
    "conv2d-stride-zero": (lambda t: ops.conv2d(x4(), w4(), stride=0), ValueError, "stride must be >= 1"),
    "conv2d-stride-float": (lambda t: ops.conv2d(x4(), w4(), stride=1.5), TypeError, "int or a pair"),
    "conv2d-stride-bool": (lambda t: ops.conv2d(x4(), w4(), stride=True), TypeError, "int or a pair"),
    "conv2d-dilation-absurd": (lambda t: ops.conv2d(x4(), w4(), dilation=HUGE), ValueError, "footprint"),
    "conv2d-groups-zero": (lambda t: ops.conv2d(x4(), w4(), groups=0), ValueError, "groups must be a positive int"),
    "conv2d-groups-mismatch": (lambda t: ops.conv2d(x4(), w4(), groups=2), ValueError, "groups=2 must divide"),
    "conv2d-int-input": (lambda t: ops.conv2d(x4().long(), w4()), TypeError, r"x\.float\(\)"),
    "conv2d-empty-kernel": (lambda t: ops.conv2d(x4(), torch.randn(3, 2, 0, 3)), ValueError, "empty dimension"),
    "conv2d-no-output-channels": (lambda t: ops.conv2d(x4(), torch.randn(0, 2, 3, 3)), ValueError, "empty dimension"),
    "conv2d-weight-3d": (lambda t: ops.conv2d(x4(), torch.randn(3, 2, 3)), ValueError, "4-D tensor"),
    "conv_t-empty-height": (lambda t: ops.conv_transpose2d(x4(h=0), w4(2, 3)), ValueError, "empty height"),
    "conv_t-bias-list": (
        lambda t: ops.conv_transpose2d(x4(), w4(2, 3), bias=[0.0] * 3),
        TypeError,
        "bias must be a tensor",
    ),
    "conv_t-stride-absurd": (
        lambda t: ops.conv_transpose2d(x4(), w4(2, 3), stride=HUGE),
        MemoryError,
        "would need.*stride",
    ),
    "conv_t-output-padding": (
        lambda t: ops.conv_transpose2d(x4(), w4(2, 3), stride=2, output_padding=2),
        ValueError,
        "output_padding",
    ),
    "conv_t-padding-crops-all": (
        lambda t: ops.conv_transpose2d(x4(), w4(2, 3), padding=10),
        ValueError,
        "less padding",
    ),
    "conv_t-numpy": (lambda t: ops.conv_transpose2d(x4().numpy(), w4(2, 3)), TypeError, "from_numpy"),
    "bilinear-scale-nan": (
        lambda t: ops.upsample_bilinear(x4(), scale_factor=float("nan")),
        ValueError,
        "scale_factor must be a finite",
    ),
    "bilinear-scale-inf": (lambda t: ops.upsample_bilinear(x4(), scale_factor=float("inf")), ValueError, "finite"),
    "bilinear-scale-to-empty": (
        lambda t: ops.upsample_bilinear(x4(), scale_factor=0.1),
        ValueError,
        r"0x0.*larger scale_factor",
    ),
    "bilinear-scale-negative": (
        lambda t: ops.upsample_bilinear(x4(), scale_factor=-2.0),
        ValueError,
        "scale_factor must be > 0",
    ),
    "bilinear-scale-string": (
        lambda t: ops.upsample_bilinear(x4(), scale_factor="2"),
        TypeError,
        "scale_factor must be a number",
    ),
    "bilinear-scale-absurd": (lambda t: ops.upsample_bilinear(x4(), scale_factor=1e7), MemoryError, "would need"),
    "bilinear-size-absurd": (lambda t: ops.upsample_bilinear(x4(), size=HUGE), MemoryError, "smaller size"),
    "bilinear-size-zero": (lambda t: ops.upsample_bilinear(x4(), size=0), ValueError, "size must be >= 1"),
    "bilinear-neither": (lambda t: ops.upsample_bilinear(x4()), ValueError, "exactly one"),
    "bilinear-empty-input": (lambda t: ops.upsample_bilinear(x4(h=0), scale_factor=2.0), ValueError, "empty height"),
    "bilinear-int-input": (lambda t: ops.upsample_bilinear(x4().long(), scale_factor=2.0), TypeError, "floating-point"),
    "bilinear-formulation": (
        lambda t: ops.upsample_bilinear(x4(), scale_factor=2.0, formulation="bicubic"),
        ValueError,
        "'distances' or 'areas'",
    ),
    "nearest-numpy": (lambda t: ops.upsample_nearest(np.zeros((4, 4))), TypeError, "from_numpy"),
    "nearest-1d": (lambda t: ops.upsample_nearest(torch.zeros(4)), ValueError, r"at least two dimensions.*x\[None\]"),
    "nearest-empty": (lambda t: ops.upsample_nearest(torch.zeros(0, 4)), ValueError, "empty height"),
    "nearest-scale-absurd": (lambda t: ops.upsample_nearest(x4(), HUGE), MemoryError, "smaller scale_factor"),
    "nearest-scale-zero": (lambda t: ops.upsample_nearest(x4(), 0), ValueError, "scale_factor must be >= 1"),
    "bed_of_nails-1d": (lambda t: ops.bed_of_nails(torch.zeros(3)), ValueError, "at least two"),
    "bed_of_nails-scale-absurd": (lambda t: ops.bed_of_nails(x4(), HUGE), MemoryError, "would need"),
    "unpool-output-absurd": (
        lambda t: ops.max_unpool2d(x4(), torch.zeros(1, 2, 5, 5, dtype=torch.long), 2, output_size=(HUGE, HUGE)),
        MemoryError,
        "output_size",
    ),
    "unpool-output-zero": (
        lambda t: ops.max_unpool2d(x4(), torch.zeros(1, 2, 5, 5, dtype=torch.long), 2, output_size=(0, 4)),
        ValueError,
        "two positive ints",
    ),
    "unpool-float-indices": (
        lambda t: ops.max_unpool2d(x4(), torch.zeros(1, 2, 5, 5), 2),
        ValueError,
        "return_indices=True",
    ),
    "unpool-index-outside": (
        lambda t: ops.max_unpool2d(x4(), torch.full((1, 2, 5, 5), 999, dtype=torch.long), 2),
        ValueError,
        "output_size",
    ),
    "unpool-padding-too-large": (
        lambda t: ops.max_unpool2d(x4(h=1, w=1), torch.zeros(1, 2, 1, 1, dtype=torch.long), 2, padding=2),
        ValueError,
        "padding",
    ),
    "pixel_shuffle-zero": (lambda t: ops.pixel_shuffle(x4(c=4), 0), ValueError, "positive int"),
    "pixel_shuffle-channels": (lambda t: ops.pixel_shuffle(x4(c=3), 2), ValueError, "divisible"),
    "bilinear_kernel-zero": (lambda t: ops.bilinear_kernel(0, 1, 4), ValueError, "in_channels must be a positive int"),
    "bilinear_kernel-absurd": (lambda t: ops.bilinear_kernel(HUGE, HUGE, 4), MemoryError, "kernel.*would need"),
    # metrics
    "cm-all-nan-logits": (lambda t: cm_update(nan_logits(), labels()), ValueError, "NaN or infinite.*diverged"),
    "cm-inf-logits": (
        lambda t: cm_update(torch.full((2, 3, 4, 4), float("inf")), labels()),
        ValueError,
        "NaN or infinite",
    ),
    "cm-one-nan-logit": (
        lambda t: cm_update(
            torch.randn(2, 3, 4, 4).index_put_((torch.tensor(0),) * 4, torch.tensor(float("nan"))), labels()
        ),
        ValueError,
        "1 NaN",
    ),
    "cm-logits-wrong-classes": (
        lambda t: cm_update(torch.randn(2, 4, 4, 4), labels()),
        ValueError,
        "C = num_classes = 3",
    ),
    "cm-num-classes-zero": (lambda t: metrics.ConfusionMatrix(0), ValueError, "num_classes must be an int >= 2"),
    "cm-num-classes-bool": (lambda t: metrics.ConfusionMatrix(True), ValueError, "num_classes must be an int"),
    "cm-num-classes-absurd": (lambda t: metrics.ConfusionMatrix(10**7), MemoryError, "confusion matrix.*num_classes"),
    "cm-ignore-is-class": (lambda t: metrics.ConfusionMatrix(3, ignore_index=1), ValueError, "real class"),
    "cm-float-target": (lambda t: cm_update(labels(), labels().float()), TypeError, r"mask\.long\(\)"),
    "cm-label-outside": (lambda t: cm_update(labels(), labels().fill_(77)), ValueError, "label 77, outside 0..2"),
    "cm-negative-label": (lambda t: cm_update(labels().fill_(-1), labels()), ValueError, "label -1"),
    "cm-shape-mismatch": (lambda t: cm_update(labels(h=2), labels()), ValueError, "F.interpolate"),
    "cm-compute-empty": (lambda t: metrics.ConfusionMatrix(3).compute(), RuntimeError, "before any update"),
    "confusion-one-class": (
        lambda t: metrics.confusion_matrix(labels(), labels(), 1),
        ValueError,
        "num_classes must be an int >= 2",
    ),
    "from-confusion-negative": (
        lambda t: metrics.metrics_from_confusion(np.array([[5, -1], [-1, 2]])),
        ValueError,
        "non-negative.*negative",
    ),
    "from-confusion-nan": (
        lambda t: metrics.metrics_from_confusion(np.array([[5.0, np.nan], [0, 2]])),
        ValueError,
        "NaN or infinite",
    ),
    "from-confusion-not-square": (lambda t: metrics.metrics_from_confusion(np.ones((2, 3))), ValueError, "square"),
    "per-image-iou-nan": (lambda t: metrics.per_image_iou(nan_logits(), labels(), 3), ValueError, "NaN or infinite"),
    "background-miou-one-class": (lambda t: metrics.background_miou(labels(), 1), ValueError, "num_classes"),
    # panoptic quality and panoptic maps
    "pq-negative-id": (
        lambda t: metrics.panoptic_quality(pan(-5), pan(1000)),
        ValueError,
        "negative id -5.*void_label=-1",
    ),
    "pq-negative-category": (
        lambda t: metrics.panoptic_quality(pan(1000), pan(-1001)),
        ValueError,
        "negative id -1001",
    ),
    "pq-huge-id": (
        lambda t: metrics.panoptic_quality(pan(2**40), pan(2**40)),
        ValueError,
        "category 1099511627.*label_divisor",
    ),
    "pq-huge-id-num-categories": (
        lambda t: metrics.panoptic_quality(pan(2**40), pan(0), num_categories=3),
        ValueError,
        "num_categories=3",
    ),
    "pq-num-categories-absurd": (
        lambda t: metrics.panoptic_quality(pan(0), pan(0), num_categories=10**13),
        MemoryError,
        "num_categories",
    ),
    "pq-num-categories-zero": (
        lambda t: metrics.panoptic_quality(pan(0), pan(0), num_categories=0),
        ValueError,
        "positive int",
    ),
    "pq-divisor-zero": (
        lambda t: metrics.panoptic_quality(pan(0), pan(0), label_divisor=0),
        ValueError,
        "label_divisor must be a positive int",
    ),
    "pq-divisor-negative": (
        lambda t: metrics.panoptic_quality(pan(0), pan(0), label_divisor=-3),
        ValueError,
        "label_divisor",
    ),
    "pq-divisor-float": (
        lambda t: metrics.panoptic_quality(pan(0), pan(0), label_divisor=2.5),
        ValueError,
        "label_divisor",
    ),
    "pq-empty-lists": (lambda t: metrics.panoptic_quality([], []), ValueError, "at least one"),
    "pq-length-mismatch": (
        lambda t: metrics.panoptic_quality([pan(0)], [pan(0), pan(0)]),
        ValueError,
        "1 predictions but 2",
    ),
    "pq-float-map": (lambda t: metrics.panoptic_quality(pan(0).astype(float), pan(0)), ValueError, "integer map"),
    "pq-shape-mismatch": (lambda t: metrics.panoptic_quality(pan(0, (4, 4)), pan(0)), ValueError, "shapes differ"),
    "pq-crowd-mismatch": (
        lambda t: metrics.panoptic_quality([pan(0)], [pan(0)], crowd_targets=[[], []]),
        ValueError,
        "crowd_targets",
    ),
    "to-panoptic-divisor-zero": (
        lambda t: instance.to_panoptic(pan(1), pan(0), label_divisor=0),
        ValueError,
        "label_divisor",
    ),
    "to-panoptic-negative": (lambda t: instance.to_panoptic(pan(1), pan(-2)), ValueError, "non-negative"),
    "to-panoptic-instance-too-large": (
        lambda t: instance.to_panoptic(pan(1), pan(1000)),
        ValueError,
        "raise label_divisor",
    ),
    # losses
    "focal-gamma-negative": (lambda t: focal(gamma=-1.0), ValueError, "gamma must be >= 0"),
    "focal-gamma-nan": (lambda t: focal(gamma=float("nan")), ValueError, "gamma must be a finite number"),
    "focal-gamma-inf": (lambda t: focal(gamma=float("inf")), ValueError, "gamma must be a finite"),
    "focal-gamma-string": (lambda t: focal(gamma="2"), TypeError, "gamma must be a number"),
    "focal-alpha-negative": (lambda t: focal(alpha=[1.0, -1.0, 1.0]), ValueError, "non-negative"),
    "focal-alpha-nan": (lambda t: focal(alpha=[1.0, float("nan"), 1.0]), ValueError, "finite"),
    "focal-alpha-zero": (lambda t: focal(alpha=[0.0, 0.0, 0.0]), ValueError, "not all zero"),
    "focal-alpha-length": (lambda t: focal(alpha=[1.0, 1.0]), ValueError, r"one weight per class \(3\)"),
    "focal-reduction": (lambda t: focal(reduction="avg"), ValueError, "'mean', 'sum' or 'none'"),
    "focal-target-float": (
        lambda t: losses.focal_loss(torch.randn(2, 3, 4, 4), labels().float()),
        TypeError,
        r"target\.long\(\)",
    ),
    "focal-target-outside": (
        lambda t: losses.focal_loss(torch.randn(2, 3, 4, 4), labels().fill_(7)),
        ValueError,
        "outside 0..2",
    ),
    "FocalLoss-gamma": (lambda t: losses.FocalLoss(gamma=-2.0), ValueError, "gamma must be >= 0"),
    "FocalLoss-alpha": (lambda t: losses.FocalLoss(alpha=[1.0, float("inf")]), ValueError, "finite"),
    "FocalLoss-reduction": (lambda t: losses.FocalLoss(reduction="average"), ValueError, "reduction"),
    "dice-smooth-negative": (lambda t: dice(smooth=-1.0), ValueError, "smooth must be >= 0"),
    "dice-smooth-nan": (lambda t: dice(smooth=float("nan")), ValueError, "smooth must be a finite"),
    "dice-eps-zero": (lambda t: dice(eps=0.0), ValueError, "eps must be > 0"),
    "SoftDiceLoss-smooth-inf": (lambda t: losses.SoftDiceLoss(smooth=float("inf")), ValueError, "finite"),
    "CombinedLoss-weight-nan": (
        lambda t: losses.CombinedLoss([nn.CrossEntropyLoss()], [float("nan")]),
        ValueError,
        r"weights\[0\]",
    ),
    "CombinedLoss-weight-negative": (
        lambda t: losses.CombinedLoss([nn.CrossEntropyLoss()], [-1.0]),
        ValueError,
        ">= 0",
    ),
    "CombinedLoss-count": (
        lambda t: losses.CombinedLoss([nn.CrossEntropyLoss()], [1.0, 1.0]),
        ValueError,
        "one weight per loss",
    ),
    # dense CRF and CRF-as-RNN
    "crf-appearance-xy-tiny": (lambda t: dense(appearance_xy=1e-30), ValueError, "appearance_xy must be >= 0.01"),
    "crf-appearance-xy-nan": (
        lambda t: dense(appearance_xy=float("nan")),
        ValueError,
        "appearance_xy must be a finite",
    ),
    "crf-appearance-rgb-inf": (
        lambda t: dense(appearance_rgb=float("inf")),
        ValueError,
        "appearance_rgb must be a finite",
    ),
    "crf-smoothness-xy-zero": (lambda t: dense(smoothness_xy=0), ValueError, "smoothness_xy.*positive"),
    "crf-smoothness-weight-negative": (
        lambda t: dense(smoothness_weight=-1.0),
        ValueError,
        "smoothness_weight must be >= 0",
    ),
    "crf-appearance-weight-nan": (
        lambda t: dense(appearance_weight=float("nan")),
        ValueError,
        "appearance_weight must be a finite",
    ),
    "crf-smoothness-weight-inf": (lambda t: dense(smoothness_weight=float("inf")), ValueError, "finite"),
    "crf-lattice-overflow": (
        lambda t: dense(appearance_rgb=0.01, method="fast"),
        ValueError,
        "lattice.*appearance_rgb",
    ),
    "crf-empty-image": (
        lambda t: crf.dense_crf(torch.ones(2, 0, 0) / 2, torch.zeros(3, 0, 0, dtype=torch.uint8)),
        ValueError,
        "empty image",
    ),
    "crf-n-iters-negative": (
        lambda t: dense(n_iters=-1) if False else crf.dense_crf(probs(), rgb(), n_iters=-1),
        ValueError,
        "n_iters",
    ),
    "crf-n-iters-float": (lambda t: crf.dense_crf(probs(), rgb(), n_iters=2.5), ValueError, "n_iters"),
    "crf-probs-nan": (lambda t: crf.dense_crf(torch.full((3, 6, 6), float("nan")), rgb()), ValueError, "sum to 1"),
    "crf-logits-not-probs": (lambda t: crf.dense_crf(torch.randn(3, 6, 6), rgb()), ValueError, r"softmax\(0\)"),
    "crf-image-float": (lambda t: crf.dense_crf(probs(), rgb().float()), ValueError, "uint8"),
    "crf-image-size": (lambda t: crf.dense_crf(probs(), rgb(5, 6)), ValueError, "resize"),
    "crf-method": (lambda t: dense(method="permutohedral"), ValueError, "'auto', 'exact' or 'fast'"),
    "crf-compatibility-shape": (
        lambda t: crf.mean_field(-probs().log(), rgb().float(), 1, compatibility=torch.ones(2, 2)),
        ValueError,
        r"compatibility must be a finite \(3, 3\)",
    ),
    "crf-unary-nan": (
        lambda t: crf.mean_field(torch.full((3, 6, 6), float("nan")), rgb().float(), 1),
        ValueError,
        "unary holds NaN",
    ),
    "CRFRNN-no-classes": (lambda t: CRFRNN(0), ValueError, "num_classes must be a positive int"),
    "CRFRNN-width": (lambda t: CRFRNN(3, appearance_xy=-1.0), ValueError, "appearance_xy must be >= 0.01"),
    "CRFRNN-iterations": (lambda t: CRFRNN(3, n_iters=-1), ValueError, "n_iters"),
    # k-means and cluster scoring
    "kmeans-nan-points": (
        lambda t: cluster.kmeans(torch.tensor([[0.0, 1.0], [float("nan"), 0.0], [1.0, 1.0]]), 2),
        ValueError,
        r"1 of 3 points hold NaN.*isfinite",
    ),
    "kmeans-inf-points": (
        lambda t: cluster.kmeans(torch.tensor([[0.0], [float("inf")]]), 1),
        ValueError,
        "NaN or infinite",
    ),
    "kmeans-k-zero": (lambda t: cluster.kmeans(torch.randn(5, 2), 0), ValueError, "k must be a positive int"),
    "kmeans-k-bool": (lambda t: cluster.kmeans(torch.randn(5, 2), True), ValueError, "k must be a positive int"),
    "kmeans-k-too-large": (lambda t: cluster.kmeans(torch.randn(3, 2), 5), ValueError, "lower k"),
    "kmeans-n-iters-zero": (lambda t: cluster.kmeans(torch.randn(5, 2), 2, n_iters=0), ValueError, "n_iters"),
    "kmeans-tol-nan": (
        lambda t: cluster.kmeans(torch.randn(5, 2), 2, tol=float("nan")),
        ValueError,
        "tol must be a finite",
    ),
    "kmeans-1d": (lambda t: cluster.kmeans(torch.randn(5), 2), ValueError, "color_features"),
    "kmeans-no-features": (lambda t: cluster.kmeans(torch.randn(5, 0), 2), ValueError, "at least one feature"),
    "majority-empty": (
        lambda t: cluster.majority_labels(np.zeros((0, 3), int), np.zeros((0, 3), int), 2),
        ValueError,
        "empty",
    ),
    "majority-huge-id": (
        lambda t: cluster.majority_labels(np.full((2, 2), 2**50), np.zeros((2, 2), int), 2),
        MemoryError,
        "number the segments",
    ),
    # models: empty sizes and impossible strides
    "deeplabv3-stride-5": (
        lambda t: DeepLabV3(output_stride=5),
        ValueError,
        r"output_stride must be one of \[2, 4, 8, 16, 32\]",
    ),
    "deeplabv3-stride-64": (lambda t: DeepLabV3(output_stride=64), ValueError, "output_stride"),
    "deeplabv3plus-stride-0": (lambda t: DeepLabV3Plus(output_stride=0), ValueError, "output_stride"),
    "deeplabv2-stride-1": (lambda t: DeepLabV2(output_stride=1), ValueError, "output_stride"),
    "psp-stride-3": (lambda t: PSPNet(output_stride=3), ValueError, "output_stride"),
    "unet-base-width-zero": (lambda t: UNet(base_width=0), ValueError, "base_width must be a positive int"),
    "unet-no-classes": (lambda t: UNet(num_classes=0), ValueError, "num_classes"),
    "fcn-no-classes": (lambda t: FCN(num_classes=0), ValueError, "num_classes must be a positive int"),
    "fcn-zero-width": (lambda t: FCN(widths=(16, 0, 8, 8, 8)), ValueError, "widths must be positive ints"),
    "segnet-zero-width": (lambda t: SegNet(widths=(16, 0)), ValueError, "widths"),
    "deeplabv1-no-classes": (lambda t: DeepLabV1(num_classes=0), ValueError, "num_classes"),
    "deeplabv2-negative-classes": (lambda t: DeepLabV2(num_classes=-1), ValueError, "num_classes"),
    "deeplabv3-no-classes": (lambda t: DeepLabV3(num_classes=0), ValueError, "num_classes"),
    "psp-no-classes": (lambda t: PSPNet(num_classes=0), ValueError, "num_classes"),
    "resnet-unet-no-classes": (lambda t: ResNetUNet(num_classes=0, pretrained=False), ValueError, "num_classes"),
    "semantic-net-no-classes": (lambda t: SemanticNet(0), ValueError, "num_classes"),
    "patch-no-classes": (lambda t: PatchClassifier(num_classes=0), ValueError, "num_classes"),
    "autoencoder-zero-code": (lambda t: ConvAutoencoder(widths=(16, 0)), ValueError, "widths"),
    "resnet-unet-offline": (lambda t: offline_pretrained(), ConnectionError, "offline.*pretrained='auto'"),
    # models: a batch of one in train mode at the smallest size
    "bn-fcn-32": (
        lambda t: one_image(FCN(2, widths=TINY_WIDTHS, head_width=4), 32),
        ValueError,
        "batch of 1.*drop_last=True.*eval",
    ),
    "bn-deeplabv1-8": (
        lambda t: one_image(DeepLabV1(2, widths=(2, 2, 2, 2), fc_width=4), 8),
        ValueError,
        "drop_last=True",
    ),
    "bn-deeplabv2-8": (lambda t: one_image(DeepLabV2(2, widths=TINY_WIDTHS), 8), ValueError, "at least 2 images"),
    "bn-deeplabv3-8": (
        lambda t: one_image(DeepLabV3(2, widths=TINY_WIDTHS, aspp_channels=4), 8),
        ValueError,
        "drop_last",
    ),
    "bn-deeplabv3plus-16": (
        lambda t: one_image(DeepLabV3Plus(2, widths=TINY_WIDTHS, aspp_channels=4, low_channels=2), 16),
        ValueError,
        "drop_last",
    ),
    "bn-psp-any-size": (
        lambda t: one_image(PSPNet(2, widths=(4, 4, 4, 4, 4), bins=(1, 2)), 32),
        ValueError,
        r"model\.eval\(\)",
    ),
    "bn-resnet-unet-32": (
        lambda t: one_image(ResNetUNet(2, pretrained=False, decoder_channels=(4, 4, 4, 4, 4)), 32),
        ValueError,
        "drop_last",
    ),
    "bn-unet-16": (lambda t: one_image(UNet(2, 1, depth=4, base_width=2), 16, channels=1), ValueError, "drop_last"),
    # analysis: inputs sized by the caller
    "count-macs-absurd-input": (
        lambda t: analysis.count_macs(nn.Conv2d(3, 2, 1), (3, HUGE, HUGE)),
        MemoryError,
        "smaller input_shape",
    ),
    "count-macs-empty-input": (
        lambda t: analysis.count_macs(nn.Conv2d(3, 2, 1), (3, 0, 4)),
        ValueError,
        "positive sizes",
    ),
    "count-macs-bad-rank": (
        lambda t: analysis.count_macs(nn.Conv2d(3, 2, 1), (4, 4)),
        ValueError,
        r"\(C, H, W\) or \(N, C, H, W\)",
    ),
    "empirical-rf-absurd-input": (
        lambda t: analysis.empirical_receptive_field(nn.Conv2d(3, 2, 3), HUGE),
        MemoryError,
        "smaller input_size",
    ),
    "empirical-rf-empty-input": (
        lambda t: analysis.empirical_receptive_field(nn.Conv2d(3, 2, 3), 0),
        ValueError,
        "positive",
    ),
    # instances from masks
    "masks-logits": (
        lambda t: instance.masks_to_instances(np.full((1, 3, 3), 4.0)),
        ValueError,
        "probabilities in .0, 1.*sigmoid",
    ),
    "masks-nan": (lambda t: instance.masks_to_instances(np.full((1, 3, 3), np.nan)), ValueError, "NaN"),
    "masks-0-255": (
        lambda t: instance.masks_to_instances(np.full((1, 3, 3), 255, np.uint8)),
        ValueError,
        "only 0 and 1.*masks > 0",
    ),
    "masks-threshold": (
        lambda t: instance.masks_to_instances(np.zeros((1, 3, 3)), threshold=1.5),
        ValueError,
        "threshold",
    ),
    "masks-2d": (lambda t: instance.masks_to_instances(np.zeros((3, 3), bool)), ValueError, r"\(K, H, W\)"),
    "masks-panoptic-soft": (
        lambda t: instance.masks_to_panoptic(np.full((1, 3, 3), 2.0), [1]),
        ValueError,
        "probabilities",
    ),
    # student command
    "student-folder": (
        lambda t: student.write_student_version(t, t / "out"),
        IsADirectoryError,
        "is a folder.*notebook file",
    ),
    "student-out-is-file": (
        lambda t: student.write_student_version(_notebook(t), _file(t)),
        NotADirectoryError,
        "is a file.*-o",
    ),
    "student-missing": (
        lambda t: student.write_student_version(t / "nope.ipynb", t),
        FileNotFoundError,
        "does not exist",
    ),
    # data files
    "safe-extract-not-archive": (
        lambda t: safe_extract(_file(t, b"not a tar at all" * 100), t / "x"),
        ArchiveError,
        "not a readable tar or zip.*download it again",
    ),
    "safe-extract-missing": (lambda t: safe_extract(t / "absent.tar", t / "x"), FileNotFoundError, "does not exist"),
    "voc-num-classes": (
        lambda t: voc.VOCSegmentation(t, "train", num_classes=1),
        ValueError,
        "num_classes must be an int in 2..255",
    ),
    "voc-index-outside": (
        lambda t: voc.VOCSegmentation(_tiny_voc(t), "voc_train")[5],
        IndexError,
        "index 5 is out of range for the 2 images",
    ),
    "course-split-negative-seed": (
        lambda t: vocformat.course_split(list("abcd"), seed=-1),
        ValueError,
        "seed must be >= 0",
    ),
    "classinfo-nan-colour": (
        lambda t: data_labels.ClassInfo.from_names(["a", "b"], colors=[[np.nan, 0, 0], [0, 0, 0]]),
        ValueError,
        "RGB triples in 0..255",
    ),
    # classic filters
    "gaussian-sigma-nan": (lambda t: kernels.gaussian(5, float("nan")), ValueError, "sigma must be a finite number"),
    "gaussian-sigma-zero": (lambda t: kernels.gaussian(5, 0.0), ValueError, "sigma must be > 0"),
    "gaussian-sigma-string": (lambda t: kernels.gaussian(5, "1"), TypeError, "sigma must be a number"),
    "gaussian-size-absurd": (lambda t: kernels.gaussian(HUGE + 1), MemoryError, "Gaussian kernel.*smaller size"),
    "filter2d-kernel-list": (
        lambda t: kernels.filter2d(torch.rand(5, 5), [[1.0]]),
        TypeError,
        r"kernel must be a tensor.*torch\.tensor",
    ),
    "filter2d-kernel-nan": (
        lambda t: kernels.filter2d(torch.rand(5, 5), torch.full((3, 3), float("nan"))),
        ValueError,
        "kernel holds 9 NaN",
    ),
    "filter2d-empty-image": (
        lambda t: kernels.filter2d(torch.rand(0, 5), kernels.laplacian()),
        ValueError,
        "empty height or width",
    ),
    "filter2d-reflect-wider-than-image": (
        lambda t: kernels.filter2d(torch.rand(3, 3), kernels.gaussian(7)),
        ValueError,
        "reflect padding.*padding='zeros'",
    ),
    # plots: silent wrong pictures, unclear errors, drawings that grow without bound
    "show-image-0-255-float": (
        lambda t: viz.show_image(np.full((4, 4, 3), 200.0)),
        ValueError,
        "divide a 0..255 image by 255",
    ),
    "show-image-normalised": (lambda t: viz.show_image(np.full((4, 4, 3), -2.0)), ValueError, "denormalize"),
    "show-images-empty": (lambda t: viz.show_images([]), ValueError, "at least one image"),
    "show-images-short-titles": (
        lambda t: viz.show_images([np.zeros((2, 2))] * 2, ["a"]),
        ValueError,
        "titles has 1 entries for 2 images",
    ),
    "show-images-short-signed": (
        lambda t: viz.show_images([np.zeros((2, 2))] * 2, signed=[True]),
        ValueError,
        "signed has 1 entries",
    ),
    "show-images-ncols-zero": (
        lambda t: viz.show_images([np.zeros((2, 2))], ncols=0),
        ValueError,
        "ncols must be >= 1",
    ),
    "show-matrix-huge": (lambda t: viz.show_matrix(np.zeros((HUGE, 1))), ValueError, "show_image"),
    "show-matrix-empty": (lambda t: viz.show_matrix(np.zeros((0, 3))), ValueError, "1 to 4096 cells"),
    "show-matrix-highlight-shape": (
        lambda t: viz.show_matrix(np.zeros((3, 3)), highlight=np.ones((5, 5), bool)),
        ValueError,
        "highlight has shape",
    ),
    "show-matrices-empty": (lambda t: viz.show_matrices([]), ValueError, "at least one matrix"),
    "show-matrices-short-titles": (
        lambda t: viz.show_matrices([np.zeros((2, 2))] * 2, ["a"]),
        ValueError,
        "for 2 matrices",
    ),
    "static-slider-grid-absurd": (
        lambda t: viz.static_slider(never_rendered, a=range(30), b=range(30)),
        ValueError,
        "30 × 30 = 900 combinations.*max_frames",
    ),
    "draw-conv-stride-zero": (lambda t: viz.draw_conv_geometry(stride=0), ValueError, "stride must be >= 1"),
    "draw-conv-padding-negative": (lambda t: viz.draw_conv_geometry(padding=-2), ValueError, "padding must be >= 0"),
    "draw-conv-float-kernel": (
        lambda t: viz.draw_conv_geometry(kernel_size=1.5),
        TypeError,
        "kernel_size must be an int",
    ),
    "draw-conv-input-absurd": (lambda t: viz.draw_conv_geometry(input_size=HUGE), ValueError, "smaller input"),
    "animate-too-many-frames": (
        lambda t: viz.animate_convolution(torch.zeros(30, 30), torch.zeros(3, 3)),
        ValueError,
        "28×28 = 784.*smaller input",
    ),
    "paint-panoptic-divisor-zero": (
        lambda t: viz.paint_panoptic(pan(1000), {1: {"color": [1, 2, 3]}}, label_divisor=0),
        ValueError,
        "label_divisor must be >= 1",
    ),
    "paint-panoptic-float-map": (
        lambda t: viz.paint_panoptic(pan(1000).astype(float), {1: {"color": [1, 2, 3]}}),
        ValueError,
        "integer ids.*to_panoptic",
    ),
    "paint-panoptic-no-colour": (
        lambda t: viz.paint_panoptic(pan(1000), {1: {"name": "ball"}}),
        KeyError,
        "category 1 has no 'color'",
    ),
    "confusion-plot-nan": (lambda t: viz.show_confusion(np.array([[1.0, np.nan], [0.0, 1.0]])), ValueError, "1 NaN"),
    "confusion-plot-negative": (
        lambda t: viz.show_confusion(np.array([[1, -3], [0, 1]])),
        ValueError,
        "1 negative count",
    ),
    "plot-history-one-history": (
        lambda t: viz.plot_history({"epoch": [1], "train_loss": [1.0]}),
        TypeError,
        r"plot_history\(\{'baseline': history\}\)",
    ),
    "plot-history-missing-key": (
        lambda t: viz.plot_history({"a": {"epoch": [1], "train_loss": [1.0]}}),
        KeyError,
        r"run 'a' has no \['val_miou'\].*val_loader",
    ),
    "plot-history-no-runs": (lambda t: viz.plot_history({}), ValueError, "at least one run"),
    "plot-per-class-list": (lambda t: viz.plot_per_class([0.1, 0.2], ["a", "b"]), TypeError, "run name"),
    "plot-per-class-no-runs": (lambda t: viz.plot_per_class({}, ["a", "b"]), ValueError, "at least one run"),
    # UPSNet fusion
    "fusion-nan-semantic": (
        lambda t: fuse(sem=torch.full((4, 8, 8), float("nan"))),
        ValueError,
        "semantic_logits holds 256 NaN.*diverged",
    ),
    "fusion-nan-masks": (
        lambda t: fuse(masks=torch.full((2, 6, 6), float("nan"))),
        ValueError,
        "mask_logits holds 72 NaN",
    ),
    "fusion-inverted-box": (
        lambda t: fuse(box=boxes([4.0, 4.0, 0.0, 0.0], [2.0, 2.0, 8.0, 8.0])),
        ValueError,
        r"box 0 .* inverted.*x1 > x0",
    ),
    "fusion-nan-box": (
        lambda t: fuse(box=boxes([np.nan, 0.0, 4.0, 4.0], [2.0, 2.0, 8.0, 8.0])),
        ValueError,
        "boxes holds 1 NaN",
    ),
    "fusion-stuff-is-thing": (
        lambda t: fuse(stuff_ids=[1, 3]),
        ValueError,
        r"categories \[1\] are both stuff and thing",
    ),
    "fusion-float-labels": (lambda t: fuse(labels_=(1.7, 1.2)), TypeError, "integer category ids"),
    "fusion-float-stuff-id": (
        lambda t: fuse(stuff_ids=[2.5]),
        ValueError,
        r"stuff_ids \[2.5\] have no channel.*int category ids",
    ),
    "fusion-divisor-zero": (lambda t: fuse(label_divisor=0), ValueError, "label_divisor must be >= 1"),
    "fusion-void-is-a-segment-id": (
        lambda t: fuse(void_label=2000),
        ValueError,
        "void_label=2000 is also the id.*negative",
    ),
    "fusion-unknown-without-things": (
        lambda t: fuse(masks=roi_logits(0), box=torch.zeros(0, 4), labels_=(), thing_ids=[]),
        ValueError,
        "unknown=False",
    ),
    "fusion-integer-logits": (lambda t: fuse(sem=semantic().long()), ValueError, r"\(C, H, W\) float logits"),
    "paste-absurd-size": (
        lambda t: paste_mask_logits(roi_logits(), boxes(), (HUGE, HUGE)),
        MemoryError,
        "pasting 2 masks.*real size",
    ),
    "paste-zero-size": (lambda t: paste_mask_logits(roi_logits(), boxes(), (0, 8)), ValueError, "height must be >= 1"),
    "paste-empty-roi": (
        lambda t: paste_mask_logits(torch.zeros(2, 0, 0), boxes(), (8, 8)),
        ValueError,
        "empty RoI masks",
    ),
    # Mask R-CNN and its targets
    "maskrcnn-float-classes": (
        lambda t: maskrcnn.build_maskrcnn(3.5),
        ValueError,
        "num_classes must be a positive int",
    ),
    "maskrcnn-zero-width": (lambda t: maskrcnn.build_maskrcnn(width=0), ValueError, "width must be a positive int"),
    "maskrcnn-no-anchors": (
        lambda t: maskrcnn.build_maskrcnn(anchor_sizes=()),
        ValueError,
        "anchor_sizes must be positive ints",
    ),
    "maskrcnn-tiny-image": (lambda t: maskrcnn.build_maskrcnn(image_size=8), ValueError, "at least 16"),
    "maskrcnn-gray-input": (
        lambda t: maskrcnn.to_maskrcnn_input({"image": np.zeros((8, 8), np.uint8)}),
        ValueError,
        r"RGB uint8 array \(H, W, 3\)",
    ),
    "paint-detections-nan-threshold": (
        lambda t: maskrcnn.paint_detections({}, score_threshold=float("nan")),
        ValueError,
        "score_threshold must be a finite",
    ),
    "target-instance-gap": (lambda t: target([[0, 1], [3, 0]]), ValueError, r"1\.\.K without gaps.*\[1, 3\]"),
    "target-instance-huge": (lambda t: target([[0, 2**40]]), ValueError, "without gaps"),
    "target-instance-negative": (lambda t: target([[-1, 1]]), ValueError, r"\[-1, 1\]"),
    "target-instance-float": (lambda t: target([[0.0, 1.5]]), ValueError, "integer map"),
    "target-thing-on-void": (lambda t: target([[0, 1]], [[0, 255]]), ValueError, "instance 1 lies on void"),
    "scenes-unknown-category": (
        lambda t: scenes(t, category=9),
        ValueError,
        "category_id 9.*categories of panoptic.json lack",
    ),
    "scenes-category-255": (
        lambda t: scenes(t, category=255, category_ids=(255,)),
        ValueError,
        r"category ids \[255\] outside 0..254",
    ),
    "scenes-split-names-missing-image": (lambda t: scenes(t, split_ids=(7,)), ValueError, r"names image ids \[7\]"),
    "scenes-json-not-an-object": (lambda t: scenes(t, meta=[1, 2]), ValueError, "JSON object with 'categories'"),
    # synthetic generators: sizes refused before anything is drawn or written
    "synthetic-voc-absurd-size": (
        lambda t: data.make_synthetic_voc(t, 1, max_size=HUGE),
        MemoryError,
        "would need.*smaller images",
    ),
    "synthetic-em-absurd-count": (lambda t: data.make_em_membranes(t, 10**7), MemoryError, "10000000 slices"),
    "synthetic-panoptic-absurd-size": (
        lambda t: data.make_panoptic_scenes(t, 1, size=HUGE),
        MemoryError,
        "smaller images",
    ),
    "synthetic-voc-255-objects": (
        lambda t: data.make_synthetic_voc(t, 1, max_objects=255),
        ValueError,
        r"at most 254.*\(255 is void\)",
    ),
    # Albumentations pipelines
    "transform-hflip-above-one": (
        lambda t: data.train_transform(8, hflip=2.0),
        ValueError,
        "hflip must be <= 1.*probability",
    ),
    "transform-seed-negative": (lambda t: data.train_transform(8, seed=-1), ValueError, "seed must be >= 0"),
    "transform-size-absurd": (lambda t: data.eval_transform(HUGE), MemoryError, "smaller size"),
    "transform-float-image": (
        lambda t: transformed(image=np.zeros((8, 8, 3), np.float32)),
        TypeError,
        "uint8.*divides by 255",
    ),
    "transform-colour-mask": (lambda t: transformed(mask=np.zeros((8, 8, 3), np.uint8)), ValueError, "encode_mask"),
    "transform-channels-first": (
        lambda t: transformed(image=np.zeros((3, 8, 8), np.uint8)),
        ValueError,
        r"transpose\(1, 2, 0\)",
    ),
    "transform-mask-of-another-size": (
        lambda t: transformed(mask=np.zeros((4, 4), np.uint8)),
        ValueError,
        "differ in size",
    ),
    "transform-float-mask": (
        lambda t: transformed(mask=np.zeros((8, 8), np.float32)),
        ValueError,
        "integer class indices",
    ),
    "transform-tensor-image": (
        lambda t: transformed(image=torch.zeros(8, 8, 3, dtype=torch.uint8)),
        TypeError,
        r"NumPy arrays.*\.numpy\(\)",
    ),
    "denormalize-uint8": (lambda t: data.denormalize(torch.zeros(3, 2, 2, dtype=torch.uint8)), TypeError, "needs none"),
    # the lab's self-checks
    "check-nan-image": (
        lambda t: lab_task_1(train_set=Pairs(torch.full((3, 8, 8), float("nan")))),
        CheckFailed,
        "NaN or infinite.*\nHint",
    ),
    "check-loader-without-batches": (
        lambda t: lab_task_1(train_loader=DataLoader(Pairs(random=True), batch_size=4, shuffle=True, drop_last=True)),
        CheckFailed,
        "yields no batch.*drop_last",
    ),
    "check-dict-batches": (
        lambda t: lab_task_1(train_loader=DataLoader([{"image": torch.zeros(3, 8, 8)}] * 2, batch_size=2)),
        CheckFailed,
        r"dict, not \(images, masks\)",
    ),
    "check-nan-model-output": (
        lambda t: check.segmentation_model(NaNNet(), image_size=8),
        CheckFailed,
        "NaN or infinite values on a random batch",
    ),
    "check-image-size-zero": (
        lambda t: check.segmentation_model(nn.Conv2d(3, 21, 1), image_size=0),
        ValueError,
        "image_size must be >= 1",
    ),
    "check-image-size-absurd": (
        lambda t: check.segmentation_model(nn.Conv2d(3, 21, 1), image_size=HUGE),
        MemoryError,
        "IMAGE_SIZE",
    ),
    "check-train-loss-not-a-list": (
        lambda t: check.training_run({"train_loss": 0.5}, {}, None),
        CheckFailed,
        "not a list of per-epoch losses",
    ),
    "check-rows-without-val": (
        lambda t: check.test_evaluation({}, Pairs(), best_name="a", rows={"a": {"miou": 0.3}}),
        CheckFailed,
        "no validation results",
    ),
}


def _file(folder: Path, content: bytes = b"x") -> Path:
    path = folder / "a-file.bin"
    path.write_bytes(content)
    return path


def _notebook(folder: Path) -> Path:
    path = folder / "nb.ipynb"
    path.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    return path


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("case", list(REFUSED), ids=list(REFUSED))
def test_bad_input_is_refused_with_a_message(case, tmp_path):
    call, error, words = REFUSED[case]
    with pytest.raises(error, match=words) as caught:
        call(tmp_path)
    message = str(caught.value)
    assert len(message.splitlines()) <= 6, "a message of a few lines"
    assert "Traceback" not in message


# --------------------------------------------------------------------------- right answers
def _pq_of_unique_ids():
    ids = np.arange(64 * 64, dtype=np.int64).reshape(64, 64) + 1000  # 4096 segments of category 1
    return metrics.panoptic_quality(ids, ids)["pq"] == 1.0


def _chw_logits_with_h_equal_c():
    logits = torch.zeros(3, 3, 5)  # C = H = 3
    logits[2] = 1.0  # class 2 everywhere
    target = torch.full((3, 5), 2)
    return cm_update(logits, target)["pixel_accuracy"] == 1.0


def _soft_masks():
    masks = np.array([[[0.9, 0.3, 0.0], [0.6, 0.1, 0.0], [0.0, 0.0, 0.2]]])
    return instance.masks_to_instances(masks).tolist() == [[1, 0, 0], [1, 0, 0], [0, 0, 0]]


def _slider_frames(**params) -> set[str]:
    def render(**values):
        fig = plt.figure(figsize=(0.5, 0.5))
        fig.suptitle(str(values))
        return fig

    markup = viz.static_slider(render, dpi=10, **params).data
    return set(json.loads(re.search(r"const frames = (\{.*?\});", markup).group(1)))


def _signed_limits_ignore_nan():
    ax = viz.show_image(np.array([[np.nan, 1.0], [-1.0, 0.5]]), signed=True)
    return all(np.isfinite(ax.images[0].get_clim()))


def _fusion_takes_box_lists():
    as_lists = fuse(box=boxes().tolist())
    return torch.equal(as_lists, fuse())


def _bn_eval_batch_of_one():
    model = FCN(2, widths=TINY_WIDTHS, head_width=4).eval()
    return tuple(model(torch.randn(1, 3, 32, 32)).shape) == (1, 2, 32, 32)


CORRECT = {
    "pq-4096-segments-in-linear-memory": _pq_of_unique_ids,
    "pq-num-categories-covers-large-id": lambda: (
        metrics.panoptic_quality(pan(5000), pan(5000), num_categories=6)["pq"] == 1.0
    ),
    "cm-chw-logits-with-h-equal-c": _chw_logits_with_h_equal_c,
    "cm-batched-logits-still-axis-1": lambda: (
        cm_update(torch.eye(3)[labels()].permute(0, 3, 1, 2).contiguous(), labels())["miou"] == 1.0
    ),
    "masks-soft-threshold-half": _soft_masks,
    "masks-bool-kept": lambda: instance.masks_to_instances(np.ones((2, 2, 2), bool)).tolist() == [[1, 1], [1, 1]],
    "focal-all-void-is-zero-not-nan": lambda: (
        float(losses.focal_loss(torch.randn(1, 3, 2, 2), torch.full((1, 2, 2), 255))) == 0.0
    ),
    "conv2d-empty-batch-like-torch": lambda: tuple(ops.conv2d(x4(n=0), w4()).shape) == (0, 3, 3, 3),
    "pixel-shuffle-empty-batch-like-torch": lambda: (
        tuple(ops.pixel_shuffle(torch.zeros(0, 4, 2, 2), 2).shape) == (0, 1, 4, 4)
    ),
    "bilinear-downscale-to-one-pixel": lambda: (
        tuple(ops.upsample_bilinear(x4(), scale_factor=0.2).shape) == (1, 2, 1, 1)
    ),
    "bn-eval-batch-of-one": _bn_eval_batch_of_one,
    "bn-segnet-batch-of-one-is-fine": lambda: tuple(one_image(SegNet(2, widths=(2, 2)), 4).shape) == (1, 2, 4, 4),
    "deeplabv3-output-stride-16-runs": lambda: (
        tuple(
            DeepLabV3(2, widths=TINY_WIDTHS, aspp_channels=4, output_stride=16).eval()(torch.randn(1, 3, 16, 16)).shape
        )
        == (1, 2, 16, 16)
    ),
    "crf-zero-weights-keep-probs": lambda: torch.allclose(
        crf.dense_crf(probs(), rgb(), appearance_weight=0.0, smoothness_weight=0.0), probs(), atol=1e-5
    ),
    "kmeans-duplicates-fine": lambda: cluster.kmeans(torch.zeros(4, 2), 2)[0].shape == (4,),
    "gaussian-tiny-sigma-is-a-delta": lambda: torch.equal(
        kernels.gaussian(5, 1e-200), torch.eye(5)[2:3].T @ torch.eye(5)[2:3]
    ),
    "gaussian-numpy-int-size": lambda: torch.equal(kernels.gaussian(np.int64(5)), kernels.gaussian(5)),
    "static-slider-repeated-values-keep-their-frames": lambda: _slider_frames(s=[1, 1, 2]) == {"0", "1", "2"},
    "static-slider-takes-arrays": lambda: _slider_frames(s=np.array([1, 2])) == {"0", "1"},
    "show-image-signed-limits-ignore-nan": _signed_limits_ignore_nan,
    "paint-panoptic-takes-coco-categories": lambda: np.array_equal(
        viz.paint_panoptic(pan(1000), [{"id": 1, "color": [9, 8, 7]}]),
        viz.paint_panoptic(pan(1000), {1: {"color": [9, 8, 7]}}),
    ),
    "plot-history-one-key-as-a-string": lambda: (
        len(viz.plot_history({"a": {"epoch": [1], "train_loss": [1.0]}}, keys="train_loss").axes) == 1
    ),
    "fusion-box-lists-like-tensors": _fusion_takes_box_lists,
    "target-of-an-empty-map": lambda: tuple(target(np.zeros((0, 0), np.int64))["boxes"].shape) == (0, 4),
    "target-without-things": lambda: tuple(target(np.zeros((4, 4), np.int64))["masks"].shape) == (0, 4, 4),
}


@pytest.mark.parametrize("case", list(CORRECT), ids=list(CORRECT))
def test_edge_case_gives_the_right_result(case):
    assert CORRECT[case]()


# --------------------------------------------------------------------------- data files
def _tiny_voc(parent: Path, mask_value: int = 1) -> Path:
    voc2012 = parent / "VOCdevkit" / "VOC2012"
    for sub in voc.VOC_SUBDIRS:
        (voc2012 / sub).mkdir(parents=True, exist_ok=True)
    ids = ["a", "b"]
    for image_id in ids:
        Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(voc2012 / "JPEGImages" / f"{image_id}.jpg")
        mask = np.zeros((8, 8), np.uint8)
        mask[2:6, 2:6] = mask_value if image_id == "b" else 1
        voc.save_label_png(voc2012 / "SegmentationClass" / f"{image_id}.png", mask)
        voc.save_label_png(voc2012 / "SegmentationObject" / f"{image_id}.png", (mask > 0).astype(np.uint8))
    for name in ("train.txt", "val.txt", "trainval.txt"):
        (voc2012 / "ImageSets" / "Segmentation" / name).write_text("\n".join(ids) + "\n")
    return voc2012


@pytest.fixture
def data_folder(tmp_path, monkeypatch):
    folder = tmp_path / "seglib-data"
    monkeypatch.setenv("SEGLIB_DATA", str(folder))
    return folder


@pytest.mark.parametrize(
    "make",
    [
        lambda t: data.make_synthetic_voc(t, 1, max_size=HUGE),
        lambda t: data.make_em_membranes(t, 10**7),
        lambda t: data.make_panoptic_scenes(t, 1, size=HUGE),
    ],
    ids=["voc", "em", "panoptic"],
)
def test_refused_synthetic_sizes_write_nothing(tmp_path, make):
    with pytest.raises(MemoryError):
        make(tmp_path)
    assert not any(tmp_path.iterdir())


def test_mask_label_outside_the_classes_names_its_file(tmp_path, data_folder):
    root = _tiny_voc(tmp_path, mask_value=77)
    dataset = voc.VOCSegmentation(root, "voc_train")
    with pytest.raises(ValueError, match=r"SegmentationClass/b\.png holds the label\(s\) \[77\].*num_classes"):
        [dataset[i] for i in range(len(dataset))]
    with pytest.raises(ValueError, match=r"b\.png holds the label\(s\) \[77\]"):
        voc.VOCSegmentation(root, "voc_train", size=4)  # the cache is never built from it
    assert voc.VOCSegmentation(root, "voc_train", num_classes=78)[1][1].max() == 77  # a dataset with more classes


@pytest.mark.parametrize("bad", ["shape", "dtype", "labels", "keys"])
def test_cache_file_with_the_right_keys_but_wrong_arrays_is_rebuilt(tmp_path, data_folder, bad):
    root = _tiny_voc(tmp_path)
    ids = vocformat.split_ids(root, "voc_train")
    path = cache.cache_file(root, ids, 4)
    path.parent.mkdir(parents=True)
    images, masks = np.zeros((2, 4, 4, 3), np.uint8), np.zeros((2, 4, 4), np.uint8)
    if bad == "shape":
        images = np.zeros((2, 5, 4, 3), np.uint8)
    elif bad == "dtype":
        masks = masks.astype(np.int64)
    elif bad == "labels":
        masks[0, 0, 0] = 77
    arrays = {"images": images, "masks": masks} if bad != "keys" else {"images": images}
    np.savez(path, **arrays)
    images, masks = cache.resized_arrays(root, ids, 4)
    assert images.shape == (2, 4, 4, 3) and masks.shape == (2, 4, 4) and masks.dtype == np.uint8
    assert set(np.unique(masks).tolist()) == {0, 1}


def test_download_command_prints_one_line_for_a_non_tar_archive_and_an_incomplete_layout(tmp_path, monkeypatch, capsys):
    from seglib.data import download as download_module

    not_tar = tmp_path / "not-tar" / download_module.VOC_ARCHIVE
    not_tar.parent.mkdir()
    not_tar.write_bytes(b"<html>mirror error page</html>" * 50)
    empty_tar = tmp_path / "empty" / download_module.VOC_ARCHIVE
    empty_tar.parent.mkdir()
    with tarfile.open(empty_tar, "w") as tf:
        info = tarfile.TarInfo("README")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"hi"))
    for archive, words in ((not_tar, "not a readable tar or zip"), (empty_tar, "lacks .*Delete")):
        monkeypatch.setattr(download_module, "download", lambda urls, dest, md5, progress=True, a=archive: a)
        with pytest.raises(SystemExit) as stopped:
            cli.main(["download", "--root", str(archive.parent)])
        assert stopped.value.code == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "Traceback" not in err
        assert len(err.strip().splitlines()) <= 3
        assert __import__("re").search(words, err), err


def test_student_command_says_folder_and_file(tmp_path, capsys):
    assert student.main([str(tmp_path)]) == 1
    assert "is a folder" in capsys.readouterr().err
    assert student.main([str(_notebook(tmp_path)), "-o", str(_file(tmp_path))]) == 1
    err = capsys.readouterr().err
    assert "is a file" in err and "Errno" not in err


# --------------------------------------------------------------------------- fit: injected faults
def loaders(n=8, size=4, batch_size=2, void=False, label=None):
    g = torch.Generator().manual_seed(0)
    images = torch.randn(n, 3, size, size, generator=g)
    masks = (images[:, 0] > 0).long()
    if void:
        masks[2:4] = 255  # batch 2 (of 2 images) has no labelled pixel
    if label is not None:
        masks[5, 0, 0] = label
    return DataLoader(TensorDataset(images, masks), batch_size=batch_size)


def small_model(classes=2):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU(), nn.Conv2d(4, classes, 1))


class NaNAt(nn.Module):
    """A tiny model whose output turns NaN at one (epoch, batch) of training: the fault injected."""

    def __init__(self, epoch: int, batch: int, per_epoch: int):
        super().__init__()
        self.body = small_model()
        self.calls, self.at = 0, (epoch - 1) * per_epoch + batch

    def forward(self, x):
        out = self.body(x)
        if self.training:
            self.calls += 1
            if self.calls == self.at:
                return out * float("nan")
        return out


def fit(model, loader, **kw):
    kw.setdefault("num_classes", 2)
    kw.setdefault("epochs", 2)
    return train.fit(model, loader, device="cpu", progress=False, **kw)


def test_nan_loss_at_batch_k_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    ckpt = tmp_path / "model.pt"
    model = NaNAt(epoch=2, batch=3, per_epoch=4)
    with pytest.raises(
        NonFiniteLossError, match=r"epoch 2: the train loss is nan on batch 3.*keeps epoch 1.*learning rate"
    ):
        fit(model, loaders(), epochs=3, checkpoint=ckpt)
    state = torch.load(ckpt, weights_only=True)
    assert state["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in state["model"].values())
    assert all(torch.isfinite(p).all() for p in model.parameters()), "the NaN step was never taken"


def test_nan_in_the_first_epoch_writes_no_checkpoint(tmp_path):
    with pytest.raises(NonFiniteLossError, match="no checkpoint was written"):
        fit(NaNAt(epoch=1, batch=1, per_epoch=4), loaders(), checkpoint=tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()


def test_a_batch_without_labelled_pixels_is_skipped():
    history = fit(small_model(), loaders(void=True), epochs=1)
    assert np.isfinite(history["train_loss"][0])


def test_only_void_batches_say_so():
    data = DataLoader(TensorDataset(torch.randn(4, 3, 4, 4), torch.full((4, 4, 4), 255)), batch_size=2)
    with pytest.raises(ValueError, match="every batch of the train loader .* only ignore_index=255"):
        fit(small_model(), data)


def test_model_with_too_few_classes_is_named_before_the_loss():
    with pytest.raises(ValueError, match="outputs 2 class scores per pixel but num_classes=3.*num_classes=3"):
        fit(small_model(2), loaders(), num_classes=3)


def test_mask_label_outside_the_classes_is_named_in_fit():
    with pytest.raises(ValueError, match="batch 3 of the train loader holds mask label 77"):
        fit(small_model(), loaders(label=77))


def test_batch_of_one_in_fit_says_drop_last():
    class PooledNorm(nn.Module):  # batch norm on a pooled map, as PSP's bins and DeepLab's 1x1 maps
        def __init__(self):
            super().__init__()
            self.conv, self.norm = nn.Conv2d(3, 2, 1), nn.BatchNorm2d(2)

        def forward(self, x):
            return self.conv(x) + self.norm(self.conv(x).mean((2, 3), keepdim=True))

    with pytest.raises(ValueError, match="batch of 1 image.*drop_last=True.*eval"):
        fit(PooledNorm(), loaders(n=3, batch_size=2))


@pytest.mark.parametrize(
    "kw, words",
    [
        (dict(num_classes=1), "num_classes must be an int >= 2"),
        (dict(epochs=-1), "epochs must be a non-negative int"),
        (dict(epochs=2.5), "epochs must be"),
        (dict(ignore_index=1), "ignore_index=1 is a real class"),
    ],
)
def test_fit_arguments(kw, words):
    with pytest.raises(ValueError, match=words):
        fit(small_model(), loaders(), **kw)


@pytest.mark.parametrize(
    "batch, error, words",
    [
        ((torch.randn(2, 3, 4, 4), torch.zeros(2, 4, 4)), TypeError, "integer class indices"),
        ((np.zeros((2, 3, 4, 4), np.float32), np.zeros((2, 4, 4), np.int64)), TypeError, "must yield tensors"),
        (
            (torch.randn(2, 3, 4, 4), torch.zeros(3, 4, 4).long()),
            ValueError,
            r"images \(N, C, H, W\) and masks \(N, H, W\)",
        ),
        ((torch.randn(2, 3, 4, 4),), TypeError, r"\(images, masks\) pairs"),
    ],
)
def test_loader_yielding_the_wrong_things(batch, error, words):
    with pytest.raises(error, match=words):
        fit(small_model(), [batch])


def test_evaluate_and_predict_refuse_nan_logits():
    class NaNModel(nn.Module):
        def forward(self, x):
            return torch.full((x.shape[0], 2, *x.shape[-2:]), float("nan"))

    with pytest.raises(NonFiniteLossError, match="NaN or infinite.*diverged"):
        train.evaluate(NaNModel(), loaders(), 2, device="cpu")
    with pytest.raises(NonFiniteLossError, match="eval loss is nan"):
        train.evaluate(NaNModel(), loaders(), 2, device="cpu", loss_fn=nn.CrossEntropyLoss(ignore_index=255))
    with pytest.raises(NonFiniteLossError, match="NaN or infinite"):
        train.predict(NaNModel(), torch.randn(2, 3, 4, 4), device="cpu")


def test_checkpoint_path_that_is_a_folder_fails_before_the_first_epoch(tmp_path):
    never = mock.MagicMock(side_effect=AssertionError("trained before checking the checkpoint path"))
    with pytest.raises(IsADirectoryError, match=r"is a folder; give a file path inside it.*model\.pt"):
        fit(small_model(), never, checkpoint=tmp_path)
    with pytest.raises(NotADirectoryError, match="which is a file"):
        fit(small_model(), never, checkpoint=_file(tmp_path) / "model.pt")


def _saved(tmp_path, epochs=1) -> Path:
    ckpt = tmp_path / "model.pt"
    fit(small_model(), loaders(), epochs=epochs, checkpoint=ckpt)
    return ckpt


def test_resuming_with_fewer_epochs_than_saved_is_refused(tmp_path):
    ckpt = _saved(tmp_path, epochs=2)
    with pytest.raises(ValueError, match="already holds 2 epochs but epochs=1.*epochs >= 2.*resume=False"):
        fit(small_model(), loaders(), epochs=1, checkpoint=ckpt, resume=True)
    assert fit(small_model(), loaders(), epochs=2, checkpoint=ckpt, resume=True)["epoch"] == [1, 2]


class Hostile:
    """Unpickling this would create a file: a checkpoint must never run it."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def _corrupt(kind: str, ckpt: Path) -> None:
    data = ckpt.read_bytes()
    if kind == "random-bytes":
        ckpt.write_bytes(os.urandom(256))
    elif kind == "truncated":
        ckpt.write_bytes(data[: len(data) // 2])
    elif kind == "empty":
        ckpt.write_bytes(b"")
    elif kind == "plain-pickle":
        ckpt.write_bytes(pickle.dumps({"model": {}}))
    elif kind == "no-optimizer":
        torch.save({"model": small_model().state_dict(), "history": {}, "epoch": 1}, ckpt)
    elif kind == "not-a-dict":
        torch.save([1, 2, 3], ckpt)
    elif kind == "bad-history":
        state = torch.load(ckpt, weights_only=True)
        state["history"]["epoch"] = []
        torch.save(state, ckpt)
    elif kind == "other-model":
        state = torch.load(ckpt, weights_only=True)
        state["model"] = small_model(classes=5).state_dict()
        torch.save(state, ckpt)


@pytest.mark.parametrize(
    "kind, words",
    [
        ("random-bytes", "corrupt"),
        ("truncated", "corrupt or truncated"),
        ("empty", "corrupt"),
        ("plain-pickle", "corrupt"),
        ("no-optimizer", "lacks 'optimizer'"),
        ("not-a-dict", "lacks 'model'"),
        ("bad-history", "inconsistent history"),
        ("other-model", "does not fit this model"),
    ],
)
def test_corrupt_checkpoint_names_the_file_and_the_fix(tmp_path, kind, words):
    ckpt = _saved(tmp_path)
    _corrupt(kind, ckpt)
    with pytest.raises(ValueError, match=words) as caught:
        fit(small_model(), loaders(), checkpoint=ckpt, resume=True)
    assert str(ckpt) in str(caught.value)
    assert "resume=False" in str(caught.value) or "another checkpoint" in str(caught.value)


def test_hostile_checkpoint_runs_no_code(tmp_path):
    ckpt = _saved(tmp_path)
    marker = tmp_path / "pwned"
    state = torch.load(ckpt, weights_only=True)
    state["history"]["payload"] = Hostile(marker)
    torch.save(state, ckpt)
    with pytest.raises(ValueError, match="refusing to load checkpoint .*could run code"):
        fit(small_model(), loaders(), checkpoint=ckpt, resume=True)
    assert not marker.exists(), "the pickle's __reduce__ ran"


def test_kill_during_a_checkpoint_write_keeps_the_last_one_and_cleans_up(tmp_path):
    ckpt = _saved(tmp_path)
    before = torch.load(ckpt, weights_only=True)

    def killed(state, file):  # half a file written, then the process "dies"
        file.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    with mock.patch("seglib.train.torch.save", killed), pytest.raises(KeyboardInterrupt):
        fit(small_model(), loaders(), epochs=2, checkpoint=ckpt, resume=True)
    after = torch.load(ckpt, weights_only=True)
    assert after["epoch"] == before["epoch"] == 1
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".*.part"))
    orphan = tmp_path / f".{ckpt.name}.k1ll3d.part"  # what SIGKILL leaves: no finally ran
    orphan.write_bytes(b"half")
    other = tmp_path / ".other.pt.x.part"  # another file's temporary file is not ours to delete
    other.write_bytes(b"x")
    history = fit(small_model(), loaders(), epochs=2, checkpoint=ckpt, resume=True)
    assert history["epoch"] == [1, 2] and not orphan.exists() and other.exists()
