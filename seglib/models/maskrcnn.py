"""A small Mask R-CNN (He et al., 2017) that trains on the synthetic stuff-and-things scenes on a CPU.

Lecture 002 (instance segmentation): Faster R-CNN's region proposal network and box head, plus
a small FCN that predicts one binary mask per class inside every RoI, on features pooled with
RoIAlign. torchvision's ``MaskRCNN`` class does the bookkeeping (anchors, sampling, losses,
pasting masks back into the image); this module only chooses parts small enough for 128 px
scenes: a four-stage convolutional backbone of stride 4, one feature map, anchors of 8-64 px,
7×7 box RoIs and 14×14 mask RoIs, and light box and mask heads. Nothing is pretrained.

``build_maskrcnn`` makes the model, ``to_maskrcnn_input`` prepares a ``PanopticScenes`` item,
and ``predict_instances`` runs it and also returns the raw per-RoI mask *logits* that the
UPSNet-style fusion of ``seglib.models.panoptic`` pastes into their boxes.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.ops import MultiScaleRoIAlign

from .._guards import check_number
from .._torch import eval_mode
from .blocks import ConvBNReLU, check_input, check_sizes

__all__ = [
    "TinyBackbone",
    "build_maskrcnn",
    "predict_instances",
    "to_maskrcnn_input",
    "random_hflip",
    "paint_detections",
]


class TinyBackbone(nn.Module):
    """Four conv stages (two of them stride 2): a single feature map at 1/4 resolution.

    ``out_channels`` is the attribute torchvision's detection heads read.
    """

    def __init__(self, width: int = 32, out_channels: int = 64, *, in_channels: int = 3):
        super().__init__()
        self.in_channels = in_channels
        self.body = nn.Sequential(
            ConvBNReLU(in_channels, width, 3, stride=2),
            ConvBNReLU(width, width),
            ConvBNReLU(width, out_channels, 3, stride=2),
            ConvBNReLU(out_channels, out_channels, 3, dilation=2),  # widens the receptive field at no cost
            ConvBNReLU(out_channels, out_channels),
        )
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        check_input(x, in_channels=self.in_channels, min_size=16, model="TinyBackbone")
        return OrderedDict([("0", self.body(x))])


def build_maskrcnn(
    num_classes: int = 4,
    *,
    image_size: int = 128,
    width: int = 32,
    channels: int = 64,
    anchor_sizes: tuple[int, ...] = (8, 16, 32, 64),
    representation_size: int = 256,
    mask_channels: int = 64,
    detections_per_image: int = 20,
) -> MaskRCNN:
    """torchvision's ``MaskRCNN`` on ``TinyBackbone``, sized for ``image_size`` px scenes.

    ``num_classes`` counts the background (class 0), so the panoptic scenes' three thing
    categories (ids 1-3) need ``num_classes=4``. Images are not resized (min_size = max_size
    = image_size) and are normalised with ImageNet's mean and std inside the model; feed floats
    in [0, 1] (``to_maskrcnn_input``). Nothing is pretrained.
    """
    check_sizes(
        "build_maskrcnn",
        num_classes=num_classes,
        image_size=image_size,
        width=width,
        channels=channels,
        anchor_sizes=anchor_sizes,
        representation_size=representation_size,
        mask_channels=mask_channels,
        detections_per_image=detections_per_image,
    )
    if num_classes < 2:
        raise ValueError(f"num_classes counts the background too: use at least 2, got {num_classes}")
    if image_size < 16:
        raise ValueError(f"image_size must be at least 16 (the backbone's stride is 4), got {image_size}")
    backbone = TinyBackbone(width, channels)
    anchors = AnchorGenerator(sizes=(tuple(anchor_sizes),), aspect_ratios=((0.5, 1.0, 2.0),))
    box_pool = MultiScaleRoIAlign(featmap_names=["0"], output_size=7, sampling_ratio=2)
    mask_pool = MultiScaleRoIAlign(featmap_names=["0"], output_size=14, sampling_ratio=2)
    return MaskRCNN(
        backbone,
        num_classes=None,  # we pass our own predictors
        min_size=image_size,
        max_size=image_size,
        rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_train=600,
        rpn_pre_nms_top_n_test=300,
        rpn_post_nms_top_n_train=300,
        rpn_post_nms_top_n_test=100,
        rpn_batch_size_per_image=128,
        box_roi_pool=box_pool,
        box_head=TwoMLPHead(channels * 7 * 7, representation_size),
        box_predictor=FastRCNNPredictor(representation_size, num_classes),
        box_batch_size_per_image=128,
        box_detections_per_img=detections_per_image,
        mask_roi_pool=mask_pool,
        mask_head=MaskRCNNHeads(channels, [mask_channels, mask_channels], 1),
        mask_predictor=MaskRCNNPredictor(mask_channels, mask_channels, num_classes),
    )


def to_maskrcnn_input(item: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A ``PanopticScenes`` item → (float image (3, H, W) in [0, 1], Mask R-CNN target).

    Scenes without things get empty boxes (0, 4), which torchvision accepts as negatives.
    """
    from ..data import maskrcnn_target, scene_tensors

    images, _ = scene_tensors([item])
    return images[0], maskrcnn_target(item)


def random_hflip(image: torch.Tensor, target: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
    """Mirror an image and its Mask R-CNN target left-right half of the time (PyTorch's generator)."""
    if torch.rand(()) >= 0.5:
        return image, target
    width = image.shape[-1]
    boxes = target["boxes"].clone()
    boxes[:, [0, 2]] = width - target["boxes"][:, [2, 0]]
    return image.flip(-1), {**target, "boxes": boxes, "masks": target["masks"].flip(-1)}


def paint_detections(output: dict, score_threshold: float = 0.5, mask_threshold: float = 0.5) -> np.ndarray:
    """One image's detections (``predict_instances``) → a class map (H, W): each detection
    scoring above ``score_threshold`` paints its class where its mask exceeds ``mask_threshold``,
    higher scores on top; 0 where no detection does."""
    from ..instance import masks_to_instances

    check_number(
        score_threshold,
        "score_threshold",
        minimum=0,
        maximum=1,
        hint="a detection is painted when its score exceeds it",
    )
    keep = output["scores"] > score_threshold
    instances = masks_to_instances(output["masks"][keep][:, 0], threshold=mask_threshold)
    return np.concatenate([[0], output["labels"][keep].cpu().numpy()])[instances]


@torch.no_grad()
def predict_instances(model: MaskRCNN, images: list[torch.Tensor] | torch.Tensor) -> list[dict]:
    """Run ``model`` in eval mode; per image a dict with torchvision's ``boxes``, ``labels``,
    ``scores``, ``masks`` (probabilities pasted into the image, (K, 1, H, W)) and
    ``mask_logits`` (K, M, M): the raw RoI mask logits of each detection's own class, before
    the sigmoid and the pasting, captured from ``model.roi_heads.mask_predictor``."""
    if isinstance(images, torch.Tensor):
        if images.ndim == 3:
            images = [images]
        else:
            check_input(images, in_channels=3, model="predict_instances")
            images = list(images)
    captured = []
    hook = model.roi_heads.mask_predictor.register_forward_hook(lambda module, inputs, out: captured.append(out))
    try:
        with eval_mode(model):
            outputs = model(images)
    finally:
        hook.remove()
    logits = captured[0] if captured else None
    start = 0
    for output in outputs:
        k = len(output["labels"])
        if logits is None or k == 0:
            size = model.roi_heads.mask_roi_pool.output_size[0] * 2
            output["mask_logits"] = torch.zeros((0, size, size))
        else:
            own = logits[start : start + k]
            output["mask_logits"] = own[torch.arange(k), output["labels"]]
        start += k
    return outputs
