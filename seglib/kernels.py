"""Classic hand-made filters: Gaussian blur, finite differences, Laplacian (notebook 01).

Piccoli & Barbato's lecture shows them before CNNs "find the filters automatically". All
kernels are float32 tensors meant for cross-correlation (what ``conv2d`` computes).
"""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F

from ._guards import check_allocation, check_finite, check_number

__all__ = [
    "GAUSSIAN_5X5_INTEGER",
    "gaussian_5x5",
    "gaussian",
    "derivative",
    "laplacian",
    "filter2d",
]

# The slides' integer approximation of a 5x5 Gaussian; it is divided by its sum, 273.
GAUSSIAN_5X5_INTEGER = torch.tensor(
    [
        [1, 4, 7, 4, 1],
        [4, 16, 26, 16, 4],
        [7, 26, 41, 26, 7],
        [4, 16, 26, 16, 4],
        [1, 4, 7, 4, 1],
    ],
    dtype=torch.int64,
)


def gaussian_5x5() -> torch.Tensor:
    """The slides' 5x5 Gaussian: the integer kernel divided by 273, so that it sums to 1."""
    total = int(GAUSSIAN_5X5_INTEGER.sum())
    return GAUSSIAN_5X5_INTEGER.to(torch.float32) / total


def gaussian(size: int, sigma: float | None = None) -> torch.Tensor:
    """A size x size Gaussian kernel sampled at integer offsets and normalised to sum 1.

    ``sigma`` defaults to OpenCV's rule for a given size, 0.3 ((size - 1) / 2 - 1) + 0.8.
    """
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1 or size % 2 == 0:
        raise ValueError(f"size must be a positive odd int, got {size!r}")
    size = int(size)
    check_allocation(12.0 * size * size, f"a {size}x{size} Gaussian kernel", "use a smaller size")
    if sigma is None:
        sigma = 0.3 * ((size - 1) / 2 - 1) + 0.8
    sigma = check_number(sigma, "sigma", minimum=0, strict=True, hint="the blur's standard deviation in pixels")
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    profile = torch.exp(-0.5 * (offsets / sigma) ** 2)  # a tiny sigma gives a delta, not 0 / 0
    kernel = profile[:, None] * profile[None, :]
    return (kernel / kernel.sum()).to(torch.float32)


_DIFFERENCES = {
    # taps at offsets -1, 0, +1 along the axis
    "forward": (0.0, -1.0, 1.0),  # I[x + 1] - I[x]
    "backward": (-1.0, 1.0, 0.0),  # I[x] - I[x - 1]
    "central": (-0.5, 0.0, 0.5),  # (I[x + 1] - I[x - 1]) / 2
}


def derivative(kind: str = "central", axis: str = "x") -> torch.Tensor:
    """A finite-difference kernel for dI/dx (1x3) or dI/dy (3x1), step one pixel.

    ``kind`` is "forward", "backward" or "central". The central difference is divided by 2,
    the distance between its two taps (the slides' formula, garbled in extraction, shows the
    step only once).
    """
    if kind not in _DIFFERENCES:
        raise ValueError(f"kind must be one of {sorted(_DIFFERENCES)}, got {kind!r}")
    taps = torch.tensor(_DIFFERENCES[kind], dtype=torch.float32)
    if axis == "x":
        return taps.view(1, 3)
    if axis == "y":
        return taps.view(3, 1)
    raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")


def laplacian() -> torch.Tensor:
    """The 3x3 Laplacian [[0, 1, 0], [1, -4, 1], [0, 1, 0]]: a second derivative, zero on flat
    regions and ramps, crossing zero at edges."""
    return torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def filter2d(image: torch.Tensor, kernel: torch.Tensor, padding: str = "reflect") -> torch.Tensor:
    """Apply one 2-D kernel to every channel of an image, keeping its size.

    ``image`` is (H, W), (C, H, W) or (N, C, H, W), float. The same kernel runs on each channel
    separately: a depthwise convolution, ``groups = C`` (PyTorch's conv2d; ``seglib.ops.conv2d``
    computes the same, but unfolds every window into memory).
    ``padding`` is "reflect" (mirror the border, no dark frame) or "zeros".
    """
    if not isinstance(image, torch.Tensor) or not image.is_floating_point():
        raise TypeError("image must be a floating-point tensor; convert a uint8 image with x.float() / 255")
    if not isinstance(kernel, torch.Tensor):
        raise TypeError(f"kernel must be a tensor, got {type(kernel).__name__}; wrap it: torch.tensor(kernel)")
    if kernel.dim() != 2:
        raise ValueError(f"kernel must be 2-D (kH, kW), got shape {tuple(kernel.shape)}")
    kh, kw = kernel.shape
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"kernel sides must be odd to keep the image centred, got {kh}x{kw}")
    check_finite(kernel, "kernel", "every output pixel would be NaN; check how the kernel was built")
    shape = image.shape
    if image.dim() == 2:
        x = image[None, None]
    elif image.dim() == 3:
        x = image[None]
    elif image.dim() == 4:
        x = image
    else:
        raise ValueError(f"image must be (H, W), (C, H, W) or (N, C, H, W), got shape {tuple(shape)}")
    channels = x.shape[1]
    if x.shape[-2] == 0 or x.shape[-1] == 0:
        raise ValueError(f"image has an empty height or width (shape {tuple(shape)}); there is nothing to filter")
    pads = (kw // 2, kw // 2, kh // 2, kh // 2)
    if padding == "reflect" and (kh // 2 >= x.shape[-2] or kw // 2 >= x.shape[-1]):
        raise ValueError(
            f"reflect padding cannot mirror {kh // 2}x{kw // 2} pixels of a {x.shape[-2]}x{x.shape[-1]} image: "
            f"half the {kh}x{kw} kernel must be smaller than the image; use padding='zeros' or a smaller kernel"
        )
    if padding == "reflect":
        x = F.pad(x, pads, mode="reflect")
        conv_padding = 0
    elif padding == "zeros":
        conv_padding = (kh // 2, kw // 2)
    else:
        raise ValueError(f"padding must be 'reflect' or 'zeros', got {padding!r}")
    weight = kernel.to(x.dtype).expand(channels, 1, kh, kw).contiguous()
    out = F.conv2d(x, weight, padding=conv_padding, groups=channels)
    return out.reshape(shape)
