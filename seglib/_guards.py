"""Checks shared by seglib's modules: refuse an allocation the machine cannot hold, and check
that a number given by the user is finite and in range, before anything is computed."""

from __future__ import annotations

import math
import numbers
import os

__all__ = ["available_memory", "check_allocation", "check_finite", "check_number"]


def available_memory() -> int:
    """Bytes of memory this machine can still give (MemAvailable on Linux, else all of it)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 1 << 40


def check_allocation(nbytes: float, what: str, hint: str) -> None:
    """Raise ``MemoryError`` saying what would be too large, and how to avoid it, when ``nbytes``
    exceed the memory this machine has left; call it before allocating."""
    available = available_memory()
    if nbytes > available:
        raise MemoryError(
            f"{what} would need {_size(nbytes)}, more than the {_size(available)} this machine has free; {hint}"
        )


def _size(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if nbytes < 1024 or unit == "TiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} TiB"


def check_number(
    value,
    name: str,
    *,
    minimum: float | None = None,
    strict: bool = False,
    integer: bool = False,
    maximum: float | None = None,
    hint: str = "",
) -> float:
    """``value`` as a finite Python number; raise saying what is wrong when it is not a real
    number, not finite, below ``minimum`` (``strict``: must exceed it) or above ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        try:  # one-element tensors and NumPy scalars
            if getattr(value, "ndim", None) == 0 or getattr(value, "shape", None) in ((), (1,)):
                value = value.item()
        except Exception:  # noqa: BLE001 - fall through to the error below
            pass
    kind = "an int" if integer else "a number"
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or (integer and not isinstance(value, numbers.Integral))
    ):
        raise TypeError(f"{name} must be {kind}, got {value!r}{'; ' + hint if hint else ''}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}{'; ' + hint if hint else ''}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be {relation} {minimum}, got {value}{'; ' + hint if hint else ''}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}{'; ' + hint if hint else ''}")
    return value


def check_finite(values, name: str, hint: str) -> None:
    """Raise ``ValueError`` saying how many entries of ``values`` (a tensor or an array) are NaN or
    infinite, and ``hint`` on what to do, when any is; such values would silently win an argmax
    or turn every result NaN."""
    import numpy as np  # here, so that importing the guards stays cheap

    if hasattr(values, "is_floating_point"):  # a torch tensor, of any float dtype
        if not values.is_floating_point():
            return
        import torch

        bad, size = int((~torch.isfinite(values)).sum()), values.numel()
    else:
        values = np.asarray(values)
        if not np.issubdtype(values.dtype, np.floating):
            return
        bad, size = int(values.size - np.count_nonzero(np.isfinite(values))), values.size
    if bad:
        raise ValueError(f"{name} holds {bad} NaN or infinite value(s) of {size}; {hint}")
