"""Convolution and upsampling operators written from scratch (notebook 01).

Each function has the semantics of its ``torch.nn.functional`` twin, so a student can read how
it works and a unit test can check it against PyTorch. They are for learning and for small
tensors: the library versions (``F.conv2d``, ``F.interpolate``, ...) are what the rest of the
course uses.

Lectures: TUM CV3DST (upsampling, transposed convolution), K. N. Toosi lecture 15 (nearest,
bed of nails, bilinear by areas and by distances, max-unpooling), Piccoli & Barbato
(transposed-convolution examples, pixel shuffle); Dumoulin & Visin, "A guide to convolution
arithmetic for deep learning" (2016).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._guards import check_allocation, check_number
from ._torch import as_pair

__all__ = [
    "conv2d",
    "conv_transpose2d",
    "upsample_nearest",
    "bed_of_nails",
    "upsample_bilinear",
    "max_unpool2d",
    "pixel_shuffle",
    "bilinear_kernel",
]

IntOrPair = int | Sequence[int]


# --------------------------------------------------------------------------- argument checks
def _tensor(x, name: str = "input") -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        hint = "; convert it with torch.from_numpy(x)" if type(x).__module__ == "numpy" else ""
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}{hint}")
    return x


def _batched(x: torch.Tensor, name: str = "input", *, empty_ok: bool = False) -> tuple[torch.Tensor, bool]:
    """Accept (N, C, H, W) or unbatched (C, H, W), as PyTorch does; say which it was. Unless
    ``empty_ok``, refuse an empty height or width, as PyTorch does."""
    _tensor(x, name)
    if x.dim() == 3:
        x, unbatched = x.unsqueeze(0), True
    elif x.dim() == 4:
        unbatched = False
    else:
        raise ValueError(
            f"{name} must have shape (N, C, H, W) or (C, H, W), got {x.dim()} dimensions "
            f"{tuple(x.shape)}; for a single-channel image of shape (H, W) use x[None, None]"
        )
    if not empty_ok and (x.shape[-2] == 0 or x.shape[-1] == 0):
        raise ValueError(
            f"{name} has an empty height or width, shape {tuple(x.shape)}; give at least one pixel "
            "(PyTorch refuses this too)"
        )
    return x, unbatched


def _check_output(shape, like: torch.Tensor, what: str, hint: str) -> None:
    """Refuse, before allocating, an output larger than the memory this machine has left."""
    count = 1
    for side in shape:
        count *= int(side)
    check_allocation(float(count) * like.element_size(), what, hint)


def _check_conv_inputs(x: torch.Tensor, weight: torch.Tensor, groups: int, layout: str) -> None:
    """Checks shared by conv2d and conv_transpose2d; ``layout`` names the weight's dimensions."""
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4:
        got = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ValueError(f"weight must be a 4-D tensor {layout}, got {got}")
    if min(weight.shape) < 1:
        raise ValueError(
            f"weight {layout} has an empty dimension, shape {tuple(weight.shape)}; every dimension "
            "needs at least 1 (PyTorch refuses this too)"
        )
    if not x.is_floating_point():
        raise TypeError(f"input must be a floating-point tensor, got {x.dtype}; convert with x.float()")
    if x.dtype != weight.dtype:
        raise TypeError(f"input ({x.dtype}) and weight ({weight.dtype}) must have the same dtype")
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")


def _check_bias(bias: torch.Tensor | None, out_channels: int, like: torch.Tensor) -> None:
    if bias is None:
        return
    if not isinstance(bias, torch.Tensor):
        raise TypeError(
            f"bias must be a tensor of shape ({out_channels},) or None, got {type(bias).__name__}; "
            f"convert it with torch.tensor(bias, dtype={like.dtype})"
        )
    if bias.dim() != 1 or bias.shape[0] != out_channels:
        raise ValueError(f"bias must have shape ({out_channels},), got {tuple(bias.shape)}")
    if bias.dtype != like.dtype:
        raise TypeError(f"bias ({bias.dtype}) must have the input's dtype ({like.dtype})")


def _zero_pad(x: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """Surround the last two dimensions with zeros."""
    if top == bottom == left == right == 0:
        return x
    *lead, h, w = x.shape
    out = x.new_zeros(*lead, h + top + bottom, w + left + right)
    out[..., top : top + h, left : left + w] = x
    return out


# --------------------------------------------------------------------------- convolution
def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair | str = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> torch.Tensor:
    """2-D cross-correlation, as ``torch.nn.functional.conv2d`` computes it.

    ``x`` is (N, C_in, H, W) or (C_in, H, W); ``weight`` is (C_out, C_in / groups, kH, kW).
    Every output pixel is the dot product of the kernel with one window of the zero-padded
    input; the windows are ``stride`` apart and their taps ``dilation`` apart. With ``groups``
    the channels split into independent groups (``groups = C_in`` is a depthwise convolution).
    ``padding`` may also be "valid" (none) or "same" (output as large as the input, stride 1).
    """
    x, unbatched = _batched(x)
    _check_conv_inputs(x, weight, groups, "(C_out, C_in / groups, kH, kW)")
    n, c_in, h, w = x.shape
    c_out, c_per_group, kh, kw = weight.shape
    if c_in % groups or c_out % groups:
        raise ValueError(
            f"groups={groups} must divide both the input channels ({c_in}) and the output channels ({c_out})"
        )
    if c_per_group * groups != c_in:
        raise ValueError(
            f"input has {c_in} channels but weight expects {c_per_group} x groups={groups} = "
            f"{c_per_group * groups}: weight must be (C_out, C_in / groups, kH, kW)"
        )
    _check_bias(bias, c_out, x)
    sh, sw = as_pair(stride, "stride", 1)
    dh, dw = as_pair(dilation, "dilation", 1)
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1  # the kernel's footprint, holes included

    if isinstance(padding, str):
        if padding == "valid":
            pads = (0, 0, 0, 0)
        elif padding == "same":
            if (sh, sw) != (1, 1):
                raise ValueError("padding='same' needs stride 1 (PyTorch has the same rule)")
            # Odd totals put the extra zero at the bottom/right, as PyTorch does.
            pads = ((span_h - 1) // 2, span_h // 2, (span_w - 1) // 2, span_w // 2)
        else:
            raise ValueError(f"padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    else:
        ph, pw = as_pair(padding, "padding", 0)
        pads = (ph, ph, pw, pw)

    _check_output(
        (n, c_in, h + pads[0] + pads[1], w + pads[2] + pads[3]),
        x,
        f"the input padded by {padding!r}",
        "use a padding of a few pixels (about kernel_size // 2)",
    )
    xp = _zero_pad(x, *pads)
    hp, wp = xp.shape[-2:]
    if hp < span_h or wp < span_w:
        raise ValueError(
            f"the kernel's footprint ({span_h}x{span_w} with dilation {(dh, dw)}) is larger than the "
            f"padded input ({hp}x{wp}); use a smaller kernel or dilation, or more padding"
        )
    # Windows as a view: (N, C, H_out, W_out, span_h, span_w), then keep every dilation-th tap.
    windows = xp.unfold(2, span_h, sh).unfold(3, span_w, sw)[..., ::dh, ::dw]
    h_out, w_out = windows.shape[2:4]
    windows = windows.reshape(n, groups, c_in // groups, h_out, w_out, kh, kw)
    kernels = weight.reshape(groups, c_out // groups, c_per_group, kh, kw)
    out = torch.einsum("ngchwij,gocij->ngohw", windows, kernels).reshape(n, c_out, h_out, w_out)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out[0] if unbatched else out


def conv_transpose2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    output_padding: IntOrPair = 0,
    groups: int = 1,
    dilation: IntOrPair = 1,
) -> torch.Tensor:
    """Transposed convolution by scatter-add, as ``torch.nn.functional.conv_transpose2d``.

    ``weight`` is (C_in, C_out / groups, kH, kW). Every input pixel "stamps" the kernel, scaled
    by its value, onto the output at ``stride`` times its position; where stamps overlap they
    add up. ``padding`` then crops that many rows/columns from each border (it shrinks the
    output, the opposite of a convolution's padding) and ``output_padding`` adds rows/columns
    at the bottom/right so that the output can reach a size a strided convolution maps back
    from. It multiplies by the transpose of the convolution's matrix; it does not invert it.
    """
    x, unbatched = _batched(x)
    _check_conv_inputs(x, weight, groups, "(C_in, C_out / groups, kH, kW)")
    n, c_in, h, w = x.shape
    if weight.shape[0] != c_in:
        raise ValueError(
            f"input has {c_in} channels but weight has {weight.shape[0]} in its first dimension: "
            "a transposed convolution's weight is (C_in, C_out / groups, kH, kW)"
        )
    if c_in % groups:
        raise ValueError(f"groups={groups} must divide the input channels ({c_in})")
    c_out = weight.shape[1] * groups
    kh, kw = weight.shape[2:]
    _check_bias(bias, c_out, x)
    sh, sw = as_pair(stride, "stride", 1)
    ph, pw = as_pair(padding, "padding", 0)
    oph, opw = as_pair(output_padding, "output_padding", 0)
    dh, dw = as_pair(dilation, "dilation", 1)
    if oph >= max(sh, dh) or opw >= max(sw, dw):
        raise ValueError(
            f"output_padding {(oph, opw)} must be smaller than the stride {(sh, sw)} or the "
            f"dilation {(dh, dw)}: it only picks among the output sizes a strided convolution "
            "could have come from"
        )
    h_out = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    w_out = (w - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    if h_out <= 0 or w_out <= 0:
        raise ValueError(
            f"output would be {h_out}x{w_out}: padding {(ph, pw)} crops more than the "
            "transposed convolution produces; use less padding"
        )

    # Uncropped output: every stamp fits, plus output_padding at the bottom/right.
    full_h = (h - 1) * sh + dh * (kh - 1) + 1 + oph
    full_w = (w - 1) * sw + dw * (kw - 1) + 1 + opw
    _check_output(
        (n, c_out, full_h, full_w),
        x,
        f"a {full_h}x{full_w} transposed-convolution output",
        "check stride and dilation (a few pixels each)",
    )
    xg = x.reshape(n, groups, c_in // groups, h, w)
    wg = weight.reshape(groups, c_in // groups, c_out // groups, kh, kw)
    full = x.new_zeros(n, groups, c_out // groups, full_h, full_w)
    # Loop over the kernel taps (a few), vectorised over pixels: tap (i, j) of the stamp that
    # input pixel (r, c) makes lands on output pixel (r * stride + i * dilation, c * stride + j * dilation).
    for i in range(kh):
        for j in range(kw):
            contribution = torch.einsum("ngchw,gco->ngohw", xg, wg[..., i, j])
            rows = slice(i * dh, i * dh + (h - 1) * sh + 1, sh)
            cols = slice(j * dw, j * dw + (w - 1) * sw + 1, sw)
            full[..., rows, cols] += contribution
    out = full[..., ph : ph + h_out, pw : pw + w_out].reshape(n, c_out, h_out, w_out)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out[0] if unbatched else out


# --------------------------------------------------------------------------- upsampling
def upsample_nearest(x: torch.Tensor, scale_factor: IntOrPair = 2) -> torch.Tensor:
    """Nearest-neighbour upsampling by an integer factor: every pixel becomes a block.

    Equals ``F.interpolate(x, scale_factor=s, mode="nearest")`` for integer ``s``; works on any
    tensor whose last two dimensions are (H, W).
    """
    _spatial(x)
    sh, sw = as_pair(scale_factor, "scale_factor", 1)
    _check_output(
        (*x.shape[:-2], x.shape[-2] * sh, x.shape[-1] * sw),
        x,
        f"upsampling by {scale_factor!r}",
        "use a smaller scale_factor",
    )
    return x.repeat_interleave(sh, dim=-2).repeat_interleave(sw, dim=-1)


def _spatial(x) -> None:
    """Any tensor whose last two dimensions are a non-empty (H, W)."""
    _tensor(x)
    if x.dim() < 2:
        raise ValueError(
            f"input must have at least two dimensions (..., H, W), got shape {tuple(x.shape)}; "
            "for a row of values use x[None]"
        )
    if x.shape[-2] == 0 or x.shape[-1] == 0:
        raise ValueError(f"input has an empty height or width, shape {tuple(x.shape)}; give at least one pixel")


def bed_of_nails(x: torch.Tensor, scale_factor: IntOrPair = 2) -> torch.Tensor:
    """'Bed of nails' upsampling: each value goes to the top-left of its block, zeros elsewhere."""
    _spatial(x)
    sh, sw = as_pair(scale_factor, "scale_factor", 1)
    *lead, h, w = x.shape
    _check_output((*lead, h * sh, w * sw), x, f"upsampling by {scale_factor!r}", "use a smaller scale_factor")
    out = x.new_zeros(*lead, h * sh, w * sw)
    out[..., ::sh, ::sw] = x
    return out


def _source_coords(n_in: int, n_out: int, scale: float | None, align_corners: bool, like: torch.Tensor):
    """For each output index, the two input neighbours and the distance to the first one."""
    dst = torch.arange(n_out, dtype=like.dtype, device=like.device)
    if align_corners:
        src = dst * ((n_in - 1) / (n_out - 1)) if n_out > 1 else torch.zeros_like(dst)
    else:
        step = 1.0 / scale if scale is not None else n_in / n_out
        src = ((dst + 0.5) * step - 0.5).clamp(min=0)  # pixel centres, clamped at the border
    i0 = src.floor().long().clamp(max=n_in - 1)
    i1 = (i0 + 1).clamp(max=n_in - 1)
    return i0, i1, src - i0.to(src.dtype)


def upsample_bilinear(
    x: torch.Tensor,
    scale_factor: float | None = None,
    size: IntOrPair | None = None,
    align_corners: bool = False,
    formulation: str = "distances",
) -> torch.Tensor:
    """Bilinear interpolation, as ``F.interpolate(mode="bilinear")`` on a (N, C, H, W) tensor.

    Each output pixel mixes its four input neighbours V1 (top-left), V2 (top-right),
    V3 (bottom-left), V4 (bottom-right). The K. N. Toosi slides give two formulations:

    - ``"distances"``: interpolate along x, then along y, q1 = V1 d2 + V2 d1,
      q2 = V3 d2 + V4 d1, q = q1 d4 + q2 d3 (d1, d3 the distances from V1 along x and y,
      d2 = 1 - d1, d4 = 1 - d3);
    - ``"areas"``: weight each neighbour by the area of the rectangle opposite it.

    They are the same polynomial; ``align_corners`` chooses how output and input grids line up.
    """
    x, unbatched = _batched(x)
    if not x.is_floating_point():
        raise TypeError(f"input must be a floating-point tensor, got {x.dtype}")
    if (scale_factor is None) == (size is None):
        raise ValueError("give exactly one of scale_factor and size")
    h, w = x.shape[-2:]
    if size is not None:
        out_h, out_w = as_pair(size, "size", 1)
        scale = None
    else:
        scale_factor = check_number(scale_factor, "scale_factor", minimum=0, strict=True)
        out_h, out_w, scale = int(h * scale_factor), int(w * scale_factor), float(scale_factor)
        if out_h < 1 or out_w < 1:
            raise ValueError(
                f"scale_factor={scale_factor} turns {h}x{w} into {out_h}x{out_w}, an empty image; use a "
                f"larger scale_factor, or size=... (PyTorch refuses this too)"
            )
    _check_output((*x.shape[:2], out_h, out_w), x, f"a {out_h}x{out_w} upsampled image", "use a smaller size")
    y0, y1, dy = _source_coords(h, out_h, scale, align_corners, x)
    x0, x1, dx = _source_coords(w, out_w, scale, align_corners, x)
    top, bottom = x.index_select(-2, y0), x.index_select(-2, y1)
    v1, v2 = top.index_select(-1, x0), top.index_select(-1, x1)
    v3, v4 = bottom.index_select(-1, x0), bottom.index_select(-1, x1)
    d1, d3 = dx.view(1, 1, 1, -1), dy.view(1, 1, -1, 1)
    d2, d4 = 1 - d1, 1 - d3
    if formulation == "distances":
        q1 = v1 * d2 + v2 * d1
        q2 = v3 * d2 + v4 * d1
        out = q1 * d4 + q2 * d3
    elif formulation == "areas":
        out = v1 * (d2 * d4) + v2 * (d1 * d4) + v3 * (d2 * d3) + v4 * (d1 * d3)
    else:
        raise ValueError(f"formulation must be 'distances' or 'areas', got {formulation!r}")
    return out[0] if unbatched else out


def max_unpool2d(
    x: torch.Tensor,
    indices: torch.Tensor,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    output_size: Sequence[int] | None = None,
) -> torch.Tensor:
    """Max-unpooling, as ``F.max_unpool2d``: put each value back where its maximum came from.

    ``indices`` are those returned by ``F.max_pool2d(..., return_indices=True)``: flat positions
    within each (H, W) plane of the pooling input. Every other output pixel is zero.
    """
    x, unbatched = _batched(x)
    if not isinstance(indices, torch.Tensor) or indices.shape != x.shape or indices.dtype != torch.int64:
        raise ValueError(
            "indices must be the int64 tensor returned with the pooled values, of the same shape "
            f"{tuple(x.shape)}; got {getattr(indices, 'dtype', type(indices).__name__)} "
            f"{tuple(getattr(indices, 'shape', ()))}. Use F.max_pool2d(..., return_indices=True)"
        )
    kh, kw = as_pair(kernel_size, "kernel_size", 1)
    sh, sw = as_pair(stride if stride is not None else kernel_size, "stride", 1)
    ph, pw = as_pair(padding, "padding", 0)
    n, c, h, w = x.shape
    if output_size is not None:
        sizes = tuple(output_size)[-2:]
        if len(sizes) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in sizes):
            raise ValueError(f"output_size must end with two positive ints (H, W), got {output_size!r}")
        out_h, out_w = sizes
    else:
        out_h, out_w = (h - 1) * sh - 2 * ph + kh, (w - 1) * sw - 2 * pw + kw
        if out_h < 1 or out_w < 1:
            raise ValueError(
                f"the output would be {out_h}x{out_w}: padding {(ph, pw)} is too large for the kernel; "
                "use the pooling's padding, or pass output_size"
            )
    _check_output((n, c, out_h, out_w), x, f"a {out_h}x{out_w} unpooled output", "check output_size and stride")
    if indices.numel() and int(indices.max()) >= out_h * out_w:
        raise ValueError(
            f"an index ({int(indices.max())}) falls outside the {out_h}x{out_w} output; pass the "
            "pooling input's size as output_size"
        )
    flat = x.new_zeros(n, c, out_h * out_w).scatter(2, indices.reshape(n, c, -1), x.reshape(n, c, -1))
    out = flat.reshape(n, c, out_h, out_w)
    return out[0] if unbatched else out


def pixel_shuffle(x: torch.Tensor, upscale_factor: int) -> torch.Tensor:
    """Sub-pixel rearrangement, as ``F.pixel_shuffle``: (N, C r², H, W) -> (N, C, H r, W r).

    The r² channels of a pixel become an r x r block of the output (Shi et al., 2016).
    """
    x, unbatched = _batched(x, empty_ok=True)  # PyTorch shuffles an empty (H, W) too
    if isinstance(upscale_factor, bool) or not isinstance(upscale_factor, int) or upscale_factor < 1:
        raise ValueError(f"upscale_factor must be a positive int, got {upscale_factor!r}")
    n, c, h, w = x.shape
    r = upscale_factor
    if c % (r * r):
        raise ValueError(f"pixel_shuffle needs the channels ({c}) divisible by upscale_factor² ({r * r})")
    out = x.reshape(n, c // (r * r), r, r, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, c // (r * r), h * r, w * r)
    return out[0] if unbatched else out


def bilinear_kernel(in_channels: int, out_channels: int, kernel_size: int) -> torch.Tensor:
    """A ConvTranspose2d weight (in, out, k, k) that upsamples each channel bilinearly.

    Channel i maps to channel i with the separable "tent" filter; other pairs are zero. With
    ``stride = s``, ``kernel_size = 2 s - s % 2`` and ``padding = (kernel_size - s) // 2`` it
    multiplies the size by s and equals bilinear interpolation (half-pixel centres) away from
    the border. This is how FCN initialises its learned upsampling
    (Long et al., 2015).
    """
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("kernel_size", kernel_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    check_allocation(
        4.0 * in_channels * out_channels * kernel_size**2,
        f"a ({in_channels}, {out_channels}, {kernel_size}, {kernel_size}) kernel",
        "check the sizes",
    )
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    taps = 1 - (torch.arange(kernel_size, dtype=torch.float32) - center).abs() / factor
    tent = taps[:, None] * taps[None, :]
    weight = torch.zeros(in_channels, out_channels, kernel_size, kernel_size)
    diagonal = torch.arange(min(in_channels, out_channels))
    weight[diagonal, diagonal] = tent
    return weight
