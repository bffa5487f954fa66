"""Instances without proposals, and conversions between the formats instances travel in.

Lecture 002 (instance segmentation, FCN-based methods): "a semantic map ... we already know how
to obtain this"; instances then come from grouping its pixels. Two groupings:

* ``connected_instances``: every connected component of a thing class is one instance
  (``scipy.ndimage.label``). Exact for things that stand apart; touching things merge.
* ``watershed_instances``: Beucher and Meyer's watershed (Vincent and Soille, 1991) on the
  distance transform of each component, one basin per distance peak, which splits blobs with
  a "waist" such as two touching balls (``skimage.segmentation.watershed``).

Formats (``seglib.metrics.panoptic_quality`` reads the third; the functions below convert between
them, e.g. ``to_panoptic`` from the second to the third):

1. a list of binary masks (K, H, W) with one category per mask (what Mask R-CNN outputs);
2. a semantic map (H, W) plus an instance-id map (H, W), 0 for stuff (``PanopticScenes``);
3. a panoptic map ``category * label_divisor + instance`` (stuff: instance 0; void: -1);
4. COCO panoptic: a segment-id map (PNG colours via ``seglib.data.id_to_rgb``) plus
   ``segments_info`` [{id, category_id, area, bbox, iscrowd}].
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from scipy import ndimage

from .data.labels import segment_box_and_area
from .metrics import _as_panoptic, _check_divisor

__all__ = [
    "coco_to_panoptic",
    "connected_instances",
    "grouping_errors",
    "instances_to_masks",
    "masks_to_instances",
    "masks_to_panoptic",
    "panoptic_to_coco",
    "panoptic_to_instances",
    "to_panoptic",
    "watershed_instances",
]


def _as_map(array, name: str) -> np.ndarray:
    array = array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
    if array.ndim != 2 or not (np.issubdtype(array.dtype, np.integer) or array.dtype == bool):
        raise ValueError(f"{name} must be an integer map (H, W), got shape {array.shape} and dtype {array.dtype}")
    return array


# --------------------------------------------------------------------------- proposal-free instances
def connected_instances(semantic, thing_ids: Iterable[int], *, connectivity: int = 1) -> np.ndarray:
    """Instance map (H, W) int32: one instance per connected component of each thing class.

    ``semantic`` (H, W) holds category ids; pixels of other categories (stuff, void) get 0.
    ``connectivity`` 1 joins 4-neighbours, 2 also diagonal ones (``scipy.ndimage.label``).
    Instances are numbered 1..K, class by class in ``thing_ids`` order.
    """
    semantic = _as_map(semantic, "semantic")
    if connectivity not in (1, 2):
        raise ValueError(f"connectivity must be 1 (4-neighbours) or 2 (8-neighbours), got {connectivity}")
    structure = ndimage.generate_binary_structure(2, connectivity)
    instances = np.zeros(semantic.shape, np.int32)
    for category in thing_ids:
        labelled, _ = ndimage.label(semantic == category, structure=structure)
        instances[labelled > 0] = labelled[labelled > 0] + instances.max()
    return instances


def watershed_instances(
    semantic, thing_ids: Iterable[int], *, min_distance: int = 5, smooth: float = 1.0
) -> np.ndarray:
    """Instance map (H, W) int32 from a watershed on the distance transform of each thing class.

    For each thing class, the Euclidean distance to the nearest other pixel is computed
    (``scipy.ndimage.distance_transform_edt``) and, after a Gaussian blur of ``smooth`` px,
    its local maxima at least ``min_distance`` px apart (``skimage.feature.peak_local_max``,
    one or more per connected component) seed ``skimage.segmentation.watershed`` on the
    negated distance. Two touching discs meet at a narrow waist, where the distance dips, so
    they get two basins. A component without a peak keeps one instance.
    """
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    semantic = _as_map(semantic, "semantic")
    if min_distance < 1:
        raise ValueError(f"min_distance must be at least 1 pixel, got {min_distance}")
    instances = np.zeros(semantic.shape, np.int32)
    for category in thing_ids:
        mask = semantic == category
        if not mask.any():
            continue
        components, count = ndimage.label(mask)
        distance = ndimage.distance_transform_edt(mask)
        if smooth > 0:
            distance = ndimage.gaussian_filter(distance, smooth) * mask
        peaks = peak_local_max(distance, min_distance=min_distance, labels=components, exclude_border=False)
        markers = np.zeros(semantic.shape, np.int32)
        markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
        # A component whose peaks were all suppressed still becomes one instance.
        missing = np.setdiff1d(np.arange(1, count + 1), components[tuple(peaks.T)])
        for k, component in enumerate(missing, start=len(peaks) + 1):
            markers[components == component] = k
        labelled = watershed(-distance, markers, mask=mask)
        instances[mask] = labelled[mask] + instances.max()
    return _renumber(instances)


def grouping_errors(pred, truth) -> dict:
    """How a grouping's instance map ``pred`` (H, W) gets the true instances ``truth`` (H, W)
    wrong (0 = no instance in both). Each predicted segment belongs to the true instance holding
    most of its pixels; a true instance is **split** when two or more segments belong to it. A
    predicted segment **merges** when it holds most of the pixels of two or more true instances.
    Equal counts of segments and instances can hide both errors (lecture 002: watershed).
    Returns ``{"true", "pred", "split", "merged"}`` (counts of instances and of segments)."""
    pred, truth = _as_map(pred, "pred"), _as_map(truth, "truth")
    if pred.shape != truth.shape:
        raise ValueError(f"pred and truth must have the same shape, got {pred.shape} and {truth.shape}")
    if min(pred.min(initial=0), truth.min(initial=0)) < 0:
        raise ValueError("instance ids must be >= 0 (0 = no instance); got negative values")
    true_ids, pred_ids = np.unique(truth[truth > 0]), np.unique(pred[pred > 0])
    overlap = np.zeros((int(truth.max(initial=0)) + 1, int(pred.max(initial=0)) + 1), np.int64)
    np.add.at(overlap, (truth.ravel(), pred.ravel()), 1)
    homes = overlap[:, pred_ids].argmax(0)  # the true instance (or 0) holding most of each segment
    split = sum(int((homes == t).sum() >= 2) for t in true_ids)
    majority = overlap[true_ids][:, pred_ids] * 2 > overlap[true_ids].sum(1, keepdims=True)  # (true, pred)
    merged = int((majority.sum(0) >= 2).sum())
    return {"true": len(true_ids), "pred": len(pred_ids), "split": split, "merged": merged}


def _renumber(instances: np.ndarray) -> np.ndarray:
    """Instance ids 1..K in order of first appearance, 0 kept."""
    ids = np.unique(instances[instances > 0])
    lookup = np.zeros(int(instances.max(initial=0)) + 1, np.int32)
    lookup[ids] = np.arange(1, len(ids) + 1)
    return lookup[instances]


# --------------------------------------------------------------------------- format conversions
def masks_to_instances(masks, threshold: float = 0.5) -> np.ndarray:
    """Binary masks (K, H, W) → instance map (H, W) int32 with ids 1..K (0 = no mask).

    Bool or 0/1 integer masks are used as they are; probability masks (float, in [0, 1], as
    Mask R-CNN pastes them) are foreground where they exceed ``threshold``. Where masks overlap,
    the earlier mask wins: sort them by score first, as a detector's output already is.
    """
    masks = masks.detach().cpu().numpy() if isinstance(masks, torch.Tensor) else np.asarray(masks)
    if masks.ndim != 3:
        raise ValueError(f"masks must be (K, H, W), got shape {masks.shape}; add a first axis for one mask")
    if np.issubdtype(masks.dtype, np.floating):
        if not 0 <= threshold < 1:
            raise ValueError(f"threshold must lie in [0, 1), got {threshold!r}")
        if masks.size and not (np.isfinite(masks).all() and masks.min() >= 0 and masks.max() <= 1):
            low, high = (np.nan, np.nan) if np.isnan(masks).all() else (np.nanmin(masks), np.nanmax(masks))
            raise ValueError(
                "float masks are read as probabilities in [0, 1] (foreground above threshold), got values "
                f"{low:.3g}..{high:.3g}"
                f"{' and NaN' if np.isnan(masks).any() else ''}; apply a sigmoid to logits first, or pass bool masks"
            )
        masks = masks > threshold
    elif masks.dtype != bool:
        if not np.issubdtype(masks.dtype, np.integer):
            raise ValueError(f"masks must be bool, 0/1 integers or probabilities, got dtype {masks.dtype}")
        if masks.size and not np.isin(masks, (0, 1)).all():
            raise ValueError(
                f"integer masks must hold only 0 and 1, got values {np.unique(masks)[:5].tolist()}; for 0/255 "
                "masks pass masks > 0, for probabilities pass floats in [0, 1]"
            )
    masks = masks.astype(bool)
    instances = np.zeros(masks.shape[1:], np.int32)
    for k in range(len(masks) - 1, -1, -1):  # paint the last first, so earlier masks end on top
        instances[masks[k]] = k + 1
    return instances


def instances_to_masks(instances) -> tuple[np.ndarray, np.ndarray]:
    """Instance map (H, W) → (bool masks (K, H, W), their ids (K,)) for the ids > 0, ascending."""
    instances = _as_map(instances, "instances")
    ids = np.unique(instances[instances > 0])
    return instances[None] == ids[:, None, None], ids


def to_panoptic(
    semantic, instances, *, ignore_index: int = 255, label_divisor: int = 1000, void_label: int = -1
) -> np.ndarray:
    """Format 2 → format 3: a panoptic map for ``seglib.metrics.panoptic_quality`` (Kirillov et
    al., 2019) from a semantic map (H, W) and an instance map (H, W) (0 for stuff, 1..K for
    things): ``category * label_divisor + instance``, with ``void_label`` where the semantic map
    holds ``ignore_index``."""
    _check_divisor(label_divisor, void_label)
    semantic = _as_panoptic(semantic, "semantic map")
    instances = _as_panoptic(instances, "instance map")
    if semantic.shape != instances.shape:
        raise ValueError(
            f"semantic and instance maps must be (H, W) of equal shape, got {semantic.shape} and {instances.shape}"
        )
    if semantic.size and ((semantic < 0).any() or (instances < 0).any()):
        raise ValueError("semantic categories and instance ids must be non-negative (void: ignore_index)")
    if instances.max(initial=0) >= label_divisor:
        raise ValueError(
            f"an instance id ({instances.max()}) reaches label_divisor={label_divisor}; raise label_divisor"
        )
    return np.where(semantic == ignore_index, void_label, semantic * label_divisor + instances)


def masks_to_panoptic(
    masks,
    categories,
    semantic=None,
    *,
    stuff_ids: Iterable[int] = (),
    label_divisor: int = 1000,
    void_label: int = -1,
    ignore_index: int = 255,
    threshold: float = 0.5,
) -> np.ndarray:
    """Binary masks (K, H, W) with categories (K,) → panoptic map (H, W) int64.

    Mask k becomes segment ``categories[k] * label_divisor + k + 1`` (earlier masks win
    overlaps). Pixels no mask covers take the stuff category of ``semantic`` (H, W) where it
    holds one of ``stuff_ids``, and ``void_label`` otherwise (or everywhere, without
    ``semantic``). Probability masks are foreground above ``threshold`` (``masks_to_instances``).
    """
    instances = masks_to_instances(masks, threshold)
    categories = np.asarray(categories, np.int64).reshape(-1)
    if len(categories) != int(np.asarray(masks).shape[0]):
        raise ValueError(f"{np.asarray(masks).shape[0]} masks but {len(categories)} categories")
    if len(categories) >= label_divisor:
        raise ValueError(f"{len(categories)} masks reach label_divisor={label_divisor}; raise label_divisor")
    per_pixel = np.concatenate([[0], categories])[instances]
    if semantic is None:
        stuff = np.full(instances.shape, ignore_index, np.int64)
    else:
        semantic = _as_map(semantic, "semantic").astype(np.int64)
        stuff = np.where(np.isin(semantic, list(stuff_ids)), semantic, ignore_index)
    merged = np.where(instances > 0, per_pixel, stuff)
    return to_panoptic(merged, instances, ignore_index=ignore_index, label_divisor=label_divisor, void_label=void_label)


def panoptic_to_instances(
    panoptic, thing_ids: Iterable[int], *, label_divisor: int = 1000, void_label: int = -1, ignore_index: int = 255
) -> tuple[np.ndarray, np.ndarray]:
    """Panoptic map → (semantic map (H, W) int64 with ``ignore_index`` for void, instance map
    (H, W) int32 with the thing segments renumbered 1..K in order of panoptic id)."""
    panoptic = _as_map(panoptic, "panoptic").astype(np.int64)
    void = panoptic == void_label
    semantic = np.where(void, ignore_index, panoptic // label_divisor)
    is_thing = np.isin(semantic, list(thing_ids)) & ~void
    ids = np.unique(panoptic[is_thing])
    instances = np.zeros(panoptic.shape, np.int32)
    instances[is_thing] = np.searchsorted(ids, panoptic[is_thing]) + 1
    return semantic, instances


def panoptic_to_coco(panoptic, *, label_divisor: int = 1000, void_label: int = -1) -> tuple[np.ndarray, list[dict]]:
    """Panoptic map → COCO panoptic (segment-id map (H, W) int32 with 0 = void, ``segments_info``).

    Segment ids are numbered 1..S in order of panoptic id (COCO's ids are arbitrary; readers
    must use ``segments_info``). Write the PNG with ``seglib.data.id_to_rgb``.
    """
    panoptic = _as_map(panoptic, "panoptic").astype(np.int64)
    ids = np.unique(panoptic[panoptic != void_label])
    segments = np.zeros(panoptic.shape, np.int32)
    info = []
    for number, pan_id in enumerate(ids.tolist(), start=1):
        mask = panoptic == pan_id
        segments[mask] = number
        box, area = segment_box_and_area(mask)
        info.append({"id": number, "category_id": pan_id // label_divisor, "area": area, "bbox": box, "iscrowd": 0})
    return segments, info


def coco_to_panoptic(
    segments, segments_info: list[dict], thing_ids: Iterable[int], *, label_divisor: int = 1000, void_label: int = -1
) -> np.ndarray:
    """COCO panoptic (segment-id map (H, W), ``segments_info``) → panoptic map (H, W) int64.

    Stuff segments get instance 0, thing segments 1..K in ``segments_info`` order (the
    numbering of ``PanopticScenes``' ``instances``); id 0 and ids missing from
    ``segments_info`` are void. Read the PNG with
    ``seglib.data.rgb_to_id``.
    """
    segments = _as_map(segments, "segments")
    thing_ids = set(thing_ids)
    panoptic = np.full(segments.shape, void_label, np.int64)
    things = 0
    for segment in segments_info:
        category = int(segment["category_id"])
        instance = 0
        if category in thing_ids:
            things = instance = things + 1
            if instance >= label_divisor:
                raise ValueError(f"{instance} thing segments reach label_divisor={label_divisor}; raise label_divisor")
        panoptic[segments == segment["id"]] = category * label_divisor + instance
    return panoptic
