"""Readers for dataset folders that are not VOC: the ISBI 2012 EM stack and panoptic scenes.

Each reads the real on-disk format, so the synthetic stand-ins of ``seglib.data.synthetic`` and
the real files go through the same code:

* ``read_isbi`` reads the ISBI 2012 challenge layout (lecture 003: k-means and learned membrane
  detection, Ciresan et al. 2012): ``train-volume.tif``, ``train-labels.tif``,
  ``test-volume.tif`` and, where present, ``test-labels.tif`` (the real challenge withholds them).
* ``PanopticScenes`` reads a COCO-panoptic-style folder (lecture 002: stuff and things, UPSNet):
  ``panoptic.json``, ``images/`` and ``panoptic/`` PNGs whose colours encode segment ids as
  ``id = R + 256 G + 256² B``. ``maskrcnn_target`` turns one item into the targets that
  torchvision's Mask R-CNN trains on.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageSequence

from .voc import IGNORE_INDEX

__all__ = ["PanopticScenes", "id_to_rgb", "maskrcnn_target", "read_isbi", "rgb_to_id"]

ISBI_FOLDER = "isbi2012"
PANOPTIC_FOLDER = "panoptic_scenes"


# --------------------------------------------------------------------------- ISBI 2012
def read_isbi(root, split: str = "train") -> tuple[np.ndarray, np.ndarray | None]:
    """Read an ISBI-2012 EM stack (lecture 003): ``(images, labels)``, both uint8 (N, H, W).

    ``root`` is the folder holding ``{split}-volume.tif`` or its parent (``root/isbi2012``).
    Labels are 255 inside cells and 0 on membranes; ``labels`` is None when
    ``{split}-labels.tif`` is absent, as for the real challenge's test set.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = _find_folder(
        root, ISBI_FOLDER, f"{split}-volume.tif",
        how_to_make="seglib.data.make_em_membranes(root) writes a synthetic stand-in there, or copy "
        "the ISBI 2012 files (train-volume.tif, train-labels.tif, test-volume.tif) into it",
    )
    images = _read_tiff_stack(folder / f"{split}-volume.tif")
    labels_path = folder / f"{split}-labels.tif"
    if not labels_path.exists():
        return images, None
    labels = _read_tiff_stack(labels_path)
    if labels.shape != images.shape:
        raise ValueError(
            f"{labels_path} holds {labels.shape[0]} label page(s) of {labels.shape[1:]} but the volume "
            f"holds {images.shape[0]} page(s) of {images.shape[1:]}; the two files do not belong together"
        )
    return images, labels


def _read_tiff_stack(path: Path) -> np.ndarray:
    """Every page of a multi-page 8-bit TIFF as one uint8 array (N, H, W)."""
    try:
        with Image.open(path) as tiff:
            pages = [np.array(page) for page in ImageSequence.Iterator(tiff)]
    except (OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"cannot read {path} as a multi-page TIFF ({error}); replace or regenerate it") from error
    shapes = {page.shape for page in pages}
    if len(shapes) != 1 or pages[0].ndim != 2 or pages[0].dtype != np.uint8:
        raise ValueError(
            f"{path} must hold 8-bit grayscale pages of one size, got shapes {sorted(shapes)} "
            f"and dtype {pages[0].dtype}"
        )
    return np.stack(pages)


# --------------------------------------------------------------------------- panoptic scenes
class PanopticScenes(torch.utils.data.Dataset):
    """Stuff-and-things scenes in a COCO-panoptic-style folder (lecture 002: stuff vs things, UPSNet).

    ``root`` is the folder holding ``panoptic.json`` or its parent (``root/panoptic_scenes``);
    ``split`` is ``"train"``, ``"val"`` or any other list the JSON holds. Item ``i`` is a dict:

    * ``image``: uint8 (H, W, 3);
    * ``segments``: int32 (H, W) segment ids, 0 = void;
    * ``semantic``: uint8 (H, W) category id per pixel, 255 = void (ids start at 1, as in COCO);
    * ``instances``: int32 (H, W), 1..K for the thing segments in ``segments_info`` order,
      0 for stuff and void;
    * ``segments_info``: the annotation's list of ``{id, category_id, area, bbox, iscrowd}``;
    * ``image_id``.

    ``categories`` is the JSON's list of ``{id, name, isthing, color}``; ``num_classes`` is the
    largest category id + 1 (the channels a semantic model needs). Items hold arrays and lists
    of different lengths: batch them with ``DataLoader(..., collate_fn=list)``, and use
    ``maskrcnn_target`` for detection targets.
    """

    def __init__(self, root, split: str = "train"):
        self.root = _find_folder(
            root, PANOPTIC_FOLDER, "panoptic.json",
            how_to_make="seglib.data.make_panoptic_scenes(root, n_images) writes a synthetic set there",
        )
        meta = _read_json(self.root / "panoptic.json")
        lists = {key: ids for key, ids in meta.items() if key not in ("info", "categories", "images", "annotations")}
        if split not in lists:
            raise ValueError(
                f"split must be one of {sorted(lists)} (the lists in {self.root / 'panoptic.json'}), got {split!r}"
            )
        self.split = split
        self.categories: list[dict] = meta["categories"]
        self.num_classes = 1 + max(category["id"] for category in self.categories)
        self._is_thing = {category["id"]: bool(category["isthing"]) for category in self.categories}
        images = {image["id"]: image for image in meta["images"]}
        annotations = {annotation["image_id"]: annotation for annotation in meta["annotations"]}
        self._records = [(images[image_id], annotations[image_id]) for image_id in lists[split]]

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: int) -> dict:
        image_info, annotation = self._records[index]
        image = _read_rgb(self.root / "images" / image_info["file_name"])
        segments = rgb_to_id(_read_rgb(self.root / "panoptic" / annotation["file_name"]))
        semantic = np.full(segments.shape, IGNORE_INDEX, np.uint8)
        instances = np.zeros(segments.shape, np.int32)
        n_things = 0
        for segment in annotation["segments_info"]:
            mask = segments == segment["id"]
            semantic[mask] = segment["category_id"]
            if self._is_thing[segment["category_id"]]:
                n_things += 1
                instances[mask] = n_things
        return {
            "image_id": image_info["id"], "image": image, "segments": segments, "semantic": semantic,
            "instances": instances, "segments_info": annotation["segments_info"],
        }


def maskrcnn_target(item: dict) -> dict[str, torch.Tensor]:
    """The targets torchvision's Mask R-CNN trains on, for one ``PanopticScenes`` item (lecture 002).

    ``boxes`` float32 (K, 4) as (x0, y0, x1, y1) with x1, y1 one past the last pixel (COCO's
    ``x + w``), ``labels`` int64 (K,) category ids (torchvision keeps 0 for background), and
    ``masks`` uint8 (K, H, W), one per thing instance in ``instances`` order.
    """
    instances = torch.as_tensor(item["instances"])
    semantic = torch.as_tensor(item["semantic"])
    n = int(instances.max())
    masks = instances[None] == torch.arange(1, n + 1)[:, None, None]
    boxes = torch.zeros((n, 4), dtype=torch.float32)
    labels = torch.zeros(n, dtype=torch.int64)
    for k, mask in enumerate(masks):
        rows, cols = torch.nonzero(mask, as_tuple=True)
        boxes[k] = torch.stack([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]).float()
        labels[k] = semantic[rows[0], cols[0]]
    return {"boxes": boxes, "labels": labels, "masks": masks.to(torch.uint8)}


def rgb_to_id(rgb) -> np.ndarray:
    """COCO panoptic PNG colours (..., 3) uint8 → segment ids (...) int32: R + 256 G + 256² B."""
    rgb = np.asarray(rgb)
    if rgb.ndim < 1 or rgb.shape[-1] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected uint8 colours (..., 3), got shape {rgb.shape} and dtype {rgb.dtype}")
    rgb = rgb.astype(np.int32)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


def id_to_rgb(ids) -> np.ndarray:
    """Segment ids (...) → COCO panoptic PNG colours (..., 3) uint8; the inverse of ``rgb_to_id``."""
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"segment ids must be integers, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= 256**3):
        raise ValueError(
            f"segment ids must lie in 0..{256**3 - 1} to fit in an RGB PNG, got {ids.min()}..{ids.max()}"
        )
    ids = ids.astype(np.int64)
    return np.stack([ids % 256, ids // 256 % 256, ids // (256 * 256)], axis=-1).astype(np.uint8)


# --------------------------------------------------------------------------- shared file helpers
def _find_folder(root, name: str, required: str, how_to_make: str) -> Path:
    """``root`` or ``root/name``, whichever holds ``required``; else an error saying how to get it."""
    root = Path(root).expanduser()
    for folder in (root, root / name):
        if (folder / required).is_file():
            return folder
    raise FileNotFoundError(f"found no {required} in {root} or {root / name}; {how_to_make}")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read {path} as JSON ({error}); replace or regenerate the file") from error


def _read_rgb(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.array(image.convert("RGB"))
    except (OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"cannot read the image {path} ({error}); replace or regenerate the file") from error
