"""CRF as RNN (Zheng et al. 2015): mean-field iterations of the dense CRF as differentiable
layers on top of a segmentation network, trained end to end (notebook 06).

One iteration, in Zheng et al.'s words and order, on beliefs Q = softmax(scores):
message passing (Gaussian filtering of Q with the appearance and the smoothness kernel,
``seglib.crf.PairwiseKernels``: permutohedral lattice and separable blur, the pixel's own term
removed exactly, normalised like ``dense_crf``'s, symmetric by default) → weighting the
filter outputs (a learnable weight per kernel and class) → compatibility transform (a
learnable C×C matrix, initialised to Potts) → adding the unaries (the network's logits) →
softmax. Every step is a linear map or a softmax, so gradients reach the network and the CRF
parameters. The kernel widths stay fixed, as in the paper.
"""

from __future__ import annotations

import torch
from torch import nn

from .._guards import check_number
from ..crf import DEFAULTS, MIN_WIDTH, NORMALIZATIONS, PairwiseKernels
from .blocks import check_sizes

__all__ = ["CRFRNN", "CRFRNNSegmenter"]


class CRFRNN(nn.Module):
    """Mean-field layers: ``forward(logits, image)`` → refined scores (N, C, H, W).

    ``logits`` are the network's (N, C, H, W) outputs (unaries ψ_u = -logits); ``image`` is the
    (N, 3, H, W) RGB image with values 0..255 (uint8 or float) at the same size."""

    def __init__(
        self,
        num_classes: int,
        n_iters: int = 5,
        *,
        appearance_weight: float = DEFAULTS["appearance_weight"],
        appearance_xy: float = DEFAULTS["appearance_xy"],
        appearance_rgb: float = DEFAULTS["appearance_rgb"],
        smoothness_weight: float = DEFAULTS["smoothness_weight"],
        smoothness_xy: float = DEFAULTS["smoothness_xy"],
        normalization: str = "symmetric",
        include_self: bool = False,
    ):
        super().__init__()
        check_sizes("CRFRNN", num_classes=num_classes)
        if isinstance(n_iters, bool) or not isinstance(n_iters, int) or n_iters < 0:
            raise ValueError(f"CRFRNN: n_iters must be a non-negative int, got {n_iters!r}")
        for name, value in (
            ("appearance_xy", appearance_xy),
            ("appearance_rgb", appearance_rgb),
            ("smoothness_xy", smoothness_xy),
        ):
            check_number(value, name, minimum=MIN_WIDTH, hint=f"a kernel width is positive, at least {MIN_WIDTH}")
        for name, value in (("appearance_weight", appearance_weight), ("smoothness_weight", smoothness_weight)):
            check_number(value, name, hint="a kernel's initial weight is a finite number")
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"CRFRNN: normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        if not isinstance(include_self, bool):
            raise ValueError(f"CRFRNN: include_self must be True or False, got {include_self!r}")
        self.normalization, self.include_self = normalization, include_self
        self.num_classes, self.n_iters = num_classes, n_iters
        self.appearance_xy, self.appearance_rgb, self.smoothness_xy = appearance_xy, appearance_rgb, smoothness_xy
        self.appearance_weight = nn.Parameter(torch.full((num_classes,), float(appearance_weight)))
        self.smoothness_weight = nn.Parameter(torch.full((num_classes,), float(smoothness_weight)))
        self.compatibility = nn.Parameter(1 - torch.eye(num_classes))  # Potts

    def forward(self, logits: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        if logits.ndim != 4 or logits.shape[1] != self.num_classes:
            raise ValueError(f"CRFRNN expects logits (N, {self.num_classes}, H, W), got {tuple(logits.shape)}")
        if (
            image.ndim != 4
            or image.shape[1] != 3
            or image.shape[0] != logits.shape[0]
            or image.shape[-2:] != logits.shape[-2:]
        ):
            raise ValueError(
                f"CRFRNN expects an RGB image batch (N, 3, H, W) matching the logits "
                f"{tuple(logits.shape)}, got {tuple(image.shape)}"
            )
        if image.is_floating_point() and float(image.max()) <= 1.0 + 1e-6:
            raise ValueError(
                "CRFRNN expects image values in 0..255; multiply a [0, 1] image by 255 "
                "(or pass the uint8 image), and do not pass normalised inputs"
            )
        return torch.stack([self._refine(logit, img.float()) for logit, img in zip(logits, image, strict=True)])

    def _refine(self, logits: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        c, h, w = logits.shape
        with torch.no_grad():
            kernels = PairwiseKernels(
                image.cpu(),
                method="fast",
                appearance_xy=self.appearance_xy,
                appearance_rgb=self.appearance_rgb,
                smoothness_xy=self.smoothness_xy,
                normalization=self.normalization,
                include_self=self.include_self,
            )
        scores = logits
        for _ in range(self.n_iters):
            q = torch.softmax(scores, 0)
            weighted = self.appearance_weight[:, None, None] * kernels.appearance(q) + self.smoothness_weight[
                :, None, None
            ] * kernels.smoothness(q)
            pairwise = torch.einsum("kl,lhw->khw", self.compatibility, weighted)
            scores = logits - pairwise
        return scores


class CRFRNNSegmenter(nn.Module):
    """A network followed by ``CRFRNN``: ``forward(x, image)`` returns refined scores.
    ``x`` is the network's (normalised) input, ``image`` the same images in 0..255. Without
    ``image`` the images are recovered from ``x`` by undoing the ImageNet normalisation of
    ``seglib.data``'s transforms, so the pair trains with ``seglib.train.fit`` like any model."""

    def __init__(self, network: nn.Module, num_classes: int, **crf_params):
        super().__init__()
        self.network = network
        self.crf = CRFRNN(num_classes, **crf_params)

    def forward(self, x: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        if image is None:
            image = _unnormalised(x)
        return self.crf(self.network(x), image)


def _unnormalised(x: torch.Tensor) -> torch.Tensor:
    """``data.train_transform``/``eval_transform``'s normalised images back to 0..255."""
    from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD

    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(
            f"CRFRNNSegmenter without an image expects normalised RGB inputs (N, 3, H, W), "
            f"got {tuple(x.shape)}; pass the 0..255 images as the second argument otherwise"
        )
    mean = x.new_tensor(IMAGENET_MEAN)[:, None, None]
    std = x.new_tensor(IMAGENET_STD)[:, None, None]
    return ((x.detach() * std + mean) * 255).clamp(0, 255)
