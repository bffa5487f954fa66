"""Where data lives: the data folder, the names of the dataset folders in it, and how to print a path.

The bottom floor of ``seglib.data``: it imports no other module of the package. Two environment
variables steer the package (``seglib.data.choice`` reads the second):

- ``SEGLIB_DATA``: the data folder (default: the repository's ``data/`` in an editable checkout,
  else ``~/.cache/seglib``).
- ``SEGLIB_DATASET``: which dataset a notebook uses: ``auto`` (real data when present),
  ``voc`` (real data or an error), ``synthetic``, or the path of a dataset folder.
"""
from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "SEGLIB_DATA"
DATASET_ENV = "SEGLIB_DATASET"
DATASETS = ("auto", "voc", "synthetic")

VOC_FOLDER = Path("VOCdevkit") / "VOC2012"  # real PASCAL VOC 2012, under data_root()
ISBI_FOLDER = "isbi2012"  # the real ISBI 2012 EM stack, under data_root()
PANOPTIC_FOLDER = "panoptic_scenes"
SYNTHETIC_FOLDER = "synthetic"  # generated stand-ins, under data_root()

_REPO_ROOT = Path(__file__).resolve().parents[2]  # the checkout holding seglib/, when editable


def data_root() -> Path:
    """The data folder: ``$SEGLIB_DATA``, else the checkout's ``data/``, else ``~/.cache/seglib``."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser().resolve()
    if (_REPO_ROOT / "data" / "README.md").is_file():
        return _REPO_ROOT / "data"
    return Path.home() / ".cache" / "seglib"


def display_path(path: Path) -> str:
    """``path`` as a notebook should print it: relative to the checkout when inside it, with
    ``~`` for the home folder otherwise, so printed output does not depend on the machine."""
    path = Path(path).resolve()
    for base, prefix in ((_REPO_ROOT, ""), (Path.home(), "~/")):
        try:
            return prefix + path.relative_to(base).as_posix()
        except ValueError:
            continue
    return str(path)

SYNTHETIC_MARKER = ".seglib-synthetic.json"  # the parameters of a generated stand-in, in its folder
