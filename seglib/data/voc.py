"""PASCAL VOC 2012 segmentation: class names, colour palette, loader, course split, download.

The lab of lecture 001 (Piccoli, Barbato) uses a variation of VOC 2012: the 20 object classes
plus background, the 2913 images of ``ImageSets/Segmentation/trainval.txt``, split 0.5/0.25/0.25.
Masks are palette PNGs whose pixel values are class indices; 255 marks "void" (object borders and
ambiguous pixels), which metrics and losses ignore.
"""
from __future__ import annotations

import numpy as np

VOC_CLASSES: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
)
NUM_CLASSES = len(VOC_CLASSES)  # 21
IGNORE_INDEX = 255  # "void" in VOC masks


def _voc_colormap(n: int = 256) -> np.ndarray:
    """The standard VOC colour map (VOCdevkit's ``VOClabelcolormap.m``): bits of the index
    spread over the high bits of R, G and B."""
    colors = np.zeros((n, 3), dtype=np.uint8)
    for index in range(n):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colors[index] = (r, g, b)
    return colors


VOC_PALETTE: np.ndarray = _voc_colormap()  # (256, 3) uint8; row 255 is void's cream colour


def _check_label_mask(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2 or not np.issubdtype(mask.dtype, np.integer):
        raise ValueError(
            f"a label mask must be a 2-D integer array (H, W) of class indices, got shape "
            f"{mask.shape} and dtype {mask.dtype}"
        )
    if mask.size and (mask.min() < 0 or mask.max() > 255):
        raise ValueError(f"class indices must lie in 0..255, got {mask.min()}..{mask.max()}")
    return mask


def decode_mask(mask) -> np.ndarray:
    """Class-index mask (H, W) → RGB image (H, W, 3) uint8 in the VOC colours (255 → void)."""
    if hasattr(mask, "detach"):
        mask = mask.detach().cpu().numpy()
    return VOC_PALETTE[_check_label_mask(mask).astype(np.int64)]


def encode_mask(rgb) -> np.ndarray:
    """RGB image (H, W, 3) in VOC colours → class-index mask (H, W) uint8; the inverse of
    ``decode_mask``. A colour that is not in the palette raises an error naming it."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got shape {rgb.shape} and dtype {rgb.dtype}")
    keys = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    palette_keys = (VOC_PALETTE[:, 0].astype(np.int64) << 16) | (VOC_PALETTE[:, 1].astype(np.int64) << 8) | VOC_PALETTE[:, 2]
    lookup = {int(k): i for i, k in enumerate(palette_keys) if i < NUM_CLASSES or i == IGNORE_INDEX}
    uniques, inverse = np.unique(keys, return_inverse=True)
    unknown = [int(k) for k in uniques if int(k) not in lookup]
    if unknown:
        k = unknown[0]
        raise ValueError(
            f"colour {(k >> 16, (k >> 8) & 255, k & 255)} is not a VOC class colour "
            f"({len(unknown)} unknown colour(s)); was the mask resized with interpolation instead of nearest?"
        )
    return np.array([lookup[int(k)] for k in uniques], dtype=np.uint8)[inverse].reshape(rgb.shape[:2])


def save_label_png(path, mask) -> None:
    """Write a class-index mask as a VOC-style palette PNG (what ``SegmentationClass`` holds)."""
    from PIL import Image

    image = Image.fromarray(_check_label_mask(mask).astype(np.uint8), mode="P")
    image.putpalette(VOC_PALETTE.reshape(-1).tolist())
    image.save(path)
