"""Argument checks and atomic writes for the synthetic generators: a dataset is built in a hidden
temporary sibling folder and renamed into place, with a marker file holding its parameters.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..._guards import check_allocation
from ..paths import SYNTHETIC_MARKER as _MARKER

# Bytes of working memory per pixel while one image is drawn (float64 layers, masks, noise).
_BYTES_PER_PIXEL = 96


def _check_int(name, value, minimum, hint, maximum=None):
    """``value`` as an int, or an error saying what was wrong and ``hint`` on how to fix it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}; {hint}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {value}; {hint}")
    return int(value)


def _check_image_memory(height: int, width: int, what: str, kept_bytes: float = 0.0) -> None:
    """Refuse, before anything is written, images the machine cannot draw (``kept_bytes``: what
    stays in memory for the whole dataset)."""
    check_allocation(_BYTES_PER_PIXEL * height * width + kept_bytes, what, "use smaller images (or fewer of them)")


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
