"""``VOCSegmentation``: PASCAL VOC 2012 segmentation, or any dataset in the VOC format, as a
PyTorch ``Dataset`` (lecture 001's lab: 20 object classes plus background, 255 = void).

The format, the classes and the splits are ``seglib.data.vocformat``'s; resized copies come from
``seglib.data.cache``. Floor 3 of ``seglib.data``: it imports ``labels``, ``vocformat`` and ``cache``.
"""
from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import Dataset

from .cache import output_size, resize_pair, resized_arrays
from .labels import IGNORE_INDEX, NUM_CLASSES, VOC_CLASSES, save_label_png  # noqa: F401  (the names tests and users read here)
from .vocformat import (
    OBJECT_SUBDIR,
    SPLITS,
    VOC_SUBDIRS,  # noqa: F401
    check_num_classes,
    class_info,
    find_voc2012,
    load_pair,
    open_image,
    open_mask,
    pair_paths,
    source_files,
    split_ids,
    split_scheme,
    void_lookup,
)

__all__ = ["VOCSegmentation"]


class VOCSegmentation(Dataset):
    """PASCAL VOC 2012 segmentation, seglib's stand-in for it, or any VOC-format dataset.

    ``root`` is the dataset folder (``VOC2012``), its ``VOCdevkit`` parent or the folder above;
    ``split`` is one of ``SPLITS``: 'train'/'val'/'test' are the course's 0.5/0.25/0.25 split of
    trainval for VOC 2012 and the dataset's own lists otherwise (``split_scheme`` 'course' or
    'lists' forces one); 'voc_train'/'voc_val'/'voc_trainval'/'voc_test' are always its own lists.

    Classes: ``classes`` (names, with optional ``colors``), else the dataset's ``labelmap.txt``,
    else ``num_classes`` generic names, else VOC's 21; ``.classes``, ``.num_classes``,
    ``.palette`` and ``.class_source`` say which. Raw mask values in ``void_values`` become 255;
    any other value outside the classes raises an error naming its file and value.

    Items are ``(image, mask)``: uint8 arrays (H, W, 3) and (H, W) when ``transform`` is None;
    otherwise the Albumentations ``transform(image=..., mask=...)`` result as a float tensor
    (3, H, W) and an int64 tensor (H, W). ``size`` (S or (height, width)) serves images of that
    size from the resized on-disk cache (``seglib.data.cache``) instead of decoding JPEGs each
    time; ``fit`` 'stretch' resizes to it, 'crop' scales the short side and cuts the centre.
    """

    def __init__(self, root, split: str, transform=None, size=None, *, split_seed: int = 0,
                 num_classes: int | None = None, classes=None, colors=None, split_scheme: str = "auto",
                 fit: str = "stretch", void_values=()):
        check_num_classes(num_classes)
        self.root = find_voc2012(root)
        info = class_info(self.root, classes, num_classes, colors)
        self.classes, self.palette, self.class_source = info.names, info.palette, info.source
        self.num_classes = info.num_classes
        self.split = split
        self.scheme = _scheme(self.root, split, split_scheme)
        self.ids = split_ids(self.root, split, seed=split_seed, scheme=self.scheme)
        self._check_files_exist()
        self.transform = transform
        self.size = size
        self.fit = fit
        self.void_values = tuple(int(v) for v in void_values)
        self._lookup = void_lookup(self.void_values)
        self._arrays = None
        if size is not None:
            self._arrays = resized_arrays(self.root, self.ids, output_size(size), num_classes=self.num_classes, fit=fit,
                                          void_values=self.void_values)

    def _check_files_exist(self) -> None:
        absent = [p for p in source_files(self.root, self.ids) if not os.path.isfile(p)]
        if absent:
            raise FileNotFoundError(
                f"{len(absent)} file(s) listed by split {self.split!r} are missing, e.g. "
                f"{', '.join(absent[:3])}; the dataset in {self.root} is incomplete: "
                "extract the archive again (or delete and regenerate the synthetic set)"
            )

    @property
    def description(self) -> str:
        """One line: which split of which folder, how many images and classes, and where the
        class names came from."""
        return (f"{self.root.name}/{self.split}: {len(self)} images, {self.num_classes} classes "
                f"(from {self.class_source}), {'course split' if self.scheme == 'course' else 'own lists'}")

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int):
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for the {len(self)} images of split {self.split!r}")
        if self._arrays is not None:
            image, mask = self._arrays[0][index].copy(), self._arrays[1][index].copy()
        else:
            pil_image, pil_mask = load_pair(self.root, self.ids[index], self.num_classes, self._lookup)
            image, mask = np.asarray(pil_image), np.asarray(pil_mask)
        if self.transform is None:
            return image, mask
        out = self.transform(image=image, mask=mask)
        return _as_tensors(out["image"], out["mask"])

    def tensors(self, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``n`` items (all by default) stacked into one batch: images (n, 3, H, W) float
        and masks (n, H, W) int64. Small datasets of 64 x 64 images fit in memory this way, and a
        ``TensorDataset`` over them trains faster than re-running the transform every epoch."""
        if self.transform is None:
            raise ValueError("tensors() needs a transform that returns tensors, e.g. "
                             "VOCSegmentation(root, split, transform=seglib.data.eval_transform(64), size=64)")
        n = len(self) if n is None else min(int(n), len(self))
        if n < 1:
            raise ValueError(f"asked for {n} items from a split of {len(self)}; ask for at least one")
        images, masks = zip(*(self[i] for i in range(n)))
        return torch.stack(images), torch.stack(masks)

    def instance_mask(self, index: int) -> np.ndarray:
        """The instance mask (H, W) uint8 from ``SegmentationObject`` (0 background, 1..K objects,
        255 void), resized like the images when the dataset has a ``size``."""
        if not (self.root / OBJECT_SUBDIR).is_dir():
            raise FileNotFoundError(
                f"{self.root} has no {OBJECT_SUBDIR}/ folder, so it has no instance masks; semantic "
                "segmentation does not need them (PASCAL VOC 2012 has them)"
            )
        image_id = self.ids[index]
        image_path, _ = pair_paths(self.root, image_id)
        image = open_image(image_path, "image")
        mask = open_mask(self.root / OBJECT_SUBDIR / f"{image_id}.png", image.size, "instance mask")
        if self.size is not None:
            _, mask = resize_pair(image, mask, self.size, self.fit)
        return np.asarray(mask)

    def __repr__(self) -> str:
        size = f", size={self.size}" if self.size else ""
        return f"VOCSegmentation({str(self.root)!r}, split={self.split!r}{size}): {len(self)} images"


def _scheme(root, split: str, scheme: str) -> str:
    if split not in SPLITS:
        return scheme  # split_ids names the valid splits
    return split_scheme(root, scheme)


def _as_tensors(image, mask) -> tuple[torch.Tensor, torch.Tensor]:
    """A transform's output as (float (3, H, W), int64 (H, W)) tensors, whether it ended with
    ToTensorV2 or returned NumPy arrays."""
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
    mask = torch.as_tensor(np.ascontiguousarray(mask)) if isinstance(mask, np.ndarray) else mask
    return image.float(), mask.long()
