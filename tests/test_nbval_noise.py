"""The notebook tests ignore the few stderr messages that kernel threads write under load into
whatever cell runs (tests/nbval_noise.py), and nothing else (issue 22)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest
from nbformat import NotebookNode
from nbval.plugin import IPyNbCell, nocolors

spec = importlib.util.spec_from_file_location("nbval_noise", Path(__file__).parent / "nbval_noise.py")
noise = importlib.util.module_from_spec(spec)
spec.loader.exec_module(noise)

TQDM = (
    "/usr/lib/python3/site-packages/tqdm/_monitor.py:84: TqdmSynchronisationWarning: Set changed size during "
    "iteration (see https://github.com/tqdm/tqdm/issues/481)\n  warn('Set changed size during iteration' +\n"
)
REAL = "/tmp/ipykernel_123/456.py:3: UserWarning: Glyph 947 missing from font(s) DejaVu Sans.\n  plt.show()\n"


def stream(name, text):
    return NotebookNode(output_type="stream", name=name, text=text)


def figure():
    return NotebookNode(
        output_type="display_data", metadata={}, data={"text/plain": "<Figure size 336x240 with 1 Axes>"}
    )


class Cell:
    """The parts of nbval's IPyNbCell that compare_outputs uses, with its real methods."""

    colors = nocolors
    sanitize = IPyNbCell.sanitize
    format_output_compare = IPyNbCell.format_output_compare

    def __init__(self):
        self.parent = SimpleNamespace(skip_compare=("metadata", "image/png"), sanitize_patterns={})
        self.comparison_traceback = []


@pytest.fixture(autouse=True)
def installed(pytestconfig):
    """conftest.py wraps nbval's comparison when nbval is loaded (as pyproject.toml's addopts do)."""
    if not pytestconfig.pluginmanager.hasplugin("nbval"):
        pytest.skip("nbval is not loaded")
    assert getattr(IPyNbCell.compare_outputs, "ignores_benign_stderr", False), "conftest.py did not install it"


def test_installing_twice_wraps_once():
    wrapped = IPyNbCell.compare_outputs
    noise.install(IPyNbCell)
    assert IPyNbCell.compare_outputs is wrapped


@pytest.mark.parametrize(
    "text",
    [
        "IOStream.flush timed out\n",
        TQDM,
        "Matplotlib is building the font cache; this may take a moment.\n",
        "IOStream.flush timed out\n" + TQDM,
    ],
)
def test_a_cell_that_only_got_kernel_noise_passes(text):
    assert IPyNbCell.compare_outputs(Cell(), [figure(), stream("stderr", text)], [figure()])


@pytest.mark.parametrize(
    "text",
    [
        REAL,
        REAL + "IOStream.flush timed out\n",
        "IOStream.flush timed out twice\n",
        "Matplotlib is building the font cache; this may take a moment. Or not.\n",
    ],
)
def test_any_other_stderr_still_fails_and_is_shown(text):
    cell = Cell()
    assert not IPyNbCell.compare_outputs(cell, [figure(), stream("stderr", text)], [figure()])
    report = "\n".join(cell.comparison_traceback)
    assert "Unexpected output fields from running code: {'stderr'}" in report
    shown = report.split("stderr written while the cell ran:\n")[1]
    assert shown == (REAL if text.startswith(REAL) else text), "the benign part is cut, the rest shown whole"


def test_stdout_and_benign_lines_inside_a_real_message_are_kept():
    outputs = [stream("stdout", "IOStream.flush timed out\n"), stream("stderr", REAL + "IOStream.flush timed out\n")]
    kept = noise.without_benign_stderr(outputs)
    assert kept[0] is outputs[0] and kept[1]["text"] == REAL and kept[1].output_type == "stream"
