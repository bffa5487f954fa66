"""Deterministic synthetic stand-ins for the course's datasets, written in the real formats.

Everything in the course runs offline, so each dataset has a generated twin that the real
dataset's reader also reads:

``make_synthetic_voc(root, n_images)`` — PASCAL VOC 2012 segmentation (lecture 001's lab).
    ``root/VOCdevkit/VOC2012/`` with ``JPEGImages/<id>.jpg`` (RGB, varied sizes),
    ``SegmentationClass/<id>.png`` (palette PNG: class indices 0..20, 255 = void),
    ``SegmentationObject/<id>.png`` (palette PNG: instance ids 1..K in drawing order,
    0 = background, 255 = the same void) and ``ImageSets/Segmentation/{train,val,trainval}.txt``.
    The 20 object classes keep VOC's names; each is a shape with a texture in a hue
    (``VOC_LOOKS``). Every hue is shared by four classes, every shape by two and every texture
    by four, so a pixel's colour does not name its class: the context around it must.
    Objects range from 8 px to most of the image, occlude each other, and sit on cluttered
    backgrounds; a 2-3 px void band runs along every object border, as in VOC.

``make_em_membranes(root, n_images=30)`` — the ISBI 2012 EM stack (lecture 003: k-means on
    neuronal membranes; Ciresan et al. 2012). ``root/isbi2012/`` with multi-page 8-bit TIFFs
    ``train-volume.tif``, ``train-labels.tif``, ``test-volume.tif`` and ``test-labels.tif``
    (n_images pages of size x size each). Labels are 255 inside cells and 0 on membranes, as in
    ISBI 2012. The real challenge withholds ``test-labels.tif``; the stand-in has it so that the
    notebooks can evaluate. Cells carry dark organelles as dark as membranes, and membranes are
    1-3 px and of varying darkness, so an intensity threshold does not recover them.

``make_panoptic_scenes(root, n_images)`` — stuff and things (lecture 002: stuff vs things,
    instance and panoptic segmentation, UPSNet). ``root/panoptic_scenes/`` in a COCO-panoptic
    layout: ``images/<id>.png`` (RGB; PNG rather than JPEG so that the thin boundaries between
    touching things are free of compression artefacts and decode identically everywhere),
    ``panoptic/<id>.png`` (RGB; segment id = R + 256 G + 256² B, 0 = void) and
    ``panoptic.json`` with ``categories`` [{id, name, isthing, color}], ``images`` [{id,
    file_name, height, width}], ``annotations`` [{image_id, file_name, segments_info: [{id,
    category_id, area, bbox: [x, y, w, h], iscrowd}]}] and the split lists ``train`` and
    ``val`` (image ids, 80/20). Stuff (sky, grass, road, water) fills each scene in amorphous
    regions; 1-8 things (ball, box, bottle), several of them touching or slightly overlapping,
    so that a semantic mask plus connected components cannot separate them. Segment ids are
    ``1000 * category_id`` for stuff and ``1000 * category_id + k`` for the k-th thing of a
    category; readers must not rely on that (COCO's ids are arbitrary).

All three are deterministic: image ``i`` depends only on ``seed`` and ``i`` (a small dataset is
a prefix of a larger one). Each writes into a temporary sibling folder and renames it into
place, with a marker file (``.seglib-synthetic.json``) holding its parameters: called again with
the same parameters it returns the finished folder at once; with other parameters it
regenerates. Two processes generating the same dataset at once both end with a complete one (the
second to finish discards its copy). A folder without the marker (a real dataset) is never
touched. A generation killed halfway leaves a hidden ``.<name>.tmp-*`` folder that is safe to
delete.
"""
from __future__ import annotations

import colorsys
import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

from .folders import ISBI_FOLDER, PANOPTIC_FOLDER, id_to_rgb
from .voc import IGNORE_INDEX, NUM_CLASSES, VOC_CLASSES, save_label_png

__all__ = [
    "PANOPTIC_CATEGORIES",
    "VOC_LOOKS",
    "Look",
    "make_em_membranes",
    "make_panoptic_scenes",
    "make_synthetic_voc",
]

# Bump a version when its generator's output changes: existing folders then regenerate.
_VOC_VERSION, _EM_VERSION, _PANOPTIC_VERSION = 1, 1, 1
# Independent random streams: numpy's SeedSequence mixes [seed, stream, ...] into one state.
_VOC_STREAM, _EM_STREAM, _PANOPTIC_STREAM = 1, 2, 3


class Look(NamedTuple):
    """How a synthetic VOC class looks: a shape, a texture and a hue in degrees."""

    shape: str
    texture: str
    hue: float


def _voc_looks() -> dict[str, Look]:
    # Five hues with four classes each. Within a hue the four shapes differ (and stay distinct
    # at low resolution); every shape also appears in one other hue and every texture in four
    # classes, so neither colour, shape nor texture alone names a class: a pixel's class
    # depends on its colour and on the shape or texture around it.
    groups = [
        (0, ("circle", "cross", "triangle", "L")),
        (50, ("square", "star", "ring", "crescent")),
        (125, ("circle", "star", "L", "ellipse")),
        (215, ("square", "triangle", "crescent", "hexagon")),
        (285, ("cross", "ring", "ellipse", "hexagon")),
    ]
    textures = ("solid", "stripes", "dots", "checker", "gradient")
    looks = [
        Look(shape, textures[(g + k) % len(textures)], hue)
        for g, (hue, shapes) in enumerate(groups) for k, shape in enumerate(shapes)
    ]
    return dict(zip(VOC_CLASSES[1:], looks))


VOC_LOOKS: dict[str, Look] = _voc_looks()

PANOPTIC_CATEGORIES: tuple[dict, ...] = (
    {"id": 1, "name": "ball", "isthing": 1, "color": [220, 20, 60]},
    {"id": 2, "name": "box", "isthing": 1, "color": [255, 160, 0]},
    {"id": 3, "name": "bottle", "isthing": 1, "color": [0, 120, 60]},
    {"id": 4, "name": "sky", "isthing": 0, "color": [70, 130, 180]},
    {"id": 5, "name": "grass", "isthing": 0, "color": [107, 142, 35]},
    {"id": 6, "name": "road", "isthing": 0, "color": [128, 64, 128]},
    {"id": 7, "name": "water", "isthing": 0, "color": [0, 80, 160]},
)
_BALL, _BOX, _BOTTLE, _SKY, _GRASS, _ROAD, _WATER = range(1, 8)


# =========================================================================== public generators
def make_synthetic_voc(
    root, n_images: int, seed: int = 0, *, min_size: int = 96, max_size: int = 160,
    max_objects: int = 4, jpeg_quality: int = 90,
) -> Path:
    """Write a PASCAL-VOC-2012-format stand-in under ``root/VOCdevkit/VOC2012`` and return that path.

    Serves lecture 001's lab where real VOC 2012 is absent (see the module docstring for the
    format). Images are ``min_size``..``max_size`` px high and wide, independently, with 1 to
    ``max_objects`` objects each; train and val (``ImageSets/Segmentation``) split them 50/50.
    """
    n_images = _check_int("n_images", n_images, 1, "ask for at least one image")
    seed = _check_int("seed", seed, 0, "seeds are non-negative ints")
    min_size = _check_int("min_size", min_size, 32, "smaller images leave no room for objects and void bands")
    max_size = _check_int("max_size", max_size, min_size, "max_size must not be below min_size")
    max_objects = _check_int("max_objects", max_objects, 1, "every image holds at least one object")
    jpeg_quality = _check_int("jpeg_quality", jpeg_quality, 1, "JPEG quality runs from 1 to 100", maximum=100)
    params = {
        "generator": "make_synthetic_voc", "version": _VOC_VERSION, "n_images": n_images, "seed": seed,
        "min_size": min_size, "max_size": max_size, "max_objects": max_objects, "jpeg_quality": jpeg_quality,
    }

    def build(folder: Path) -> None:
        for sub in ("JPEGImages", "SegmentationClass", "SegmentationObject", "ImageSets/Segmentation"):
            (folder / sub).mkdir(parents=True)
        ids = [f"synth_{i:06d}" for i in range(n_images)]
        for i, image_id in enumerate(ids):
            rng = np.random.default_rng([seed, _VOC_STREAM, i])
            first_class = _balanced_class(seed, i)
            image, classes, objects = _voc_scene(rng, min_size, max_size, max_objects, first_class)
            Image.fromarray(image).save(folder / "JPEGImages" / f"{image_id}.jpg", quality=jpeg_quality)
            save_label_png(folder / "SegmentationClass" / f"{image_id}.png", classes)
            save_label_png(folder / "SegmentationObject" / f"{image_id}.png", objects)
        train, val = _split(ids, seed, _VOC_STREAM, val_fraction=0.5)
        for name, members in (("train", train), ("val", val), ("trainval", ids)):
            lines = "".join(f"{member}\n" for member in sorted(members))
            (folder / "ImageSets" / "Segmentation" / f"{name}.txt").write_text(lines)

    return _write_atomically(Path(root).expanduser() / "VOCdevkit" / "VOC2012", params, build)


def make_em_membranes(root, n_images: int = 30, seed: int = 0, size: int = 512) -> Path:
    """Write an ISBI-2012-layout EM stand-in under ``root/isbi2012`` and return that path.

    Serves lecture 003 (k-means on neuronal membranes; Ciresan et al. 2012 won ISBI 2012):
    ``n_images`` train and ``n_images`` test slices of ``size`` x ``size`` px, with labels for
    both (the real challenge withholds the test labels). ``seglib.data.read_isbi`` reads it.
    """
    n_images = _check_int("n_images", n_images, 1, "ask for at least one slice")
    seed = _check_int("seed", seed, 0, "seeds are non-negative ints")
    size = _check_int("size", size, 64, "slices need room for several cells (ISBI's are 512)")
    params = {
        "generator": "make_em_membranes", "version": _EM_VERSION, "n_images": n_images, "seed": seed, "size": size,
    }

    def build(folder: Path) -> None:
        for split, stream in (("train", 0), ("test", 1)):
            rngs = [np.random.default_rng([seed, _EM_STREAM, stream, i]) for i in range(n_images)]
            slices = [_em_slice(rng, size) for rng in rngs]
            _save_tiff_stack(folder / f"{split}-volume.tif", [image for image, _ in slices])
            _save_tiff_stack(folder / f"{split}-labels.tif", [labels for _, labels in slices])

    return _write_atomically(Path(root).expanduser() / ISBI_FOLDER, params, build)


def make_panoptic_scenes(root, n_images: int, seed: int = 0, size: int = 128) -> Path:
    """Write stuff-and-things scenes in a COCO-panoptic layout under ``root/panoptic_scenes``.

    Serves lecture 002 (stuff vs things; instance and panoptic segmentation, UPSNet): ``n_images``
    square scenes of ``size`` px, split 80/20 into train and val. Returns the folder;
    ``seglib.data.PanopticScenes`` reads it.
    """
    n_images = _check_int("n_images", n_images, 1, "ask for at least one scene")
    seed = _check_int("seed", seed, 0, "seeds are non-negative ints")
    size = _check_int("size", size, 48, "scenes need room for stuff and several things")
    params = {
        "generator": "make_panoptic_scenes", "version": _PANOPTIC_VERSION, "n_images": n_images, "seed": seed,
        "size": size,
    }

    def build(folder: Path) -> None:
        (folder / "images").mkdir()
        (folder / "panoptic").mkdir()
        images, annotations = [], []
        for i in range(n_images):
            image, segments = _panoptic_scene(np.random.default_rng([seed, _PANOPTIC_STREAM, i]), size)
            name = f"{i:06d}.png"
            Image.fromarray(image).save(folder / "images" / name)
            Image.fromarray(id_to_rgb(segments)).save(folder / "panoptic" / name)
            images.append({"id": i, "file_name": name, "height": size, "width": size})
            annotations.append({"image_id": i, "file_name": name, "segments_info": _segments_info(segments)})
        train, val = _split(list(range(n_images)), seed, _PANOPTIC_STREAM, val_fraction=0.2)
        meta = {
            "info": {"description": "seglib synthetic stuff-and-things scenes", **params},
            "categories": list(PANOPTIC_CATEGORIES), "images": images, "annotations": annotations,
            "train": sorted(train), "val": sorted(val),
        }
        (folder / "panoptic.json").write_text(json.dumps(meta))

    return _write_atomically(Path(root).expanduser() / PANOPTIC_FOLDER, params, build)


# =========================================================================== VOC scenes
def _voc_scene(rng, min_size, max_size, max_objects, first_class):
    """One image with its class and instance masks; the first object has class ``first_class``."""
    h, w = (int(n) for n in rng.integers(min_size, max_size + 1, size=2))
    image = _cluttered_background(rng, h, w)
    classes = np.zeros((h, w), np.uint8)
    objects = np.zeros((h, w), np.uint8)
    n_objects = int(rng.integers(1, max_objects + 1))
    labels = [first_class, *(int(c) for c in rng.integers(1, NUM_CLASSES, size=n_objects - 1))]
    for k, label in enumerate(labels, start=1):
        look = VOC_LOOKS[VOC_CLASSES[label]]
        radius = _log_uniform(rng, 4, 0.4 * min(h, w), bias=0.6) * _EQUAL_AREA_SCALE[look.shape]
        centre = rng.uniform(0.1, 0.9, size=2) * (h, w)
        stamp = _stamp(look.shape, (h, w), centre, radius, rng.uniform(0, 2 * np.pi), rng.uniform(0.85, 1.15))
        colour = _hsv(look.hue + rng.uniform(-12, 12), rng.uniform(0.55, 0.95), rng.uniform(0.5, 0.95))
        pattern = _texture(look.texture, stamp, rng)
        shade = colour * rng.uniform(0.3, 0.5)
        light_angle = rng.uniform(0, 2 * np.pi)
        light = 1 + 0.12 * (stamp.u * np.cos(light_angle) + stamp.v * np.sin(light_angle))
        pixels = (colour + (shade - colour) * pattern[..., None]) * light[..., None]
        image[stamp.region][stamp.mask] = pixels[stamp.mask]
        classes[stamp.region][stamp.mask] = label
        objects[stamp.region][stamp.mask] = k
    void = _border_band(objects, width=int(rng.integers(2, 4)))
    objects[void] = IGNORE_INDEX
    objects = _renumber(objects)
    classes[objects == IGNORE_INDEX] = IGNORE_INDEX
    return _camera(rng, image), classes, objects


def _cluttered_background(rng, h, w):
    """Float RGB (h, w, 3): a colour gradient, smooth colour noise, low-contrast blobs and lines."""
    colours = [_hsv(rng.uniform(0, 360), rng.uniform(0.05, 0.55), rng.uniform(0.25, 0.85)) for _ in range(2)]
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * np.arange(w)[None, :] / w + np.sin(angle) * np.arange(h)[:, None] / h
    ramp = (ramp - ramp.min()) / max(np.ptp(ramp), 1e-6)
    image = colours[0] + (colours[1] - colours[0]) * ramp[..., None]
    image += 14 * np.stack([_smooth_noise(rng, h, w, cells=4) for _ in range(3)], axis=-1)
    for _ in range(int(rng.integers(3, 9))):  # blobs
        stamp = _stamp("circle", (h, w), rng.uniform(0, 1, 2) * (h, w), _log_uniform(rng, 3, 0.3 * min(h, w)),
                       rng.uniform(0, np.pi), rng.uniform(0.3, 1))
        image[stamp.region][stamp.mask] += rng.uniform(-25, 25, size=3)
    for _ in range(int(rng.integers(1, 5))):  # lines
        length = rng.uniform(0.2, 0.6) * max(h, w)
        stamp = _stamp("rect", (h, w), rng.uniform(0, 1, 2) * (h, w), length, rng.uniform(0, np.pi),
                       rng.uniform(0.6, 1.6) / length)
        image[stamp.region][stamp.mask] += rng.uniform(-30, 30, size=3)
    return image


def _texture(kind, stamp, rng):
    """Pattern in [0, 1] over a stamp's box: 0 is the object's colour, 1 its darker shade."""
    u, v = stamp.u * stamp.radius, stamp.v * stamp.radius * stamp.aspect  # object-aligned pixels
    period = rng.uniform(8, 12)
    if kind == "solid":
        return np.zeros_like(u)
    if kind == "stripes":
        return (np.sin(2 * np.pi * u / period) > 0).astype(np.float32)
    if kind == "dots":
        du, dv = np.mod(u, period) - period / 2, np.mod(v, period) - period / 2
        return (du**2 + dv**2 < (0.3 * period) ** 2).astype(np.float32)
    if kind == "checker":
        return (np.floor(u / period) + np.floor(v / period)) % 2
    if kind == "gradient":
        return np.clip((stamp.u + 1) / 2, 0, 1)
    raise ValueError(f"unknown texture {kind!r}")


def _balanced_class(seed, i):
    """Class of image i's first object: each block of 20 images holds every class once."""
    block = np.random.default_rng([seed, _VOC_STREAM, 2**31, i // (NUM_CLASSES - 1)])
    return int(block.permutation(NUM_CLASSES - 1)[i % (NUM_CLASSES - 1)]) + 1


def _renumber(objects, min_area=6):
    """Instance ids 1..K in drawing order. Objects hidden behind others disappear; slivers of
    fewer than ``min_area`` visible pixels become void, as VOC marks objects too small to label."""
    ids, areas = np.unique(objects, return_counts=True)
    lookup = np.full(256, IGNORE_INDEX, np.uint8)
    lookup[0] = 0
    kept = ids[(ids > 0) & (ids < IGNORE_INDEX) & (areas >= min_area)]
    lookup[kept] = np.arange(1, len(kept) + 1)
    return lookup[objects]


# =========================================================================== EM membranes
def _em_slice(rng, size):
    """One EM-like slice and its labels (255 cell, 0 membrane), both uint8 (size, size)."""
    cells = _voronoi_cells(rng, size, spacing=rng.uniform(38, 55))
    membrane = _membranes(rng, cells)
    n_cells = int(cells.max()) + 1
    image = rng.uniform(140, 200, n_cells)[cells] + 10 * _smooth_noise(rng, size, size, cells=size // 32)
    image += 25 * ndimage.gaussian_filter(rng.standard_normal((size, size)), 1.0)  # grain
    _add_organelles(rng, image, cells, n_cells)
    membrane_grey = rng.uniform(45, 80) + 30 * _smooth_noise(rng, size, size, cells=size // 48)  # varies
    image[membrane] = membrane_grey[membrane]
    image = ndimage.gaussian_filter(image, rng.uniform(0.8, 1.2))
    image += 12 * _smooth_noise(rng, size, size, cells=2) + rng.normal(0, rng.uniform(8, 13), image.shape)
    labels = np.where(membrane, 0, 255).astype(np.uint8)
    return np.clip(image, 0, 255).astype(np.uint8), labels


def _voronoi_cells(rng, size, spacing):
    """Cell ids (size, size), not contiguous: the nearest seed of a jittered grid plus a few
    extra seeds (small cells), smoothly warped so that the straight Voronoi edges bend."""
    warp, pad = 8.0, 32  # the warp moves pixels by up to ~3 x 8 px; the padding keeps it inside
    n = int(np.ceil((size + 2 * pad) / spacing)) + 1
    grid = np.stack(np.meshgrid(np.arange(n), np.arange(n), indexing="ij"), -1).reshape(-1, 2) * spacing
    seeds = np.concatenate([grid + rng.uniform(-0.4, 0.4, grid.shape) * spacing,
                            rng.uniform(0, size + 2 * pad, (len(grid) // 5, 2))])
    seeds = np.clip(seeds.round().astype(int), 0, size + 2 * pad - 1)
    owner = np.full((size + 2 * pad,) * 2, -1)
    owner[seeds[:, 0], seeds[:, 1]] = np.arange(len(seeds))
    _, (iy, ix) = ndimage.distance_transform_edt(owner < 0, return_indices=True)
    cells = owner[iy, ix]
    dy, dx = (warp * _smooth_noise(rng, size, size, cells=size // 64 + 2) for _ in range(2))
    rows = np.clip(np.arange(size)[:, None] + pad + dy, 0, size + 2 * pad - 1).round().astype(int)
    cols = np.clip(np.arange(size)[None, :] + pad + dx, 0, size + 2 * pad - 1).round().astype(int)
    return cells[rows, cols]


def _membranes(rng, cells):
    """Membrane pixels: a 1-px cell boundary thickened to 2 or 3 px where a smooth field says so."""
    edge = np.zeros(cells.shape, bool)
    edge[:, :-1] |= cells[:, :-1] != cells[:, 1:]
    edge[:-1, :] |= cells[:-1, :] != cells[1:, :]
    field = _smooth_noise(rng, *cells.shape, cells=cells.shape[0] // 40)
    two = edge | np.roll(edge, 1, axis=0) | np.roll(edge, 1, axis=1)
    three = ndimage.binary_dilation(edge, np.ones((3, 3), bool))
    return edge | (two & (field > -0.5)) | (three & (field > 0.6))


def _add_organelles(rng, image, cells, n_cells):
    """Dark mitochondria, vesicles, ER strands and dots inside cells (in place), as dark as membrane."""
    size = image.shape[0]

    def inside_one_cell(stamp, centre):
        return stamp.mask & (cells[stamp.region] == cells[int(centre[0]), int(centre[1])])

    for _ in range(int(n_cells * rng.uniform(0.5, 1.0))):  # mitochondria: dark rim, grey inside
        centre = rng.uniform(0, size - 1, 2)
        length, angle, aspect = rng.uniform(5, 11), rng.uniform(0, np.pi), rng.uniform(0.3, 0.6)
        stamp = _stamp("circle", image.shape, centre, length, angle, aspect)
        mask = inside_one_cell(stamp, centre)
        rim = stamp.u**2 + stamp.v**2 > 0.55
        image[stamp.region][mask] = np.where(rim, rng.uniform(35, 80), rng.uniform(85, 125))[mask]
    for _ in range(int(n_cells * rng.uniform(0.05, 0.2))):  # vesicle clusters: small dark rings
        cluster = rng.uniform(0, size - 1, 2)
        for _ in range(int(rng.integers(4, 12))):
            centre = np.clip(cluster + rng.normal(0, 6, 2), 0, size - 1)
            stamp = _stamp("ring", image.shape, centre, rng.uniform(2, 3.5), 0.0)
            image[stamp.region][inside_one_cell(stamp, centre)] = rng.uniform(50, 100)
    for _ in range(int(n_cells * rng.uniform(0.1, 0.4))):  # ER: thin dark strands, membrane-like
        centre = rng.uniform(0, size - 1, 2)
        length = rng.uniform(6, 14)
        width = rng.uniform(0.6, 1.2)
        stamp = _stamp("rect", image.shape, centre, length, rng.uniform(0, np.pi), width / length)
        image[stamp.region][inside_one_cell(stamp, centre)] = rng.uniform(40, 90)
    # Dense dots (glycogen, ribosome clumps): darken 3x3 crosses around random pixels.
    spots = rng.integers(0, size, (int(n_cells * rng.uniform(1, 3)), 2))
    depth = np.zeros(image.shape)
    depth[spots[:, 0], spots[:, 1]] = rng.uniform(0.4, 0.7, len(spots))
    image *= 1 - ndimage.maximum_filter(depth, footprint=ndimage.generate_binary_structure(2, 1))


def _save_tiff_stack(path, pages):
    """Multi-page 8-bit TIFF, one page per (H, W) uint8 array (ISBI 2012's format)."""
    first, *rest = (Image.fromarray(page) for page in pages)
    first.save(path, save_all=True, append_images=rest)


# =========================================================================== panoptic scenes
_THING_SHAPES = {_BALL: "circle", _BOX: "rect", _BOTTLE: "bottle"}


def _panoptic_scene(rng, size):
    """One scene: image uint8 (size, size, 3) and segment ids int32 (0 void, see the module docstring)."""
    stuff = _stuff_layout(rng, size)
    image = _stuff_image(rng, stuff)
    segments = stuff.astype(np.int32) * 1000
    n_void = int(rng.integers(1, 3)) if rng.random() < 0.4 else 0
    for _ in range(n_void):  # unlabelled clutter, void as in COCO
        centre, radius, angle = rng.uniform(0, size, 2), rng.uniform(2, 5), rng.uniform(0, np.pi)
        stamp = _stamp("circle", (size, size), centre, radius, angle, aspect=0.6)
        image[stamp.region][stamp.mask] = _hsv(rng.uniform(0, 360), 0.3, rng.uniform(0.1, 0.4))
        segments[stamp.region][stamp.mask] = 0
    _add_things(rng, image, segments)
    return _camera(rng, image), segments


def _stuff_layout(rng, size):
    """Stuff category per pixel: amorphous ground regions (argmax of smooth fields), often a sky."""
    ground = rng.choice([_GRASS, _ROAD, _WATER], size=int(rng.integers(1, 4)), replace=False)
    fields = [_smooth_noise(rng, size, size, 3) + 0.3 * _smooth_noise(rng, size, size, 12) for _ in ground]
    layout = ground[np.argmax(fields, axis=0)]
    if rng.random() < 0.75:
        horizon = size * (rng.uniform(0.2, 0.5) + 0.06 * _smooth_noise(rng, 1, size, cells=4)[0])
        horizon += 1.5 * _smooth_noise(rng, 1, size, cells=size // 4)[0]  # tree line
        layout[np.arange(size)[:, None] < horizon[None, :]] = _SKY
    return layout


def _stuff_image(rng, stuff):
    """Float RGB image: each stuff category's texture where the layout has it."""
    h, w = stuff.shape
    rows = np.arange(h)[:, None] / h
    image = np.zeros((h, w, 3))
    for category in np.unique(stuff):
        if category == _SKY:
            colour = _hsv(rng.uniform(200, 225), rng.uniform(0.4, 0.7), rng.uniform(0.8, 1))
            clouds = np.clip(_smooth_noise(rng, h, w, cells=5) - 0.4, 0, 1)[..., None]
            texture = colour * (1 + 0.3 * rows)[..., None] * (1 - clouds) + 235 * clouds
        elif category == _GRASS:
            colour = _hsv(rng.uniform(85, 130), rng.uniform(0.5, 0.8), rng.uniform(0.35, 0.65))
            blades = ndimage.gaussian_filter(rng.standard_normal((h, w)), (2.0, 0.4))
            texture = colour * (1 + 0.6 * blades + 0.08 * _smooth_noise(rng, h, w, cells=6))[..., None]
        elif category == _ROAD:
            colour = _hsv(rng.uniform(0, 360), rng.uniform(0, 0.1), rng.uniform(0.3, 0.5))
            grain = 0.1 * rng.standard_normal((h, w)) + 0.05 * _smooth_noise(rng, h, w, cells=8)
            texture = colour * (1 + grain)[..., None]
        else:  # water
            colour = _hsv(rng.uniform(180, 205), rng.uniform(0.4, 0.7), rng.uniform(0.4, 0.7))
            phase = rows * h / rng.uniform(3, 6) + 0.5 * _smooth_noise(rng, h, w, cells=6)
            texture = colour * (1 + 0.15 * np.sin(2 * np.pi * phase))[..., None]
        image[stuff == category] = texture[stuff == category]
    return image


def _add_things(rng, image, segments):
    """Draw 1-8 things (in place); most after the first are pushed against an earlier one until they touch."""
    size = image.shape[0]
    placed = []  # (category, centre, radius, segment id)
    counts = dict.fromkeys(_THING_SHAPES, 0)
    for _ in range(int(rng.integers(1, 9))):
        for _attempt in range(10):
            radius = _log_uniform(rng, 4, 0.2 * size)
            if placed and rng.random() < 0.6:
                neighbour = placed[int(rng.integers(len(placed)))]
                category, stamp = _touching_stamp(rng, size, segments, neighbour, radius)
            else:
                category = int(rng.choice(list(_THING_SHAPES)))
                stamp = _thing_stamp(rng, size, category, rng.uniform(0.1, 0.9, 2) * size, radius)
            if stamp is not None and stamp.mask.sum() >= 12 and _keeps_others_visible(stamp, segments, placed):
                break
        else:
            continue
        counts[category] += 1
        segment_id = 1000 * category + counts[category]
        image[stamp.region][stamp.mask] = _thing_pixels(rng, category, stamp)[stamp.mask]
        segments[stamp.region][stamp.mask] = segment_id
        placed.append((category, stamp.centre, radius, segment_id))


def _thing_stamp(rng, size, category, centre, radius, pose=None):
    """A thing's shape at ``centre``; ``pose`` (angle, aspect) is drawn at random unless given."""
    angle, aspect = pose or (rng.uniform(0, 2 * np.pi), rng.uniform(0.6, 1.0) if category == _BOX else 1.0)
    return _stamp(_THING_SHAPES[category], (size, size), centre, radius, angle, aspect)


def _touching_stamp(rng, size, segments, neighbour, radius):
    """A thing (mostly of the neighbour's category) slid towards ``neighbour`` until they touch,
    then 0-2 px further, so that the two overlap slightly; None if its centre leaves the image."""
    category, centre, neighbour_radius, neighbour_id = neighbour
    if rng.random() > 0.7:
        category = int(rng.choice(list(_THING_SHAPES)))
    pose = (rng.uniform(0, 2 * np.pi), rng.uniform(0.6, 1.0) if category == _BOX else 1.0)
    direction = rng.uniform(0, 2 * np.pi)
    unit = np.array([np.sin(direction), np.cos(direction)])
    overlap = rng.uniform(0, 2)
    for distance in np.arange(1.3 * (radius + neighbour_radius), 0, -1.0):
        stamp = _thing_stamp(rng, size, category, centre + distance * unit, radius, pose)
        if (segments[stamp.region][stamp.mask] == neighbour_id).any():
            stamp = _thing_stamp(rng, size, category, centre + (distance - overlap) * unit, radius, pose)
            inside = (stamp.centre >= 0).all() and (stamp.centre < size).all()
            return category, stamp if inside else None
    return category, None


def _keeps_others_visible(stamp, segments, placed, max_hidden=0.3):
    """True when the new thing hides at most ``max_hidden`` of every earlier thing's visible area."""
    covered = segments[stamp.region][stamp.mask]
    for *_, segment_id in placed:
        hidden = np.count_nonzero(covered == segment_id)
        if hidden and hidden > max_hidden * np.count_nonzero(segments == segment_id):
            return False
    return True


def _thing_pixels(rng, category, stamp):
    """Float RGB over the stamp's box: a shaded ball, an outlined box or a labelled bottle."""
    u, v = stamp.u, stamp.v
    if category == _BALL:
        colour = _hsv(rng.uniform(0, 360), rng.uniform(0.6, 0.9), rng.uniform(0.6, 0.95))
        shading = 0.45 + 0.55 * np.sqrt(np.clip(1 - u**2 - v**2, 0, 1))
        highlight = np.exp(-((u + 0.35) ** 2 + (v + 0.35) ** 2) / 0.05)[..., None]
        return colour * shading[..., None] * (1 - highlight) + 255 * highlight
    if category == _BOX:
        colour = _hsv(rng.uniform(20, 45), rng.uniform(0.4, 0.7), rng.uniform(0.5, 0.85))
        edge = np.maximum(np.abs(u), np.abs(v)) > 0.82
        tape = np.abs(u) < 0.12
        return colour * np.where(edge, 0.55, np.where(tape, 1.2, 1.0))[..., None]
    glass = rng.choice([30, 120, 200]) + rng.uniform(-10, 10)  # brown, green or blue glass
    colour = _hsv(glass, rng.uniform(0.5, 0.8), rng.uniform(0.4, 0.8))
    shading = 0.6 + 0.4 * np.cos(np.clip(u, -1, 1) * np.pi / 2)
    paper = (np.abs(v + 0.3) < 0.22)[..., None]
    return np.where(paper, _hsv(rng.uniform(0, 360), 0.2, 0.95), colour * shading[..., None])


def _segments_info(segments):
    """COCO ``segments_info`` of a segment-id map: stuff first, then things, each by id."""
    infos = []
    for segment_id in sorted(np.unique(segments[segments > 0]), key=lambda s: (s % 1000 > 0, s)):
        rows, cols = np.nonzero(segments == segment_id)
        x, y = int(cols.min()), int(rows.min())
        infos.append({
            "id": int(segment_id), "category_id": int(segment_id // 1000), "area": len(rows),
            "bbox": [x, y, int(cols.max()) - x + 1, int(rows.max()) - y + 1], "iscrowd": 0,
        })
    return infos


# =========================================================================== shared drawing
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


# =========================================================================== arguments, atomic writes
def _check_int(name, value, minimum, hint, maximum=None):
    """``value`` as an int, or an error saying what was wrong and ``hint`` on how to fix it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}; {hint}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {value}; {hint}")
    return int(value)


_MARKER = ".seglib-synthetic.json"


def _write_atomically(target: Path, params: dict, build: Callable[[Path], None]) -> Path:
    """Return ``target`` once it holds the dataset ``params`` describes, building it if needed.

    ``build`` writes into a fresh temporary sibling, which is then renamed to ``target``: a
    reader never sees a half-written dataset. If another process put a finished copy in place
    meanwhile, ours is discarded.
    """
    if _has_marker(target, params):
        return target
    _refuse_foreign(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.parent / f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        temporary.mkdir()
        build(temporary)
        (temporary / _MARKER).write_text(json.dumps(params, sort_keys=True, indent=1) + "\n")
        _move_into_place(temporary, target, params)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return target


def _move_into_place(temporary: Path, target: Path, params: dict) -> None:
    for _ in range(5):
        try:
            os.rename(temporary, target)  # atomic; fails while target exists and is not empty
            return
        except OSError:
            if _has_marker(target, params):
                return  # another process finished the same dataset first: keep theirs
            if not target.exists():
                continue
            _refuse_foreign(target)
            stale = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            try:
                os.rename(target, stale)  # other parameters: move aside, then delete
            except FileNotFoundError:
                continue
            shutil.rmtree(stale, ignore_errors=True)
    raise RuntimeError(f"could not move the generated dataset to {target}; is another program writing there?")


def _has_marker(folder: Path, params: dict) -> bool:
    try:
        return json.loads((folder / _MARKER).read_text()) == params
    except (OSError, ValueError):
        return False


def _refuse_foreign(target: Path) -> None:
    """A non-empty folder without our marker may be a real dataset: never replace it."""
    if target.is_dir() and not (target / _MARKER).exists() and any(target.iterdir()):
        raise FileExistsError(
            f"{target} exists but was not written by seglib's generators (it has no {_MARKER}); "
            "it may hold a real dataset, so it is left alone. Pass another root, or delete the folder."
        )
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{target} exists and is a file; pass another root or delete it")
