"""Interleaved best-of-N timing and the CPU-thread pin (seglib.timing)."""

import pytest
import torch

from seglib import timing


def test_time_calls_takes_the_best_round_interleaved_and_restores_threads():
    import time as _time

    order = []
    durations = iter([0.03, 0.002, 0.001])  # rounds for "slow"; the first is the warm-up

    def slow():
        order.append("slow")
        _time.sleep(next(durations))

    def fast():
        order.append("fast")

    threads = torch.get_num_threads()
    best = timing.time_calls({"slow": slow, "fast": fast}, repeats=2, warmup=1, threads=1)
    assert order == ["slow", "fast", "slow", "fast", "slow", "fast"]  # warm-ups, then interleaved rounds
    assert 0.001 <= best["slow"] < 0.002 and best["fast"] < best["slow"]
    assert torch.get_num_threads() == threads
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        timing.time_calls({"f": fast}, repeats=0)
    with pytest.raises(ValueError, match="at least one call"):
        timing.time_calls({})


def test_cpu_threads_sets_and_restores():
    before = torch.get_num_threads()
    with timing.cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with timing.cpu_threads(None):
        assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), timing.cpu_threads(1):
        raise RuntimeError("restored even when the block fails")
    assert torch.get_num_threads() == before
