"""seglib: the small PyTorch library behind the image-segmentation course book.

Each module mirrors a part of the lectures; see the book's API pages and DESIGN.md.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__version__ = "0.1.0"

__all__ = ["__version__", "seed_everything", "get_device"]


def seed_everything(seed: int = 0) -> int:
    """Seed Python, NumPy and PyTorch (CPU and every GPU) so a run can be repeated.

    Returns the seed, so a notebook can print what it used. Bit-for-bit equality across
    different devices or library versions is not promised by PyTorch, only within one setup.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    os.environ["PYTHONHASHSEED"] = str(seed)
    return seed


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def get_device(prefer: str | torch.device | None = None) -> torch.device:
    """The device to compute on: CUDA if present, then Apple's MPS, then the CPU.

    ``prefer`` forces a choice ("cpu", "cuda", "cuda:1", "mps"); the environment variable
    ``SEGLIB_DEVICE`` does the same without editing a notebook. Asking for a device that is not
    there raises an error that says which devices are.
    """
    prefer = prefer if prefer is not None else os.environ.get("SEGLIB_DEVICE") or None
    if prefer is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(prefer)
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": _mps_available()}
    if not available.get(device.type, False):
        present = ", ".join(name for name, ok in available.items() if ok)
        raise RuntimeError(
            f"device {str(device)!r} was asked for but is not available here; "
            f"available: {present}. Pass prefer=None (or unset SEGLIB_DEVICE) to pick automatically."
        )
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise RuntimeError(
            f"device {str(device)!r} was asked for but only {torch.cuda.device_count()} CUDA device(s) exist"
        )
    return device
