"""seed_everything and get_device."""

import random

import numpy as np
import pytest
import torch

import seglib


def test_seed_everything_repeats_every_generator():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    seglib.seed_everything(3)
    first = draw()
    seglib.seed_everything(3)
    assert draw() == first
    seglib.seed_everything(4)
    assert draw() != first
    with pytest.raises(ValueError, match="non-negative int"):
        seglib.seed_everything(-1)


def test_get_device_prefers_an_accelerator_and_honours_requests(monkeypatch):
    monkeypatch.delenv("SEGLIB_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else ("mps" if seglib._mps_available() else "cpu")
    assert seglib.get_device().type == expected
    assert seglib.get_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("SEGLIB_DEVICE", "cpu")
    assert seglib.get_device() == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_a_missing_device_says_what_is_available(monkeypatch):
    monkeypatch.delenv("SEGLIB_DEVICE", raising=False)
    with pytest.raises(RuntimeError, match=r"'cuda' was asked for but is not available here; available: cpu"):
        seglib.get_device("cuda")


def test_write_atomically_keeps_the_old_file_when_writing_fails(tmp_path):
    from seglib._files import write_atomically

    target = write_atomically(tmp_path / "sub" / "f.bin", lambda f: f.write(b"old"))
    assert target.read_bytes() == b"old" and oct(target.stat().st_mode & 0o777) == "0o644"

    def crash(file):
        file.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomically(target, crash)
    assert target.read_bytes() == b"old" and sorted(p.name for p in target.parent.iterdir()) == ["f.bin"]
