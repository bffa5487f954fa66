"""Resized copies of a VOC-format dataset as NumPy arrays on disk, so that training epochs in
lecture 001's lab read one file instead of decoding thousands of JPEGs.

A cache file's name holds a key derived from the dataset folder, the ids, every source file's
size and modification time, the output size, the resizing mode, the void values and
``CACHE_VERSION``: change any of them and the next call builds (and keeps) a new file, deleting
the stale one for the same folder, ids and size.

Floor 2 of ``seglib.data``: it imports ``labels``, ``paths`` and ``vocformat``.
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
from .._guards import check_allocation
from .labels import IGNORE_INDEX, NUM_CLASSES
from .paths import data_root
from .vocformat import load_pair, source_files, void_lookup

CACHE_VERSION = 2
FITS = ("stretch", "crop")


def output_size(size) -> tuple[int, int]:
    """``size`` as (height, width): an int S means S x S; a pair is (height, width)."""
    pair = (size, size) if isinstance(size, (int, np.integer)) and not isinstance(size, bool) else size
    try:
        height, width = pair
        ok = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in (height, width))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"size must be a positive int S (S x S) or a pair (height, width) of them, got {size!r}")
    return int(height), int(width)


def resize_pair(image: Image.Image, mask: Image.Image, size, fit: str = "stretch"):
    """Image and mask at ``size`` (int or (height, width)): 'stretch' resizes both to it (the
    aspect ratio changes), 'crop' scales the short side to fit, keeping the aspect ratio, and
    cuts the centre. The image is resized bilinearly with antialiasing, the mask by nearest
    neighbour (labels are never blended; 255 stays void)."""
    height, width = output_size(size)
    if fit not in FITS:
        raise ValueError(f"fit must be one of {', '.join(FITS)}, got {fit!r}")
    if fit == "crop":
        scale = max(height / image.height, width / image.width)
        scaled = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
        image, mask = image.resize(scaled, Image.BILINEAR), mask.resize(scaled, Image.NEAREST)
        left, top = (scaled[0] - width) // 2, (scaled[1] - height) // 2
        box = (left, top, left + width, top + height)
        return image.crop(box), mask.crop(box)
    return image.resize((width, height), Image.BILINEAR), mask.resize((width, height), Image.NEAREST)


def resized_arrays(voc_root, ids, size, *, num_classes: int = NUM_CLASSES, fit: str = "stretch",
                   void_values=()) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, H, W, 3) uint8 and class masks (N, H, W) uint8 at ``size`` (``resize_pair``),
    read from the cache under ``data_root()/cache`` or built and stored there. Raw mask values in
    ``void_values`` become 255. A cache file that is unreadable, of the wrong shape or type, or
    holds labels outside the classes is rebuilt."""
    ids = list(ids)
    path = cache_file(voc_root, ids, size, fit=fit, void_values=void_values)
    height, width = output_size(size)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as stored:
                images, masks = stored["images"], stored["masks"]
            if _well_formed(images, masks, len(ids), (height, width), num_classes):
                return images, masks
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # unreadable (e.g. written by a crashed older version): rebuild it
    images, masks = _build(Path(voc_root), ids, (height, width), num_classes, fit, void_values)
    _remove_stale(path)
    write_atomically(path, lambda file: np.savez(file, images=images, masks=masks))
    return images, masks


def cache_file(voc_root, ids, size, *, fit: str = "stretch", void_values=()) -> Path:
    """Where ``resized_arrays`` keeps the arrays for this folder, ids and size (it may not exist
    yet). Named ``voc-<folder>-<ids>-s<H>x<W>-<content key>.npz``."""
    height, width = output_size(size)
    root = Path(voc_root).resolve()
    ids = list(ids)
    stats = []
    for source in source_files(root, ids):  # plain strings and os.stat: ~3x faster than Path
        try:
            st = os.stat(source)
        except FileNotFoundError:
            raise FileNotFoundError(f"{source} is missing; the dataset in {root} is incomplete") from None
        stats.append((st.st_size, st.st_mtime_ns))
    content = _digest({"version": CACHE_VERSION, "size": [height, width], "fit": fit,
                       "void": sorted(int(v) for v in void_values), "stats": stats})
    return data_root() / "cache" / f"voc-{_digest(str(root))[:8]}-{_digest(ids)[:8]}-s{height}x{width}-{content[:16]}.npz"


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()


def _well_formed(images, masks, n: int, size: tuple[int, int], num_classes: int) -> bool:
    """Whether cached arrays have the shapes and dtype ``_build`` writes and valid labels."""
    if images.shape != (n, *size, 3) or masks.shape != (n, *size):
        return False
    if images.dtype != np.uint8 or masks.dtype != np.uint8:
        return False
    counts = np.bincount(masks.reshape(-1), minlength=256)
    return not any(count and num_classes <= value != IGNORE_INDEX for value, count in enumerate(counts.tolist()))


def _build(root: Path, ids: list[str], size: tuple[int, int], num_classes: int, fit: str, void_values):
    height, width = size
    check_allocation(4.0 * len(ids) * height * width, f"{len(ids)} resized images of {height}x{width}",
                     "use a smaller size")
    lookup = void_lookup(void_values)
    images = np.empty((len(ids), height, width, 3), dtype=np.uint8)
    masks = np.empty((len(ids), height, width), dtype=np.uint8)
    for i, image_id in enumerate(ids):
        image, mask = resize_pair(*load_pair(root, image_id, num_classes, lookup), size, fit)
        images[i], masks[i] = np.asarray(image), np.asarray(mask)
    return images, masks


def _remove_stale(path: Path) -> None:
    """Delete older cache files for the same folder, ids and size (their key no longer matches)."""
    prefix = path.name.rsplit("-", 1)[0] + "-"
    for old in path.parent.glob(f"{prefix}*.npz"):
        if old != path:
            old.unlink(missing_ok=True)
