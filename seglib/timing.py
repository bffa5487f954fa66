"""Timing code fairly on a shared CPU (notebooks 01, 02, 03, 06 and 08, and ``bench/``).

``time_calls`` times candidates in interleaved rounds and keeps each one's best; ``cpu_threads``
pins PyTorch to a number of CPU threads for a ``with`` block (the dense CRF uses it too).
Lectures compare operators by speed ("the fully convolutional network is N times faster");
these helpers make such claims reproducible enough to assert with a generous tolerance.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import torch

__all__ = ["cpu_threads", "time_calls"]


@contextlib.contextmanager
def cpu_threads(threads: int | None):
    """Run the ``with`` block on ``threads`` PyTorch CPU threads (None: leave as is), then restore
    the previous number. Small per-image work gains nothing from a second thread, and on a busy
    CPU extra threads slow it down several times."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def time_calls(
    calls: dict[str, Callable[[], object]], repeats: int = 5, warmup: int = 1, threads: int | None = 1
) -> dict[str, float]:
    """Best wall-clock seconds of each call, timed in interleaved rounds.

    Every round runs each call once, in turn, so a burst of load from another process hits all
    of them alike, and the minimum over ``repeats`` rounds is the least disturbed run. During
    the timing PyTorch uses ``threads`` CPU threads (None: leave as is). One thread compares
    the operators' work per core and stays stable on a busy machine; with several threads on
    an oversubscribed CPU the ratios we measured fell from about 3 to about 1. GPU work is
    waited for. Print the times; assert only generous ratios.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    if not calls:
        raise ValueError("give at least one call to time, e.g. {'conv': lambda: conv(x)}")
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    with cpu_threads(threads):
        for fn in calls.values():
            for _ in range(warmup):
                fn()
        best = {name: float("inf") for name in calls}
        for _ in range(repeats):
            for name, fn in calls.items():
                sync()
                start = time.perf_counter()
                fn()
                sync()
                best[name] = min(best[name], time.perf_counter() - start)
    return best
