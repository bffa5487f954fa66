"""Plotting helpers, so notebooks stay short and look alike.

Interactivity follows one convention (CONTRIBUTING.md): a ``render(**params) -> Figure``
function drives both ``live_explorer`` (ipywidgets, needs a kernel) and ``static_slider``
(pre-computed frames behind HTML range inputs, works in the built book with no kernel).
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import itertools
import json
from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import animation, patches
from matplotlib.figure import Figure

from ._guards import check_finite, check_number
from .analysis import conv_output_size

__all__ = [
    "use_book_style",
    "to_numpy_image",
    "show_image",
    "show_images",
    "show_matrix",
    "show_matrices",
    "paint_panoptic",
    "figure_to_png",
    "static_slider",
    "live_explorer",
    "draw_conv_geometry",
    "draw_atrous_taps",
    "animate_convolution",
    "colorize",
    "show_confusion",
    "plot_history",
    "plot_per_class",
    "metric_label",
    "Table",
    "BOOK_WIDTH",
]

# The width, in inches at use_book_style()'s 80 dpi, that a figure can have and still show at
# full size in the book's content column (688 CSS pixels in a 1280-pixel-wide window; 790 at
# most on wider screens). tests/test_browser.py fails on a figure shrunk below 65% of its size.
BOOK_WIDTH = 8.6


# The most cells ``show_matrix`` writes a number into, frames ``static_slider`` and
# ``animate_convolution`` render, and cells a side ``draw_conv_geometry`` draws: each is a
# matplotlib artist or a PNG, so memory and time grow with them, and past these nothing is readable.
MAX_MATRIX_CELLS = 4096
MAX_FRAMES = 400
MAX_GEOMETRY_SIDE = 40


# --------------------------------------------------------------------------- style
def use_book_style(dpi: int = 80) -> None:
    """One look for every notebook: modest resolution (small notebooks), readable fonts."""
    plt.rcParams.update(
        {
            "figure.dpi": dpi,
            "savefig.dpi": dpi,
            "font.size": 10,
            "axes.titlesize": 10,
            "image.interpolation": "nearest",  # show pixels as pixels
            "figure.max_open_warning": 0,
        }
    )


# --------------------------------------------------------------------------- images
def to_numpy_image(image) -> np.ndarray:
    """A tensor (C, H, W) / (H, W) or an array (H, W, C) / (H, W) as an array matplotlib shows."""
    if isinstance(image, torch.Tensor):
        array = image.detach().cpu()
        if array.dim() == 3:
            array = array.permute(1, 2, 0)  # channels last for matplotlib
        array = array.numpy()
    else:
        array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(
            f"expected an image (H, W), (H, W, 3) or a tensor (C, H, W) with C in 1, 3; got shape {array.shape}"
        )
    return array


def show_image(
    image, ax=None, title: str | None = None, cmap: str | None = None, signed: bool = False, **imshow_kwargs
):
    """Show one image without axes ticks; float RGB images are clipped to [0, 1].

    ``signed=True`` is for responses that take both signs (derivatives, a Laplacian): a
    diverging map centred on 0 (blue negative, white 0, red positive), its limits ±the 99th
    percentile of the absolute values unless ``vmin``/``vmax`` are given, so a few extremes do not wash
    out the rest.
    """
    array = to_numpy_image(image)
    if array.ndim == 3 and np.issubdtype(array.dtype, np.floating):
        _check_unit_range(array)
        array = np.clip(array, 0, 1)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    if signed:
        if array.ndim != 2:
            raise ValueError(f"signed=True shows one channel (H, W), got shape {array.shape}")
        finite = np.abs(array[np.isfinite(array)])  # NaN would make the limits NaN: a blank picture
        limit = (float(np.percentile(finite, 99)) or float(finite.max()) or 1.0) if finite.size else 1.0
        imshow_kwargs = {"vmin": -limit, "vmax": limit} | imshow_kwargs
        cmap = cmap or "RdBu_r"
    ax.imshow(array, cmap=cmap or ("gray" if array.ndim == 2 else None), **imshow_kwargs)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def _check_unit_range(array: np.ndarray) -> None:
    """A float RGB image is shown clipped to [0, 1]; one far outside (0..255, or ImageNet-normalised)
    would show as a white or garbled picture, silently."""
    finite = array[np.isfinite(array)]
    if finite.size and (finite.max() > 2 or finite.min() < -1):
        raise ValueError(
            f"a float RGB image is shown in [0, 1], but this one spans {finite.min():.3g}..{finite.max():.3g}; "
            f"divide a 0..255 image by 255 (or pass it as uint8), and undo normalisation with "
            f"seglib.data.denormalize"
        )


def _check_names(names, count: int, argument: str, what: str = "images") -> None:
    """``names`` (titles, flags) must give one entry for each of ``what``; extra entries are ignored."""
    if names is not None and len(names) < count:
        raise ValueError(f"{argument} has {len(names)} entries for {count} {what}; give one for each")


def show_images(
    images: Sequence,
    titles: Sequence[str] | None = None,
    ncols: int | None = None,
    size: float = 3.0,
    cmap: str | None = None,
    signed: Sequence[bool] | bool = False,
    **imshow_kwargs,
) -> Figure:
    """A grid of images with optional titles; returns the figure. ``signed`` (one flag, or one
    per image) shows signed responses on a diverging map centred on 0 (see ``show_image``)."""
    n = len(images)
    if n == 0:
        raise ValueError("show_images needs at least one image, got an empty list")
    _check_names(titles, n, "titles")
    if not isinstance(signed, bool):
        _check_names(signed, n, "signed")
    ncols = int(check_number(ncols, "ncols", minimum=1, integer=True)) if ncols is not None else n
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k < n:
            is_signed = signed if isinstance(signed, bool) else signed[k]
            show_image(
                images[k],
                ax=ax,
                title=titles[k] if titles else None,
                cmap=None if is_signed else cmap,
                signed=is_signed,
                **imshow_kwargs,
            )
        else:
            ax.set_axis_off()
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- small tensors
def _as_matrix(values) -> np.ndarray:
    array = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    array = np.squeeze(array)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise ValueError(f"show_matrix draws 2-D arrays, got shape {array.shape} after squeezing")
    return array


def _grid_axes(ax, rows: int, cols: int, title: str | None = None, fontsize: float = 10) -> None:
    """White lines between the cells of a rows x cols image; no ticks or tick labels."""
    ax.set_xticks(np.arange(-0.5, cols), minor=True)
    ax.set_yticks(np.arange(-0.5, rows), minor=True)
    ax.grid(which="minor", color="white", lw=1.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    if title:
        ax.set_title(title, fontsize=fontsize)


def _format(value: float, fmt: str) -> str:
    text = fmt.format(value)
    return "0" if text in ("-0", "-0.0", "-0.00") else text


def show_matrix(
    values,
    ax=None,
    title: str | None = None,
    fmt: str = "{:g}",
    cmap: str | None = None,
    highlight=None,
    highlight_color: str = "crimson",
    fontsize: float | None = None,
    row_labels: Sequence[str] | None = None,
):
    """Draw a small 2-D tensor as a grid with each number written in its cell.

    Non-negative values are shaded from white (0) to blue; a matrix with negative values gets a
    diverging map centred on 0 (blue below, red above), so that −1 and +1 look different. NaN
    cells stay blank and grey: "no value yet" is not 0. ``highlight`` is a boolean mask of cells
    to outline (used to show a kernel's window); ``row_labels`` name the rows on the left.
    """
    array = _as_matrix(values).astype(float)
    if array.size == 0 or array.size > MAX_MATRIX_CELLS:
        raise ValueError(
            f"show_matrix writes a number in each cell of a small matrix (1 to {MAX_MATRIX_CELLS} cells), got shape "
            f"{array.shape}; show a larger array as a picture with show_image, or slice it"
        )
    if highlight is not None and _as_matrix(highlight).shape != array.shape:
        raise ValueError(
            f"highlight has shape {_as_matrix(highlight).shape} but the matrix {array.shape}; give a "
            f"boolean mask of the matrix's shape"
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(0.55 * array.shape[1] + 0.6, 0.55 * array.shape[0] + 0.6))
    finite = array[np.isfinite(array)]
    vmax = (np.abs(finite).max() if finite.size else 1.0) or 1.0
    signed = finite.size > 0 and finite.min() < 0
    colormap = plt.get_cmap(cmap or ("RdBu_r" if signed else "Blues")).with_extremes(bad="0.9")
    # The shading stops short of the darkest colours, so the numbers stay readable on it.
    if signed:
        ax.imshow(array, cmap=colormap, vmin=-vmax * 1.6, vmax=vmax * 1.6)
    else:
        ax.imshow(np.abs(array), cmap=colormap, vmin=0, vmax=vmax * 1.6)
    size = fontsize or max(6.0, 12 - 0.5 * max(array.shape))
    for (r, c), value in np.ndenumerate(array):
        if np.isfinite(value):
            ax.text(c, r, _format(value, fmt), ha="center", va="center", fontsize=size)
    if highlight is not None:
        for r, c in zip(*np.nonzero(_as_matrix(highlight)), strict=True):
            ax.add_patch(patches.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, lw=2.5, ec=highlight_color))
    _grid_axes(ax, *array.shape, title)
    if row_labels is not None:
        if len(row_labels) != array.shape[0]:
            raise ValueError(f"row_labels has {len(row_labels)} names for {array.shape[0]} rows")
        ax.set_yticks(np.arange(array.shape[0]), labels=list(row_labels))
        ax.tick_params(labelleft=True)
    return ax


def show_matrices(
    matrices: Sequence, titles: Sequence[str] | None = None, fmt: str = "{:g}", size: float = 0.5, **kwargs
) -> Figure:
    """Several small tensors side by side, each with its numbers written in."""
    arrays = [_as_matrix(m) for m in matrices]
    if not arrays:
        raise ValueError("show_matrices needs at least one matrix, got an empty list")
    _check_names(titles, len(arrays), "titles", "matrices")
    widths = [a.shape[1] for a in arrays]
    height = max(a.shape[0] for a in arrays)
    fig, axes = plt.subplots(
        1,
        len(arrays),
        figsize=(size * (sum(widths) + len(arrays)) + 0.5, size * height + 0.9),
        gridspec_kw={"width_ratios": widths},
        squeeze=False,
    )
    for k, (ax, array) in enumerate(zip(axes[0], arrays, strict=True)):
        show_matrix(array, ax=ax, title=titles[k] if titles else None, fmt=fmt, **kwargs)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- interactivity
def figure_to_png(fig: Figure, dpi: int = 72) -> bytes:
    """The figure as PNG bytes (and close it)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _grid(params: dict[str, Sequence], max_frames: int | None = None) -> list[tuple]:
    """Every combination of the parameters' values, as tuples of indices into each list."""
    if not params or any(len(values) == 0 for values in params.values()):
        raise ValueError("give each parameter a non-empty list of values, e.g. stride=[1, 2]")
    count = int(np.prod([len(values) for values in params.values()]))
    if max_frames is not None and count > max_frames:
        sizes = " × ".join(str(len(values)) for values in params.values())
        raise ValueError(
            f"the parameters give {sizes} = {count} combinations, each a pre-rendered PNG; keep it "
            f"to {max_frames} (fewer values per parameter), or raise max_frames"
        )
    return list(itertools.product(*(range(len(values)) for values in params.values())))


def static_slider(render: Callable[..., Figure], dpi: int = 72, max_frames: int = MAX_FRAMES, **params: Sequence):
    """An HTML explorer that works with no kernel: one range input per parameter over
    pre-rendered frames of ``render(**values)`` for every combination of values.

    Returns an ``IPython.display.HTML``. Keep the grid small: every combination is a PNG, and
    more than ``max_frames`` of them are refused.
    """
    from IPython.display import HTML

    frames = {}
    for combo in _grid(params, max_frames):
        key = ",".join(str(k) for k in combo)  # positions, so repeated values keep their own frames
        values = {name: params[name][k] for name, k in zip(params, combo, strict=True)}
        png = figure_to_png(render(**values), dpi=dpi)
        frames[key] = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    uid = (
        "seglib-slider-"
        + hashlib.sha1(
            json.dumps(
                [getattr(render, "__name__", "render"), {k: [str(v) for v in vs] for k, vs in params.items()}]
            ).encode()
        ).hexdigest()[:10]
    )
    inputs = []
    for k, (name, values) in enumerate(params.items()):
        labels = json.dumps([str(v) for v in values])
        inputs.append(
            f'<label style="display:inline-block;margin-right:1.2em;font-family:sans-serif;font-size:0.9em">'
            f"{html.escape(name)} = <b class=\"value\" data-labels='{html.escape(labels)}'>{html.escape(str(values[0]))}</b><br>"
            f'<input type="range" min="0" max="{len(values) - 1}" value="0" step="1" data-k="{k}"></label>'
        )
    first = frames[",".join("0" for _ in params)]
    return HTML(
        f'<div id="{uid}" class="seglib-slider">{"".join(inputs)}<br>'
        f'<img style="max-width:100%" alt="pre-computed frame" src="{first}"></div>\n'
        "<script>(function(){\n"
        f"const root = document.getElementById('{uid}');\n"
        f"const frames = {json.dumps(frames)};\n"
        "const inputs = root.querySelectorAll('input'), values = root.querySelectorAll('.value');\n"
        "const update = () => {\n"
        "  const key = Array.from(inputs).map(i => i.value).join(',');\n"
        "  inputs.forEach((i, k) => { values[k].textContent = JSON.parse(values[k].dataset.labels)[i.value]; });\n"
        "  root.querySelector('img').src = frames[key];\n"
        "};\n"
        "inputs.forEach(i => i.addEventListener('input', update));\n"
        "})();</script>"
    )


def live_explorer(render: Callable[..., Figure], **params: Sequence) -> None:
    """The same explorer live in Jupyter: ipywidgets sliders that call ``render`` on change."""
    import ipywidgets as widgets

    _grid(params)
    sliders = {
        name: widgets.SelectionSlider(options=list(values), value=values[0], description=name, continuous_update=False)
        for name, values in params.items()
    }

    def show(**values):
        render(**values)
        plt.show()

    widgets.interact(show, **sliders)


# --------------------------------------------------------------------------- convolution geometry
def _window_cells(row: int, col: int, kernel_size: int, stride: int, dilation: int) -> list[tuple[int, int]]:
    """Cells (in padded-input coordinates) read by output pixel (row, col)."""
    return [
        (row * stride + i * dilation, col * stride + j * dilation)
        for i in range(kernel_size)
        for j in range(kernel_size)
    ]


def draw_conv_geometry(
    kernel_size: int = 3, stride: int = 1, padding: int = 0, dilation: int = 1, input_size: int = 7
) -> Figure:
    """Where a convolution reads and what it writes, for a square input.

    Left: the zero-padded input (padding in grey); each cell's shade counts how many output
    pixels read it, so gaps (stride > footprint) and uneven coverage show. The taps of the first
    and the last output pixel are outlined. Right: the output grid, its size from the formula.
    """
    for name, value, least in (
        ("kernel_size", kernel_size, 1),
        ("stride", stride, 1),
        ("padding", padding, 0),
        ("dilation", dilation, 1),
        ("input_size", input_size, 1),
    ):
        check_number(value, name, minimum=least, integer=True)
    side = input_size + 2 * padding
    if side > MAX_GEOMETRY_SIDE:
        raise ValueError(
            f"draw_conv_geometry writes a number in every cell: input_size + 2·padding = {side} is more "
            f"than {MAX_GEOMETRY_SIDE} cells a side; draw a smaller input"
        )
    out = conv_output_size(input_size, kernel_size, stride, padding, dilation)
    fig, (ax_in, ax_out) = plt.subplots(1, 2, figsize=(6.4, 3.6), gridspec_kw={"width_ratios": [side, max(out, 1)]})
    coverage = np.zeros((side, side))
    for r in range(max(out, 0)):
        for c in range(max(out, 0)):
            for cell in _window_cells(r, c, kernel_size, stride, dilation):
                coverage[cell] += 1
    ax_in.imshow(coverage, cmap="Blues", vmin=0, vmax=max(coverage.max(), 1) * 1.3)
    for r in range(side):
        for c in range(side):
            is_pad = not (padding <= r < padding + input_size and padding <= c < padding + input_size)
            if is_pad:
                ax_in.add_patch(patches.Rectangle((c - 0.5, r - 0.5), 1, 1, color="0.85", zorder=1))
            ax_in.text(
                c,
                r,
                f"{int(coverage[r, c])}",
                ha="center",
                va="center",
                fontsize=max(5, 11 - side // 2),
                color="0.4" if is_pad else "black",
                zorder=2,
            )
    if out > 0:
        for (rr, cc), color in (((0, 0), "crimson"), ((out - 1, out - 1), "darkorange")):
            for cell in _window_cells(rr, cc, kernel_size, stride, dilation):
                ax_in.add_patch(
                    patches.Rectangle((cell[1] - 0.45, cell[0] - 0.45), 0.9, 0.9, fill=False, lw=2, ec=color, zorder=3)
                )
    _grid_axes(
        ax_in,
        side,
        side,
        f"input {input_size}×{input_size} + padding (grey)\nnumber = outputs that read the cell",
        fontsize=9,
    )
    if out > 0:
        ax_out.imshow(np.ones((out, out)), cmap="Blues", vmin=0, vmax=4)
        ax_out.add_patch(patches.Rectangle((-0.45, -0.45), 0.9, 0.9, fill=False, lw=2, ec="crimson"))
        ax_out.add_patch(patches.Rectangle((out - 1.45, out - 1.45), 0.9, 0.9, fill=False, lw=2, ec="darkorange"))
        _grid_axes(ax_out, out, out, f"output {out}×{out}", fontsize=9)
    else:
        ax_out.set_axis_off()
        ax_out.set_title("no output:\nkernel larger than input", fontsize=9)
    fig.suptitle(
        f"kernel {kernel_size}, stride {stride}, padding {padding}, dilation {dilation}:  "
        f"⌊({input_size} + 2·{padding} − {dilation}·({kernel_size}−1) − 1) / {stride}⌋ + 1 = {out}",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def draw_atrous_taps(
    map_size: int, rates: Sequence[int], positions: Sequence[tuple[int, int]] = ((0, 0),), kernel_size: int = 3
) -> Figure:
    """Where a zero-padded atrous ``kernel_size``² convolution reads, one panel per rate: the
    ``map_size``² feature map (blue) inside its padding (grey), and the taps of the output
    ``positions`` as dots, filled on the map and crossed red on the padding. Each title gives the
    share of all taps, over every output position, that land on padding
    (``seglib.models.deeplab.padding_fraction``; notebook 06 §4)."""
    from .models.deeplab import padding_fraction

    rates = list(rates)
    if not rates or map_size < 1:
        raise ValueError(f"draw_atrous_taps needs a positive map_size and at least one rate, got {map_size}, {rates}")
    reach = max(rates) * (kernel_size // 2)
    fig, axes = plt.subplots(1, len(rates), figsize=(min(BOOK_WIDTH, 2.6 * len(rates)), 2.9), squeeze=False)
    colours = ["crimson", "darkorange", "purple", "teal"]
    for ax, rate in zip(axes[0], rates, strict=True):
        ax.add_patch(
            patches.Rectangle(
                (-reach - 0.5, -reach - 0.5), map_size + 2 * reach, map_size + 2 * reach, color="0.88", zorder=0
            )
        )
        ax.add_patch(patches.Rectangle((-0.5, -0.5), map_size, map_size, color="#cfe1f2", zorder=1))
        for k in range(map_size + 1):
            ax.plot([-0.5, map_size - 0.5], [k - 0.5, k - 0.5], color="white", lw=0.6, zorder=2)
            ax.plot([k - 0.5, k - 0.5], [-0.5, map_size - 0.5], color="white", lw=0.6, zorder=2)
        for (row, col), colour in zip(positions, colours * len(positions), strict=False):
            half = kernel_size // 2
            for i in range(-half, half + 1):
                for j in range(-half, half + 1):
                    r, c = row + i * rate, col + j * rate
                    inside = 0 <= r < map_size and 0 <= c < map_size
                    ax.scatter(
                        [c],
                        [r],
                        s=28,
                        marker="o" if inside else "x",
                        zorder=3,
                        color=colour if inside else "red",
                        linewidths=1.5,
                    )
            ax.add_patch(patches.Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, ec=colour, lw=1.5, zorder=3))
        ax.set_xlim(-reach - 0.5, map_size + reach - 0.5)
        ax.set_ylim(map_size + reach - 0.5, -reach - 0.5)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(
            f"rate {rate}: {padding_fraction(map_size, rate, kernel_size):.0%} of taps\non padding", fontsize=9
        )
    fig.suptitle(
        f"{kernel_size}×{kernel_size} atrous taps on a {map_size}×{map_size} map "
        "(dots: on the map; red crosses: on the zero padding)",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def animate_convolution(
    x,
    kernel,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    interval: int = 700,
    fmt: str = "{:g}",
    dpi: int = 60,
):
    """A jshtml animation of a kernel sliding over a small 2-D input, filling the output.

    Returns an ``IPython.display.HTML`` that plays in Jupyter and in the static book.
    """
    from IPython.display import HTML

    from . import ops

    x = torch.as_tensor(x, dtype=torch.float32)
    kernel = torch.as_tensor(kernel, dtype=torch.float32)
    if x.dim() != 2 or kernel.dim() != 2 or kernel.shape[0] != kernel.shape[1]:
        raise ValueError("animate_convolution takes a 2-D input and a square 2-D kernel")
    k = kernel.shape[0]
    # ops.conv2d checks stride, padding and dilation, so it runs before anything is drawn
    result = ops.conv2d(x[None, None], kernel[None, None], stride=stride, padding=padding, dilation=dilation)[0, 0]
    rows, cols = result.shape
    if rows * cols > MAX_FRAMES:
        raise ValueError(
            f"the animation has one frame per output pixel: {rows}×{cols} = {rows * cols} is more than "
            f"{MAX_FRAMES}; animate a smaller input (e.g. x[:8, :8]) or a larger stride"
        )
    padded = torch.zeros(x.shape[0] + 2 * padding, x.shape[1] + 2 * padding)
    if padded.numel() > MAX_MATRIX_CELLS:
        raise ValueError(
            f"the padded input {tuple(padded.shape)} has more than {MAX_MATRIX_CELLS} cells to write "
            f"numbers in; animate a smaller input"
        )
    padded[padding : padding + x.shape[0], padding : padding + x.shape[1]] = x
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.4), dpi=dpi, gridspec_kw={"width_ratios": [padded.shape[1], k, cols]})

    def draw(frame: int):
        for ax in axes:
            ax.clear()
        r, c = divmod(frame, cols)
        window = np.zeros(padded.shape, dtype=bool)
        for cell in _window_cells(r, c, k, stride, dilation):
            window[cell] = True
        done = np.full(result.shape, np.nan)
        flat = result.numpy().reshape(-1)[: frame + 1]
        done.reshape(-1)[: frame + 1] = flat
        show_matrix(padded, ax=axes[0], title=f"input (padding {padding})", fmt=fmt, highlight=window)
        show_matrix(kernel, ax=axes[1], title="kernel", fmt=fmt)
        # Outputs not computed yet stay blank (NaN), unlike a computed 0.
        show_matrix(
            done,
            ax=axes[2],
            title=f"output[{r}, {c}] = {_format(result[r, c].item(), fmt)}\n(blank: not yet computed)",
            fmt=fmt,
            highlight=(np.arange(done.size) == frame).reshape(done.shape),
        )
        fig.tight_layout()

    anim = animation.FuncAnimation(fig, draw, frames=rows * cols, interval=interval)
    markup = anim.to_jshtml(default_mode="loop")
    plt.close(fig)
    return HTML(markup)


# --------------------------------------------------------------------------- segmentation results
def colorize(mask) -> np.ndarray:
    """Class-index mask (H, W) → RGB uint8 in the PASCAL VOC colours (255 "void" in cream)."""
    from .data.labels import decode_mask

    return decode_mask(mask)


def paint_panoptic(panoptic, categories, label_divisor: int = 1000) -> np.ndarray:
    """RGB uint8 picture of a panoptic map (``category * label_divisor + instance``, void -1):
    stuff in its category's colour, each thing in a brightness of its own, void white.
    ``categories`` maps a category id to a COCO category dict with ``"color"`` (lecture 002); a
    list of such dicts with ``"id"`` (COCO's ``categories``, ``PanopticScenes.categories``) works too."""
    panoptic = np.asarray(panoptic.detach().cpu() if hasattr(panoptic, "detach") else panoptic)
    if not np.issubdtype(panoptic.dtype, np.integer):
        raise ValueError(
            f"a panoptic map holds integer ids (category * label_divisor + instance), got dtype "
            f"{panoptic.dtype}; build it with seglib.instance.to_panoptic"
        )
    label_divisor = check_number(
        label_divisor,
        "label_divisor",
        minimum=1,
        integer=True,
        hint="it must be the one the map was built with (1000 by default)",
    )
    if not isinstance(categories, dict):
        categories = {category["id"]: category for category in categories}
    out = np.full(panoptic.shape + (3,), 255, np.uint8)
    for pan_id in np.unique(panoptic[panoptic >= 0]):
        category = int(pan_id // label_divisor)
        if category not in categories:
            raise KeyError(f"the panoptic map holds category {category}, which categories lacks ({sorted(categories)})")
        if "color" not in categories[category]:
            raise KeyError(
                f"category {category} has no 'color' (an RGB triple), which paint_panoptic needs to paint it"
            )
        colour = np.array(categories[category]["color"], float)
        if pan_id % label_divisor:  # a thing: vary the brightness per instance
            colour = np.clip(colour * (0.4 + 0.9 * ((pan_id % label_divisor * 0.618) % 1.0)) + 20, 0, 255)
        out[panoptic == pan_id] = colour
    return out


def show_confusion(
    matrix,
    class_names: Sequence[str] | None = None,
    normalize: bool = True,
    ax=None,
    title: str | None = None,
    annotate: bool | None = None,
):
    """A confusion matrix M[true, predicted] as an image; rows normalised to sum to 1 by default
    (each row then reads as "where did the pixels of this class go"). Cells are annotated when
    there are at most 12 classes."""
    m = np.asarray(torch.as_tensor(matrix).cpu(), dtype=float)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.size == 0:
        raise ValueError(f"a confusion matrix is square (C, C) with C >= 1, got shape {m.shape}")
    check_finite(m, "the confusion matrix", "it counts pixels; use ConfusionMatrix(...).compute()['confusion']")
    if (m < 0).any():
        raise ValueError(
            f"the confusion matrix holds {int((m < 0).sum())} negative count(s); it counts pixels, so "
            f"every entry is >= 0: use ConfusionMatrix(...).compute()['confusion']"
        )
    if normalize:
        m = m / np.maximum(m.sum(1, keepdims=True), 1)
    n = m.shape[0]
    if ax is None:
        _, ax = plt.subplots(figsize=(0.32 * n + 2.2, 0.32 * n + 1.8))
    image = ax.imshow(m, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    names = list(class_names) if class_names is not None else [str(k) for k in range(n)]
    if len(names) != n:
        raise ValueError(f"{len(names)} class names for a {n}-class matrix")
    ax.set_xticks(range(n), labels=names, rotation=90, fontsize=8)
    ax.set_yticks(range(n), labels=names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if annotate if annotate is not None else n <= 12:
        for (r, c), value in np.ndenumerate(m):
            ax.text(
                c,
                r,
                f"{value:.2f}" if normalize else f"{int(value)}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if value > 0.6 * (m.max() or 1) else "black",
            )
    if title:
        ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return ax


# How history keys read in titles and tables: the metric names as the book writes them.
_METRIC_NAMES = {
    "miou": "mIoU",
    "mdice": "mean Dice",
    "fwiou": "fwIoU",
    "iou": "IoU",
    "pq": "PQ",
    "sq": "SQ",
    "rq": "RQ",
    "pixel_accuracy": "pixel accuracy",
    "mean_accuracy": "mean accuracy",
    "lr": "learning rate",
}


def metric_label(key: str) -> str:
    """A history key as a readable label: ``"val_miou"`` → ``"val mIoU"``, ``"train_loss"`` →
    ``"train loss"``."""
    for name, label in sorted(_METRIC_NAMES.items(), key=lambda item: -len(item[0])):
        if key == name or key.endswith("_" + name):
            return (key[: -len(name)] + label).replace("_", " ")
    return key.replace("_", " ")


def plot_history(
    histories: dict[str, dict], keys: Sequence[str] = ("train_loss", "val_miou"), size: tuple[float, float] = (4.2, 3.0)
) -> Figure:
    """Curves of ``seglib.train.fit`` histories, one panel per key, one line per run; epochs are
    whole numbers on the x axis and metric names are written as the book writes them (mIoU)."""
    from matplotlib.ticker import MaxNLocator

    keys = [keys] if isinstance(keys, str) else list(keys)
    _check_histories(histories, keys)
    fig, axes = plt.subplots(1, len(keys), figsize=(size[0] * len(keys), size[1]), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        for name, history in histories.items():
            ax.plot(history["epoch"], history[key], marker="o", ms=3, label=name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(metric_label(key))
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _check_histories(histories, keys: list[str]) -> None:
    """``{run name: fit history}`` with every key, one value per epoch; else say what to pass."""
    if not isinstance(histories, dict) or "epoch" in histories:
        raise TypeError(
            "histories maps a run name to its history, e.g. plot_history({'baseline': history}); got "
            + ("one history" if isinstance(histories, dict) else type(histories).__name__)
        )
    if not histories or not keys:
        raise ValueError(
            f"plot_history needs at least one run and one key, got {len(histories)} run(s) and keys={keys}"
        )
    for name, history in histories.items():
        missing = [key for key in ("epoch", *keys) if key not in history]
        if missing:
            raise KeyError(
                f"run {name!r} has no {missing}; its history has {sorted(history)} "
                f"(fit records val_* only with a val_loader)"
            )
        for key in keys:
            if len(history[key]) != len(history["epoch"]):
                raise ValueError(
                    f"run {name!r} has {len(history[key])} {key!r} values for {len(history['epoch'])} "
                    f"epochs; pass the history fit returned, unedited"
                )


def plot_per_class(values: dict[str, Sequence[float]], class_names: Sequence[str], ylabel: str = "IoU", ax=None):
    """Grouped bars: one group per class, one bar per run (e.g. per-class IoU for several losses).
    The figure is as wide as the book's column (``BOOK_WIDTH``), so its labels stay readable."""
    names = list(class_names)
    if not isinstance(values, dict):
        raise TypeError(
            f"values maps a run name to its per-class numbers, e.g. {{'baseline': results['iou']}}; got "
            f"{type(values).__name__}"
        )
    if not values:
        raise ValueError("plot_per_class needs at least one run in values, got an empty dict")
    if ax is None:
        _, ax = plt.subplots(figsize=(BOOK_WIDTH, 3.4), layout="constrained")
    width = 0.8 / max(len(values), 1)
    for k, (run, numbers) in enumerate(values.items()):
        numbers = np.asarray(numbers, dtype=float)
        if numbers.shape != (len(names),):
            raise ValueError(f"run {run!r} has {numbers.shape} values for {len(names)} classes")
        ax.bar(np.arange(len(names)) + (k - (len(values) - 1) / 2) * width, np.nan_to_num(numbers), width, label=run)
    ax.set_xticks(range(len(names)), labels=names, rotation=60, ha="right", rotation_mode="anchor", fontsize=9)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, ncol=min(len(values), 5))
    ax.grid(axis="y", alpha=0.3)
    return ax


# --------------------------------------------------------------------------- tables
class Table(str):
    """A table of results that prints as aligned text and shows as an HTML table.

    It is a ``str`` (the fixed-width text, so ``print(table)`` and string tests work as before);
    as the last expression of a Jupyter cell, or through ``display(table)``, it renders as an HTML
    table, which the book fits into its column instead of a wide block of monospaced text.

    ``columns`` are the header names; ``rows`` lists of cells (strings are shown as they are,
    numbers with ``str``); ``footer`` rows, such as a trivial baseline, come last, set apart.
    The first column is left-aligned and the others right-aligned, as for names and numbers.
    """

    def __new__(
        cls,
        columns: Sequence[str],
        rows: Sequence[Sequence],
        footer: Sequence[Sequence] = (),
        caption: str | None = None,
    ):
        columns = [str(c) for c in columns]
        body = [[str(cell) for cell in row] for row in rows]
        foot = [[str(cell) for cell in row] for row in footer]
        for row in body + foot:
            if len(row) != len(columns):
                raise ValueError(f"a row has {len(row)} cells for {len(columns)} columns: {row}")
        widths = [max(len(row[k]) for row in [columns] + body + foot) for k in range(len(columns))]

        def line(row):
            return "  ".join(
                cell.ljust(w) if k == 0 else cell.rjust(w) for k, (cell, w) in enumerate(zip(row, widths, strict=True))
            )

        text = "\n".join(([caption] if caption else []) + [line(r) for r in [columns] + body + foot])
        table = super().__new__(cls, text)
        table.columns, table.rows, table.footer, table.caption = columns, body, foot, caption
        return table

    def _repr_html_(self) -> str:
        def cells(row, tag):
            return "".join(
                f'<{tag} style="text-align:{"left" if k == 0 else "right"}">{text(cell, tag)}</{tag}>'
                for k, cell in enumerate(row)
            )

        def text(cell, tag):
            # A short header ("val mIoU", "s / epoch") stays on one line; long ones may wrap.
            escaped = html.escape(cell)
            return escaped.replace(" ", "&nbsp;") if tag == "th" and len(cell) <= 16 else escaped

        parts = ['<table class="seglib-table">']
        if self.caption:
            parts.append(f"<caption>{html.escape(self.caption)}</caption>")
        parts.append(f"<thead><tr>{cells(self.columns, 'th')}</tr></thead>")
        parts.append("<tbody>" + "".join(f"<tr>{cells(row, 'td')}</tr>" for row in self.rows) + "</tbody>")
        if self.footer:
            parts.append(
                '<tfoot style="font-style:italic">'
                + "".join(f"<tr>{cells(row, 'td')}</tr>" for row in self.footer)
                + "</tfoot>"
            )
        parts.append("</table>")
        return "".join(parts)

    def __repr__(self) -> str:
        return str.__str__(self)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(str.__str__(self))
