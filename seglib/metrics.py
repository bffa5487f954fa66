"""Segmentation metrics: the confusion matrix and everything read off it, plus panoptic quality.

Lectures 000, 001 and 004 define pixel accuracy, mean class accuracy, IoU and mIoU; FCN
(Long et al., 2015) adds frequency-weighted IoU; Dice is the F1 score of a mask; panoptic
quality comes from Kirillov et al. (2019); the boundary band ("trimap") accuracy from Kohli et
al. (2009), as DeepLab reports it. Conventions used throughout:

- the confusion matrix ``M[t, p]`` counts pixels of true class ``t`` predicted as ``p``;
- pixels whose target is ``ignore_index`` (VOC's 255 "void") are left out of every count;
- a class absent from both prediction and target has NaN IoU/Dice/accuracy and is left out of
  the means (it was neither right nor wrong).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F

from ._guards import check_allocation

__all__ = [
    "ConfusionMatrix",
    "confusion_matrix",
    "metrics_from_confusion",
    "per_image_iou",
    "background_miou",
    "background_scores",
    "stride_ceiling",
    "binary_metrics",
    "boundary_band",
    "boundary_accuracy",
    "panoptic_quality",
]


# --------------------------------------------------------------------------- input checks
def _labels_from(pred: torch.Tensor, num_classes: int, target_dim: int | None = None) -> torch.Tensor:
    """Class labels from labels (N, H, W) or from logits/probabilities (N, C, H, W); with
    ``target_dim`` = 2, also from the logits (C, H, W) of one image (classes on axis 0)."""
    if pred.is_floating_point():
        axis = 0 if target_dim == 2 and pred.dim() == 3 else 1
        if (
            pred.dim() < 3
            or pred.shape[axis] != num_classes
            or (target_dim is not None and pred.dim() != target_dim + 1)
        ):
            raise ValueError(
                f"a floating-point prediction is read as logits (N, C, H, W) (or (C, H, W) for one (H, W) target) "
                f"with C = num_classes = {num_classes}, got shape {tuple(pred.shape)}; pass integer labels "
                f"(N, H, W) instead, or pred.argmax(1)"
            )
        finite = torch.isfinite(pred)
        if not bool(finite.all()):
            bad = pred.numel() - int(finite.sum())
            raise ValueError(
                f"the logits hold {bad} NaN or infinite value(s) of {pred.numel()}: the model has diverged or its "
                f"input holds NaN, and an argmax of them would score a meaningless prediction; retrain with a lower "
                f"learning rate, or check the images"
            )
        return pred.argmax(axis)
    return pred


def _check_pair(pred, target, num_classes: int, ignore_index: int | None):
    """Labels and targets of equal shape on one device, plus the mask of pixels that count."""
    pred = torch.as_tensor(pred)
    target = torch.as_tensor(target)
    if target.is_floating_point() or target.dtype == torch.bool:
        raise TypeError(
            f"target must hold integer class indices, got dtype {target.dtype}; convert a mask with "
            f"mask.long() (and check it was resized with nearest, not bilinear, interpolation)"
        )
    if pred.dtype == torch.bool:
        raise TypeError("pred must hold integer labels or float logits, got bool; use pred.long()")
    pred = _labels_from(pred, num_classes, target.dim())
    if pred.shape != target.shape:
        raise ValueError(
            f"prediction and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}; "
            f"upsample the logits to the mask size (F.interpolate) before measuring"
        )
    pred = pred.to(target.device)
    valid = target != ignore_index if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
    for name, labels in (("target", target), ("prediction", pred)):
        out_of_range = valid & ((labels < 0) | (labels >= num_classes))
        if bool(out_of_range.any()):
            bad = labels[out_of_range][0].item()
            hint = f" other than ignore_index={ignore_index}" if ignore_index is not None else ""
            raise ValueError(
                f"{name} holds label {bad}, outside 0..{num_classes - 1}{hint}; check num_classes "
                f"and that void pixels carry ignore_index"
            )
    return pred, target, valid


def _check_num_classes(num_classes) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    check_allocation(
        8.0 * num_classes * num_classes, f"a confusion matrix of {num_classes} classes", "check num_classes"
    )


# --------------------------------------------------------------------------- confusion matrix
def confusion_matrix(pred, target, num_classes: int, ignore_index: int | None = 255) -> torch.Tensor:
    """The (num_classes, num_classes) int64 confusion matrix M[true, predicted] of one batch.

    One ``bincount`` over ``true * C + predicted`` instead of a loop over classes.
    """
    _check_num_classes(num_classes)
    pred, target, valid = _check_pair(pred, target, num_classes, ignore_index)
    size = num_classes * num_classes
    # Ignored pixels go to one extra bin, dropped afterwards (cheaper than boolean indexing).
    index = torch.where(valid, target.long() * num_classes + pred.long(), size)
    return torch.bincount(index.reshape(-1), minlength=size + 1)[:size].reshape(num_classes, num_classes)


def _nan_mean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else math.nan


def metrics_from_confusion(matrix) -> dict:
    """Every metric of the lectures from a confusion matrix M[true, predicted].

    Per class (NumPy arrays, NaN where undefined): ``iou`` = TP / (TP + FP + FN),
    ``dice`` = 2TP / (2TP + FP + FN), ``accuracy`` (recall) = TP / (TP + FN),
    ``precision`` = TP / (TP + FP). Scalars: ``pixel_accuracy``, ``mean_accuracy``, ``miou``,
    ``fwiou`` (IoU weighted by each class's share of target pixels), ``mdice``.
    """
    m = torch.as_tensor(np.asarray(matrix) if not isinstance(matrix, torch.Tensor) else matrix)
    m = m.detach().cpu().double().numpy()
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 1:
        raise ValueError(f"a confusion matrix is square (C, C), got shape {m.shape}")
    if not np.isfinite(m).all() or (m < 0).any():
        raise ValueError(
            "a confusion matrix holds pixel counts: non-negative and finite; got "
            f"{'negative' if (m[np.isfinite(m)] < 0).any() else 'NaN or infinite'} entries. Build it with "
            "confusion_matrix or ConfusionMatrix.update"
        )
    tp = np.diag(m)
    true_count = m.sum(1)  # TP + FN
    pred_count = m.sum(0)  # TP + FP
    union = true_count + pred_count - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
        dice = np.where(union > 0, 2 * tp / (true_count + pred_count), np.nan)
        accuracy = np.where(true_count > 0, tp / true_count, np.nan)
        precision = np.where(pred_count > 0, tp / pred_count, np.nan)
    total = m.sum()
    frequency = true_count / total if total > 0 else np.zeros_like(true_count)
    return {
        "pixel_accuracy": float(tp.sum() / total) if total > 0 else math.nan,
        "mean_accuracy": _nan_mean(accuracy),
        "iou": iou,
        "miou": _nan_mean(iou),
        "fwiou": float(np.nansum(frequency * iou)) if total > 0 else math.nan,
        "dice": dice,
        "mdice": _nan_mean(dice),
        "accuracy": accuracy,
        "precision": precision,
        "confusion": m.astype(np.int64),
    }


class ConfusionMatrix:
    """Streaming confusion matrix: ``update`` per batch, ``compute`` once at the end.

    Counts accumulate on the device of the first target (bincount is cheap there too), so
    evaluating a GPU model never copies masks to the CPU. ``pred`` may be labels (N, H, W) or
    logits (N, C, H, W); pixels whose target is ``ignore_index`` are skipped.
    """

    def __init__(self, num_classes: int, ignore_index: int | None = 255):
        _check_num_classes(num_classes)
        if ignore_index is not None and 0 <= ignore_index < num_classes:
            raise ValueError(
                f"ignore_index={ignore_index} is a real class (0..{num_classes - 1}); use a value "
                f"outside that range (VOC uses 255) or None"
            )
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix: torch.Tensor | None = None

    def reset(self) -> None:
        self.matrix = None

    @torch.no_grad()
    def update(self, pred, target) -> None:
        batch = confusion_matrix(pred, target, self.num_classes, self.ignore_index)
        self.matrix = batch if self.matrix is None else self.matrix + batch.to(self.matrix.device)

    def compute(self) -> dict:
        """The metrics of everything seen so far (see ``metrics_from_confusion``)."""
        if self.matrix is None:
            raise RuntimeError("ConfusionMatrix.compute() before any update(); nothing has been measured")
        return metrics_from_confusion(self.matrix)


def background_miou(target, num_classes: int, ignore_index: int | None = 255) -> float:
    """The mIoU of predicting background (class 0) everywhere on the label maps ``target``: the
    score a model must beat to have learned anything (lecture 001's pitfall of imbalanced
    classes, notebook 08)."""
    return background_scores(target, num_classes, ignore_index)[0]


def background_scores(target, num_classes: int, ignore_index: int | None = 255) -> tuple[float, float]:
    """(mIoU, pixel accuracy) of predicting background everywhere on ``target``: the trivial
    answer printed beside every trained comparison (high pixel accuracy, low mIoU)."""
    target = torch.as_tensor(target)
    matrix = ConfusionMatrix(num_classes, ignore_index)
    matrix.update(torch.zeros_like(target), target)
    results = matrix.compute()
    return results["miou"], results["pixel_accuracy"]


def stride_ceiling(target, num_classes: int, stride: int, ignore_index: int = 255) -> dict:
    """The best a network can score when it predicts at 1/``stride`` resolution and upsamples
    bilinearly (FCN-32s/16s/8s, notebook 04): the true per-class masks are average-pooled by
    ``stride`` (perfect coarse scores), upsampled bilinearly to full size and argmaxed. Returns
    the ``ConfusionMatrix`` results of that prediction against ``target`` (N, H, W)."""
    target = torch.as_tensor(target).long()
    if target.dim() != 3:
        raise ValueError(f"target must be label maps (N, H, W), got shape {tuple(target.shape)}")
    if stride < 1 or target.shape[-1] % stride or target.shape[-2] % stride:
        raise ValueError(f"stride must be a positive divisor of the map size {tuple(target.shape[-2:])}, got {stride}")
    valid = target != ignore_index
    one_hot = torch.zeros(target.shape[0], num_classes, *target.shape[-2:])
    one_hot.scatter_(1, torch.where(valid, target, 0)[:, None], valid[:, None].float())
    coarse = torch.nn.functional.avg_pool2d(one_hot, stride)
    scores = torch.nn.functional.interpolate(coarse, size=target.shape[-2:], mode="bilinear", align_corners=False)
    matrix = ConfusionMatrix(num_classes, ignore_index)
    matrix.update(scores.argmax(1), target)
    return matrix.compute()


def per_image_iou(pred, target, num_classes: int, ignore_index: int | None = 255) -> np.ndarray:
    """IoU of every class in every image, (N, num_classes), NaN where a class is absent from both.

    Averaging these rows is "per-image" mIoU; it weights a small object in one image as much as
    the whole dataset's pixels of that class, so it differs from the dataset-level mIoU.
    """
    _check_num_classes(num_classes)
    target = torch.as_tensor(target)
    pred = _labels_from(torch.as_tensor(pred), num_classes, 3)
    if pred.dim() != 3 or pred.shape != target.shape:
        raise ValueError(
            f"per_image_iou wants a batch (N, H, W) of predictions and targets of equal shape, got "
            f"{tuple(pred.shape)} and {tuple(target.shape)}"
        )
    return np.stack(
        [
            metrics_from_confusion(confusion_matrix(p, t, num_classes, ignore_index))["iou"]
            for p, t in zip(pred, target, strict=True)
        ]
    )


def binary_metrics(pred, target) -> dict:
    """Precision, recall, F1 (= Dice), IoU and accuracy of a binary mask against a binary target.

    Lecture 004 uses these for binary maps (foreground vs background).
    """
    pred = torch.as_tensor(pred)
    target = torch.as_tensor(target)
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    for name, mask in (("pred", pred), ("target", target)):
        if mask.is_floating_point():
            raise TypeError(
                f"{name} must be a binary mask (bool or 0/1 integers), got {mask.dtype}; threshold it first"
            )
        if mask.numel() and not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError(f"{name} must hold only 0 and 1, got values {torch.unique(mask)[:5].tolist()}...")
    p, t = pred.bool(), target.bool()
    tp = int((p & t).sum())
    fp = int((p & ~t).sum())
    fn = int((~p & t).sum())
    tn = int((~p & ~t).sum())

    def ratio(a: int, b: int) -> float:
        return a / b if b else math.nan

    return {
        "precision": ratio(tp, tp + fp),
        "recall": ratio(tp, tp + fn),
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "iou": ratio(tp, tp + fp + fn),
        "accuracy": ratio(tp + tn, tp + tn + fp + fn),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
    }


# --------------------------------------------------------------------------- boundary accuracy
def boundary_band(target: torch.Tensor, width: int, ignore_index: int = 255) -> torch.Tensor:
    """Boolean mask of the pixels within ``width`` px (chessboard distance) of a class boundary
    of ``target`` (H, W) or (N, H, W). Void pixels (``ignore_index``) count as boundary, since in
    VOC they *are* the border band; they are themselves excluded from scoring by the metrics."""
    t = torch.as_tensor(target)
    batch = t.reshape(-1, 1, *t.shape[-2:]).long()
    padded = F.pad(batch.float(), (1, 1, 1, 1), mode="replicate")
    centre = padded[..., 1:-1, 1:-1]
    edge = torch.zeros_like(centre, dtype=torch.bool)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        edge |= padded[..., dy : dy + centre.shape[-2], dx : dx + centre.shape[-1]] != centre
    edge |= batch == ignore_index
    band = F.max_pool2d(edge.float(), 2 * width + 1, stride=1, padding=width) > 0
    return band.reshape(t.shape)


def boundary_accuracy(pred, target, width: int = 3, num_classes: int = 21, ignore_index: int = 255) -> dict:
    """Scores restricted to the band of ``width`` px around the ground-truth boundaries (the
    "trimap" evaluation of Kohli et al. 2009 used by DeepLab): pixel accuracy and mIoU of the
    non-void pixels inside the band. ``pred`` and ``target`` are (N, H, W) or (H, W) labels."""
    pred, target = torch.as_tensor(pred), torch.as_tensor(target).long()
    band = boundary_band(target, width, ignore_index)
    banded = torch.where(band, target, torch.full_like(target, ignore_index))
    cm = ConfusionMatrix(num_classes, ignore_index=ignore_index)
    cm.update(pred.reshape(banded.shape).long(), banded)
    result = cm.compute()
    return {
        "pixel_accuracy": result["pixel_accuracy"],
        "miou": result["miou"],
        "pixels": int((banded != ignore_index).sum()),
    }


# --------------------------------------------------------------------------- panoptic quality
def _segments(panoptic: np.ndarray, label_divisor: int, void_label: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segment ids, their categories and areas in a panoptic map (id = category * divisor + instance)."""
    ids, areas = np.unique(panoptic, return_counts=True)
    keep = ids != void_label
    ids, areas = ids[keep], areas[keep]
    return ids, ids // label_divisor, areas


def panoptic_quality(
    preds,
    targets,
    *,
    label_divisor: int = 1000,
    void_label: int = -1,
    crowd_targets: Iterable[Iterable[int]] | None = None,
    num_categories: int | None = None,
) -> dict:
    """Panoptic quality PQ = SQ × RQ (Kirillov et al., 2019), accumulated over images.

    ``preds`` and ``targets`` are panoptic maps (H, W) (or lists of them), each pixel holding
    ``category * label_divisor + instance`` (stuff uses instance 0) or ``void_label``.

    - A predicted and a true segment of the same category match when IoU > 0.5; such matches are
      unique, so no assignment problem arises. Matches are TP, unmatched true segments FN,
      unmatched predicted segments FP.
    - **Void:** target pixels labelled ``void_label`` are left out of the IoU unions, and an
      unmatched prediction lying more than half on void is not counted as a FP.
    - **Crowd:** segment ids listed in ``crowd_targets`` (one iterable per image; COCO's
      ``iscrowd``) are never matched nor counted as FN; an unmatched prediction lying more than
      half on void plus a crowd region of its own category is not a FP.

    Returns ``pq``, ``sq``, ``rq`` (means over the categories that occur), and per-category
    arrays ``pq_per_class`` etc. plus ``tp``/``fp``/``fn`` counts, indexed by category id.
    """
    _check_divisor(label_divisor, void_label)
    if isinstance(preds, (np.ndarray, torch.Tensor)) and preds.ndim == 2:  # one image
        preds, targets = [preds], [targets]
        crowd_targets = None if crowd_targets is None else [crowd_targets]
    preds = [_as_panoptic(p, "prediction", label_divisor, void_label) for p in preds]
    targets = [_as_panoptic(t, "target", label_divisor, void_label) for t in targets]
    if len(preds) != len(targets):
        raise ValueError(f"{len(preds)} predictions but {len(targets)} targets")
    if not preds:
        raise ValueError("panoptic_quality needs at least one (prediction, target) pair, got empty lists")
    crowds = [{int(i) for i in c} for c in crowd_targets] if crowd_targets is not None else [set()] * len(preds)
    if len(crowds) != len(preds):
        raise ValueError(f"crowd_targets lists {len(crowds)} images for {len(preds)} images")

    largest_id = max(int(np.max(m, initial=0)) for m in preds + targets)
    largest = largest_id // label_divisor
    if num_categories is not None:
        if isinstance(num_categories, bool) or not isinstance(num_categories, int) or num_categories < 1:
            raise ValueError(f"num_categories must be a positive int, got {num_categories!r}")
    elif largest >= MAX_CATEGORIES:
        raise ValueError(
            f"a segment has category {largest} (id {largest_id} // label_divisor {label_divisor}); the per-category "
            f"results would hold {largest + 1} entries. Check label_divisor (ids are category * label_divisor + "
            f"instance), or pass num_categories if that many categories are meant"
        )
    categories = num_categories if num_categories is not None else largest + 1
    if largest >= categories:
        raise ValueError(f"a segment has category {largest} but num_categories={categories}")
    check_allocation(
        4 * 8.0 * categories,
        f"per-category results for {categories} categories",
        "check label_divisor and num_categories",
    )
    tp = np.zeros(categories, np.int64)
    fp = np.zeros(categories, np.int64)
    fn = np.zeros(categories, np.int64)
    iou_sum = np.zeros(categories)

    for pred, target, crowd in zip(preds, targets, crowds, strict=True):
        if pred.shape != target.shape:
            raise ValueError(f"prediction and target shapes differ: {pred.shape} vs {target.shape}")
        gt_ids, gt_cats, gt_areas = _segments(target, label_divisor, void_label)
        pr_ids, pr_cats, pr_areas = _segments(pred, label_divisor, void_label)
        # Overlap of every (true, predicted) pair, void target pixels included as their own "segment".
        # Each map's values are renumbered 0..n-1, so a (true, predicted) pair is one small int.
        g_values, g_index = np.unique(target.ravel(), return_inverse=True)
        p_values, p_index = np.unique(pred.ravel(), return_inverse=True)
        # np.unique, not bincount: memory grows with the pixels, not with (segments in target) x (in prediction).
        pairs, counts = np.unique(g_index.ravel() * len(p_values) + p_index.ravel(), return_counts=True)
        overlap = {
            (int(g_values[c // len(p_values)]), int(p_values[c % len(p_values)])): int(n)
            for c, n in zip(pairs.tolist(), counts.tolist(), strict=True)
        }
        gt_area = dict(zip(gt_ids.tolist(), gt_areas.tolist(), strict=True))
        pr_area = dict(zip(pr_ids.tolist(), pr_areas.tolist(), strict=True))
        matched_gt, matched_pr = set(), set()
        for (g, p), inter in overlap.items():
            if g == void_label or p == void_label or g in crowd or g // label_divisor != p // label_divisor:
                continue
            union = pr_area[p] - overlap.get((void_label, p), 0) + gt_area[g] - inter
            iou = inter / union
            if iou > 0.5:
                category = g // label_divisor
                tp[category] += 1
                iou_sum[category] += iou
                matched_gt.add(g)
                matched_pr.add(p)
        for g, category in zip(gt_ids.tolist(), gt_cats.tolist(), strict=True):
            if g not in matched_gt and g not in crowd:
                fn[category] += 1
        for p, category in zip(pr_ids.tolist(), pr_cats.tolist(), strict=True):
            if p in matched_pr:
                continue
            ignored = overlap.get((void_label, p), 0)
            ignored += sum(overlap.get((g, p), 0) for g in crowd if g // label_divisor == category)
            if ignored / pr_area[p] > 0.5:
                continue
            fp[category] += 1

    with np.errstate(invalid="ignore", divide="ignore"):
        denominator = tp + 0.5 * fp + 0.5 * fn
        present = denominator > 0
        sq = np.where(tp > 0, iou_sum / np.maximum(tp, 1), np.where(present, 0.0, np.nan))
        rq = np.where(present, tp / np.where(present, denominator, 1), np.nan)
        pq = sq * rq
    return {
        "pq": _nan_mean(pq),
        "sq": _nan_mean(sq),
        "rq": _nan_mean(rq),
        "pq_per_class": pq,
        "sq_per_class": sq,
        "rq_per_class": rq,
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


MAX_CATEGORIES = 1 << 16  # without num_categories: more than any dataset has (COCO 200, ADE20K 3688)


def _check_divisor(label_divisor, void_label) -> None:
    if isinstance(label_divisor, bool) or not isinstance(label_divisor, (int, np.integer)) or label_divisor < 1:
        raise ValueError(
            f"label_divisor must be a positive int (ids are category * label_divisor + instance), got {label_divisor!r}"
        )
    if isinstance(void_label, bool) or not isinstance(void_label, (int, np.integer)):
        raise ValueError(f"void_label must be an int (-1 by default), got {void_label!r}")


def _as_panoptic(panoptic, name: str, label_divisor: int | None = None, void_label: int | None = None) -> np.ndarray:
    array = panoptic.detach().cpu().numpy() if isinstance(panoptic, torch.Tensor) else np.asarray(panoptic)
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"a panoptic {name} must be an integer map (H, W) of category * label_divisor + instance, "
            f"got shape {array.shape} and dtype {array.dtype}"
        )
    if array.dtype == np.uint64 and array.size and int(array.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"a panoptic {name} holds id {int(array.max())}, too large for int64; check the map")
    array = array.astype(np.int64)
    if void_label is not None and array.size:
        negative = (array < 0) & (array != void_label)
        if negative.any():
            raise ValueError(
                f"a panoptic {name} holds the negative id {int(array[negative][0])}, which is not "
                f"void_label={void_label}; ids are category * label_divisor + instance >= 0 (void pixels: void_label)"
            )
    return array
