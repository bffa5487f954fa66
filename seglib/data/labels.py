"""Label formats: class indices, void, colour palettes, and COCO-panoptic segment ids.

The bottom floor of ``seglib.data``: it imports no other module of the package.

A VOC-format mask (lecture 001's lab) is a palette or grayscale PNG whose pixel values are class
indices 0..C-1, with 255 for "void" (object borders and ambiguous pixels), which metrics and
losses ignore. PASCAL VOC 2012 has the 20 object classes plus background and the standard VOC
colour map; any other VOC-format dataset brings its own class names and colours
(``ClassInfo``). A COCO-panoptic PNG (lecture 002) encodes segment ids in its colours.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

__all__ = [
    "IGNORE_INDEX", "VOC_CLASSES", "NUM_CLASSES", "VOC_PALETTE", "ClassInfo", "VOC_CLASS_INFO",
    "decode_mask", "encode_mask", "save_label_png", "check_mask_labels", "rgb_to_id", "id_to_rgb",
    "segment_box_and_area",
]

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


@dataclass(frozen=True)
class ClassInfo:
    """A dataset's classes: ``names`` (index = class), a (256, 3) uint8 ``palette`` whose first
    rows colour the classes and whose row 255 colours void, and ``source``, where they came from
    (printed by notebooks: "VOC 2012", "labelmap.txt", "the classes argument", ...)."""

    names: tuple[str, ...]
    palette: np.ndarray
    source: str

    def __post_init__(self):
        names = tuple(str(name) for name in self.names)
        if not 1 <= len(names) <= IGNORE_INDEX:
            raise ValueError(f"a dataset needs 1..{IGNORE_INDEX} classes (255 is void), got {len(names)} ({self.source})")
        if len(set(names)) != len(names):
            duplicated = sorted({name for name in names if names.count(name) > 1})
            raise ValueError(f"class names must be distinct, {duplicated} repeat ({self.source})")
        palette = np.asarray(self.palette)
        if palette.shape != (256, 3) or palette.dtype != np.uint8:
            raise ValueError(f"a palette is a (256, 3) uint8 array, got {palette.shape} {palette.dtype} ({self.source})")
        object.__setattr__(self, "names", names)

    @property
    def num_classes(self) -> int:
        return len(self.names)

    @classmethod
    def from_names(cls, names, colors=None, source: str = "the classes argument") -> ClassInfo:
        """Classes named ``names``, coloured by ``colors`` (C, 3) when given, else by the VOC
        colour map (which gives every index a distinct colour)."""
        palette = VOC_PALETTE.copy()
        if colors is not None:
            colors = np.asarray(colors)
            if colors.shape != (len(names), 3) or not np.isfinite(colors).all() or colors.min() < 0 or colors.max() > 255:
                values = f"values {colors.min()}..{colors.max()}" if colors.size else "no values"
                raise ValueError(f"colors must be {len(names)} RGB triples in 0..255, got shape {colors.shape} and {values}")
            palette[: len(names)] = colors.astype(np.uint8)
        return cls(tuple(names), palette, source)


VOC_CLASS_INFO = ClassInfo(VOC_CLASSES, VOC_PALETTE, "PASCAL VOC 2012")


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


def decode_mask(mask, palette: np.ndarray = VOC_PALETTE) -> np.ndarray:
    """Class-index mask (H, W) → RGB image (H, W, 3) uint8 in the dataset's colours (VOC's by
    default; 255 → void's colour)."""
    if hasattr(mask, "detach"):
        mask = mask.detach().cpu().numpy()
    return np.asarray(palette)[_check_label_mask(mask).astype(np.int64)]


def _keys(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def encode_mask(rgb, palette: np.ndarray = VOC_PALETTE, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """RGB image (H, W, 3) in a dataset's colours → class-index mask (H, W) uint8; the inverse
    of ``decode_mask``. Classes 0..num_classes-1 and void (row 255) are recognised; a colour
    that is none of them raises an error naming it."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got shape {rgb.shape} and dtype {rgb.dtype}")
    palette_keys = _keys(np.asarray(palette))
    lookup = {int(k): i for i, k in enumerate(palette_keys) if i < num_classes or i == IGNORE_INDEX}
    uniques, inverse = np.unique(_keys(rgb), return_inverse=True)
    unknown = [int(k) for k in uniques if int(k) not in lookup]
    if unknown:
        k = unknown[0]
        raise ValueError(
            f"colour {(k >> 16, (k >> 8) & 255, k & 255)} is not a class colour of this palette "
            f"({len(unknown)} unknown colour(s)); was the mask resized with interpolation instead of nearest?"
        )
    return np.array([lookup[int(k)] for k in uniques], dtype=np.uint8)[inverse].reshape(rgb.shape[:2])


def save_label_png(path, mask, palette: np.ndarray = VOC_PALETTE) -> None:
    """Write a class-index mask as a palette PNG (what ``SegmentationClass`` holds)."""
    image = Image.fromarray(_check_label_mask(mask).astype(np.uint8), mode="P")
    image.putpalette(np.asarray(palette, dtype=np.uint8).reshape(-1).tolist())
    image.save(path)


def check_mask_labels(counts, num_classes: int, where: str) -> None:
    """Raise naming ``where`` and the values if a histogram ``counts`` of mask values (index =
    value) has pixels outside 0..num_classes-1 and 255 (void): such a label would otherwise fail
    much later, inside a loss, far from its file."""
    bad = [value for value, count in enumerate(counts) if count and num_classes <= value != IGNORE_INDEX]
    if bad:
        raise ValueError(
            f"{where} holds the label(s) {bad[:5]}, outside the {num_classes} classes (0..{num_classes - 1}) and "
            f"void ({IGNORE_INDEX}). If the dataset has more classes, name them (classes=..., a labelmap.txt, or "
            f"num_classes); if {bad[0]} marks unlabelled pixels, pass void_values=({bad[0]},) to read it as void"
        )


# --------------------------------------------------------------------------- COCO panoptic ids
def rgb_to_id(rgb) -> np.ndarray:
    """COCO panoptic PNG colours (..., 3) uint8 → segment ids (...) int32: R + 256 G + 256² B."""
    rgb = np.asarray(rgb)
    if rgb.ndim < 1 or rgb.shape[-1] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected uint8 colours (..., 3), got shape {rgb.shape} and dtype {rgb.dtype}")
    rgb = rgb.astype(np.int32)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


def id_to_rgb(ids) -> np.ndarray:
    """Segment ids (...) → COCO panoptic PNG colours (..., 3) uint8; the inverse of ``rgb_to_id``."""
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"segment ids must be integers, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= 256**3):
        raise ValueError(
            f"segment ids must lie in 0..{256**3 - 1} to fit in an RGB PNG, got {ids.min()}..{ids.max()}"
        )
    ids = ids.astype(np.int64)
    return np.stack([ids % 256, ids // 256 % 256, ids // (256 * 256)], axis=-1).astype(np.uint8)


def segment_box_and_area(mask) -> tuple[list[int], int]:
    """COCO's ``bbox`` [x, y, w, h] and ``area`` (pixel count) of one segment's boolean mask (H, W)
    (lecture 002: a thing is a box plus a mask). The box is tight, with ``x + w`` and ``y + h``
    one past the last pixel; Mask R-CNN's (x0, y0, x1, y1) box is [x, y, x + w, y + h]."""
    mask = mask.detach().cpu().numpy() if hasattr(mask, "detach") else np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"a segment's mask must be (H, W), got shape {mask.shape}")
    rows, cols = np.nonzero(mask)
    if not len(rows):
        raise ValueError("the segment's mask is empty, so it has no box; leave empty segments out")
    x, y = int(cols.min()), int(rows.min())
    return [x, y, int(cols.max()) + 1 - x, int(rows.max()) + 1 - y], len(rows)
