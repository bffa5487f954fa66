"""Datasets for the course: real data when present, deterministic stand-ins otherwise.

``SEGLIB_DATASET=auto|voc|synthetic|<folder>`` (or a notebook's ``DATASET`` setting) chooses;
tests pin ``synthetic``. Nothing is ever downloaded implicitly: ``download_voc`` (or
``python -m seglib.data download``) is the only way to fetch PASCAL VOC 2012.

The package is laid in floors; each module imports only modules on floors below it
(``tests/test_real_layouts.py`` checks this):

0. ``labels`` (class indices, void, palettes, panoptic ids), ``paths`` (where data lives);
1. ``vocformat`` (the VOC layout, classes, files and splits), ``isbi`` (the ISBI 2012 stack);
2. ``cache`` (resized arrays), ``panoptic`` (COCO-panoptic scenes), ``synthetic`` (the
   stand-ins: ``voc``, ``em`` and ``panoptic`` over one shared ``drawing`` module);
3. ``voc`` (the ``VOCSegmentation`` dataset), ``transforms`` (Albumentations pipelines);
4. ``choice`` (which dataset: ``voc_root``, ``em_root``, the stand-ins), ``tensors`` (the first
   n images of a split as tensors plus loaders).

Apart: ``download`` (mirrors, MD5, safe extraction, ``download_voc``) and ``cli`` (the command line).
"""
from importlib import import_module

from .choice import DatasetRoot, em_root, synthetic_panoptic, synthetic_voc, voc_root
from .download import VOC_MD5, VOC_MIRRORS, download_voc
from .isbi import EMSplits, em_splits, read_isbi
from .labels import (
    IGNORE_INDEX,
    NUM_CLASSES,
    VOC_CLASSES,
    VOC_PALETTE,
    ClassInfo,
    decode_mask,
    encode_mask,
    id_to_rgb,
    rgb_to_id,
    save_label_png,
    segment_box_and_area,
)
from .panoptic import PanopticScenes, maskrcnn_target, scene_tensors
from .paths import data_root
from .synthetic import make_em_membranes, make_panoptic_scenes, make_synthetic_voc
from .voc import VOCSegmentation
from .vocformat import SPLITS, course_split

__all__ = [
    # PASCAL VOC and any VOC-format dataset: names, colours, loader, split, download (lecture 001's lab)
    "VOC_CLASSES", "NUM_CLASSES", "IGNORE_INDEX", "VOC_PALETTE", "ClassInfo", "SPLITS", "VOC_MIRRORS", "VOC_MD5",
    "decode_mask", "encode_mask", "save_label_png", "VOCSegmentation", "course_split", "download_voc",
    # the first n images of a split as tensors plus loaders
    "split_tensors", "SplitTensors",
    # where data lives and which dataset a notebook uses
    "data_root", "voc_root", "em_root", "DatasetRoot", "synthetic_voc", "synthetic_panoptic",
    # Albumentations pipelines
    "train_transform", "eval_transform", "denormalize", "IMAGENET_MEAN", "IMAGENET_STD",
    # synthetic stand-ins and the readers of their (real) formats
    "make_synthetic_voc", "make_em_membranes", "make_panoptic_scenes",
    "read_isbi", "em_splits", "EMSplits", "PanopticScenes", "maskrcnn_target", "scene_tensors", "rgb_to_id", "id_to_rgb",
    "segment_box_and_area",
]

_LAZY = {  # importing Albumentations takes ~3 s; only notebooks that augment or stack tensors pay for it
    **dict.fromkeys(("train_transform", "eval_transform", "denormalize", "IMAGENET_MEAN", "IMAGENET_STD"),
                    "transforms"),
    **dict.fromkeys(("split_tensors", "SplitTensors"), "tensors"),
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'seglib.data' has no attribute {name!r}")
