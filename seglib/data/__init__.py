"""Datasets for the course: real PASCAL VOC 2012 when present, deterministic stand-ins otherwise.

``SEGLIB_DATASET=auto|voc|synthetic`` chooses (``auto``: real VOC when it is on disk); tests pin
``synthetic``. Nothing is ever downloaded implicitly: ``download_voc`` (or
``python -m seglib.data download``) is the only way to fetch the real dataset.
"""
from .folders import PanopticScenes, id_to_rgb, maskrcnn_target, read_isbi, rgb_to_id
from .paths import DatasetRoot, data_root, em_root, synthetic_panoptic, voc_root
from .synthetic import make_em_membranes, make_panoptic_scenes, make_synthetic_voc
from .voc import (
    IGNORE_INDEX,
    NUM_CLASSES,
    SPLITS,
    VOC_CLASSES,
    VOC_MD5,
    VOC_MIRRORS,
    VOC_PALETTE,
    VOCSegmentation,
    course_split,
    decode_mask,
    download_voc,
    encode_mask,
    save_label_png,
)

__all__ = [
    # PASCAL VOC: names, colours, loader, split, download (lecture 001's lab)
    "VOC_CLASSES", "NUM_CLASSES", "IGNORE_INDEX", "VOC_PALETTE", "SPLITS", "VOC_MIRRORS", "VOC_MD5",
    "decode_mask", "encode_mask", "save_label_png", "VOCSegmentation", "course_split", "download_voc",
    # where data lives and which dataset a notebook uses
    "data_root", "voc_root", "em_root", "DatasetRoot", "synthetic_panoptic",
    # Albumentations pipelines
    "train_transform", "eval_transform", "denormalize", "IMAGENET_MEAN", "IMAGENET_STD",
    # synthetic stand-ins and the readers of their (real) formats
    "make_synthetic_voc", "make_em_membranes", "make_panoptic_scenes",
    "read_isbi", "PanopticScenes", "maskrcnn_target", "rgb_to_id", "id_to_rgb",
]

_TRANSFORMS = ("train_transform", "eval_transform", "denormalize", "IMAGENET_MEAN", "IMAGENET_STD")


def __getattr__(name: str):
    # Importing albumentations takes ~3 s; only notebooks that augment should pay for it.
    if name in _TRANSFORMS:
        from . import transforms

        return getattr(transforms, name)
    raise AttributeError(f"module 'seglib.data' has no attribute {name!r}")
