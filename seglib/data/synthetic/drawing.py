"""Shared drawing for the synthetic stand-ins: shapes rasterised in a box, smooth noise, a camera
model, colours, and the deterministic train/val partition. Used by ``voc``, ``em`` and ``panoptic``.
"""
from __future__ import annotations

import colorsys
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage


class _Stamp(NamedTuple):
    """A shape rasterised in a box of the image: ``image[region][mask]`` are its pixels; ``u``, ``v``
    are object-aligned coordinates over the box, scaled so the shape spans about [-1, 1]."""

    region: tuple[slice, slice]
    mask: np.ndarray
    u: np.ndarray
    v: np.ndarray
    centre: np.ndarray
    radius: float
    aspect: float


_SHAPES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "circle": lambda u, v: u**2 + v**2 <= 1,
    "rect": lambda u, v: np.maximum(np.abs(u), np.abs(v)) <= 1,
    "square": lambda u, v: np.maximum(np.abs(u), np.abs(v)) <= 0.85,
    "triangle": lambda u, v: (v <= 0.5) & (0.866 * u - v / 2 <= 0.5) & (-0.866 * u - v / 2 <= 0.5),
    "star": lambda u, v: np.hypot(u, v) <= 0.4 + 0.6 * np.cos(2.5 * np.arctan2(v, u)) ** 2,
    "cross": lambda u, v: (np.minimum(abs(u), abs(v)) <= 0.33) & (np.maximum(abs(u), abs(v)) <= 1),
    "ring": lambda u, v: (u**2 + v**2 <= 1) & (u**2 + v**2 >= 0.55**2),
    "ellipse": lambda u, v: u**2 + (v / 0.55) ** 2 <= 1,
    "hexagon": lambda u, v: (abs(v) <= 0.87) & (0.866 * abs(u) + abs(v) / 2 <= 0.87),
    "crescent": lambda u, v: (u**2 + v**2 <= 1) & ((u - 0.5) ** 2 + v**2 >= 0.75**2),
    "L": lambda u, v: (np.maximum(np.abs(u), np.abs(v)) <= 0.9) & ((u <= -0.25) | (v >= 0.25)),
    "bottle": lambda u, v: ((np.abs(u) <= 0.42) & (v >= -1) & (v <= 0.2))
    | ((u / 0.42) ** 2 + ((v - 0.2) / 0.3) ** 2 <= 1) | ((np.abs(u) <= 0.16) & (v <= 1) & (v >= 0)),
}


def _equal_area_scale() -> dict[str, float]:
    """Per shape, the radius factor that gives it the area of a circle: thin shapes are not
    rarer in pixels than round ones."""
    u, v = np.meshgrid(*2 * [np.linspace(-1.2, 1.2, 241)])
    return {name: float(np.sqrt(np.pi / (inside(u, v).mean() * 2.4**2))) for name, inside in _SHAPES.items()}


_EQUAL_AREA_SCALE = _equal_area_scale()


def _stamp(shape, image_shape, centre, radius, angle, aspect=1.0) -> _Stamp:
    """Rasterise ``shape`` at ``centre`` (row, col), ``radius`` px, rotated by ``angle``, its v
    axis scaled by ``aspect``; clipped to the image (the mask is empty when it falls outside)."""
    h, w = image_shape[:2]
    cy, cx = float(centre[0]), float(centre[1])
    reach = radius * max(1.0, aspect) * 1.05 + 1
    y0, y1 = min(max(int(cy - reach), 0), h), min(max(int(cy + reach) + 2, 0), h)
    x0, x1 = min(max(int(cx - reach), 0), w), min(max(int(cx + reach) + 2, 0), w)
    dy = np.arange(y0 - cy, y1 - cy, dtype=np.float32)[: y1 - y0, None]
    dx = np.arange(x0 - cx, x1 - cx, dtype=np.float32)[None, : x1 - x0]
    cos, sin = np.cos(angle), np.sin(angle)
    u = (cos * dx + sin * dy) * (1 / radius)
    v = (cos * dy - sin * dx) * (1 / (radius * aspect))
    region = (slice(y0, y1), slice(x0, x1))
    return _Stamp(region, _SHAPES[shape](u, v), u, v, np.array([cy, cx]), float(radius), float(aspect))


def _border_band(ids, width):
    """Pixels of a ``width``-px band straddling every boundary between different ids (VOC's void)."""
    return ndimage.maximum_filter(ids, size=width + 1) != ndimage.minimum_filter(ids, size=width + 1)


def _smooth_noise(rng, h, w, cells):
    """A smooth random field (h, w), about unit variance: a coarse grid of normals, bicubic-upsampled."""
    coarse = rng.standard_normal((max(cells, 1) + 1, max(cells, 1) + 1)).astype(np.float32)
    return np.array(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC))


def _camera(rng, image):
    """Float RGB → uint8 as a camera would give it: a slight blur and sensor noise."""
    image = image + rng.normal(0, rng.uniform(2, 6), image.shape)
    pil = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    return np.array(pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.7))))


def _hsv(hue_degrees, saturation, value):
    """An RGB colour (3,) in 0..255 from hue in degrees, saturation and value in [0, 1]."""
    return 255 * np.array(colorsys.hsv_to_rgb((hue_degrees / 360) % 1, saturation, value), dtype=np.float32)


def _log_uniform(rng, low, high, bias=1.0):
    """A size between ``low`` and ``high``, uniform in log scale; ``bias`` < 1 favours large ones."""
    return float(np.exp(np.log(low) + rng.random() ** bias * np.log(max(high, low) / low)))


def _split(ids, seed, stream, val_fraction):
    """A deterministic (train, val) partition of ``ids``; val gets ``floor(val_fraction * n)``."""
    order = np.random.default_rng([seed, stream, 2**32]).permutation(len(ids))
    n_val = int(val_fraction * len(ids))
    return [ids[i] for i in order[n_val:]], [ids[i] for i in order[:n_val]]
