"""The first n images of a split as tensors, plus loaders over them: what a notebook that trains
small models on 64×64 images needs (lecture 001's lab; notebooks 04, 05, 06 and 08).

Floor 4 of ``seglib.data`` with ``choice``: it imports ``voc`` and ``transforms`` (so it loads
Albumentations; ``seglib.data`` imports it on first use).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from .transforms import eval_transform
from .voc import VOCSegmentation

__all__ = ["SplitTensors", "split_tensors"]


@dataclass(frozen=True)
class SplitTensors:
    """The first images of one split: ``images`` float (n, 3, H, W) normalised for the networks
    (``eval_transform``), ``masks`` int64 (n, H, W) with 255 = void, ``rgb`` uint8 (n, 3, H, W)
    as on disk, and the ``dataset`` they came from (its ``classes``, ``num_classes``, ``palette``)."""

    images: torch.Tensor
    masks: torch.Tensor
    rgb: torch.Tensor
    dataset: VOCSegmentation

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int:
        return self.dataset.num_classes

    def loader(self, batch_size: int = 64, *, shuffle: bool = False, seed: int | None = None,
               with_rgb: bool = False) -> DataLoader:
        """A ``DataLoader`` over (images, masks), or (images, rgb, masks) with ``with_rgb``;
        ``seed`` fixes the shuffling order."""
        tensors = (self.images, self.rgb, self.masks) if with_rgb else (self.images, self.masks)
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        return DataLoader(TensorDataset(*tensors), batch_size=batch_size, shuffle=shuffle, generator=generator)


def split_tensors(root, split: str, n: int | None = None, *, size=64, **dataset_options) -> SplitTensors:
    """The first ``n`` images (all by default) of ``split`` of the VOC-format dataset at ``root``
    (a folder or a ``voc_root()`` result), resized to ``size`` (S or (height, width)) through the
    on-disk cache. ``dataset_options`` go to ``VOCSegmentation`` (classes, split_scheme, fit, ...).
    A split with no images, or ``n`` < 1, is an error rather than an empty loader."""
    path = getattr(root, "path", root)
    normalised = VOCSegmentation(Path(path), split, transform=eval_transform(size), size=size, **dataset_options)
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
        raise ValueError(f"n must be a positive int (or None for the whole split), got {n!r}")
    images, masks = normalised.tensors(n)
    raw = VOCSegmentation(Path(path), split, size=size, **dataset_options)
    rgb = torch.from_numpy(np.stack([raw[i][0] for i in range(len(images))])).permute(0, 3, 1, 2).contiguous()
    return SplitTensors(images, masks, rgb, raw)
