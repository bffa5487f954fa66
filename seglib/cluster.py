"""k-means from scratch and the image helpers of an unsupervised baseline (notebook 02).

Lecture 003 (K. N. Toosi) segments a photo by clustering pixel colours and EM neuronal
membranes with k = 2. :func:`kmeans` is Lloyd's algorithm (Lloyd 1982) in PyTorch with
k-means++ seeding (Arthur & Vassilvitskii 2007), the relocation of empty clusters and a
convergence tolerance, checked against scikit-learn's ``KMeans`` in ``tests/test_cluster.py``.

The image helpers turn an image into one feature row per pixel (colour, or colour plus
position), map cluster labels back to an image, and score clusters or over-segmentations
against a ground truth (which needs a cluster-to-class assignment; see :func:`majority_labels`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._guards import check_allocation, check_number

__all__ = [
    "kmeans",
    "inertia",
    "color_features",
    "color_xy_features",
    "labels_to_image",
    "quantize",
    "majority_labels",
    "dark_cluster",
]


# --------------------------------------------------------------------------- k-means
def _as_points(x) -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.dim() != 2:
        raise ValueError(
            f"kmeans wants points as a 2-D array (N, D), got shape {tuple(x.shape)}; for an image use "
            "seglib.cluster.color_features(image) or color_xy_features(image)"
        )
    if not x.is_floating_point():
        x = x.float()
    if x.shape[1] == 0:
        raise ValueError(f"kmeans needs at least one feature per point, got shape {tuple(x.shape)}")
    finite = torch.isfinite(x).all(1)
    if not bool(finite.all()):
        raise ValueError(
            f"{int((~finite).sum())} of {x.shape[0]} points hold NaN or infinite values; drop them first, "
            "e.g. x[torch.isfinite(x).all(1)]"
        )
    return x


def _squared_distances(x: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """(N, K) squared Euclidean distances, ||x||² - 2 x·c + ||c||², clamped at 0."""
    d = (x * x).sum(1, keepdim=True) - 2 * x @ centers.T + (centers * centers).sum(1)
    return d.clamp_min_(0)


def _kmeans_plus_plus(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007; scikit-learn's variant): each new
    centre is drawn with probability proportional to the squared distance to the nearest chosen
    centre; of 2 + ln(k) such draws, keep the one that lowers the inertia most."""
    n = x.shape[0]
    trials = 2 + int(math.log(k))
    first = torch.randint(n, (1,), generator=generator, device="cpu").item()
    centers = [x[first]]
    closest = _squared_distances(x, x[first : first + 1])[:, 0]
    for _ in range(1, k):
        total = closest.sum()
        if total <= 0:  # fewer distinct points than k: any point will do
            candidates = torch.randint(n, (trials,), generator=generator, device="cpu").to(x.device)
        else:
            candidates = torch.multinomial(
                (closest / total).cpu().double(), trials, replacement=True, generator=generator
            ).to(x.device)
        d = torch.minimum(closest[None, :], _squared_distances(x, x[candidates]).T)  # (trials, N)
        best = int(d.sum(1).argmin())
        centers.append(x[candidates[best]])
        closest = d[best]
    return torch.stack(centers)


def inertia(x, labels, centers) -> float:
    """Sum of squared distances of each point to its cluster centre (k-means' objective)."""
    x = _as_points(x)
    centers = torch.as_tensor(centers, dtype=x.dtype, device=x.device)
    labels = torch.as_tensor(labels, device=x.device)
    return float(((x - centers[labels]) ** 2).sum())


def _lloyd(x, centers, n_iters, tol):
    """Lloyd iterations from ``centers``; returns labels, centres, inertia, iterations run."""
    k = centers.shape[0]
    for iteration in range(1, n_iters + 1):  # noqa: B007 (returned: the iterations run)
        labels = _squared_distances(x, centers).argmin(1)
        counts = torch.bincount(labels, minlength=k)
        sums = torch.zeros_like(centers).index_add_(0, labels, x)
        new = sums / counts.clamp_min(1)[:, None].to(x.dtype)
        empty = (counts == 0).nonzero()[:, 0]
        if len(empty):
            # An empty cluster would keep a centre no point belongs to. Relocate it to the points
            # that are worst served by their current centre (as scikit-learn does).
            far = ((x - new[labels]) ** 2).sum(1).topk(len(empty)).indices
            new[empty] = x[far]
        shift = ((new - centers) ** 2).sum()
        centers = new
        if shift <= tol:
            break
    labels = _squared_distances(x, centers).argmin(1)
    return labels, centers, inertia(x, labels, centers), iteration


def kmeans(
    x, k: int, n_iters: int = 100, seed: int = 0, *, tol: float = 1e-4, n_init: int = 1, return_inertia: bool = False
):
    """Cluster the rows of ``x`` (N, D) into ``k`` groups; returns ``(labels, centers)``.

    Lloyd's algorithm (Lloyd 1982): assign every point to its nearest centre, move every centre
    to the mean of its points, repeat. Seeding is k-means++ (Arthur & Vassilvitskii 2007). A
    cluster that loses all its points is re-seeded at the point farthest from its centre. The
    loop stops after ``n_iters`` iterations or when the centres move by less than ``tol``
    (sum of squared shifts, relative to the mean per-feature variance of ``x``, like
    scikit-learn's ``tol``). With ``n_init`` > 1 the best of that many seeded runs (lowest
    inertia) is returned. ``labels`` is int64 (N,), ``centers`` is (k, D) in ``x``'s dtype and
    device; ``return_inertia=True`` appends the inertia.
    """
    x = _as_points(x)
    n = x.shape[0]
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    if k > n:
        raise ValueError(f"k={k} clusters need at least {k} points, got {n}; lower k")
    for name, value in (("n_iters", n_iters), ("n_init", n_init)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"n_iters and n_init must be ints >= 1, got {name}={value!r}")
    tol = check_number(tol, "tol", minimum=0, hint="the convergence tolerance, e.g. 1e-4")
    check_allocation(8.0 * n * k, f"the distances of {n} points to {k} centres", "lower k or subsample the points")
    generator = torch.Generator().manual_seed(seed)
    tol = tol * float(x.var(0, unbiased=False).mean()) if n > 1 else 0.0
    best = None
    for _ in range(n_init):
        centers = _kmeans_plus_plus(x, k, generator)
        run = _lloyd(x, centers, n_iters, tol)
        if best is None or run[2] < best[2]:
            best = run
    labels, centers, score, _ = best
    return (labels, centers, score) if return_inertia else (labels, centers)


# --------------------------------------------------------------------------- image helpers
def _image_array(image) -> torch.Tensor:
    """(H, W, C) float tensor from (H, W) or (H, W, C) arrays/tensors; uint8 is scaled to [0, 1]."""
    image = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image)
    if image.dim() == 2:
        image = image[..., None]
    if image.dim() != 3:
        raise ValueError(f"expected an image (H, W) or (H, W, C) with channels last, got shape {tuple(image.shape)}")
    if image.shape[0] <= 4 < image.shape[-1]:
        raise ValueError(
            f"got shape {tuple(image.shape)}, which looks channels-first (C, H, W); pass "
            "image.permute(1, 2, 0) (tensor) or image.transpose(1, 2, 0) (array)"
        )
    if image.dtype == torch.uint8:
        return image.float() / 255
    return image.float()


def color_features(image) -> torch.Tensor:
    """One row per pixel, its colour: (H, W, C) or (H, W) → (H·W, C) float; uint8 scaled to [0, 1]."""
    image = _image_array(image)
    return image.reshape(-1, image.shape[-1])


def color_xy_features(image, xy_weight: float = 1.0) -> torch.Tensor:
    """Colour plus position: (H·W, C + 2) rows (colour, y, x), coordinates divided by max(H, W)
    and multiplied by ``xy_weight``: 0 is pure colour, large values give a grid of compact blobs."""
    image = _image_array(image)
    h, w = image.shape[:2]
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    xy = torch.stack([ys, xs], -1).float() * (xy_weight / max(h, w))
    return torch.cat([image, xy], -1).reshape(h * w, -1)


def labels_to_image(labels, shape) -> torch.Tensor:
    """Cluster labels (H·W,) of the pixels in row-major order back to a label map ``shape`` (H, W)."""
    labels = torch.as_tensor(labels)
    h, w = shape[:2]
    if labels.numel() != h * w:
        raise ValueError(f"{labels.numel()} labels cannot fill a {h}×{w} image ({h * w} pixels)")
    return labels.reshape(h, w)


def quantize(labels, centers, shape) -> torch.Tensor:
    """Each pixel painted with its cluster centre: (H, W, C) from labels (H·W,) and centres (k, D).

    Only the first C = D - 2 columns are kept when the centres carry (y, x) too; pass the
    centres of colour features for a plain colour-quantised image."""
    centers = torch.as_tensor(centers)
    image = centers[torch.as_tensor(labels).reshape(-1)]
    return image.reshape(*shape[:2], -1)


def majority_labels(segments, target, num_classes: int, ignore_index: int | None = 255) -> torch.Tensor:
    """Give every segment (cluster or superpixel) the ground-truth class most of its pixels have.

    ``segments`` and ``target`` are integer maps of the same shape. This is how an unsupervised
    segmentation is usually scored against a semantic ground truth, and it uses that ground truth:
    with one segment per pixel it is perfect, so the score is an **oracle upper bound** for what
    any labelling of those segments could reach, not what the method finds on its own.
    Segments with only ignored pixels get class 0.
    """
    segments = torch.as_tensor(np.asarray(segments) if not isinstance(segments, torch.Tensor) else segments)
    target = torch.as_tensor(np.asarray(target) if not isinstance(target, torch.Tensor) else target)
    if segments.shape != target.shape:
        raise ValueError(f"segments {tuple(segments.shape)} and target {tuple(target.shape)} must have the same shape")
    seg = segments.reshape(-1).long()
    tgt = target.reshape(-1).long()
    if seg.numel() == 0:
        raise ValueError("segments and target are empty; give at least one pixel")
    if seg.min() < 0:
        raise ValueError("segment ids must be non-negative")
    check_allocation(
        8.0 * (int(seg.max()) + 1) * num_classes,
        f"votes for segment ids up to {int(seg.max())}",
        "number the segments 0..K-1 (e.g. torch.unique(segments, return_inverse=True)[1])",
    )
    keep = tgt != ignore_index if ignore_index is not None else torch.ones_like(tgt, dtype=torch.bool)
    if ((tgt[keep] < 0) | (tgt[keep] >= num_classes)).any():
        raise ValueError(f"target holds values outside 0..{num_classes - 1} (and ignore_index={ignore_index})")
    n_segments = int(seg.max()) + 1
    votes = torch.bincount(seg[keep] * num_classes + tgt[keep], minlength=n_segments * num_classes)
    mapping = votes.reshape(n_segments, num_classes).argmax(1)
    return mapping[segments.long()]


def dark_cluster(images, seed: int = 0) -> torch.Tensor:
    """k-means with k = 2 on the grey levels of ``images`` (0..255, any shape; scaled to [0, 1]),
    all pixels clustered together, and the darker cluster called foreground: a boolean map of
    the same shape. It needs no ground truth, and it is the unsupervised membrane baseline of lecture 003
    (K. N. Toosi: k = 2 on EM membranes) that notebooks 02, 03 and 05 score."""
    images = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    grey = images.float().reshape(-1, 1) / 255
    labels, centers = kmeans(grey, 2, seed=seed)
    return (labels == centers[:, 0].argmin()).reshape(images.shape)
