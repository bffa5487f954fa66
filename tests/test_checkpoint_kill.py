"""A real SIGKILL while ``fit`` writes its checkpoint (issue 22): the file on disk is always a
complete checkpoint, the previous one or the new one, never half of one; the temporary file a
killed write leaves behind is removed on resume, and the resumed run completes.

Starting a Python that imports torch takes seconds on a busy machine, so one helper process (the
"zygote") imports torch and seglib once, without running any torch operation, and forks one
worker per round; the test kills the worker with SIGKILL. Rounds:

* ``mid-write``: the worker's second save writes half of the bytes, signals, and stops there;
  the kill lands inside the write for certain.
* ``random``: a worker saves a checkpoint after every (tiny) epoch, each large enough to take a
  few ms to write, and logs the epoch of each save it begins; the kill lands 0-20 ms after a
  write begins, so in the write, in the rename or after it. The file on disk must hold the epoch
  before the last one begun (its temporary file left behind) or that one.

Nothing waits a fixed time for a file: the test polls for it, with a generous time-out.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from seglib import train

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="the helper forks its workers (POSIX only)"),
    pytest.mark.slow,  # real processes killed mid-write: ~10 s for the file
]

# Shared by the worker (run by the zygote) and this test (which resumes what the worker left).
RUN_SOURCE = '''
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Model(nn.Module):
    """A 1x1 conv net plus a large unused buffer, so that every checkpoint takes a while to write."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU(), nn.Conv2d(4, 2, 1))
        self.register_buffer("ballast", torch.zeros(1_000_000))  # 4 MB in every checkpoint

    def forward(self, x):
        return self.net(x)


def loader():
    g = torch.Generator().manual_seed(0)
    images = torch.randn(4, 3, 4, 4, generator=g)
    return DataLoader(TensorDataset(images, (images[:, 0] > 0).long()), batch_size=2)
'''

ZYGOTE_SOURCE = (
    RUN_SOURCE
    + """
import io, json, os, sys, time
from pathlib import Path
from seglib import train

torch.set_num_threads(1)  # workers are forked: no thread pool may exist before the fork
torch.optim.Adam([nn.Parameter(torch.zeros(1))])  # its first use imports torch._dynamo: seconds, once
print("ready", flush=True)
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:  # the worker
        try:
            folder = Path(job["folder"])
            if job["mode"] == "mid-write":
                real_save, saves = torch.save, []

                def save_half(state, file):  # the second save stops half-way, as if killed there
                    saves.append(1)
                    if len(saves) < 2:
                        return real_save(state, file)
                    buffer = io.BytesIO()
                    real_save(state, buffer)
                    file.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
                    file.flush()
                    (folder / "writing").touch()
                    time.sleep(600)

                torch.save = save_half
            else:  # unchanged, but logs the epoch of every save it begins
                real_save, log = torch.save, os.open(folder / "begun.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)

                def logged_save(state, file):
                    os.write(log, f"{state['epoch']}\\n".encode())
                    return real_save(state, file)

                torch.save = logged_save
            train.fit(Model(), loader(), num_classes=2, epochs=10_000, device="cpu", progress=False,
                      checkpoint=folder / "model.pt", resume=True)
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            os._exit(0)  # never back into the zygote's loop
    print("pid", pid, flush=True)
    _, status = os.waitpid(pid, 0)
    print("status", status, flush=True)
"""
)

RUN = {}
exec(RUN_SOURCE, RUN)  # noqa: S102 - the same model and data as the worker's, for resuming


def _wait_for(condition, what: str, pid: int, timeout: float = 120.0):
    """Poll ``condition`` until it is true (a busy machine only makes this slower, never wrong);
    fail at once if the worker ``pid`` has ended."""
    deadline = time.monotonic() + timeout
    while not condition():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            raise AssertionError(f"the worker ended before {what}") from None
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.0005)


class Zygote:
    """The helper process, read line by line with a time-out (a stuck helper fails the test, it
    does not hang it)."""

    def __init__(self, process: subprocess.Popen, stderr):
        self.process, self.stderr, self.pending = process, stderr, b""

    def send(self, job: dict) -> None:
        self.process.stdin.write((json.dumps(job) + "\n").encode())
        self.process.stdin.flush()

    def line(self, timeout: float = 120.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.pending:
            ready, _, _ = select.select([self.process.stdout], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(self.process.stdout.fileno(), 4096) if ready else b""
            if not chunk:
                self.stderr.seek(0)
                raise AssertionError(
                    f"the helper process {'ended' if ready else 'said nothing for a long time'}: "
                    f"{self.stderr.read().decode(errors='replace')[-2000:]}"
                )
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return line.decode().split()


@pytest.fixture(scope="module")
def zygote(tmp_path_factory):
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(Path(train.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]),
    }
    with open(tmp_path_factory.mktemp("zygote") / "stderr", "w+b") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE_SOURCE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env
        )
        helper = Zygote(process, stderr)
        try:
            assert helper.line() == ["ready"]
            yield helper
        finally:
            process.kill()
            process.wait()


def _kill_worker(zygote: Zygote, folder: Path, mode: str, waits: list, delay: float = 0.0) -> None:
    """Fork a worker training into ``folder``, wait for each ``(condition, what)`` of ``waits``
    in turn, then ``delay`` seconds more, and SIGKILL it."""
    zygote.send({"folder": str(folder), "mode": mode})
    kind, pid = zygote.line()
    assert kind == "pid"
    try:
        for condition, what in waits:
            _wait_for(condition, what, int(pid))
        time.sleep(delay)
    finally:
        os.kill(int(pid), signal.SIGKILL)
        kind, status = zygote.line()
    if not (kind == "status" and os.WIFSIGNALED(int(status)) and os.WTERMSIG(int(status)) == signal.SIGKILL):
        zygote.stderr.seek(0)
        raise AssertionError(f"the worker ended before it was killed: {zygote.stderr.read().decode()[-2000:]}")


def _complete_checkpoint(path: Path) -> dict:
    state = torch.load(path, weights_only=True)  # a half-written file fails here
    assert set(state) >= {"model", "optimizer", "history", "epoch"}
    assert state["history"]["epoch"] == list(range(1, state["epoch"] + 1))
    assert state["model"]["ballast"].shape == (1_000_000,)
    return state


def _resume(path: Path, epochs: int) -> dict:
    return train.fit(
        RUN["Model"](),
        RUN["loader"](),
        num_classes=2,
        epochs=epochs,
        device="cpu",
        progress=False,
        checkpoint=path,
        resume=True,
    )


def _parts(folder: Path) -> list[Path]:
    return sorted(folder.glob(".model.pt.*.part"))


def test_sigkill_in_the_middle_of_a_checkpoint_write(zygote, tmp_path):
    ckpt = tmp_path / "model.pt"
    _kill_worker(
        zygote,
        tmp_path,
        "mid-write",
        [((tmp_path / "writing").exists, "the worker stopped half-way through its second save")],
    )
    assert _complete_checkpoint(ckpt)["epoch"] == 1, "the checkpoint on disk is the previous complete one"
    (orphan,) = _parts(tmp_path)  # what the kill left: half of epoch 2's file, under another name
    assert orphan.stat().st_size > 0
    with pytest.raises((RuntimeError, EOFError, pickle.UnpicklingError)):  # a truncated zip archive
        torch.load(orphan, weights_only=True)
    history = _resume(ckpt, epochs=2)
    assert history["epoch"] == [1, 2] and not _parts(tmp_path), "resume removes the orphan and completes"
    assert _complete_checkpoint(ckpt)["epoch"] == 2


@pytest.mark.parametrize("round_", range(6))
def test_sigkill_at_a_random_time_during_or_after_a_write(zygote, tmp_path, round_):
    ckpt = tmp_path / "model.pt"
    delay = random.Random(round_).uniform(0.0, 0.02)  # a write takes a few ms: some kills land in it, some after

    _kill_worker(
        zygote,
        tmp_path,
        "random",
        [
            (ckpt.exists, "the worker's first checkpoint"),
            (lambda: _parts(tmp_path), "the worker began another checkpoint"),
        ],
        delay,
    )
    begun = int((tmp_path / "begun.log").read_text().split()[-1])  # the last save the worker began
    saved = _complete_checkpoint(ckpt)["epoch"]
    assert saved in (begun - 1, begun), "the file is the previous complete checkpoint or the new complete one"
    if saved < begun:
        assert len(_parts(tmp_path)) == 1, "the interrupted write left its temporary file, and only that one"
    else:
        assert len(_parts(tmp_path)) <= 1, "at most the file of a write that had just begun"
    history = _resume(ckpt, epochs=saved + 1)
    assert history["epoch"] == list(range(1, saved + 2)) and not _parts(tmp_path), "resume cleans up and completes"
    assert _complete_checkpoint(ckpt)["epoch"] == saved + 1
