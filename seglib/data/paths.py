"""Where data lives, and which segmentation dataset a notebook uses.

The lab of lecture 001 trains on PASCAL VOC 2012. Real VOC is used when it is on disk; otherwise
a deterministic synthetic stand-in in the same VOCdevkit format takes its place, so every
notebook runs offline. Two environment variables choose:

- ``SEGLIB_DATA``: the data folder (default: the repository's ``data/`` in an editable checkout,
  else ``~/.cache/seglib``).
- ``SEGLIB_DATASET``: ``auto`` (real VOC when present), ``voc`` (real VOC or an error) or
  ``synthetic``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DATA_ENV = "SEGLIB_DATA"
DATASET_ENV = "SEGLIB_DATASET"
DATASETS = ("auto", "voc", "synthetic")

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


@dataclass(frozen=True)
class DatasetRoot:
    """The dataset a notebook will use: ``kind`` ('voc' or 'synthetic'), ``path`` to the
    ``VOC2012`` folder, and a one-sentence ``description`` to print."""

    kind: str
    path: Path
    description: str


def voc_root(dataset: str | None = None, *, synthetic_images: int = 1000, seed: int = 0) -> DatasetRoot:
    """Choose the VOC-format dataset for lecture 001's lab (``dataset`` defaults to
    ``$SEGLIB_DATASET`` or 'auto'): real VOC 2012 under ``data_root()/VOCdevkit/VOC2012`` when it
    is complete, else the synthetic stand-in, generated once and cached on disk."""
    from .voc import missing_parts

    source = "the dataset argument" if dataset is not None else f"${DATASET_ENV}"
    choice = (dataset if dataset is not None else os.environ.get(DATASET_ENV) or "auto").strip().lower()
    if choice not in DATASETS:
        raise ValueError(
            f"unknown dataset {choice!r} (from {source}); valid choices are {', '.join(DATASETS)} "
            "(auto: real VOC when present, else the synthetic stand-in)"
        )
    real = data_root() / "VOCdevkit" / "VOC2012"
    missing = missing_parts(real)
    if choice == "voc" and missing:
        from .voc import voc_not_found_message

        raise FileNotFoundError(
            f"{source} is 'voc', which needs the real dataset: "
            + voc_not_found_message([real], missing)
            + f" Or set {DATASET_ENV}=synthetic (or auto) to use the offline stand-in."
        )
    if choice != "synthetic" and not missing:
        return DatasetRoot("voc", real, f"real PASCAL VOC 2012 from {display_path(real)}")
    why = (
        f"real VOC not found at {display_path(real)}; see data/README.md" if missing
        else f"chosen over the real VOC at {display_path(real)} by {source}"
    )
    path = synthetic_voc(synthetic_images, seed)
    return DatasetRoot(
        "synthetic", path,
        f"synthetic VOC-format stand-in: {synthetic_images} images, seed {seed} ({why})",
    )


def synthetic_voc(n_images: int, seed: int = 0) -> Path:
    """The synthetic VOC2012 folder under ``data_root()/synthetic/voc_n{N}_seed{S}``, generated on
    first use. ``make_synthetic_voc`` writes atomically and keeps a marker with its parameters and
    generator version, so a finished set is reused and a stale one (older generator) rebuilt."""
    from .synthetic import make_synthetic_voc

    return make_synthetic_voc(data_root() / "synthetic" / f"voc_n{n_images}_seed{seed}", n_images, seed=seed)


def synthetic_panoptic(n_images: int, seed: int = 0) -> Path:
    """The synthetic stuff-and-things scenes under ``data_root()/synthetic/panoptic_n{N}_seed{S}``,
    generated on first use like ``synthetic_voc``."""
    from .synthetic import make_panoptic_scenes

    return make_panoptic_scenes(data_root() / "synthetic" / f"panoptic_n{n_images}_seed{seed}", n_images, seed=seed)


def em_root(dataset: str | None = None, *, n_images: int = 30, seed: int = 0, size: int = 512) -> DatasetRoot:
    """Choose the EM-membrane stack of lecture 003 (ISBI 2012, Ciresan et al. 2012): the real
    files in ``data_root()/isbi2012`` (``train-volume.tif``, ``train-labels.tif``, ...) when
    present, else the synthetic stand-in, generated once. ``dataset`` follows ``voc_root``:
    'synthetic' forces the stand-in; 'auto' and 'voc' use the real stack when it is there.
    Read it with ``seglib.data.read_isbi(root.path)``."""
    from .folders import ISBI_FOLDER
    from .synthetic import make_em_membranes

    source = "the dataset argument" if dataset is not None else f"${DATASET_ENV}"
    choice = (dataset if dataset is not None else os.environ.get(DATASET_ENV) or "auto").strip().lower()
    if choice not in DATASETS:
        raise ValueError(f"unknown dataset {choice!r} (from {source}); valid choices are {', '.join(DATASETS)}")
    real = data_root() / ISBI_FOLDER
    present = (real / "train-volume.tif").is_file() and (real / "train-labels.tif").is_file()
    if choice != "synthetic" and present:
        return DatasetRoot("isbi2012", real, f"real ISBI 2012 EM stack from {display_path(real)}")
    why = (f"chosen by {source}" if choice == "synthetic"
           else f"no train-volume.tif and train-labels.tif in {display_path(real)}; see data/README.md")
    path = make_em_membranes(data_root() / "synthetic" / f"em_n{n_images}_seed{seed}_size{size}",
                             n_images, seed=seed, size=size)
    return DatasetRoot("synthetic", path,
                       f"synthetic ISBI-2012-layout EM stand-in: {n_images} slices of {size}×{size}, seed {seed} ({why})")
