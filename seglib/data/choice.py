"""Which dataset a notebook uses: one choice behind ``voc_root``, ``em_root`` and the stand-ins.

``dataset`` (a notebook's ``DATASET`` setting; None follows ``$SEGLIB_DATASET``, default 'auto'):

- 'auto': the real dataset when it is complete in ``data_root()``, else the synthetic stand-in;
- 'voc': the real dataset, or an error saying how to get it;
- 'synthetic': the stand-in, generated once under ``data_root()/synthetic`` and reused;
- the path of a dataset folder: that folder, which must hold the kind of dataset asked for
  (any VOC-format dataset for ``voc_root``, an ISBI 2012 stack for ``em_root``).

The top floor of ``seglib.data``: it imports the readers and the generators below it.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .isbi import isbi_layout, isbi_summary
from .labels import VOC_CLASSES
from .paths import DATASET_ENV, DATASETS, ISBI_FOLDER, SYNTHETIC_FOLDER, VOC_FOLDER, data_root, display_path
from .synthetic import make_em_membranes, make_panoptic_scenes, make_synthetic_voc
from .vocformat import class_info, find_voc2012, is_voc2012, missing_parts, voc_not_found_message

__all__ = ["DatasetRoot", "em_root", "synthetic_panoptic", "synthetic_voc", "voc_root"]


@dataclass(frozen=True)
class DatasetRoot:
    """The dataset a notebook will use: ``kind`` ('voc' for PASCAL VOC 2012, 'voc-format' for
    another VOC-format dataset, 'isbi2012' or 'synthetic'), ``path`` to its folder, a
    one-sentence ``description`` to print, and, for VOC-format data, its class names."""

    kind: str
    path: Path
    description: str
    classes: tuple[str, ...] = ()

    @property
    def num_classes(self) -> int:
        return len(self.classes)


class _Kind(NamedTuple):
    """What ``choose`` needs to know about one kind of dataset."""

    default: Path  # where the real dataset lives in data_root()
    problem: Callable[[Path], str | None]  # None when the folder holds a complete dataset, else what is wrong
    real: Callable[[Path], DatasetRoot]  # the DatasetRoot of a complete real folder
    unavailable: Callable[[Path, str, str], str]  # (folder, problem, source) -> the error text for 'voc'
    why: Callable[[Path, bool, str, str], str]  # (folder, present, choice, source) -> why the stand-in


def _parse(dataset) -> tuple[str | Path, str]:
    """``(choice, source)``: a name from DATASETS or a folder, and where it came from."""
    source = "the dataset argument" if dataset is not None else f"${DATASET_ENV}"
    value = dataset if dataset is not None else os.environ.get(DATASET_ENV) or "auto"
    if isinstance(value, Path):
        return value.expanduser(), source
    name = str(value).strip()
    if name.lower() in DATASETS:
        return name.lower(), source
    if os.sep in name or "/" in name or name.startswith(("~", ".")) or Path(name).expanduser().is_dir():
        return Path(name).expanduser(), source
    raise ValueError(
        f"unknown dataset {name!r} (from {source}); valid choices are {', '.join(DATASETS)} "
        "(auto: real data when present, else the synthetic stand-in), or the path of a dataset folder"
    )


def choose(kind: _Kind, dataset, stand_in: Callable[[str], DatasetRoot]) -> DatasetRoot:
    """The one dataset choice (see the module docstring); ``stand_in(why)`` makes the synthetic one."""
    choice, source = _parse(dataset)
    if isinstance(choice, Path):
        problem = kind.problem(choice)
        if problem:
            raise FileNotFoundError(f"{source} names the folder {choice}, but {problem}")
        return kind.real(choice)
    problem = kind.problem(kind.default)
    if choice == "voc" and problem:
        raise FileNotFoundError(kind.unavailable(kind.default, problem, source))
    if choice != "synthetic" and not problem:
        return kind.real(kind.default)
    return stand_in(kind.why(kind.default, not problem, choice, source))


# --- VOC-format data (lecture 001's lab) -----------------------------------------------------------

def _voc_problem(folder: Path) -> str | None:
    try:
        find_voc2012(folder)
    except FileNotFoundError as error:
        return str(error)
    return None


def _real_voc(folder: Path) -> DatasetRoot:
    folder = find_voc2012(folder)
    info = class_info(folder)
    if is_voc2012(folder):
        return DatasetRoot("voc", folder, f"real PASCAL VOC 2012 from {display_path(folder)} "
                           f"({info.num_classes} classes, the course split)", info.names)
    return DatasetRoot("voc-format", folder, f"VOC-format dataset from {display_path(folder)}: {info.num_classes} "
                       f"classes (from {info.source}), its own train/val/test lists", info.names)


def _voc_unavailable(folder: Path, problem: str, source: str) -> str:
    return (f"{source} is 'voc', which needs the real dataset: "
            + voc_not_found_message([folder], missing_parts(folder), folder)
            + f" Or set {DATASET_ENV}=synthetic (or auto) to use the offline stand-in.")


def _voc_why(folder: Path, present: bool, choice: str, source: str) -> str:
    if present:
        return f"chosen over the real VOC at {display_path(folder)} by {source}"
    return f"real VOC not found at {display_path(folder)}; see data/README.md"


def voc_root(dataset=None, *, synthetic_images: int = 1000, seed: int = 0) -> DatasetRoot:
    """Choose the VOC-format dataset for lecture 001's lab (see the module docstring): real VOC
    2012 under ``data_root()/VOCdevkit/VOC2012`` when it is complete (``REQUIRED_SUBDIRS``), a
    VOC-format folder given by path, or the synthetic stand-in of ``synthetic_images`` images."""
    kind = _Kind(data_root() / VOC_FOLDER, _voc_problem, _real_voc, _voc_unavailable, _voc_why)

    def stand_in(why: str) -> DatasetRoot:
        path = synthetic_voc(synthetic_images, seed)
        return DatasetRoot("synthetic", path,
                           f"synthetic VOC-format stand-in: {synthetic_images} images, seed {seed} ({why})", VOC_CLASSES)

    return choose(kind, dataset, stand_in)


def synthetic_voc(n_images: int, seed: int = 0) -> Path:
    """The synthetic VOC2012 folder under ``data_root()/synthetic/voc_n{N}_seed{S}``, generated on
    first use. ``make_synthetic_voc`` writes atomically and keeps a marker with its parameters and
    generator version, so a finished set is reused and a stale one (older generator) rebuilt."""
    return make_synthetic_voc(data_root() / SYNTHETIC_FOLDER / f"voc_n{n_images}_seed{seed}", n_images, seed=seed)


def synthetic_panoptic(n_images: int, seed: int = 0) -> Path:
    """The synthetic stuff-and-things scenes under ``data_root()/synthetic/panoptic_n{N}_seed{S}``,
    generated on first use like ``synthetic_voc``."""
    return make_panoptic_scenes(data_root() / SYNTHETIC_FOLDER / f"panoptic_n{n_images}_seed{seed}", n_images,
                                seed=seed)


# --- The ISBI 2012 EM stack (lecture 003) -----------------------------------------------------------

def _isbi_folder(folder: Path) -> Path | None:
    for candidate in (folder, folder / ISBI_FOLDER):
        if isbi_layout(candidate):
            return candidate
    return None


def _isbi_problem(folder: Path) -> str | None:
    if _isbi_folder(folder) is None:
        return (f"{folder} holds no ISBI 2012 training stack: train-volume.tif and train-labels.tif, or PNG "
                "slices in train/images/ and train/labels/ (see data/README.md)")
    return None


def _real_isbi(folder: Path) -> DatasetRoot:
    folder = _isbi_folder(folder)
    return DatasetRoot("isbi2012", folder, f"real ISBI 2012 EM stack from {display_path(folder)} "
                       f"({isbi_summary(folder)})")


def _isbi_unavailable(folder: Path, problem: str, source: str) -> str:
    return (f"{source} is 'voc', which asks for real data, but {problem}. Copy the challenge's files there, "
            f"or set {DATASET_ENV}=synthetic (or auto) to use the offline stand-in.")


def _isbi_why(folder: Path, present: bool, choice: str, source: str) -> str:
    if choice == "synthetic":
        return f"chosen by {source}"
    return f"no train-volume.tif and train-labels.tif in {display_path(folder)}; see data/README.md"


def em_root(dataset=None, *, n_images: int = 30, seed: int = 0, size: int = 512) -> DatasetRoot:
    """Choose the EM-membrane stack of lecture 003 (ISBI 2012, Ciresan et al. 2012; see the
    module docstring): the real stack in ``data_root()/isbi2012`` (TIFF stacks or PNG slices)
    when present, an ISBI folder given by path, or the synthetic stand-in of ``n_images`` slices
    of ``size`` px. Read it with ``read_isbi(root.path)`` or ``em_splits(root.path, held_out)``."""
    kind = _Kind(data_root() / ISBI_FOLDER, _isbi_problem, _real_isbi, _isbi_unavailable, _isbi_why)

    def stand_in(why: str) -> DatasetRoot:
        path = make_em_membranes(data_root() / SYNTHETIC_FOLDER / f"em_n{n_images}_seed{seed}_size{size}",
                                 n_images, seed=seed, size=size)
        return DatasetRoot("synthetic", path, f"synthetic ISBI-2012-layout EM stand-in: {n_images} slices of "
                           f"{size}×{size}, seed {seed} ({why})")

    return choose(kind, dataset, stand_in)
