"""Resized copies of a VOC-format dataset as NumPy arrays on disk, so that training epochs in
lecture 001's lab read one file instead of decoding thousands of JPEGs.

A cache file's name holds a key derived from the dataset folder, the ids, every source file's
size and modification time, the size S and ``CACHE_VERSION``: change any of them and the next
call builds (and keeps) a new file, deleting the stale one for the same folder, ids and size.
"""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from .._files import write_atomically
from .paths import data_root
from .voc import load_pair, source_files

CACHE_VERSION = 1


def resized_arrays(voc_root, ids, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, S, S, 3) uint8 resized bilinearly with antialiasing, and class masks (N, S, S)
    uint8 resized by nearest neighbour (labels are never blended; 255 stays void), read from the
    cache under ``data_root()/cache`` or built and stored there."""
    path = cache_file(voc_root, ids, size)
    if path.is_file():
        try:
            with np.load(path) as stored:
                return stored["images"], stored["masks"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            pass  # unreadable (e.g. written by a crashed older version): rebuild it
    images, masks = _build(Path(voc_root), list(ids), size)
    _remove_stale(path)
    write_atomically(path, lambda file: np.savez(file, images=images, masks=masks))
    return images, masks


def cache_file(voc_root, ids, size: int) -> Path:
    """Where ``resized_arrays`` keeps the arrays for this folder, ids and size (it may not exist
    yet). Named ``voc-<folder>-<ids>-s<S>-<content key>.npz``."""
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int (the side S of the S x S images), got {size!r}")
    root = Path(voc_root).resolve()
    ids = list(ids)
    stats = []
    for source in source_files(root, ids):  # plain strings and os.stat: ~3x faster than Path
        try:
            st = os.stat(source)
        except FileNotFoundError:
            raise FileNotFoundError(f"{source} is missing; the dataset in {root} is incomplete") from None
        stats.append((st.st_size, st.st_mtime_ns))
    content = _digest({"version": CACHE_VERSION, "size": size, "stats": stats})
    return data_root() / "cache" / f"voc-{_digest(str(root))[:8]}-{_digest(ids)[:8]}-s{size}-{content[:16]}.npz"


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()


def _build(root: Path, ids: list[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    images = np.empty((len(ids), size, size, 3), dtype=np.uint8)
    masks = np.empty((len(ids), size, size), dtype=np.uint8)
    for i, image_id in enumerate(ids):
        image, mask = load_pair(root, image_id)
        images[i] = np.asarray(image.resize((size, size), Image.BILINEAR))  # Pillow antialiases
        masks[i] = np.asarray(mask.resize((size, size), Image.NEAREST))
    return images, masks


def _remove_stale(path: Path) -> None:
    """Delete older cache files for the same folder, ids and size (their key no longer matches)."""
    prefix = path.name.rsplit("-", 1)[0] + "-"
    for old in path.parent.glob(f"{prefix}*.npz"):
        if old != path:
            old.unlink(missing_ok=True)
