"""Stuff-and-things scenes in a COCO-panoptic-style folder (lecture 002: stuff vs things, UPSNet).

``panoptic.json``, ``images/`` and ``panoptic/`` PNGs whose colours encode segment ids as
``id = R + 256 G + 256² B`` (``labels.rgb_to_id``). The synthetic stand-in
(``seglib.data.synthetic.make_panoptic_scenes``) and real COCO-panoptic-style folders go through
the same reader. ``maskrcnn_target`` turns one item into the targets that torchvision's Mask
R-CNN trains on; ``scene_tensors`` turns items into the float images and semantic labels a
semantic network trains on.

Floor 2 of ``seglib.data``: it imports ``labels`` and ``paths`` only.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .labels import IGNORE_INDEX, rgb_to_id, segment_box_and_area
from .paths import PANOPTIC_FOLDER

__all__ = ["PanopticScenes", "maskrcnn_target", "scene_tensors"]


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
    ``scene_tensors`` for semantic training and ``maskrcnn_target`` for detection targets.
    """

    def __init__(self, root, split: str = "train"):
        self.root = _find_folder(
            root, PANOPTIC_FOLDER, "panoptic.json",
            how_to_make="seglib.data.make_panoptic_scenes(root, n_images) writes a synthetic set there",
        )
        meta = _read_json(self.root / "panoptic.json")
        _check_meta(meta, self.root / "panoptic.json")
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
        missing = [image_id for image_id in lists[split] if image_id not in images or image_id not in annotations]
        if missing:
            raise ValueError(f"the {split!r} list of {self.root / 'panoptic.json'} names image ids {missing[:5]} that "
                             f"have no entry in 'images' or 'annotations'; regenerate or repair the file")
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
            if segment["category_id"] not in self._is_thing:
                raise ValueError(f"segment {segment['id']} of {annotation['file_name']} has category_id "
                                 f"{segment['category_id']}, which the categories of panoptic.json lack")
            mask = segments == segment["id"]
            semantic[mask] = segment["category_id"]
            if self._is_thing[segment["category_id"]]:
                n_things += 1
                instances[mask] = n_things
        return {
            "image_id": image_info["id"], "image": image, "segments": segments, "semantic": semantic,
            "instances": instances, "segments_info": annotation["segments_info"],
        }


def scene_tensors(items) -> tuple[torch.Tensor, torch.Tensor]:
    """``PanopticScenes`` items → (float images (N, 3, H, W) in [0, 1], semantic labels (N, H, W)
    int64 with 255 void): what a semantic head trains on and what Mask R-CNN takes as input
    (lecture 002; notebook 07, its course checkpoints and ``seglib.models.maskrcnn``)."""
    items = list(items)
    if not items:
        raise ValueError("scene_tensors needs at least one PanopticScenes item, got none")
    for item in items:
        shape, dtype = np.shape(item["image"]), getattr(item["image"], "dtype", None)
        if len(shape) != 3 or shape[2] != 3 or dtype != np.uint8:
            raise ValueError(f"item['image'] must be an RGB uint8 array (H, W, 3), as PanopticScenes gives, got "
                             f"shape {shape} and dtype {dtype}")
    images = torch.as_tensor(np.stack([item["image"] for item in items])).permute(0, 3, 1, 2).float() / 255
    return images, torch.as_tensor(np.stack([item["semantic"] for item in items])).long()


def maskrcnn_target(item: dict) -> dict[str, torch.Tensor]:
    """The targets torchvision's Mask R-CNN trains on, for one ``PanopticScenes`` item (lecture 002).

    ``boxes`` float32 (K, 4) as (x0, y0, x1, y1) with x1, y1 one past the last pixel (COCO's
    ``x + w``), ``labels`` int64 (K,) category ids (torchvision keeps 0 for background), and
    ``masks`` uint8 (K, H, W), one per thing instance in ``instances`` order.
    """
    instances = torch.as_tensor(item["instances"])
    semantic = torch.as_tensor(item["semantic"])
    n = _count_instances(instances)
    masks = instances[None] == torch.arange(1, n + 1)[:, None, None]
    boxes = torch.zeros((n, 4), dtype=torch.float32)
    labels = torch.zeros(n, dtype=torch.int64)
    for k, mask in enumerate(masks):
        (x, y, w, h), _ = segment_box_and_area(mask)
        boxes[k] = torch.tensor([x, y, x + w, y + h], dtype=torch.float32)
        labels[k] = semantic[mask][0]
    if bool((labels == IGNORE_INDEX).any()):
        raise ValueError(f"instance {int((labels == IGNORE_INDEX).nonzero()[0]) + 1} lies on void ({IGNORE_INDEX}) in "
                         f"item['semantic']; a thing's pixels must carry its category")
    return {"boxes": boxes, "labels": labels, "masks": masks.to(torch.uint8)}


def _count_instances(instances: torch.Tensor) -> int:
    """K for an instance map numbering its things 1..K (0 elsewhere); refuse other numberings
    before one mask per id is allocated (an id of 2**40 would ask for terabytes)."""
    if instances.is_floating_point() or instances.dtype == torch.bool or instances.ndim != 2:
        raise ValueError(f"item['instances'] must be an integer map (H, W), got {instances.dtype} "
                         f"{tuple(instances.shape)}")
    if instances.numel() == 0:
        return 0
    ids = torch.unique(instances)
    ids = ids[ids != 0]
    if len(ids) and (int(ids[0]) < 1 or int(ids[-1]) != len(ids)):
        raise ValueError(f"item['instances'] must number its things 1..K without gaps (0 elsewhere), got ids "
                         f"{ids[:6].tolist()}{'...' if len(ids) > 6 else ''}; renumber them 1..K")
    return len(ids)


def _check_meta(meta, path: Path) -> None:
    """Categories the reader can use: a semantic map is uint8 with 255 void, so ids lie in 0..254."""
    if not isinstance(meta, dict) or not all(key in meta for key in ("categories", "images", "annotations")):
        raise ValueError(f"{path} must hold a JSON object with 'categories', 'images' and 'annotations' (COCO "
                         f"panoptic), plus one list of image ids per split; replace or regenerate it")
    ids = [category.get("id") for category in meta["categories"]]
    if not ids:
        raise ValueError(f"{path} lists no categories; a panoptic dataset needs at least one")
    bad = [i for i in ids if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < IGNORE_INDEX]
    if bad:
        raise ValueError(f"{path} has category ids {bad[:5]} outside 0..{IGNORE_INDEX - 1}: semantic maps are uint8 "
                         f"with {IGNORE_INDEX} as void; renumber the categories")


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
