"""Albumentations pipelines for (image, mask) pairs, as used in lecture 001's lab: random flips,
small affine warps and colour jitter for training, a plain resize for evaluation, both ending in
ImageNet normalisation and PyTorch tensors (image float (3, S, S), mask int64 (S, S)).

Geometry is applied to image and mask together; the mask is always resized and warped by
nearest neighbour (labels are never blended) and padding that a warp brings in is 255, "void",
so losses and metrics ignore it.

Floor 3 of ``seglib.data`` (it imports ``labels`` and ``cache``); ``seglib.data`` imports it on
first use, because importing Albumentations takes about 3 s.
"""
from __future__ import annotations

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no online version check on import

import albumentations as A
import cv2
import numpy as np
import torch
from albumentations.pytorch import ToTensorV2

from .._guards import check_allocation, check_number
from .cache import output_size
from .labels import IGNORE_INDEX

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def train_transform(size=64, *, hflip: float = 0.5, affine: bool = True, color: bool = True,
                    seed: int | None = None) -> SegTransform:
    """Training augmentation: horizontal flip (probability ``hflip``), a small random
    shift/scale/rotation (half the time), colour jitter (half the time), resize to ``size``
    (S x S, or a pair (height, width)), normalise, to tensors. ``seed`` None draws one from PyTorch's generator,
    so ``seglib.seed_everything`` makes the augmentations repeatable."""
    hflip = check_number(hflip, "hflip", minimum=0, maximum=1, hint="it is the probability of a horizontal flip")
    steps = [A.HorizontalFlip(p=hflip)]
    if affine:
        steps.append(A.Affine(
            scale=(0.9, 1.1), translate_percent=(-0.0625, 0.0625), rotate=(-10, 10),
            interpolation=cv2.INTER_LINEAR, mask_interpolation=cv2.INTER_NEAREST,
            border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=IGNORE_INDEX, p=0.5,
        ))
    if color:
        steps.append(A.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.02, p=0.5))
    return SegTransform([*steps, *_resize_and_normalize(size)], seed=seed)


def eval_transform(size=64) -> SegTransform:
    """Evaluation: resize to ``size`` (S x S, or a pair (height, width)), normalise, to tensors;
    deterministic."""
    return SegTransform(_resize_and_normalize(size), seed=0)


def _resize_and_normalize(size) -> list:
    height, width = output_size(size)
    check_allocation(24.0 * height * width, f"images of {height}x{width} after the resize", "use a smaller size")
    return [
        # Albumentations 2.0 already defaults mask_interpolation to nearest; say so explicitly.
        A.Resize(height, width, interpolation=cv2.INTER_LINEAR, mask_interpolation=cv2.INTER_NEAREST,
                 area_for_downscale="image"),  # INTER_AREA when shrinking the image: antialiased
        A.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD, max_pixel_value=255.0),
        ToTensorV2(),
    ]


class SegTransform:
    """An ``A.Compose`` for (image, mask) pairs that returns the mask as an int64 tensor and gives
    each DataLoader worker (and each epoch's workers) its own random stream; plain
    ``A.Compose`` would repeat the same augmentations in every worker."""

    def __init__(self, transforms: list, seed: int | None = None):
        if seed is not None:
            seed = int(check_number(seed, "seed", minimum=0, integer=True, hint="seeds are non-negative ints"))
        self.seed = int(torch.randint(2**31 - 1, ()).item()) if seed is None else seed
        self.compose = A.Compose(transforms, seed=self.seed)
        self._worker_seed = None

    def __call__(self, *, image: np.ndarray, mask: np.ndarray) -> dict:
        worker = torch.utils.data.get_worker_info()
        if worker is not None and worker.seed != self._worker_seed:
            self._worker_seed = worker.seed
            self.compose.set_random_seed((self.seed + worker.seed) % 2**32)
        _check_pair(image, mask)
        out = self.compose(image=image, mask=mask)
        return {**out, "mask": torch.as_tensor(out["mask"]).long()}

    def __repr__(self) -> str:
        return f"SegTransform(seed={self.seed}, {self.compose!r})"


def _check_pair(image, mask) -> None:
    """What the pipelines expect, as the dataset reads it: an RGB uint8 array (H, W, 3) and an
    integer mask (H, W) of the same size. Anything else would fail deep inside Albumentations,
    or worse, pass: a float image is divided by 255 a second time, a colour mask is kept as labels."""
    if not isinstance(image, np.ndarray) or not isinstance(mask, np.ndarray):
        raise TypeError(f"image and mask must be NumPy arrays, got {type(image).__name__} and {type(mask).__name__}; "
                        f"convert a tensor with .numpy() (channels last for the image)")
    if image.ndim != 3 or image.shape[2] != 3:
        hint = " (channels first: use image.transpose(1, 2, 0))" if image.ndim == 3 and image.shape[0] == 3 else ""
        raise ValueError(f"image must be RGB (H, W, 3), got shape {image.shape}{hint}; convert grayscale with "
                         f"np.stack([image] * 3, -1)")
    if image.dtype != np.uint8:
        raise TypeError(f"image must be uint8 in 0..255 as read from disk, got {image.dtype}: Normalize divides by "
                        f"255; convert a [0, 1] float image with (image * 255).round().astype(np.uint8)")
    if mask.ndim != 2 or not np.issubdtype(mask.dtype, np.integer):
        raise ValueError(f"mask must hold integer class indices (H, W), got shape {mask.shape} and dtype {mask.dtype}; "
                         f"an RGB colour mask converts with seglib.data.encode_mask")
    if mask.shape != image.shape[:2]:
        raise ValueError(f"image {image.shape[:2]} and mask {mask.shape} differ in size; they must be one pair, "
                         f"read from the same image id")


def denormalize(image) -> np.ndarray:
    """Undo ``Normalize``: a (3, H, W) or (N, 3, H, W) tensor → float32 (H, W, 3) or
    (N, H, W, 3) in [0, 1], ready for ``plt.imshow``."""
    if isinstance(image, torch.Tensor):
        if not image.is_floating_point():
            raise TypeError(f"denormalize undoes Normalize on a float image; got {image.dtype}, which needs none "
                            f"(show a uint8 image as it is)")
        image = image.detach().cpu().float().numpy()
    if not np.issubdtype(np.asarray(image).dtype, np.floating):
        raise TypeError(f"denormalize undoes Normalize on a float image; got {np.asarray(image).dtype}, which needs "
                        f"none (show a uint8 image as it is)")
    image = np.asarray(image, dtype=np.float32)
    if image.ndim not in (3, 4) or image.shape[-3] != 3:
        raise ValueError(f"expected a normalised image (3, H, W) or batch (N, 3, H, W), got shape {image.shape}")
    image = np.moveaxis(image, -3, -1)
    return np.clip(image * np.float32(IMAGENET_STD) + np.float32(IMAGENET_MEAN), 0.0, 1.0)
