"""Fully connected (dense) CRF with Gaussian edge potentials, mean-field inference (notebook 06).

Krähenbühl & Koltun (2011) define, for labels ``x`` of the N pixels of an image, the energy::

    E(x) = Σ_i ψ_u(x_i) + Σ_{i<j} μ(x_i, x_j) k(f_i, f_j),
    k(f_i, f_j) = w_a k_a(i, j) + w_s k_s(i, j),
    k_a(i, j) = exp(-‖p_i - p_j‖²/2θ_α² - ‖I_i - I_j‖²/2θ_β²)     (appearance)
    k_s(i, j) = exp(-‖p_i - p_j‖²/2θ_γ²)                            (smoothness)

with positions ``p``, colours ``I``, unaries ψ_u = -log P(network) and the Potts compatibility
μ(l, l') = [l ≠ l']. Mean-field inference updates a factorised Q(x) = Π_i Q_i(x_i) with::

    Q_i(l) ∝ exp(-ψ_u(l) - Σ_{l'} μ(l, l') Σ_m w_m Σ_{j≠i} k̄_m(i, j) Q_j(l')),

a softmax of the unaries minus a *message*: every pixel looks at all others, weighted by the
kernel. With Potts compatibility the message penalises a label by the kernel mass of the other
labels. DeepLab v1/v2 (Chen et al.) refine a network's output this way.

**Normalisation** (``normalization``). ``"symmetric"`` (the default) uses
k̄_m(i, j) = k_m(i, j) / √(d_i d_j) with d_i = Σ_j k_m(i, j) (the pixel itself included), so
that every pixel's kernel weights sum to about 1 and ``w_m`` is the price, in nats, of a
neighbourhood that disagrees completely, whatever the image size or the widths. This is the
default of Krähenbühl's densecrf code and of pydensecrf (``NORMALIZE_SYMMETRIC``), for which
their published weights were tuned. ``"none"`` uses the raw k_m, the formula as printed: a pixel
in a flat region then has Σ_j k_a ≈ 2πθ_α² ≈ 40 000 at θ_α = 80, and weights tuned for the
normalised kernels overwhelm any unary (pydensecrf's ``NO_NORMALIZATION`` is this too).

**The pixel's own term** (``include_self``). The update above sums over j ≠ i, as in
Krähenbühl & Koltun's derivation; that is the default. densecrf and pydensecrf filter with the
pixel included (j = i too), which adds w_m k̄_m(i, i) Q_i(l) to the message: a pull towards the
current labels. ``include_self=True`` adds it with its exact weight k_m(i, i) = 1 (densecrf adds
the lattice's approximation of it, 0.8-1.4 depending on where the pixel falls in its simplex).
``PYDENSECRF`` holds the keyword arguments that reproduce pydensecrf's choices
(``dense_crf(probs, image, **crf.PYDENSECRF)``).

Two ways to compute the messages:

- ``method="exact"``: the explicit N×N kernels, in row chunks. O(N²): the reference, limited to
  ``MAX_PIXELS["exact"]`` = 10 000 pixels (100×100; the kernel alone is 400 MB).
- ``method="fast"`` (and ``"auto"`` above ``exact_max_pixels``): the smoothness kernel, which
  depends on position only, is an exact separable Gaussian blur (two 1-D correlations with zero
  padding, truncated at 4θ_γ). The appearance kernel lives in 5-D (x, y, r, g, b) and is
  filtered with the **permutohedral lattice** of Adams, Baek & Davis (2010), the method of the
  densecrf code: splat each pixel onto the d+1 = 6 vertices of its enclosing simplex, blur along
  the lattice's d+1 directions with [½, 1, ½], slice back with the same barycentric weights. The
  three steps are sparse matrices (``scipy.sparse``), built once per image. Each pixel's own
  response through the lattice (0.6-1.2 of exp(0) = 1, depending on where it falls in its
  simplex) is computed exactly (``PermutohedralLattice.self_weight``) and removed, so the sum
  is j ≠ i as on the exact path: an isolated pixel sends itself nothing. The rest is the
  lattice's approximation of the Gaussian, the same as densecrf's, and two effects make it
  (measured, d = 5):

  * *Shape.* The scaling √(2/3)(d+1) of Adams et al. is right: on a dense cloud of points the
    lattice kernel's second moment gives σ = 0.99 (1.01 for d = 2). But splat, [½, 1, ½] blur
    and slice make a flatter-topped kernel than a Gaussian: 0.79 of it near 0, 1.19 at 2.6σ,
    0.35 at 3.9σ (the constant gain is divided out, ``_lattice_gain``; densecrf's ``alpha``).
  * *Lost mass, the larger effect on photos.* The lattice holds only the vertices of simplices
    that contain a pixel, and the blur drops what it moves onto any other vertex (densecrf's
    hash table does the same). A photo's features lie on a 2-D sheet of the 5-D space, so
    from 2.5σ on most paths cross absent vertices: on 64-px photos the lattice keeps 0.75 of
    the Gaussian's mass at short range but 0.5-0.6 at 3-4σ, and its row sums vary ±15 % from
    pixel to pixel. Keeping every vertex that a blur path between two pixels' vertices passes
    through removes this loss (an experiment, not in this module): fast and exact labels then
    agree on 99.5-99.9 % of the photos below, but one case (chelsea at 72 px with pydensecrf's
    README parameters) stays at 99.25 %, the shape error. The blur then runs over 1.7-2.0 times
    as many vertices (measured at 320×240 and 640×480, synthetic scene and astronaut), and
    finding them took 3.5 s at 640×480 (a direct expansion of the vertex sets, pass by pass:
    1.7-41 s), against 0.6-1.5 s for all of pydensecrf, so the lattice here stays densecrf's.
    Two cheaper remedies made the agreement worse (worst case 98.5 % instead of 99.1 %):
    keeping the mass that the blur would drop at an absent vertex, and a lattice 10 % finer or
    coarser.

  Labels agree with the exact path on ≥ 99.5 % of the pixels of synthetic scenes and on
  99.2-99.7 % of the small real photos of tests/test_crf.py (99.1-99.7 % on three more), not
  the 99.5 % wanted; pydensecrf2 itself, the C++ code of the same lattice, agrees with the exact
  path on 99.15-99.62 % of those photos with its own semantics (tests/test_crf.py measures both).
  Limited to ``MAX_PIXELS["fast"]`` (about 2 megapixels). It runs on one CPU thread, as densecrf
  does, and iterates in (pixel, class) layout: scipy's sparse products
  for the lattice (the normalisation and the weight folded into the splat and slice matrices),
  the smoothness blur as two depthwise ``conv2d`` on the same memory viewed as a channels-last
  image. Time (bench/dense_crf.py, 21 classes, 5 iterations, one thread, measured side by side,
  seven runs on a shared 2-core machine with load 1-3.4), as a multiple of pydensecrf2's: with
  the defaults 1.2-1.55× at 640×480 (median 1.35×) and 1.45-2.05× at 320×240 (median 1.6×;
  there the synthetic scene's noisy colours make more lattice vertices than pixels); with
  pydensecrf's README parameters and semantics 1.5-1.85× at 640×480 (median 1.75×) and
  1.3-1.85× at 320×240, where pydensecrf's lattice is small and the time is mostly per pixel.
  At 640×480 with the defaults one call spends about 0.55-0.75 s building the lattice,
  0.5-0.9 s in 5 lattice filters, 0.16-0.22 s in 5 smoothness blurs and 0.1-0.17 s in the
  compatibility and softmax (before the blur became a convolution, the scalings were folded
  and the Potts product became a sum: 1.2 s, 1.1 s, 0.7 s, 0.2 s, and 2.1-2.4× pydensecrf2's
  time). Part of the rest is the allocator: with glibc's ``MALLOC_TRIM_THRESHOLD_`` and
  ``MALLOC_MMAP_THRESHOLD_`` raised, so that freed (N, C) buffers are not handed back to the
  system between iterations, a 640×480 call took 13-16 % less time. The peak memory of a
  640×480 call with 21 classes grows by 200-430 MB (ru_maxrss).

Above a path's limit the call raises an error saying what to do (downscale, or the other path)
rather than running out of memory or for hours; ``max_pixels`` raises the limit.

``dense_crf(probs, image)`` is the function to use; ``mean_field`` also returns every
iteration's scores and beliefs; ``PairwiseKernels`` are the two filters, shared with
CRF-as-RNN (``seglib.models.crfrnn``). Refinement near object borders is measured by
``seglib.metrics.boundary_accuracy``.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import scipy.sparse
import torch
import torch.nn.functional as F

from ._guards import check_number
from .timing import cpu_threads

__all__ = [
    "DEFAULTS",
    "PYDENSECRF",
    "README_PARAMS",
    "MAX_PIXELS",
    "dense_crf",
    "dense_crf_weights",
    "mean_field",
    "PairwiseKernels",
    "appearance_features",
    "ExactKernel",
    "smoothness_filter",
    "PermutohedralLattice",
]

MIN_WIDTH = 0.01  # kernel widths below this link no two pixels (or colour levels) and overflow the lattice
# Default kernel weights and widths, for symmetric normalisation and the j ≠ i sum: the values of
# DeepLab v1's (LargeFOV) dense CRF on VOC, chosen there by cross-validation (w_a = 4, θ_α = 121,
# θ_β = 5, w_s = 3, θ_γ = 3), for images of about 500 px. pydensecrf's README values (10, 80, 13,
# 3, 3) smooth more across colour edges: on skimage's photos they lower maps that already agree
# ≥ 95 % with their truth by up to 2 points; these keep them (tests/test_crf.py,
# test_defaults_keep_good_maps_on_real_photos). Tune them on validation images for your data.
DEFAULTS = dict(
    appearance_weight=4.0, appearance_xy=121.0, appearance_rgb=5.0, smoothness_weight=3.0, smoothness_xy=3.0
)
README_PARAMS = dict(
    appearance_weight=10.0, appearance_xy=80.0, appearance_rgb=13.0, smoothness_weight=3.0, smoothness_xy=3.0
)  # pydensecrf's README example
NORMALIZATIONS = ("symmetric", "none")
PYDENSECRF = dict(normalization="symmetric", include_self=True)  # pydensecrf's semantics
MAX_PIXELS = {"exact": 10_000, "fast": 2_100_000}  # per path; above it, dense_crf refuses (see _check_size)


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
        raise ValueError(
            "probs must be non-negative and sum to 1 over classes (dim 0); pass logits.softmax(0), not logits"
        )
    return probs.float()


def _as_image(image, size: tuple[int, int]) -> torch.Tensor:
    """The image as a float (3, H, W) tensor of values 0..255."""
    image = torch.as_tensor(np.asarray(image)) if not isinstance(image, torch.Tensor) else image
    if image.dtype != torch.uint8:
        raise ValueError(
            f"image must be uint8 (values 0..255), got dtype {image.dtype}; "
            "for a normalised float image use data.denormalize and (x * 255).round().byte()"
        )
    if image.ndim == 3 and image.shape[-1] == 3 and image.shape[0] != 3:
        image = image.permute(2, 0, 1)
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"image must be (3, H, W) or (H, W, 3) uint8 RGB, got shape {tuple(image.shape)}")
    if tuple(image.shape[1:]) != tuple(size):
        raise ValueError(
            f"image is {tuple(image.shape[1:])} but probs are {tuple(size)} (H, W); "
            "resize the probabilities (F.interpolate) or the image so they match"
        )
    return image.float()


def _check_params(
    appearance_xy,
    appearance_rgb,
    smoothness_xy,
    appearance_weight=0.0,
    smoothness_weight=0.0,
    normalization="symmetric",
    include_self=False,
) -> None:
    """Refuse non-finite, non-positive or unknown CRF parameters with a message that says why."""
    for name, value in (
        ("appearance_xy", appearance_xy),
        ("appearance_rgb", appearance_rgb),
        ("smoothness_xy", smoothness_xy),
    ):
        check_number(
            value,
            name,
            minimum=MIN_WIDTH,
            hint=f"a kernel width is positive, in pixels or colour levels, at least {MIN_WIDTH} (below that it "
            f"links no two pixels; set its weight to 0 to switch the kernel off)",
        )
    for name, value in (("appearance_weight", appearance_weight), ("smoothness_weight", smoothness_weight)):
        if isinstance(value, torch.Tensor) and value.numel() > 1:  # CRF-as-RNN's per-class weights
            if not bool(torch.isfinite(value).all()):
                raise ValueError(f"{name} must be finite, got {value}")
            continue
        check_number(value, name, minimum=0, hint="a kernel's weight is >= 0 (0 switches it off)")
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"normalization must be one of {NORMALIZATIONS}, got {normalization!r} "
            "('symmetric' is densecrf's and pydensecrf's default)"
        )
    if not isinstance(include_self, bool):
        raise ValueError(f"include_self must be True or False, got {include_self!r}")


def _check_size(n: int, h: int, w: int, method: str, max_pixels: int | None) -> None:
    """Refuse an image above the path's pixel limit before building anything for it."""
    limit = MAX_PIXELS[method] if max_pixels is None else max_pixels
    if n <= limit:
        return
    if method == "exact":
        advice = (
            "use method='fast' (the permutohedral lattice, same result within the lattice's approximation), "
            "or downscale the image and the probabilities (F.interpolate)"
        )
        why = f"its N×N kernel would take {4 * n * n / 2**30:.1f} GiB and O(N²) time per iteration"
    else:
        advice = (
            "downscale the image and the probabilities (F.interpolate, e.g. to half size) and upsample the "
            "result, or refine overlapping tiles"
        )
        why = "memory grows with pixels × classes"
    raise ValueError(
        f"method='{method}' is limited to {limit:,} pixels ({why}); this image has {n:,} "
        f"({h}×{w}). Either {advice}; max_pixels=... raises the limit if the machine has the memory"
    )


# --------------------------------------------------------------------------- kernels
def appearance_features(image: torch.Tensor, xy: float, rgb: float) -> torch.Tensor:
    """(N, 5) features (x/θ_α, y/θ_α, r/θ_β, g/θ_β, b/θ_β) of a (3, H, W) image, so that the
    appearance kernel is exp(-‖f_i - f_j‖² / 2)."""
    _, h, w = image.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    return torch.cat([torch.stack([xs, ys]).reshape(2, -1) / xy, image.reshape(3, -1).float() / rgb]).T.contiguous()


class ExactKernel:
    """The dense-CRF kernel K[i, j] = Σ_m w_m s_m[i] s_m[j] exp(-‖f_i^m - f_j^m‖²/2) for i ≠ j,
    with optional per-pixel scales s_m (normalisation; 1 if absent) and ``diagonal`` K[i, i]
    (0 by default: the j ≠ i sum). ``features`` is a list of (f, w) or (f, w, s). Stored
    explicitly as row chunks of ``chunk_bytes``: the O(N²) reference. Built once when it fits in
    ``max_bytes`` (100×100 pixels: 400 MB), otherwise rebuilt chunk by chunk at every product."""

    def __init__(
        self,
        features: list[tuple],
        chunk_bytes: int = 64 * 2**20,
        max_bytes: int = 2**30,
        diagonal: torch.Tensor | None = None,
    ):
        self.features = [(part[0], part[1], part[2] if len(part) > 2 else None) for part in features]
        self.n = features[0][0].shape[0]
        self.diagonal = diagonal
        self.rows = max(1, chunk_bytes // (4 * self.n))
        self.starts = range(0, self.n, self.rows)
        self.chunks = [self._chunk(s) for s in self.starts] if 4 * self.n**2 <= max_bytes else None

    def _chunk(self, start: int) -> torch.Tensor:
        stop = min(self.n, start + self.rows)
        kernel = torch.zeros(stop - start, self.n)
        for f, weight, scale in self.features:
            sq = f.square().sum(1)
            d2 = torch.addmm(sq[None, :], f[start:stop], f.T, alpha=-2).add_(sq[start:stop, None])
            part = d2.clamp_(min=0).mul_(-0.5).exp_()
            if scale is not None:
                part.mul_(scale[start:stop, None]).mul_(scale[None, :])
            kernel.add_(part.mul_(weight))
        rows = torch.arange(stop - start)
        kernel[rows, rows + start] = 0 if self.diagonal is None else self.diagonal[start:stop]
        return kernel

    def __matmul__(self, q: torch.Tensor) -> torch.Tensor:
        """K @ Q for Q of shape (N, C)."""
        chunks = self.chunks if self.chunks is not None else map(self._chunk, self.starts)
        return torch.cat([chunk @ q for chunk in chunks])


class _Linear(torch.autograd.Function):
    """y = A x for a fixed linear map given as ``apply(x, transpose)``; the gradient is Aᵀ g."""

    @staticmethod
    def forward(ctx, x, apply):
        ctx.linear_map = apply
        return apply(x, False)

    @staticmethod
    def backward(ctx, grad):
        return ctx.linear_map(grad, True), None


def _numpy32(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)


def _gaussian_taps(xy: float, size: int, truncate: float) -> torch.Tensor:
    radius = max(1, min(int(math.ceil(truncate * xy)), size - 1))
    return torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float64) / xy) ** 2).float()


def _separable_blur(v: torch.Tensor, taps_x: torch.Tensor, taps_y: torch.Tensor) -> torch.Tensor:
    """Correlate each channel of ``v`` (1, C, H, W) with ``taps_y`` along H and ``taps_x`` along W
    (odd lengths, zero padding): two depthwise ``conv2d`` calls. In channels-last memory (the
    fast path's (N, C) beliefs viewed as (1, C, H, W)) the output stays channels-last, and
    PyTorch's CPU convolution runs 3× faster than banded matrix products in a transposed copy
    (measured at 640×480, 21 classes, one thread)."""
    c = v.shape[1]
    wy = taps_y.to(v).view(1, 1, -1, 1).expand(c, 1, -1, 1)
    wx = taps_x.to(v).view(1, 1, 1, -1).expand(c, 1, 1, -1)
    v = F.conv2d(v, wy, padding=(taps_y.numel() // 2, 0), groups=c)
    return F.conv2d(v, wx, padding=(0, taps_x.numel() // 2), groups=c)


def smoothness_filter(q: torch.Tensor, xy: float, truncate: float = 4.0) -> torch.Tensor:
    """Σ_{j≠i} exp(-‖p_i - p_j‖²/2θ²) Q_j for Q of shape (C, H, W), exactly (up to the 4θ
    truncation) as two 1-D Gaussian correlations with zero padding: the position-only kernel is
    separable (``_separable_blur``, two depthwise convolutions); the blur is its own
    transpose, which gives the gradient."""
    _, h, w = q.shape
    taps_x, taps_y = _gaussian_taps(xy, w, truncate), _gaussian_taps(xy, h, truncate)

    def blur(v, transpose):  # symmetric taps, zero padding: the map is symmetric
        return _separable_blur(v[None], taps_x, taps_y)[0]

    return _Linear.apply(q.float(), blur) - q  # remove j = i (weight exp(0) = 1)


class PermutohedralLattice:
    """Gaussian filtering in d dimensions on the permutohedral lattice (Adams, Baek & Davis,
    2010), after densecrf's ``permutohedral.cpp``, as three sparse matrices.

    Built once per image from features ``f`` (N, d), already divided by the kernel widths, so
    that ``lattice.filter(v)`` ≈ Σ_j exp(-‖f_i - f_j‖²/2) v_j for values ``v`` (N, C), self term
    included, and ``lattice.filter_others(v)`` the same sum over j ≠ i, exactly: it subtracts
    ``self_weight``, each pixel's own response through splat, blur and slice.

    Construction: each feature vector is lifted onto the hyperplane Σx = 0 of R^{d+1}, where the
    lattice's points are the integer vectors whose coordinates are all congruent mod d+1; the
    pixel's enclosing simplex follows from rounding and sorting the residuals, and its barycentric
    coordinates are the splat weights. ``splat`` (M×N), one ``blurs`` matrix per lattice direction
    (M×M, [½, 1, ½] between neighbours that exist) and ``slice`` (N×M, the splat weights again,
    divided by the lattice's gain) make ``filter`` = slice · B_d ⋯ B_0 · splat; its transpose
    (for gradients) runs the blurs in the reverse order.
    """

    def __init__(self, features: torch.Tensor):
        features = torch.as_tensor(features)
        if features.dim() != 2 or features.shape[0] == 0 or features.shape[1] == 0:
            raise ValueError(f"features must be (N, d) with N, d >= 1, got {tuple(features.shape)}")
        if not bool(torch.isfinite(features).all()) or float(features.abs().max()) > 2.0**20:
            raise ValueError(
                f"features must be finite and at most 2**20 in size (largest {float(features.abs().max()):.3g}): "
                "they are divided by the kernel widths, so increase the widths (appearance_xy, appearance_rgb)"
            )
        n, d = features.shape
        self.n, self.d = n, d
        d1 = d + 1
        # Lift onto Σ x = 0 in R^{d+1}; the scale makes the blur a unit Gaussian. Arrays are
        # (coordinate, pixel): each coordinate a contiguous row.
        inv_std = math.sqrt(2.0 / 3.0) * d1
        j = np.arange(1, d1, dtype=np.float64)
        cf = features.detach().cpu().double().numpy().T * (inv_std / np.sqrt(j * (j + 1)))[:, None]  # (d, N)
        elevated = np.zeros((d1, n))
        np.cumsum(cf[::-1], axis=0, out=elevated[d - 1 :: -1])  # row k: Σ_{i ≥ k} cf_i
        elevated[1:] -= j[:, None] * cf
        del cf
        # Nearest remainder-0 point, and the simplex containing the point (ranks of the residuals,
        # ties broken by coordinate index, as a stable sort would).
        rem0 = np.round(elevated * (1.0 / d1))
        total = rem0.sum(0).astype(np.int64)
        rem0 *= d1
        residual = elevated - rem0
        del elevated
        rank = np.empty((d1, n), dtype=np.int64)
        rank[:] = total
        for i in range(d1):
            for k in range(i + 1, d1):
                later_first = residual[k] > residual[i]
                rank[i] += later_first
                rank[k] += ~later_first
        wrap = (rank < 0).astype(np.int64)
        wrap -= rank > d
        wrap *= d1
        rank += wrap
        rem0 += wrap
        residual -= wrap
        del wrap
        # Barycentric coordinates of the point in its simplex: the splat and slice weights.
        residual *= 1.0 / d1  # (elevated - rem0) / (d+1)
        bary = np.zeros((d + 2, n))
        flat = (d - rank) * n + np.arange(n)  # d - rank is a permutation of each column
        bary.reshape(-1)[flat.reshape(-1)] += residual.reshape(-1)
        flat += n
        bary.reshape(-1)[flat.reshape(-1)] -= residual.reshape(-1)
        del flat, residual
        bary[0] += 1 + bary[d1]
        weights = np.ascontiguousarray(bary[:d1].T, dtype=np.float32)  # (N, d+1): corner weights of each pixel
        del bary
        # Integer codes of lattice points (their first d coordinates, mixed radix); a code is
        # linear in the point, so a neighbour's code is the code plus a constant.
        keys = rem0[:d].astype(np.int64)
        del rem0
        low_key = keys.min(1) - 2 * d1
        span = keys.max(1) + 2 * d1 - low_key + 1
        if float(np.log2(span.astype(np.float64)).sum()) + d1 * math.log2(d1) > 62:
            raise ValueError(
                f"features span too large a lattice (largest feature {float(features.abs().max()):.3g}); increase "
                "the kernel widths (appearance_xy, appearance_rgb), or use method='exact' on small images"
            )
        stride = np.ones(d, dtype=np.int64)
        for k in range(d - 2, -1, -1):
            stride[k] = stride[k + 1] * span[k + 1]
        base = stride @ (keys - low_key[:, None])
        del keys
        # Pixels in the same simplex (same remainder-0 point and ranks) share its vertices; a
        # simplex's code holds its remainder-0 point and its ranks, read back from the unique codes.
        simplex_code = base * d1**d1 + (d1 ** np.arange(d1)) @ rank
        del base, rank
        unique_simplex, simplex_of = _unique_inverse(simplex_code)
        del simplex_code
        u_base = unique_simplex // d1**d1
        u_rank = (unique_simplex[None, :] // (d1 ** np.arange(d1))[:, None]) % d1  # (d+1, U)
        u = unique_simplex.size
        # Corner 0 of a simplex is its remainder-0 point; corner t+1 is corner t plus one step along
        # the direction k with d - rank_k = t (the step is +1 everywhere, -d at k): codes add up.
        deltas = np.array([int(self._step(k, d) @ stride) for k in range(d1)])
        axis_step = d - u_rank  # (d+1, U): at which corner each direction is stepped along
        del u_rank
        steps = np.empty((d1, u), dtype=np.int64)
        steps.reshape(-1)[(axis_step * u + np.arange(u)).reshape(-1)] = np.repeat(deltas, u)
        corners = np.empty((u, d1), dtype=np.int64)
        corners[:, 0] = u_base
        np.cumsum(steps[:d].T, axis=1, out=corners[:, 1:])
        corners[:, 1:] += u_base[:, None]
        del steps
        codes, inverse = _unique_inverse(corners.reshape(-1))
        del corners
        index = np.int32 if codes.size < 2**31 - 1 else np.int64
        simplex_vertex = inverse.reshape(u, d1).astype(index)
        m = codes.size
        self.size = m
        vertex = simplex_vertex[simplex_of]  # (N, d+1) vertex index of each pixel's simplex corners
        # Neighbours along each of the d+1 directions (+ and -), m meaning "absent".
        nbr = np.full((d1, 2, m + 1), m, dtype=index)
        for axis in range(d1):
            for sign, shifted in ((0, codes + deltas[axis]), (1, codes - deltas[axis])):
                pos = np.searchsorted(codes, shifted).clip(max=m - 1)
                nbr[axis, sign, :m] = np.where(codes[pos] == shifted, pos, m)
        del codes
        # The three sparse maps.
        self.gain = _lattice_gain(d)
        flat_vertex = vertex.reshape(-1)
        indptr = np.arange(0, n * d1 + 1, d1)
        self.slice = scipy.sparse.csr_matrix(
            (weights.reshape(-1) / np.float32(self.gain), flat_vertex, indptr), shape=(n, m)
        )
        # The splat is the transpose of the (unscaled) slice: as a CSC view it scatters each
        # pixel's row in order, twice as fast as a CSR gather here.
        self.splat = scipy.sparse.csr_matrix((weights.reshape(-1), flat_vertex, indptr), shape=(n, m)).T
        self.blurs = []
        ident = np.arange(m, dtype=index)
        half = np.full((m, 3), 0.5, np.float32)
        half[:, 0] = 1
        for axis in range(d1):  # row i: itself (1) and its neighbours that exist (½), in row order: no sort
            cols = np.stack([ident, nbr[axis, 0, :m], nbr[axis, 1, :m]], 1)
            keep = cols < m
            self.blurs.append(
                scipy.sparse.csr_matrix(
                    (half[keep], cols[keep], np.concatenate([[0], np.cumsum(keep.sum(1))])), shape=(m, m)
                )
            )
        # Each pixel's own response: Σ_{r,s} b_r b_s B[v_r, v_s] / gain, B = B_d ⋯ B_0.
        self_weight = self._self_response(simplex_vertex, np.ascontiguousarray(axis_step.T), nbr, simplex_of, weights)
        del nbr, simplex_vertex
        self.self_weight = torch.from_numpy(self_weight / np.float32(self.gain))
        self.vertex, self.weights = torch.from_numpy(vertex), torch.from_numpy(weights)

    @staticmethod
    def _step(axis: int, d: int) -> np.ndarray:
        """The lattice's step along direction ``axis`` (first d coordinates): d+1 at ``axis``
        less than elsewhere, i.e. +1 everywhere and -d there (no -d for the last direction)."""
        step = np.ones(d, dtype=np.int64)
        if axis < d:
            step[axis] = -d
        return step

    @staticmethod
    def _self_response(
        simplex_vertex: np.ndarray, axis_step: np.ndarray, nbr: np.ndarray, simplex_of: np.ndarray, weights: np.ndarray
    ) -> np.ndarray:
        """Each pixel's own response Σ_{r,s} b_r b_s B[v_r, v_s] (before the gain), from its
        barycentric weights b (``weights``, (N, d+1)) and B[v_r, v_s], the mass the blur carries
        from corner s to corner r of its simplex. Corner t+1 is corner t plus one step along the
        direction k with ``axis_step[k] == t``. The blurs run along directions 0..d in order, each
        moving mass by -1, 0 or +1 step with weight ½, 1, ½; since the d+1 steps sum to zero,
        exactly two move patterns lead from s to r ≠ s (+1 along the directions between them and
        0 elsewhere, or 0 along those and -1 elsewhere; mirrored when r < s), and three lead back
        to s (no move, all +1, all -1). A pattern carries 2^-moves if every point it passes
        through is a vertex of the lattice (the blur drops mass at absent points).

        Whether a pattern (a set A of directions, one sign) survives from vertex v is tabulated
        for all 2^(d+1) sets and all vertices at once, one bit per set: the walk over A is the
        walk over A minus its last direction, then one step along that direction."""
        u, d1 = simplex_vertex.shape
        m = nbr.shape[2] - 1
        n_sets = 2**d1
        words = max(1, n_sets // 64)
        alive = np.zeros((m + 1, 2, words), dtype=np.uint64)  # bit A of vertex v, sign: the walk survives
        for sign in (0, 1):
            end = np.empty((n_sets, m + 1), dtype=nbr.dtype)
            end[0] = np.arange(m + 1)
            for subset in range(1, n_sets):
                last = subset.bit_length() - 1
                end[subset] = nbr[last, sign].take(end[subset ^ (1 << last)])
                alive[:, sign, subset >> 6] |= (end[subset] < m).astype(np.uint64) << np.uint64(subset & 63)
            alive[:m, sign, 0] |= np.uint64(1)  # the empty walk stays at an existing vertex
            del end
        # Each corner's bits, gathered once: bits[s][sign] is (U, words) for corner s of each simplex.
        bits = [alive[simplex_vertex[:, s]].transpose(1, 0, 2) for s in range(d1)]
        del alive

        def survives(s, sign, subset):  # 0/1 per simplex: the walk over ``subset`` from corner s
            word = (
                bits[s][sign][:, 0] if words == 1 else np.take_along_axis(bits[s][sign], subset[:, None] >> 6, 1)[:, 0]
            )
            return ((word >> (subset & 63).astype(np.uint64)) & np.uint64(1)).astype(np.float32)

        everything = np.full(u, n_sets - 1, dtype=np.int64)
        b = np.ascontiguousarray(weights.T)  # (d+1, N)
        own = np.zeros(simplex_of.size, np.float32)
        for s in range(d1):  # back to s: no move (1), all +1 or all -1 (2^-(d+1) each)
            back = survives(s, 0, everything) + survives(s, 1, everything)
            own += (1 + np.float32(0.5**d1) * back).take(simplex_of) * b[s] * b[s]
        # prefix[:, t]: the set of directions of the first t steps (corner 0 to corner t), as bits
        prefix = np.zeros((u, d1 + 1), dtype=np.int64)
        np.put_along_axis(prefix, axis_step + 1, 1 << np.arange(d1), axis=1)
        prefix = np.cumsum(prefix, axis=1)
        for lo in range(d1):
            for hi in range(lo + 1, d1):
                between = prefix[:, hi] - prefix[:, lo]
                rest = n_sets - 1 - between
                near, far = np.float32(0.5 ** (hi - lo)), np.float32(0.5 ** (d1 - hi + lo))
                both = (
                    near * (survives(lo, 0, between) + survives(hi, 1, between))  # lo to hi and back
                    + far * (survives(lo, 1, rest) + survives(hi, 0, rest))
                )
                own += both.take(simplex_of) * b[lo] * b[hi]
        return own

    def _apply(self, values: torch.Tensor, transpose: bool) -> torch.Tensor:
        x = self.splat @ _numpy32(values)
        for blur in reversed(self.blurs) if transpose else self.blurs:
            x = blur @ x
        return torch.from_numpy(np.ascontiguousarray(self.slice @ x, dtype=np.float32)).to(values.device)

    def filter(self, values: torch.Tensor) -> torch.Tensor:
        """Splat (N, C) values, blur along the d+1 lattice directions, slice back: (N, C),
        ≈ Σ_j exp(-‖f_i - f_j‖²/2) v_j with the pixel's own term. Differentiable."""
        if values.dim() != 2 or values.shape[0] != self.n:
            raise ValueError(f"values must be ({self.n}, C), got {tuple(values.shape)}")
        return _Linear.apply(values.float(), self._apply)

    def filter_others(self, values: torch.Tensor) -> torch.Tensor:
        """≈ Σ_{j≠i} exp(-‖f_i - f_j‖²/2) v_j: ``filter`` minus each pixel's exact own response."""
        return self.filter(values) - self.self_weight.to(values.device)[:, None] * values


def _unique_inverse(codes: np.ndarray):
    """(sorted unique codes, index of each code among them); torch.unique, 3× faster than np.unique here."""
    unique, inverse = torch.unique(torch.from_numpy(codes), return_inverse=True)
    return unique.numpy(), inverse.numpy()


def _lattice_gain(d: int) -> float:
    """Ratio of the lattice filter's response to Σ_j exp(-‖f_i - f_j‖²/2) for dense points.

    Splatting conserves mass, each of the d+1 blurs [½, 1, ½] doubles it, and slicing reads a
    vertex's value back, so a uniform density ρ gives ρ · V · 2^{d+1}, where V is the feature
    volume per lattice vertex: (d+1)^{d-1/2} in elevated units, divided by the scale (√(2/3)(d+1))^d.
    The exact Gaussian sum is ρ (2π)^{d/2}.
    """
    volume = (d + 1) ** (d - 0.5) / (math.sqrt(2.0 / 3.0) * (d + 1)) ** d
    return volume * 2 ** (d + 1) / (2 * math.pi) ** (d / 2)


class PairwiseKernels:
    """The appearance and the smoothness kernel of one image, ready to filter (C, H, W) beliefs:
    ``appearance(q)`` and ``smoothness(q)`` return Σ_{j≠i} k̄(i, j) Q_j (plus k̄(i, i) Q_i with
    ``include_self``), normalised as ``normalization`` says (module docstring). ``method`` is
    'exact' (N×N kernels) or 'fast' (lattice and separable blur); both are differentiable.
    ``messages(q, w_a, w_s)`` = w_a · appearance(q) + w_s · smoothness(q)."""

    def __init__(
        self,
        image: torch.Tensor,
        *,
        method: str = "fast",
        appearance_xy: float = DEFAULTS["appearance_xy"],
        appearance_rgb: float = DEFAULTS["appearance_rgb"],
        smoothness_xy: float = DEFAULTS["smoothness_xy"],
        normalization: str = "symmetric",
        include_self: bool = False,
        appearance: bool = True,
        max_pixels: int | None = None,
    ):
        if method not in ("exact", "fast"):
            raise ValueError(f"method must be 'exact' or 'fast', got {method!r}")
        _check_params(
            appearance_xy, appearance_rgb, smoothness_xy, normalization=normalization, include_self=include_self
        )
        image = image.detach().float().cpu()
        _, h, w = image.shape
        n = h * w
        _check_size(n, h, w, method, max_pixels)
        self.h, self.w, self.n, self.method = h, w, n, method
        self.smoothness_xy, self.normalization, self.include_self = smoothness_xy, normalization, include_self
        self.taps = (_gaussian_taps(smoothness_xy, w, 4.0), _gaussian_taps(smoothness_xy, h, 4.0))
        features = appearance_features(image, appearance_xy, appearance_rgb)
        ones = torch.ones(n, 1)
        if method == "exact":
            self.features = {"appearance": features, "smoothness": features[:, :2] * (appearance_xy / smoothness_xy)}
            self.scale = {  # the position kernel's row sums are separable: exact, untruncated, without N×N work
                "appearance": self._scale(lambda: ExactKernel([(features, 1.0)], max_bytes=0) @ ones),
                "smoothness": self._scale(
                    lambda: smoothness_filter(torch.ones(1, h, w), smoothness_xy, truncate=float(h + w)).reshape(n, 1)
                ),
            }
            self._combined = {}
        else:
            self.lattice = PermutohedralLattice(features) if appearance else None
            self._folded_cache = None
            self.scale = {
                "smoothness": self._scale(lambda: smoothness_filter(torch.ones(1, h, w), smoothness_xy).reshape(n, 1))
            }
            if self.lattice is not None:
                self.scale["appearance"] = self._scale(lambda: self.lattice.filter_others(ones))

    def _scale(self, others_sum) -> torch.Tensor | None:
        """Per-pixel factor 1/√d_i, d_i = 1 + Σ_{j≠i} k(i, j), for symmetric normalisation
        (``others_sum()`` computes the sums); None without normalisation."""
        if self.normalization == "none":
            return None
        return (1.0 + others_sum()[:, 0]).clamp_min(1e-6).rsqrt()

    def _filter(self, name: str, q: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
        c = q.shape[0]
        if self.method == "fast":  # the weight is folded into the last scaling
            if name == "appearance" and self.lattice is None:
                raise ValueError("these kernels were built with appearance=False")
            linear_map = self._lattice_map if name == "appearance" else self._blur_map
            return _Linear.apply(
                q.float().reshape(c, self.h, self.w), lambda v, transpose: linear_map(v, transpose, float(weight))
            )
        flat = q.reshape(c, self.n).T  # (N, C)
        scale = self.scale.get(name)
        scale = None if scale is None else scale.to(q.device)[:, None]
        x = flat if scale is None else flat * scale
        out = ExactKernel([(self.features[name], 1.0)]) @ x
        if self.include_self:
            out = out + x
        if scale is not None:
            out = out * scale
        return out.T.reshape(c, self.h, self.w)

    def _scale_of(self, name: str) -> torch.Tensor:
        scale = self.scale.get(name)
        return torch.ones(self.n) if scale is None else scale

    def _lattice_nc(self, x: np.ndarray, transpose: bool = False) -> np.ndarray:
        """(L - D + [include_self] I) x for (N, C) float32 x, with the lattice's L and its exact
        diagonal D, in place on x where it can: a pixel's classes are a contiguous row, the
        layout in which scipy's sparse products run. Its transpose runs the blurs in reverse."""
        lattice = self.lattice
        y = lattice.splat @ x
        for blur in reversed(lattice.blurs) if transpose else lattice.blurs:
            y = blur @ y
        y = lattice.slice @ y
        own = lattice.self_weight.numpy() - (1.0 if self.include_self else 0.0)
        y -= np.multiply(x, own[:, None], out=x)
        return y

    def _blur_nc(self, x: torch.Tensor, own: bool | None = None) -> torch.Tensor:
        """(G - I + [own] I) x for (N, C) x with the separable Gaussian blur G (``own``: the
        pixel's own term, ``include_self`` by default): the rows viewed as a channels-last
        (1, C, H, W) image, no copies (``_separable_blur``)."""
        c = x.shape[1]
        image = x.reshape(1, self.h, self.w, c).permute(0, 3, 1, 2)
        out = _separable_blur(image, *self.taps).permute(0, 2, 3, 1).reshape(self.n, c)
        return out if (self.include_self if own is None else own) else out.sub_(x)

    def _lattice_map(self, q: torch.Tensor, transpose: bool, weight: float = 1.0) -> torch.Tensor:
        """s ⊙ (L - D + [include_self] I)(s ⊙ q) for (C, H, W) q (``_lattice_nc``); a fixed
        linear map, whose transpose runs the blurs in the reverse order."""
        c = q.shape[0]
        scale = self._scale_of("appearance")
        x = _numpy32(q.detach().cpu().reshape(c, self.n).T * scale[:, None])
        y = torch.from_numpy(self._lattice_nc(x, transpose)).mul_((weight * scale)[:, None])
        return y.T.reshape(c, self.h, self.w).to(q.device)

    def _blur_map(self, q: torch.Tensor, transpose: bool, weight: float = 1.0) -> torch.Tensor:
        """s ⊙ (G - I + [include_self] I)(s ⊙ q) for (C, H, W) q (``_blur_nc``): symmetric."""
        c = q.shape[0]
        scale = self._scale_of("smoothness").to(q.device)
        out = self._blur_nc(q.reshape(c, self.n).T * scale[:, None]).mul_((weight * scale)[:, None])
        return out.T.reshape(c, self.h, self.w)

    def messages_nc(self, q: torch.Tensor, appearance_weight: float, smoothness_weight: float) -> torch.Tensor:
        """``messages`` for (N, C) beliefs q (a pixel's classes contiguous), on the fast path,
        without autograd: the layout mean_field iterates in, with no transposes. The scalings
        s ⊙ · ⊙ s and the weight are folded into the splat and slice matrices (``_folded``),
        and both kernels' own terms into one per-pixel factor, so q is read and the result
        written a few times only."""
        out, own = None, torch.zeros(self.n)
        if smoothness_weight:
            scale = self._scale_of("smoothness")
            out = self._blur_nc(q * scale[:, None], own=True).mul_((smoothness_weight * scale)[:, None])
            if not self.include_self:
                own += smoothness_weight * scale.square()
        if appearance_weight:
            splat, slice_, own_a = self._folded(float(appearance_weight))
            y = splat @ q.numpy()
            for blur in self.lattice.blurs:
                y = blur @ y
            lattice = torch.from_numpy(slice_ @ y)
            out = lattice if out is None else out.add_(lattice)
            own += own_a
        if out is None:
            return torch.zeros_like(q)
        return out.addcmul_(q, own[:, None], value=-1)

    def _folded(self, weight: float):
        """(splat · diag(s), diag(w s) · slice, w s² (D - [include_self])) for the appearance
        kernel's scale s and weight w: ``messages_nc``'s lattice filter in three sparse products."""
        if self._folded_cache is None or self._folded_cache[0] != weight:
            lattice, scale = self.lattice, self._scale_of("appearance").numpy()
            splat = lattice.splat.copy()  # CSC: column j is pixel j's weights
            splat.data *= np.repeat(scale, np.diff(splat.indptr))
            slice_ = lattice.slice.copy()  # CSR: row i is pixel i's weights
            slice_.data *= np.repeat(weight * scale, np.diff(slice_.indptr))
            own = lattice.self_weight.numpy() - (1.0 if self.include_self else 0.0)
            own = torch.from_numpy(weight * scale**2 * own)
            self._folded_cache = (weight, (splat, slice_, own))
        return self._folded_cache[1]

    def appearance(self, q: torch.Tensor) -> torch.Tensor:
        return self._filter("appearance", q)

    def smoothness(self, q: torch.Tensor) -> torch.Tensor:
        return self._filter("smoothness", q)

    def messages(self, q: torch.Tensor, appearance_weight: float, smoothness_weight: float) -> torch.Tensor:
        """w_a · appearance(q) + w_s · smoothness(q); on the exact path one N×N product."""
        c = q.shape[0]
        if self.method == "exact":
            key = (float(appearance_weight), float(smoothness_weight))
            if key not in self._combined:
                self._combined = {key: self._exact_kernel(*key)}
            return (self._combined[key] @ q.reshape(c, self.n).T).T.reshape(c, self.h, self.w)
        out = self._filter("smoothness", q, smoothness_weight) if smoothness_weight else torch.zeros_like(q)
        if appearance_weight:
            out += self._filter("appearance", q, appearance_weight)
        return out

    def _exact_kernel(self, w_a: float, w_s: float) -> ExactKernel:
        parts = [
            (self.features["appearance"], w_a, self.scale["appearance"]),
            (self.features["smoothness"], w_s, self.scale["smoothness"]),
        ]
        parts = [(f, w, s) for f, w, s in parts if w]
        if not parts:
            return ExactKernel([(self.features["smoothness"], 0.0)])
        diagonal = None
        if self.include_self:  # K[i, i] = Σ_m w_m s_m[i]², the exact self weight exp(0) = 1, normalised
            diagonal = torch.zeros(self.n)
            for _, w, s in parts:
                diagonal += w * (1.0 if s is None else s.square())
        return ExactKernel(parts, diagonal=diagonal)


# --------------------------------------------------------------------------- inference
def mean_field(
    unary: torch.Tensor,
    image: torch.Tensor,
    n_iters: int = 5,
    *,
    compatibility: torch.Tensor | None = None,
    method: str = "auto",
    exact_max_pixels: int = 4096,
    max_pixels: int | None = None,
    normalization: str = "symmetric",
    include_self: bool = False,
    appearance_weight: float = DEFAULTS["appearance_weight"],
    appearance_xy: float = DEFAULTS["appearance_xy"],
    appearance_rgb: float = DEFAULTS["appearance_rgb"],
    smoothness_weight: float = DEFAULTS["smoothness_weight"],
    smoothness_xy: float = DEFAULTS["smoothness_xy"],
    history: bool = True,
) -> dict[str, list[torch.Tensor]]:
    """Mean-field iterations on unaries ψ_u (C, H, W) and a float (3, H, W) image in 0..255.

    Returns ``{"scores": [...], "beliefs": [...]}``: the (C, H, W) scores -ψ_u - (μ ∗ messages)
    (the input of the softmax) and beliefs Q after each iteration, index 0 being the unaries alone.
    ``compatibility`` is the (C, C) matrix μ, Potts ``1 - I`` by default. ``method``: 'exact',
    'fast' or 'auto' (exact up to ``exact_max_pixels``); ``max_pixels`` overrides the path's
    size limit ``MAX_PIXELS``. ``normalization`` and ``include_self``: see the module docstring.
    ``history=False`` keeps only the last iteration (lists of length 1; less memory).
    """
    if method not in ("auto", "exact", "fast"):
        raise ValueError(f"method must be 'auto', 'exact' or 'fast', got {method!r}")
    _check_params(
        appearance_xy, appearance_rgb, smoothness_xy, appearance_weight, smoothness_weight, normalization, include_self
    )
    if not isinstance(n_iters, int) or isinstance(n_iters, bool) or n_iters < 0:
        raise ValueError(f"n_iters must be a non-negative int, got {n_iters!r}")
    check_number(
        exact_max_pixels,
        "exact_max_pixels",
        minimum=0,
        integer=True,
        hint="the number of pixels up to which method='auto' uses the exact path",
    )
    if max_pixels is not None:
        check_number(max_pixels, "max_pixels", minimum=1, integer=True, hint="a pixel count, or None for MAX_PIXELS")
    if unary.dim() != 3 or unary.shape[1] == 0 or unary.shape[2] == 0:
        raise ValueError(f"unary must be (C, H, W) with at least one pixel, got {tuple(unary.shape)}")
    if not bool(torch.isfinite(unary).all()):
        raise ValueError("unary holds NaN or infinite values; use -log(probs.clamp_min(1e-8))")
    c, h, w = unary.shape
    n = h * w
    if method == "auto":
        method = "exact" if n <= min(exact_max_pixels, MAX_PIXELS["exact"]) else "fast"
    mu = (1 - torch.eye(c)) if compatibility is None else torch.as_tensor(compatibility, dtype=torch.float32)
    if mu.shape != (c, c) or not bool(torch.isfinite(mu).all()):
        raise ValueError(f"compatibility must be a finite ({c}, {c}) matrix, got shape {tuple(mu.shape)}")
    # The fast path's operations are small and memory-bound: one thread, as densecrf. On a busy
    # 2-core machine a second thread made them 2-3 times slower (measured).
    with cpu_threads(1) if method == "fast" else contextlib.nullcontext():
        if n_iters and (appearance_weight or smoothness_weight):
            kernels = PairwiseKernels(
                image,
                method=method,
                appearance_xy=appearance_xy,
                appearance_rgb=appearance_rgb,
                smoothness_xy=smoothness_xy,
                normalization=normalization,
                include_self=include_self,
                appearance=bool(appearance_weight),
                max_pixels=max_pixels,
            )
        else:  # nothing to filter: the beliefs stay the unaries' softmax
            _check_size(n, h, w, method, max_pixels)
            kernels = None
        if kernels is not None and method == "fast" and not (unary.requires_grad and torch.is_grad_enabled()):
            return _iterate_fast(unary, kernels, n_iters, mu, history, appearance_weight, smoothness_weight)
        scores = [-unary]
        beliefs = [torch.softmax(-unary, 0)]
        for _ in range(n_iters):
            if kernels is None:
                pairwise = torch.zeros_like(unary)
            else:
                messages = kernels.messages(beliefs[-1], appearance_weight, smoothness_weight)
                pairwise = (mu @ messages.reshape(c, n)).reshape(c, h, w)
            scores.append(-unary - pairwise)
            beliefs.append(torch.softmax(scores[-1], 0))
            if not history:  # keep only the latest: 2 (C, H, W) maps instead of 2 per iteration
                del scores[:-1], beliefs[:-1]
        return {"scores": scores, "beliefs": beliefs}


def _iterate_fast(unary, kernels, n_iters, mu, history, appearance_weight, smoothness_weight):
    """The fast path's iterations in (N, C) layout, a pixel's classes contiguous: the lattice's
    sparse products, the compatibility (a C×C product) and the softmax all run on rows, and the
    maps are transposed back to (C, H, W) only for what is returned. With Potts compatibility
    the product is the messages' sum over labels minus the label's own message."""
    c, h, w = unary.shape
    potts = torch.equal(mu, 1 - torch.eye(c))
    base = (-unary).detach().reshape(c, -1).T.contiguous().float()  # (N, C) scores of the unaries
    q = torch.softmax(base, 1)
    scores, beliefs = [-unary], [q.T.reshape(c, h, w).contiguous() if history else None]
    for i in range(n_iters):
        messages = kernels.messages_nc(q, appearance_weight, smoothness_weight)
        if potts:  # in place on the messages: one (N, C) allocation less per iteration
            score = messages.sub_(messages.sum(1, keepdim=True)).add_(base)
        else:
            score = torch.addmm(base, messages, mu.T, alpha=-1)
        q = torch.softmax(score, 1)
        if history or i == n_iters - 1:
            scores.append(score.T.reshape(c, h, w).contiguous())
            beliefs.append(q.T.reshape(c, h, w).contiguous())
        if not history:
            del scores[:-1], beliefs[:-1]
    return {"scores": scores, "beliefs": beliefs}


def dense_crf(probs, image, n_iters: int = 5, *, method: str = "auto", **params) -> torch.Tensor:
    """Refine class probabilities with a dense CRF (Krähenbühl & Koltun 2011; DeepLab v1/v2).

    ``probs``: (C, H, W) probabilities summing to 1 over classes (a softmax output).
    ``image``: the RGB image as uint8, (3, H, W) or (H, W, 3).
    Returns refined (C, H, W) probabilities after ``n_iters`` mean-field iterations. Keyword
    parameters: ``appearance_weight``, ``appearance_xy`` (θ_α, px), ``appearance_rgb`` (θ_β),
    ``smoothness_weight``, ``smoothness_xy`` (θ_γ), defaults in ``DEFAULTS``;
    ``normalization`` ('symmetric' or 'none') and ``include_self`` (False: Σ_{j≠i}), see the
    module docstring; ``**PYDENSECRF`` reproduces pydensecrf's choices. ``method``: 'exact'
    (N×N kernel, up to ``MAX_PIXELS['exact']``), 'fast' (separable blur + permutohedral lattice,
    up to ``MAX_PIXELS['fast']``) or 'auto' (exact up to ``exact_max_pixels`` pixels);
    ``max_pixels`` raises a path's limit.
    """
    probs = _as_probs(probs)
    image = _as_image(image, probs.shape[1:])
    if not isinstance(n_iters, int) or isinstance(n_iters, bool) or n_iters < 0:
        raise ValueError(f"n_iters must be a non-negative int, got {n_iters!r}")
    unary = -torch.log(probs.clamp_min(1e-8))
    return mean_field(unary, image, n_iters, method=method, history=False, **params)["beliefs"][-1]


def dense_crf_weights(probs, image, weights, n_iters: int = 5, **kernel_params) -> list[torch.Tensor]:
    """``dense_crf`` on the fast path for several ``(appearance_weight, smoothness_weight)``
    pairs, building the image's kernels (lattice and blur) once: a search over the two weights
    (notebook 06 §8) costs one kernel build per image instead of one per setting. ``kernel_params``
    are the widths, ``normalization`` and ``include_self`` of ``dense_crf``. Returns one refined
    (C, H, W) probability map per pair, equal to ``dense_crf(..., method="fast")``'s."""
    probs = _as_probs(probs)
    image = _as_image(image, probs.shape[1:])
    weights = [tuple(pair) for pair in weights]
    if not weights or any(len(pair) != 2 for pair in weights):
        raise ValueError(
            f"weights must be a non-empty list of (appearance_weight, smoothness_weight) pairs, got {weights!r}"
        )
    unknown = set(kernel_params) - {"appearance_xy", "appearance_rgb", "smoothness_xy", "normalization", "include_self"}
    if unknown:
        raise TypeError(
            f"dense_crf_weights takes the kernels' widths, normalization and include_self, "
            f"not {sorted(unknown)}; the weights go in `weights`"
        )
    options = {**{k: DEFAULTS[k] for k in ("appearance_xy", "appearance_rgb", "smoothness_xy")}, **kernel_params}
    for w_a, w_s in weights:
        _check_params(
            options["appearance_xy"],
            options["appearance_rgb"],
            options["smoothness_xy"],
            w_a,
            w_s,
            options.get("normalization", "symmetric"),
            options.get("include_self", False),
        )
    unary = -torch.log(probs.clamp_min(1e-8))
    c = unary.shape[0]
    with cpu_threads(1):
        kernels = PairwiseKernels(image.float(), method="fast", **options)
        return [
            _iterate_fast(unary, kernels, n_iters, 1 - torch.eye(c), False, w_a, w_s)["beliefs"][-1]
            if n_iters and (w_a or w_s)
            else torch.softmax(-unary, 0)
            for w_a, w_s in weights
        ]
