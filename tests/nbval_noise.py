"""Messages a notebook kernel can write to stderr in whatever cell happens to run (issue 22).

ipykernel sends what a cell writes with that cell's id. Writes from other threads (the font-cache
timer, tqdm's monitor) and from the thread that drains file descriptor 2 (C code, and Python's
``sys.__stderr__``) have no cell of their own: they go to the cell running when they are written
or read. Under load they land in an arbitrary cell, so nbval reports "Unexpected output fields
from running code: {'stderr'}" in a cell that writes nothing itself (notebook 08's focal-loss
plot was one). A sanitize pattern cannot help: a stream emptied by it still counts as output.

``BENIGN`` lists such messages, each only ever written by infrastructure and only under load.
They are removed from the fresh outputs before nbval compares them; any other stderr text still
fails, and a failing comparison now shows the stderr text it found, so that the next stray
message names its writer.
"""

from __future__ import annotations

import re

from nbformat import NotebookNode

BENIGN = {
    # ipykernel: the IOPub thread did not deliver a flush within 10 s; printed on sys.__stderr__
    "ipykernel flush": re.compile(r"^IOStream\.flush timed out(?:\n|\Z)", re.M),
    # tqdm's monitor thread (every 10 s) raced a bar being created or closed; a warning plus its source line
    "tqdm monitor": re.compile(
        r"^.*TqdmSynchronisationWarning: Set changed size during iteration.*(?:\n|\Z)(?:[ \t]+\S.*(?:\n|\Z))?", re.M
    ),
    # matplotlib's timer thread, when building the font cache takes more than 5 s
    "matplotlib font cache": re.compile(
        r"^Matplotlib is building the font cache; this may take a moment\.(?:\n|\Z)", re.M
    ),
}


def is_stderr(output) -> bool:
    return output.get("output_type") == "stream" and output.get("name") == "stderr"


def without_benign_stderr(outputs: list) -> list:
    """``outputs`` with the ``BENIGN`` messages cut out of stderr streams (and a stream that held
    nothing else dropped); every other output is kept as it is."""
    kept = []
    for output in outputs:
        if is_stderr(output):
            text = output["text"]
            for pattern in BENIGN.values():
                text = pattern.sub("", text)
            if not text:
                continue
            if text != output["text"]:
                output = NotebookNode({**output, "text": text})
        kept.append(output)
    return kept


def install(cell_class) -> None:
    """Wrap ``cell_class.compare_outputs`` (nbval's ``IPyNbCell``): compare without the benign
    messages, and show the remaining stderr text when the comparison fails."""
    original = cell_class.compare_outputs
    if getattr(original, "ignores_benign_stderr", False):
        return

    def compare_outputs(self, test, ref, skip_compare=None):
        test = without_benign_stderr(test)
        same = original(self, test, ref, skip_compare)
        stderr = "".join(output["text"] for output in test if is_stderr(output))
        if not same and stderr:
            self.comparison_traceback.append(f"stderr written while the cell ran:\n{stderr[-2000:]}")
        return same

    compare_outputs.ignores_benign_stderr = True
    cell_class.compare_outputs = compare_outputs
