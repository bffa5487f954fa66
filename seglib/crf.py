"""Fully connected (dense) CRF with Gaussian edge potentials, mean-field inference (notebook 06).

Krähenbühl & Koltun (2011) define, for labels ``x`` of the N pixels of an image, the energy::

    E(x) = Σ_i ψ_u(x_i) + Σ_{i<j} μ(x_i, x_j) k(f_i, f_j),
    k(f_i, f_j) = w_a exp(-‖p_i - p_j‖²/2θ_α² - ‖I_i - I_j‖²/2θ_β²)     (appearance)
                + w_s exp(-‖p_i - p_j‖²/2θ_γ²)                            (smoothness)

with positions ``p``, colours ``I``, unaries ψ_u = -log P(network) and the Potts compatibility
μ(l, l') = [l ≠ l']. Mean-field inference updates a factorised Q(x) = Π_i Q_i(x_i) with::

    Q_i(l) ∝ exp(-ψ_u(l) - Σ_{l'} μ(l, l') Σ_{j≠i} k(f_i, f_j) Q_j(l')),

a softmax of the unaries minus a *message*: every pixel looks at all others, weighted by the
kernel. With Potts compatibility the message penalises a label by the kernel mass of the other
labels. DeepLab v1/v2 (Chen et al.) refine a network's output this way.

Two ways to compute the messages Σ_{j≠i} k(f_i, f_j) Q_j:

- ``method="exact"``: the explicit N×N kernel, in row chunks. O(N²): the reference, for images up
  to about 100×100.
- ``method="fast"`` (and ``"auto"`` above ``exact_max_pixels``): the smoothness kernel, which
  depends on position only, is an exact separable Gaussian blur (``F.conv2d`` along rows then
  columns, zero padding, truncated at 4θ_γ). The appearance kernel lives in 5-D (x, y, r, g, b)
  and is filtered with the **permutohedral lattice** of Adams et al. (2010), the method of the
  original densecrf code: splat each pixel onto the d+1 = 6 vertices of its enclosing simplex,
  blur along the lattice's d+1 directions with [½, 1, ½], slice back with the same barycentric
  weights. This approximates the Gaussian (it is not exact); the lattice's constant gain is
  divided out (``_lattice_gain``) and its self-contribution subtracted, so messages are on the
  exact path's scale. Unit tests require the refined labels of both paths to agree on ≥ 99 % of
  the pixels.

``dense_crf(probs, image)`` is the function to use; ``mean_field`` also returns every
iteration's scores and beliefs. ``boundary_band`` and ``boundary_accuracy`` measure refinement
near object borders.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ._guards import check_number

__all__ = [
    "DEFAULTS",
    "dense_crf",
    "mean_field",
    "appearance_features",
    "ExactKernel",
    "smoothness_filter",
    "PermutohedralLattice",
    "boundary_band",
    "boundary_accuracy",
]

# The defaults of pydensecrf's README / DeepLab's released CRF setting for VOC-sized images
# (θ_α = 80, θ_β = 13, w_a = 10, θ_γ = 3, w_s = 3). Tune them on validation images for your data.
MIN_WIDTH = 0.01  # kernel widths below this link no two pixels (or colour levels) and overflow the lattice
DEFAULTS = dict(appearance_weight=10.0, appearance_xy=80.0, appearance_rgb=13.0,
                smoothness_weight=3.0, smoothness_xy=3.0)


# --------------------------------------------------------------------------- input checks
def _as_probs(probs) -> torch.Tensor:
    probs = torch.as_tensor(probs)
    if probs.ndim != 3:
        hint = " Drop the batch dimension with probs[0]." if probs.ndim == 4 and probs.shape[0] == 1 else ""
        raise ValueError(f"dense_crf expects probs of shape (C, H, W), got {tuple(probs.shape)}.{hint}")
    if not probs.is_floating_point():
        raise ValueError(f"probs must be floating-point probabilities, got dtype {probs.dtype}")
    if probs.shape[0] < 2:
        raise ValueError(f"probs needs at least 2 classes (C, H, W), got C = {probs.shape[0]}")
    if probs.shape[1] == 0 or probs.shape[2] == 0:
        raise ValueError(f"probs has an empty image, shape {tuple(probs.shape)}; give at least one pixel")
    if bool((probs < 0).any()) or not torch.allclose(probs.sum(0), torch.ones_like(probs[0]), atol=1e-3):
        raise ValueError("probs must be non-negative and sum to 1 over classes (dim 0); "
                         "pass logits.softmax(0), not logits")
    return probs.float()


def _as_image(image, size: tuple[int, int]) -> torch.Tensor:
    """The image as a float (3, H, W) tensor of values 0..255."""
    image = torch.as_tensor(np.asarray(image)) if not isinstance(image, torch.Tensor) else image
    if image.dtype != torch.uint8:
        raise ValueError(f"image must be uint8 (values 0..255), got dtype {image.dtype}; "
                         "for a normalised float image use data.denormalize and (x * 255).round().byte()")
    if image.ndim == 3 and image.shape[-1] == 3 and image.shape[0] != 3:
        image = image.permute(2, 0, 1)
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"image must be (3, H, W) or (H, W, 3) uint8 RGB, got shape {tuple(image.shape)}")
    if tuple(image.shape[1:]) != tuple(size):
        raise ValueError(f"image is {tuple(image.shape[1:])} but probs are {tuple(size)} (H, W); "
                         "resize the probabilities (F.interpolate) or the image so they match")
    return image.float()


# --------------------------------------------------------------------------- kernels
def appearance_features(image: torch.Tensor, xy: float, rgb: float) -> torch.Tensor:
    """(N, 5) features (x/θ_α, y/θ_α, r/θ_β, g/θ_β, b/θ_β) of a (3, H, W) image, so that the
    appearance kernel is exp(-‖f_i - f_j‖² / 2)."""
    _, h, w = image.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    return torch.cat([torch.stack([xs, ys]).reshape(2, -1) / xy, image.reshape(3, -1) / rgb]).T.contiguous()


class ExactKernel:
    """The dense-CRF kernel K[i, j] = Σ_m w_m exp(-‖f_i^m - f_j^m‖²/2) for i ≠ j (K[i, i] = 0),
    stored explicitly as row chunks of ``chunk_bytes``: the O(N²) reference. Built once when it
    fits in ``max_bytes`` (96×96 pixels: 340 MB), otherwise rebuilt chunk by chunk at every product."""

    def __init__(self, features: list[tuple[torch.Tensor, float]], chunk_bytes: int = 64 * 2**20,
                 max_bytes: int = 2**30):
        self.features = features
        self.n = features[0][0].shape[0]
        self.rows = max(1, chunk_bytes // (4 * self.n))
        self.starts = range(0, self.n, self.rows)
        self.chunks = [self._chunk(s) for s in self.starts] if 4 * self.n**2 <= max_bytes else None

    def _chunk(self, start: int) -> torch.Tensor:
        stop = min(self.n, start + self.rows)
        kernel = torch.zeros(stop - start, self.n)
        for f, weight in self.features:
            sq = f.square().sum(1)
            d2 = torch.addmm(sq[None, :], f[start:stop], f.T, alpha=-2).add_(sq[start:stop, None])
            kernel.add_(d2.clamp_(min=0).mul_(-0.5).exp_().mul_(weight))
        kernel[torch.arange(stop - start), torch.arange(start, stop)] = 0  # j ≠ i
        return kernel

    def __matmul__(self, q: torch.Tensor) -> torch.Tensor:
        """K @ Q for Q of shape (N, C)."""
        chunks = self.chunks if self.chunks is not None else map(self._chunk, self.starts)
        return torch.cat([chunk @ q for chunk in chunks])


def smoothness_filter(q: torch.Tensor, xy: float, truncate: float = 4.0) -> torch.Tensor:
    """Σ_{j≠i} exp(-‖p_i - p_j‖²/2θ²) Q_j for Q of shape (C, H, W), exactly (up to the 4θ
    truncation) as two 1-D Gaussian blurs with zero padding: the position-only kernel is separable."""
    c, h, w = q.shape
    radius = max(1, min(int(math.ceil(truncate * xy)), max(h, w) - 1))
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=q.dtype) / xy) ** 2)
    x = q[:, None]
    x = F.conv2d(x, taps.view(1, 1, 1, -1), padding=(0, radius))
    x = F.conv2d(x, taps.view(1, 1, -1, 1), padding=(radius, 0))
    return x[:, 0] - q  # remove j = i (weight exp(0) = 1)


class PermutohedralLattice:
    """Gaussian filtering in d dimensions on the permutohedral lattice (Adams et al., 2010),
    vectorised in torch after densecrf's ``permutohedral.cpp``.

    Built once per image from features ``f`` (N, d), already divided by the kernel widths, so
    that ``lattice.filter(v)`` ≈ Σ_j exp(-‖f_i - f_j‖²/2) v_j for values ``v`` (N, C), self term
    included. Splat and slice weights and the blur neighbours are computed at construction and
    reused by every mean-field iteration.
    """

    def __init__(self, features: torch.Tensor):
        if features.dim() != 2 or features.shape[0] == 0 or features.shape[1] == 0:
            raise ValueError(f"features must be (N, d) with N, d >= 1, got {tuple(features.shape)}")
        if not bool(torch.isfinite(features).all()) or float(features.abs().max()) > 2.0**20:
            raise ValueError(
                f"features must be finite and at most 2**20 in size (largest {float(features.abs().max()):.3g}): "
                "they are divided by the kernel widths, so increase the widths (appearance_xy, appearance_rgb)")
        f = features.double()
        n, d = f.shape
        self.d = d
        # Elevate onto the hyperplane Σ x = 0 of R^{d+1}; the scale makes the blur a unit Gaussian.
        inv_std = math.sqrt(2.0 / 3.0) * (d + 1)
        scale = inv_std / torch.sqrt(torch.arange(1, d + 1, dtype=torch.float64) * torch.arange(2, d + 2))
        cf = f * scale
        suffix = torch.flip(torch.cumsum(torch.flip(cf, [1]), 1), [1])  # Σ_{i ≥ j} cf_i
        elevated = torch.zeros(n, d + 1, dtype=torch.float64)
        elevated[:, 0] = suffix[:, 0]
        j = torch.arange(1, d + 1, dtype=torch.float64)
        elevated[:, 1:] = torch.cat([suffix[:, 1:], torch.zeros(n, 1, dtype=torch.float64)], 1) - j * cf
        # Nearest remainder-0 point, and the simplex containing the point (ranks of the residuals).
        rounded = torch.round(elevated / (d + 1))
        rem0 = rounded * (d + 1)
        total = rounded.sum(1, keepdim=True).long()
        order = torch.argsort(-(elevated - rem0), dim=1, stable=True)
        rank = torch.argsort(order, dim=1) + total
        low, high = rank < 0, rank > d
        rank = torch.where(low, rank + d + 1, torch.where(high, rank - d - 1, rank))
        rem0 = torch.where(low, rem0 + d + 1, torch.where(high, rem0 - d - 1, rem0))
        # Barycentric coordinates of the point in its simplex.
        v = (elevated - rem0) / (d + 1)
        bary = torch.zeros(n, d + 2, dtype=torch.float64)
        bary.scatter_add_(1, d - rank, v)
        bary.scatter_add_(1, d - rank + 1, -v)
        bary[:, 0] += 1 + bary[:, d + 1]
        self.weights = bary[:, : d + 1].float()  # (N, d+1)
        # The d+1 vertices: rem0 + canonical simplex vertex r (only the first d coordinates are keys).
        r = torch.arange(d + 1)
        canonical = torch.where(r[None, :] <= d - r[:, None], r[:, None], r[:, None] - d - 1)  # [r, rank]
        keys = rem0[:, None, :d].long() + canonical[:, rank[:, :d]].permute(1, 0, 2)  # (N, d+1, d)
        keys = keys.reshape(-1, d)
        self._low = keys.min(0).values - (d + 1)
        self._span = keys.max(0).values + (d + 1) - self._low + 1
        if float(torch.log2(self._span.double()).sum()) > 62:
            raise ValueError(
                f"features span too large a lattice (largest feature {float(features.abs().max()):.3g}); increase "
                "the kernel widths (appearance_xy, appearance_rgb), or use method='exact' on small images")
        codes = self._encode(keys)
        self.codes, inverse = torch.unique(codes, return_inverse=True)
        self.vertex = inverse.reshape(n, d + 1)  # vertex index of each pixel's r-th simplex corner
        m = self.codes.numel()
        unique_keys = torch.zeros(m, d, dtype=torch.long)
        unique_keys[inverse] = keys
        self.neighbours = []
        for axis in range(d + 1):
            step = torch.full((d,), 1, dtype=torch.long)
            if axis < d:
                step[axis] = -d
            self.neighbours.append((self._find(unique_keys + step), self._find(unique_keys - step)))
        self.size = m

    def _encode(self, keys: torch.Tensor) -> torch.Tensor:
        code = torch.zeros(keys.shape[0], dtype=torch.long)
        for k in range(keys.shape[1]):
            code = code * self._span[k] + (keys[:, k] - self._low[k])
        return code

    def _find(self, keys: torch.Tensor) -> torch.Tensor:
        """Index of each key among the lattice's vertices, or ``size`` (a zero row) if absent."""
        code = self._encode(keys)
        pos = torch.searchsorted(self.codes, code).clamp(max=self.codes.numel() - 1)
        return torch.where(self.codes[pos] == code, pos, torch.full_like(pos, self.codes.numel()))

    def filter(self, values: torch.Tensor) -> torch.Tensor:
        """Splat (N, C) values, blur along the d+1 lattice directions, slice back: (N, C)."""
        n, c = values.shape
        lattice = values.new_zeros(self.size + 1, c)
        for r in range(self.d + 1):
            lattice.index_add_(0, self.vertex[:, r], values * self.weights[:, r : r + 1])
        for up, down in self.neighbours:
            blurred = lattice.clone()
            blurred[:-1] += 0.5 * (lattice[up] + lattice[down])
            lattice = blurred
        out = torch.zeros_like(values)
        for r in range(self.d + 1):
            out += self.weights[:, r : r + 1] * lattice[self.vertex[:, r]]
        return out / _lattice_gain(self.d)


def _lattice_gain(d: int) -> float:
    """Ratio of the lattice filter's response to Σ_j exp(-‖f_i - f_j‖²/2) for dense points.

    Splatting conserves mass, each of the d+1 blurs [½, 1, ½] doubles it, and slicing reads a
    vertex's value back, so a uniform density ρ gives ρ · V · 2^{d+1}, where V is the feature
    volume per lattice vertex: (d+1)^{d-1/2} in elevated units, divided by the scale (√(2/3)(d+1))^d.
    The exact Gaussian sum is ρ (2π)^{d/2}.
    """
    volume = (d + 1) ** (d - 0.5) / (math.sqrt(2.0 / 3.0) * (d + 1)) ** d
    return volume * 2 ** (d + 1) / (2 * math.pi) ** (d / 2)


# --------------------------------------------------------------------------- inference
def mean_field(unary: torch.Tensor, image: torch.Tensor, n_iters: int = 5, *,
               compatibility: torch.Tensor | None = None, method: str = "auto",
               exact_max_pixels: int = 4096, appearance_weight: float = DEFAULTS["appearance_weight"],
               appearance_xy: float = DEFAULTS["appearance_xy"], appearance_rgb: float = DEFAULTS["appearance_rgb"],
               smoothness_weight: float = DEFAULTS["smoothness_weight"],
               smoothness_xy: float = DEFAULTS["smoothness_xy"]) -> dict[str, list[torch.Tensor]]:
    """Mean-field iterations on unaries ψ_u (C, H, W) and a float (3, H, W) image in 0..255.

    Returns ``{"scores": [...], "beliefs": [...]}``: the (C, H, W) scores -ψ_u - (μ ∗ messages)
    (the input of the softmax) and beliefs Q after each iteration, index 0 being the unaries alone.
    ``compatibility`` is the (C, C) matrix μ, Potts ``1 - I`` by default.
    """
    if method not in ("auto", "exact", "fast"):
        raise ValueError(f"method must be 'auto', 'exact' or 'fast', got {method!r}")
    for name, value in (("appearance_xy", appearance_xy), ("appearance_rgb", appearance_rgb),
                        ("smoothness_xy", smoothness_xy)):
        check_number(value, name, minimum=MIN_WIDTH,
                     hint=f"a kernel width is positive, in pixels or colour levels, at least {MIN_WIDTH} (below that it "
                          f"links no two pixels; set its weight to 0 to switch the kernel off)")
    for name, value in (("appearance_weight", appearance_weight), ("smoothness_weight", smoothness_weight)):
        check_number(value, name, minimum=0, hint="a kernel's weight is >= 0 (0 switches it off)")
    if not isinstance(n_iters, int) or isinstance(n_iters, bool) or n_iters < 0:
        raise ValueError(f"n_iters must be a non-negative int, got {n_iters!r}")
    if unary.dim() != 3 or unary.shape[1] == 0 or unary.shape[2] == 0:
        raise ValueError(f"unary must be (C, H, W) with at least one pixel, got {tuple(unary.shape)}")
    if not bool(torch.isfinite(unary).all()):
        raise ValueError("unary holds NaN or infinite values; use -log(probs.clamp_min(1e-8))")
    c, h, w = unary.shape
    n = h * w
    exact = method == "exact" or (method == "auto" and n <= exact_max_pixels)
    mu = (1 - torch.eye(c)) if compatibility is None else torch.as_tensor(compatibility, dtype=torch.float32)
    if mu.shape != (c, c) or not bool(torch.isfinite(mu).all()):
        raise ValueError(f"compatibility must be a finite ({c}, {c}) matrix, got shape {tuple(mu.shape)}")
    appearance = appearance_features(image, appearance_xy, appearance_rgb)
    if exact:
        position = appearance[:, :2] * (appearance_xy / smoothness_xy)
        kernel = ExactKernel([(appearance, appearance_weight), (position, smoothness_weight)])

        def messages(q):  # (C, H, W) -> (C, H, W)
            return (kernel @ q.reshape(c, n).T).T.reshape(c, h, w)
    else:
        lattice = PermutohedralLattice(appearance) if appearance_weight else None

        def messages(q):
            out = smoothness_weight * smoothness_filter(q, smoothness_xy)
            if lattice is not None:
                flat = q.reshape(c, n).T
                out += appearance_weight * (lattice.filter(flat) - flat).T.reshape(c, h, w)
            return out

    scores = [-unary]
    beliefs = [torch.softmax(-unary, 0)]
    for _ in range(n_iters):
        pairwise = torch.einsum("kl,lhw->khw", mu, messages(beliefs[-1]))
        scores.append(-unary - pairwise)
        beliefs.append(torch.softmax(scores[-1], 0))
    return {"scores": scores, "beliefs": beliefs}


def dense_crf(probs, image, n_iters: int = 5, *, method: str = "auto", **params) -> torch.Tensor:
    """Refine class probabilities with a dense CRF (Krähenbühl & Koltun 2011; DeepLab v1/v2).

    ``probs``: (C, H, W) probabilities summing to 1 over classes (a softmax output).
    ``image``: the RGB image as uint8, (3, H, W) or (H, W, 3).
    Returns refined (C, H, W) probabilities after ``n_iters`` mean-field iterations. Keyword
    parameters: ``appearance_weight``, ``appearance_xy`` (θ_α, px), ``appearance_rgb`` (θ_β),
    ``smoothness_weight``, ``smoothness_xy`` (θ_γ); defaults in ``DEFAULTS``. ``method``:
    'exact' (N×N kernel), 'fast' (separable blur + permutohedral lattice) or 'auto' (exact up to
    ``exact_max_pixels`` pixels).
    """
    probs = _as_probs(probs)
    image = _as_image(image, probs.shape[1:])
    if not isinstance(n_iters, int) or n_iters < 0:
        raise ValueError(f"n_iters must be a non-negative int, got {n_iters!r}")
    unary = -torch.log(probs.clamp_min(1e-8))
    return mean_field(unary, image, n_iters, method=method, **params)["beliefs"][-1]


# --------------------------------------------------------------------------- boundary metric
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
    from .metrics import ConfusionMatrix

    pred, target = torch.as_tensor(pred), torch.as_tensor(target).long()
    band = boundary_band(target, width, ignore_index)
    banded = torch.where(band, target, torch.full_like(target, ignore_index))
    cm = ConfusionMatrix(num_classes, ignore_index=ignore_index)
    cm.update(pred.reshape(banded.shape).long(), banded)
    result = cm.compute()
    return {"pixel_accuracy": result["pixel_accuracy"], "miou": result["miou"],
            "pixels": int((banded != ignore_index).sum())}
