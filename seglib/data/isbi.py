"""The ISBI 2012 EM stack on disk (lecture 003: k-means and learned membrane detection,
Ciresan et al. 2012), as the challenge publishes it and as it is commonly shared.

Two layouts of one folder are read:

- **TIFF stacks** (the challenge's files): ``train-volume.tif`` and ``train-labels.tif``, 30
  labelled 512×512 slices, and optionally ``test-volume.tif``, whose labels the challenge
  withholds (a ``test-labels.tif``, as the stand-in has, is read when present).
- **PNG slices**: ``train/images/*.png`` and ``train/labels/*.png`` (or ``train/image/`` and
  ``train/label/``, as in the widely copied U-Net Keras repository), optionally
  ``test/images/*.png`` or ``test/*.png``; slices are ordered by the numbers in their names
  (``2.png`` before ``10.png``).

Labels are 255 inside cells and 0 on membranes; any other value is an error naming the file.
When the test slices have no labels, ``em_splits`` holds out the last labelled training slices,
deterministically, and says which.

Floor 1 of ``seglib.data``: it imports ``paths`` only.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageSequence

from .paths import ISBI_FOLDER

__all__ = ["EMSplits", "em_splits", "find_isbi", "isbi_layout", "isbi_summary", "read_isbi"]

_PNG_IMAGES = ("images", "image")
_PNG_LABELS = ("labels", "label")


def _png_folder(split_dir: Path, names, allow_flat: bool = False) -> Path | None:
    for name in names:
        if (split_dir / name).is_dir() and any((split_dir / name).glob("*.png")):
            return split_dir / name
    if allow_flat and split_dir.is_dir() and any(split_dir.glob("*.png")):
        return split_dir
    return None


def isbi_layout(folder: Path) -> str | None:
    """'tiff' or 'png' when ``folder`` itself holds a labelled ISBI training stack, else None."""
    if (folder / "train-volume.tif").is_file() and (folder / "train-labels.tif").is_file():
        return "tiff"
    if _png_folder(folder / "train", _PNG_IMAGES) and _png_folder(folder / "train", _PNG_LABELS):
        return "png"
    return None


def find_isbi(root) -> tuple[Path, str]:
    """``(folder, layout)``: ``root`` or ``root/isbi2012``, whichever holds a labelled training
    stack, and 'tiff' or 'png'; else an error listing both layouts."""
    root = Path(root).expanduser()
    for folder in (root, root / ISBI_FOLDER):
        layout = isbi_layout(folder)
        if layout:
            return folder, layout
    raise FileNotFoundError(
        f"found no ISBI 2012 training stack in {root} or {root / ISBI_FOLDER}: it needs train-volume.tif and "
        "train-labels.tif (the challenge's files), or PNG slices in train/images/ and train/labels/ "
        "(see data/README.md). seglib.data.em_root() generates a synthetic stand-in when you have none"
    )


def _natural_key(path: Path):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.stem)]


def _read_png_slices(folder: Path) -> tuple[np.ndarray, list[Path]]:
    paths = sorted(folder.glob("*.png"), key=_natural_key)
    pages = []
    for path in paths:
        try:
            with Image.open(path) as image:
                pages.append(np.array(image if image.mode == "L" else image.convert("L")))
        except (OSError, SyntaxError, ValueError) as error:
            raise ValueError(f"cannot read the slice {path} ({error}); replace it") from error
    shapes = {page.shape for page in pages}
    if len(shapes) != 1:
        raise ValueError(f"the slices in {folder} must all have one size, got {sorted(shapes)}")
    return np.stack(pages), paths


def _read_tiff_stack(path: Path) -> np.ndarray:
    """Every page of a multi-page 8-bit TIFF as one uint8 array (N, H, W)."""
    try:
        with Image.open(path) as tiff:
            pages = [np.array(page) for page in ImageSequence.Iterator(tiff)]
    except (OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"cannot read {path} as a multi-page TIFF ({error}); replace or regenerate it") from error
    shapes = {page.shape for page in pages}
    if len(shapes) != 1 or pages[0].ndim != 2 or pages[0].dtype != np.uint8:
        raise ValueError(
            f"{path} must hold 8-bit grayscale pages of one size, got shapes {sorted(shapes)} "
            f"and dtype {pages[0].dtype}"
        )
    return np.stack(pages)


def _check_labels(labels: np.ndarray, names: list[str]) -> None:
    """Labels are 0 (membrane) or 255 (cell); name the first file (or page) that has another value."""
    for k, page in enumerate(labels):
        bad = np.setdiff1d(np.unique(page), [0, 255])
        if bad.size:
            raise ValueError(
                f"{names[min(k, len(names) - 1)]} holds the label value {int(bad[0])}: ISBI labels are 0 on "
                "membranes and 255 inside cells. Threshold the labels (e.g. 255 * (labels > 127)) before using them"
            )


def _check_pair(images: np.ndarray, labels: np.ndarray, what_images: str, what_labels: str) -> None:
    if labels.shape != images.shape:
        raise ValueError(
            f"{what_labels} holds {labels.shape[0]} label slice(s) of {labels.shape[1:]} but {what_images} "
            f"holds {images.shape[0]} slice(s) of {images.shape[1:]}; the two do not belong together"
        )


def read_isbi(root, split: str = "train") -> tuple[np.ndarray, np.ndarray | None]:
    """Read an ISBI-2012 EM stack (lecture 003): ``(images, labels)``, both uint8 (N, H, W).

    ``root`` is the folder (TIFF stacks or PNG slices, see the module docstring) or its parent
    (``root/isbi2012``). Labels are 255 inside cells and 0 on membranes; ``labels`` is None when
    the split has none, as the real challenge's test set. Asking for a split that is not there
    raises an error that says so (use ``em_splits`` to hold out labelled training slices).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder, layout = find_isbi(root)
    if layout == "tiff":
        volume, labels_path = folder / f"{split}-volume.tif", folder / f"{split}-labels.tif"
        if not volume.is_file():
            raise FileNotFoundError(_no_test_message(folder, "test-volume.tif"))
        images = _read_tiff_stack(volume)
        if not labels_path.is_file():
            return images, None
        labels = _read_tiff_stack(labels_path)
        _check_pair(images, labels, str(volume), str(labels_path))
        _check_labels(labels, [f"{labels_path} (page {k})" for k in range(len(labels))])
        return images, labels
    image_dir = _png_folder(folder / split, _PNG_IMAGES, allow_flat=split == "test")
    if image_dir is None:
        raise FileNotFoundError(_no_test_message(folder, "test/images/*.png"))
    images, image_paths = _read_png_slices(image_dir)
    label_dir = _png_folder(folder / split, _PNG_LABELS)
    if label_dir is None:
        return images, None
    labels, label_paths = _read_png_slices(label_dir)
    _check_pair(images, labels, str(image_dir), str(label_dir))
    _check_labels(labels, [str(p) for p in label_paths])
    return images, labels


def _no_test_message(folder: Path, expected: str) -> str:
    return (
        f"{folder} has no test slices ({expected}); the ISBI 2012 training stack is all there is here. "
        "To score a model, hold out labelled training slices: seglib.data.em_splits(root, held_out=n)"
    )


def isbi_summary(root) -> str:
    """One phrase on what an ISBI folder holds, e.g. 'TIFF stacks; 30 labelled training slices
    of 512×512, a test volume without labels'."""
    folder, layout = find_isbi(root)
    images, _ = read_isbi(folder, "train")
    try:
        test_images, test_labels = read_isbi(folder, "test")
        test = f"{len(test_images)} test slices " + ("with labels" if test_labels is not None else "without labels")
    except FileNotFoundError:
        test = "no test slices"
    kind = "TIFF stacks" if layout == "tiff" else "PNG slices"
    return f"{kind}; {len(images)} labelled training slices of {images.shape[1]}×{images.shape[2]}, {test}"


class EMSplits(NamedTuple):
    """Labelled slices for training and for testing, uint8 (N, H, W) each, and ``held_out``:
    the indices of the training slices kept for testing, with ``description`` saying which."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    held_out: tuple[int, ...]
    description: str


def em_splits(root, held_out: int) -> EMSplits:
    """Train and test slices with labels from an ISBI folder: the challenge gives labels for the
    training stack only, so the last ``held_out`` training slices are held out for testing, the
    same ones every time (whether or not the folder has test labels, so that the stand-in and
    the real stack go through the same code). At least one slice must remain for training."""
    images, labels = read_isbi(root, "train")
    n = len(images)
    if isinstance(held_out, bool) or not isinstance(held_out, (int, np.integer)) or not 1 <= held_out < n:
        raise ValueError(
            f"held_out must be an int from 1 to {n - 1}: the stack has {n} labelled slices and both the "
            f"training and the test part need at least one; got {held_out!r}"
        )
    k = n - int(held_out)
    description = (f"testing on the last {held_out} of the {n} labelled training slices (indices {k}–{n - 1}), "
                   f"training on the first {k}")
    return EMSplits(images[:k], labels[:k], images[k:], labels[k:], tuple(range(k, n)), description)
