"""The patch classifier of Ciresan et al. (2012), sliding-window segmentation, and its fully
convolutional twin (notebooks 03 and 04).

Lecture 003 (K. N. Toosi) segments EM membranes the way Ciresan et al. won ISBI 2012: classify
the window centred at every pixel. :func:`sliding_window` does exactly that, in batches. Most of
its work is repeated: neighbouring windows share almost all their pixels. :func:`convolutionalize`
removes the repetition (Long et al. 2015; Sermanet et al. 2014; Giusti et al. 2013): fully
connected layers become convolutions whose kernel covers their input, and for a *dense* output,
every strided layer gets stride 1 while all later layers are dilated by the stride accumulated so
far (the "hole" / à trous algorithm that DeepLab reuses). One pass then yields, at every pixel,
exactly the sliding-window scores (``tests/test_patch.py`` checks this to 1e-5).

Convention for the window of pixel (i, j): the patch whose index (P // 2, P // 2) is (i, j);
for an even patch size P that is the lower-right of the four central pixels. The image is
padded by P // 2 before and (P - 1) // 2 after, by reflection by default (Ciresan et al.
mirror the image at its borders), or with zeros (``padding_mode="zeros"``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._torch import POINTWISE_LAYERS, as_pair, as_square, eval_mode, model_device, model_dtype
from .blocks import check_input, check_sizes

__all__ = [
    "PatchClassifier",
    "pad_for_windows",
    "extract_patches",
    "sliding_window",
    "convolutionalize",
    "FullyConvolutional",
]

PADDING_MODES = ("reflect", "replicate", "zeros")


def _per_block(value, n: int, name: str) -> list:
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries but widths has {n}; give one per block or a single value")
    return values


def _feature_size(patch_size: int, kernels: Sequence[int], pools: Sequence[int]) -> int:
    size = patch_size
    for k, p in zip(kernels, pools, strict=True):
        size = size - k + 1
        if size < 1:
            return 0
        size = size // p
        if size < 1:
            return 0
    return size


class PatchClassifier(nn.Module):
    """Ciresan et al.'s (2012) membrane detector: classify a P×P patch by its centre pixel.

    Blocks of *valid* (unpadded) convolution → ReLU → max-pooling, then ``nn.Flatten`` and fully
    connected layers with ReLUs between them. Valid convolutions matter: zero padding inside a
    patch would make the patch's border differ from the same pixels seen inside a larger image,
    and the fully convolutional twin could not reproduce it.

    The arguments are keyword-only: ``in_channels`` used to come first, so a positional call
    written for that order fails loudly instead of swapping the two.

    Arguments:
        num_classes: output logits per patch (2 for EM: membrane / cell).
        in_channels: channels of the image (1 for EM).
        patch_size: side P of the square patch; every forward pass takes exactly P×P.
        widths: output channels of each conv block (its length is the number of blocks).
        kernel_sizes: one int for all blocks or one per block.
        pool: max-pooling size after each block: True → 2, False → none, an int, or one entry per block (e.g. ``(2, 2, False)``).
        hidden: widths of the hidden fully connected layers (``()``: one linear layer).

    The layer defaults (notebook 03's net: 44×44 patches, which is exactly its receptive field;
    three blocks of 8, 16, 16 channels with 5/5/3 kernels; one hidden layer of 32; 1.2M
    multiply-adds per one-channel patch) are a CPU-sized version of the paper's N4 net: 65×65 patches, four blocks of 48
    maps with 4/5/4/4 kernels, a hidden layer of 200
    (``PatchClassifier(num_classes=2, in_channels=1, patch_size=65, widths=(48,) * 4,
    kernel_sizes=(4, 5, 4, 4), hidden=(200,))``). ``num_classes`` and ``in_channels`` default to
    21 and 3 like every model in ``seglib.models``; notebook 03's EM net passes 2 and 1.
    """

    def __init__(
        self,
        *,
        num_classes: int = 21,
        in_channels: int = 3,
        patch_size: int = 44,
        widths: Sequence[int] = (8, 16, 16),
        kernel_sizes: int | Sequence[int] = (5, 5, 3),
        pool: bool | int | Sequence[bool | int] = True,
        hidden: Sequence[int] = (32,),
    ):
        super().__init__()
        widths = list(widths)
        if not widths:
            raise ValueError("widths must name at least one conv block, e.g. widths=(16, 32)")
        check_sizes(
            "PatchClassifier", in_channels=in_channels, num_classes=num_classes, patch_size=patch_size, widths=widths
        )
        if hidden:
            check_sizes("PatchClassifier", hidden=list(hidden))
        kernels = _per_block(kernel_sizes, len(widths), "kernel_sizes")
        pools = [
            2 if p is True else 1 if p is False or p is None else int(p) for p in _per_block(pool, len(widths), "pool")
        ]
        if any(p < 1 for p in pools) or any(k < 1 for k in kernels):
            raise ValueError(f"kernel sizes and pool sizes must be positive, got {kernels} and {pools}")
        side = _feature_size(patch_size, kernels, pools)
        if side < 1:
            smallest = next(p for p in range(1, 4096) if _feature_size(p, kernels, pools) >= 1)
            raise ValueError(
                f"patch_size={patch_size} is too small for kernels {kernels} with pooling {pools}: the "
                f"features shrink to nothing. Use patch_size >= {smallest}, or fewer/smaller layers."
            )
        self.in_channels, self.num_classes, self.patch_size = in_channels, num_classes, patch_size
        layers: list[nn.Module] = []
        channels = in_channels
        for width, k, p in zip(widths, kernels, pools, strict=True):
            layers += [nn.Conv2d(channels, width, k), nn.ReLU(inplace=True)]
            if p > 1:
                layers.append(nn.MaxPool2d(p))
            channels = width
        self.features = nn.Sequential(*layers)
        head: list[nn.Module] = [nn.Flatten()]
        features = channels * side * side
        for width in hidden:
            head += [nn.Linear(features, width), nn.ReLU(inplace=True)]
            features = width
        head.append(nn.Linear(features, num_classes))
        self.classifier = nn.Sequential(*head)
        self.feature_shape = (channels, side, side)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, in_channels=self.in_channels, min_size=self.patch_size, model="PatchClassifier")
        if tuple(x.shape[-2:]) != (self.patch_size, self.patch_size):
            raise ValueError(
                f"PatchClassifier classifies {self.patch_size}×{self.patch_size} patches, got "
                f"{x.shape[-2]}×{x.shape[-1]}. For a whole image use sliding_window(model, image) or "
                "convolutionalize(model)(image), which give a score for every pixel."
            )
        return self.classifier(self.features(x))


# --------------------------------------------------------------------------- sliding window
def _check_mode(padding_mode: str) -> str:
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    return padding_mode


def pad_for_windows(image: torch.Tensor, patch_size: int, padding_mode: str = "reflect") -> torch.Tensor:
    """Pad (N, C, H, W) by P // 2 before and (P - 1) // 2 after each side, so that there is one
    P×P window per pixel, centred on it (see the module docstring for even P)."""
    _check_mode(padding_mode)
    before, after = patch_size // 2, (patch_size - 1) // 2
    h, w = image.shape[-2:]
    if padding_mode == "reflect" and max(before, after) >= min(h, w):
        raise ValueError(
            f"reflect padding of a {h}×{w} image by {before} pixels needs a side larger than {before}; "
            "use a larger image, a smaller patch_size or padding_mode='zeros'"
        )
    mode = "constant" if padding_mode == "zeros" else padding_mode
    return F.pad(image, (before, after, before, after), mode=mode)


def _as_batch(image: torch.Tensor) -> torch.Tensor:
    if isinstance(image, torch.Tensor) and image.dim() == 3:
        image = image[None]
    check_input(image, model="sliding_window")
    return image


def extract_patches(image: torch.Tensor, patch_size: int, padding_mode: str = "reflect") -> torch.Tensor:
    """Every window of an image, centred on each pixel: (N, H, W, C, P, P) from (N, C, H, W)
    (or (C, H, W), giving N = 1). ``patches[n, i, j]`` is the window of pixel (i, j).

    The result is a strided *view* of the padded image, so it costs no memory; copying it all
    (``.contiguous()``) would take P² times the image.
    """
    image = _as_batch(image)
    padded = pad_for_windows(image, patch_size, padding_mode)
    return padded.unfold(2, patch_size, 1).unfold(3, patch_size, 1).permute(0, 2, 3, 1, 4, 5)


@torch.no_grad()
def sliding_window(
    model: nn.Module,
    image: torch.Tensor,
    patch_size: int | None = None,
    batch_size: int = 1024,
    padding_mode: str = "reflect",
) -> torch.Tensor:
    """Segment by classifying the window centred at every pixel (Ciresan et al. 2012):
    (N, num_classes, H, W) logits for an image (N, C, H, W) or (C, H, W).

    ``batch_size`` windows go through ``model`` at a time (in eval mode; its mode is restored),
    on the model's device. ``patch_size`` defaults to ``model.patch_size``. An H×W image costs
    H·W forward passes: 2^18 for 512×512.
    """
    patch_size = patch_size if patch_size is not None else getattr(model, "patch_size", None)
    if patch_size is None:
        raise ValueError("pass patch_size: the model has no patch_size attribute")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    patches = extract_patches(image, patch_size, padding_mode)
    n, h, w = patches.shape[:3]
    device = model_device(model, default=image.device)
    with eval_mode(model):
        rows_per_batch = max(1, batch_size // w)
        scores = []
        for b in range(n):
            for r0 in range(0, h, rows_per_batch):
                chunk = patches[b, r0 : r0 + rows_per_batch].reshape(-1, *patches.shape[3:])
                for part in chunk.split(batch_size):
                    scores.append(model(part.to(device)))
    logits = torch.cat(scores)
    return logits.reshape(n, h, w, -1).permute(0, 3, 1, 2).contiguous()


# --------------------------------------------------------------------------- convolutionalize
class FullyConvolutional(nn.Module):
    """The convolutionalized classifier made by :func:`convolutionalize`.

    ``body`` holds only convolutions, poolings and pointwise layers. With ``pad=True`` the input
    is padded like :func:`sliding_window` first. ``stride`` is the step, in input pixels,
    between neighbouring outputs (1 when dense)."""

    def __init__(
        self,
        body: nn.Sequential,
        patch_size: int,
        in_channels: int,
        stride: int,
        dense: bool,
        pad: bool,
        padding_mode: str,
    ):
        super().__init__()
        self.body = body
        self.patch_size, self.in_channels = patch_size, in_channels
        self.stride, self.dense, self.pad, self.padding_mode = stride, dense, pad, padding_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(
            x, in_channels=self.in_channels, min_size=1 if self.pad else self.patch_size, model="FullyConvolutional"
        )
        if self.pad:
            x = pad_for_windows(x, self.patch_size, self.padding_mode)
        y = self.body(x)
        # Rows a window's classifier never reads (dropped by floor-mode pooling) still produce
        # outputs at the far border; keep only the windows that lie inside the input.
        h, w = ((s - self.patch_size) // self.stride + 1 for s in x.shape[-2:])
        return y[..., :h, :w]


# The pixel-wise layers are ``_torch.POINTWISE_LAYERS`` (shared with ``analysis.receptive_field``),
# less InstanceNorm2d (a patch's statistics are not the image's) and a softmax over anything but channels.
SUPPORTED = (
    "Conv2d (padding 0), MaxPool2d / AvgPool2d (padding 0, floor mode), Flatten, Linear, "
    "BatchNorm2d before Flatten, Dropout, Softmax / LogSoftmax over dim=1 and pointwise activations ("
    + ", ".join(
        layer.__name__
        for layer in POINTWISE_LAYERS
        if not issubclass(
            layer, (nn.Dropout, nn.Dropout2d, nn.BatchNorm2d, nn.InstanceNorm2d, nn.Softmax, nn.LogSoftmax)
        )
    )
    + "), nested in nn.Sequential"
)


def _layers(model: nn.Module) -> list[nn.Module]:
    if isinstance(model, PatchClassifier):
        return _layers(model.features) + _layers(model.classifier)
    if isinstance(model, nn.Sequential):
        return [leaf for child in model for leaf in _layers(child)]
    return [model]


def _pair_is(value, expected: int) -> bool:
    return as_pair(value) == (expected, expected)


def _single(value) -> int:
    return as_square(value, "convolutionalize handles square kernels, strides and dilations only, got")


class _AvgPoolDilated(nn.Module):
    """Average pooling over a dilated k×k window (a depthwise convolution with weights 1/k²);
    ``nn.AvgPool2d`` has no dilation argument."""

    def __init__(self, kernel_size: int, dilation: int, stride: int = 1):
        super().__init__()
        self.kernel_size, self.dilation, self.stride = kernel_size, dilation, stride

    def forward(self, x):
        c = x.shape[1]
        weight = x.new_full((c, 1, self.kernel_size, self.kernel_size), 1 / self.kernel_size**2)
        return F.conv2d(x, weight, stride=self.stride, dilation=self.dilation, groups=c)


def _unsupported(layer: nn.Module, why: str) -> TypeError:
    return TypeError(f"convolutionalize cannot convert {layer!r}: {why}. Supported: {SUPPORTED}.")


def convolutionalize(
    model: nn.Module,
    dense: bool = True,
    *,
    patch_size: int | None = None,
    pad: bool | None = None,
    padding_mode: str = "reflect",
) -> FullyConvolutional:
    """Turn a trained patch classifier into a fully convolutional network with the same weights.

    Fully connected layers become convolutions: the first one after ``Flatten`` gets a kernel
    that covers its whole input map, later ones are 1×1 (Long et al. 2015; notebook 01 §9).

    * ``dense=False`` keeps the strides, as FCN does: on an input of any size the output is the
      coarse map of the classifier's scores for windows at a step of the network's total stride S
      (output (i, j) = the classifier on the window whose top-left corner is (i·S, j·S), or, with
      ``pad=True``, centred on pixel (i·S, j·S)). Default ``pad=False``.
    * ``dense=True`` gives a score for every pixel: each strided convolution or pooling gets
      stride 1, and every later layer is dilated by the product of the strides before it (the
      "hole" algorithm of Giusti et al. 2013 and DeepLab). With the default ``pad=True`` the input
      is padded as in :func:`sliding_window`, and the output (N, num_classes, H, W) equals
      ``sliding_window(model, x)`` at every pixel, computed in one pass.

    ``model`` is a :class:`PatchClassifier` or an ``nn.Sequential`` of the layers listed in the
    error message for anything else; for a plain Sequential pass ``patch_size``. The copy is in
    the model's train/eval mode; compare outputs in eval mode (Dropout).
    """
    _check_mode(padding_mode)
    patch_size = patch_size if patch_size is not None else getattr(model, "patch_size", None)
    if patch_size is None:
        raise ValueError("pass patch_size=P: the classifier's input side is needed to reshape its Linear layers")
    pad = dense if pad is None else pad
    layers = _layers(model)
    first_conv = next((m for m in layers if isinstance(m, nn.Conv2d)), None)
    in_channels = getattr(model, "in_channels", None) or (first_conv.in_channels if first_conv else None)
    if in_channels is None:
        raise ValueError("cannot tell the number of input channels; the model has no Conv2d")
    device, dtype = model_device(model), model_dtype(model)
    x = torch.zeros(1, in_channels, patch_size, patch_size, device=device, dtype=dtype)  # shapes only

    body: list[nn.Module] = []
    hole = 1  # dilation every later layer needs (dense mode): product of strides so far
    total_stride = 1  # step between neighbouring windows in the input
    flat_shape = None  # (C, h, w) that Flatten saw; None before Flatten
    after_linear = False
    with eval_mode(model), torch.no_grad():
        for layer in layers:
            if isinstance(layer, nn.Conv2d):
                if flat_shape is not None:
                    raise _unsupported(layer, "a Conv2d after Flatten")
                if layer.padding != "valid" and (isinstance(layer.padding, str) or not _pair_is(layer.padding, 0)):
                    raise _unsupported(
                        layer,
                        "zero padding inside the patch differs from the neighbouring "
                        "pixels of a larger image; build the classifier with padding=0",
                    )
                k, s, d = _single(layer.kernel_size), _single(layer.stride), _single(layer.dilation)
                conv = nn.Conv2d(
                    layer.in_channels,
                    layer.out_channels,
                    k,
                    stride=1 if dense else s,
                    dilation=d * hole,
                    groups=layer.groups,
                    bias=layer.bias is not None,
                )
                conv.load_state_dict(layer.state_dict())
                body.append(conv)
                hole, total_stride = (hole * s if dense else hole), total_stride * s
            elif isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
                if flat_shape is not None:
                    raise _unsupported(layer, "pooling after Flatten")
                if not _pair_is(layer.padding, 0) or layer.ceil_mode:
                    raise _unsupported(layer, "padded or ceil-mode pooling reads outside the patch")
                k = _single(layer.kernel_size)
                s = _single(layer.stride if layer.stride is not None else layer.kernel_size)
                if isinstance(layer, nn.MaxPool2d):
                    d = _single(layer.dilation)
                    body.append(nn.MaxPool2d(k, stride=1 if dense else s, dilation=d * hole))
                elif dense:
                    body.append(_AvgPoolDilated(k, hole))
                else:
                    body.append(nn.AvgPool2d(k, s))
                hole, total_stride = (hole * s if dense else hole), total_stride * s
            elif isinstance(layer, nn.Flatten):
                if flat_shape is not None or x.dim() != 4 or layer.start_dim != 1:
                    raise _unsupported(layer, "only one Flatten(start_dim=1) of a (N, C, h, w) map")
                flat_shape = tuple(x.shape[1:])
                x = x.flatten(1)
                continue
            elif isinstance(layer, nn.Linear):
                if flat_shape is None:
                    raise _unsupported(layer, "a Linear layer needs a Flatten before it")
                if not after_linear:
                    c, h, w = flat_shape
                    conv = nn.Conv2d(c, layer.out_features, (h, w), dilation=hole, bias=layer.bias is not None)
                    conv.weight.copy_(layer.weight.reshape(layer.out_features, c, h, w))
                else:
                    conv = nn.Conv2d(layer.in_features, layer.out_features, 1, bias=layer.bias is not None)
                    conv.weight.copy_(layer.weight[:, :, None, None])
                if layer.bias is not None:
                    conv.bias.copy_(layer.bias)
                body.append(conv)
                after_linear = True
            elif isinstance(layer, POINTWISE_LAYERS):
                if isinstance(layer, nn.InstanceNorm2d):
                    raise _unsupported(
                        layer,
                        "its statistics come from the whole map, so a patch and a larger "
                        "image are normalised differently",
                    )
                if isinstance(layer, (nn.Softmax, nn.LogSoftmax)) and layer.dim != 1:
                    raise _unsupported(layer, "only a softmax over the channels (dim=1) acts pixel by pixel")
                if isinstance(layer, nn.BatchNorm2d) and flat_shape is not None:
                    raise _unsupported(layer, "BatchNorm2d after Flatten")
                body.append(copy.deepcopy(layer))
            else:
                raise _unsupported(layer, f"{type(layer).__name__} is not a layer it knows how to convert")
            x = layer(x.clone())  # follow the shapes through the original layer
    if not after_linear:
        raise ValueError("the model has no Flatten + Linear head; it is already fully convolutional")
    net = FullyConvolutional(
        nn.Sequential(*body), patch_size, in_channels, 1 if dense else total_stride, dense, pad, padding_mode
    )
    return net.to(device=device, dtype=dtype).train(model.training)
