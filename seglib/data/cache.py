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
from .voc import NUM_CLASSES, load_pair, source_files

CACHE_VERSION = 1


def resized_arrays(voc_root, ids, size: int, *, num_classes: int = NUM_CLASSES) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, S, S, 3) uint8 resized bilinearly with antialiasing, and class masks (N, S, S)
    uint8 resized by nearest neighbour (labels are never blended; 255 stays void), read from the
    cache under ``data_root()/cache`` or built and stored there. A cache file that is unreadable,
    of the wrong shape or type, or holds labels outside the classes is rebuilt."""
    ids = list(ids)
    path = cache_file(voc_root, ids, size)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as stored:
                images, masks = stored["images"], stored["masks"]
            if _well_formed(images, masks, len(ids), size, num_classes):
                return images, masks
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # unreadable (e.g. written by a crashed older version): rebuild it
    images, masks = _build(Path(voc_root), ids, size, num_classes)
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


def _well_formed(images, masks, n: int, size: int, num_classes: int) -> bool:
    """Whether cached arrays have the shapes and dtype ``_build`` writes and valid labels."""
    if images.shape != (n, size, size, 3) or masks.shape != (n, size, size):
        return False
    if images.dtype != np.uint8 or masks.dtype != np.uint8:
        return False
    counts = np.bincount(masks.reshape(-1), minlength=256)
    return not any(count and num_classes <= value != 255 for value, count in enumerate(counts.tolist()))


def _build(root: Path, ids: list[str], size: int, num_classes: int = NUM_CLASSES) -> tuple[np.ndarray, np.ndarray]:
    from .._guards import check_allocation

    check_allocation(4.0 * len(ids) * size * size, f"{len(ids)} resized images of {size}x{size}", "use a smaller size")
    images = np.empty((len(ids), size, size, 3), dtype=np.uint8)
    masks = np.empty((len(ids), size, size), dtype=np.uint8)
    for i, image_id in enumerate(ids):
        image, mask = load_pair(root, image_id, num_classes)
        images[i] = np.asarray(image.resize((size, size), Image.BILINEAR))  # Pillow antialiases
        masks[i] = np.asarray(mask.resize((size, size), Image.NEAREST))
    return images, masks


def _remove_stale(path: Path) -> None:
    """Delete older cache files for the same folder, ids and size (their key no longer matches)."""
    prefix = path.name.rsplit("-", 1)[0] + "-"
    for old in path.parent.glob(f"{prefix}*.npz"):
        if old != path:
            old.unlink(missing_ok=True)
