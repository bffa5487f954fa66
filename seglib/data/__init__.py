"""Datasets for the course: real PASCAL VOC 2012 when present, deterministic stand-ins otherwise.

``SEGLIB_DATASET=auto|voc|synthetic`` chooses (``auto``: real VOC when it is on disk); tests pin
``synthetic``. Nothing is ever downloaded implicitly.
"""
from .voc import IGNORE_INDEX, NUM_CLASSES, VOC_CLASSES, VOC_PALETTE, decode_mask, encode_mask, save_label_png

__all__ = [
    "VOC_CLASSES", "NUM_CLASSES", "IGNORE_INDEX", "VOC_PALETTE",
    "decode_mask", "encode_mask", "save_label_png",
]
