"""Measuring networks: receptive field, parameters, multiply-accumulates (notebook 01 onwards).

The receptive field is the input region one output pixel depends on (Piccoli & Barbato's
exercise, conv3 -> maxpool2 -> conv3, has 8x8). It is computed analytically, layer by layer,
with the recurrence of Dumoulin & Visin (2016) and Araujo et al. (2019):

    rf_out = rf_in + (kernel - 1) * dilation * jump_in,    jump_out = jump_in * stride

where ``jump`` is the distance, in input pixels, between neighbouring features of a layer.
``empirical_receptive_field`` checks it from the gradient of one output pixel.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._guards import check_allocation
from ._torch import POINTWISE_LAYERS, as_pair, as_square, eval_mode, model_device, model_dtype

__all__ = [
    "conv_output_size",
    "conv_transpose_output_size",
    "LayerGeometry",
    "receptive_field_table",
    "receptive_field",
    "empirical_receptive_field",
    "count_params",
    "count_macs",
    "activation_bytes",
    "saved_for_backward_bytes",
]


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution or pooling: floor((n + 2p - d (k - 1) - 1) / s) + 1."""
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def conv_transpose_output_size(
    size: int, kernel_size: int, stride: int = 1, padding: int = 0, output_padding: int = 0, dilation: int = 1
) -> int:
    """Output length of a transposed convolution: (n - 1) s - 2p + d (k - 1) + output_padding + 1."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1


# --------------------------------------------------------------------------- receptive field
@dataclass(frozen=True)
class LayerGeometry:
    """One row of a receptive-field table: a layer and the field after it."""

    name: str
    layer: str
    kernel: int
    stride: int
    dilation: int
    receptive_field: int
    jump: int


# Layers that act pixel by pixel (or per channel) and so leave the receptive field unchanged:
# ``_torch.POINTWISE_LAYERS``, the list ``models.patch.convolutionalize`` copies unchanged too.
_POINTWISE_FUNCTIONS = {
    F.relu,
    F.relu6,
    F.leaky_relu,
    F.elu,
    F.selu,
    F.gelu,
    F.silu,
    F.sigmoid,
    F.tanh,
    F.dropout,
    F.dropout2d,
    F.softmax,
    F.log_softmax,
    F.batch_norm,
    torch.relu,
    torch.sigmoid,
    torch.tanh,
}
# Elementwise arithmetic with a constant (x * 2, x + 1) keeps a chain a chain.
_ARITHMETIC = {operator.add, operator.sub, operator.mul, operator.truediv, torch.add, torch.mul}


def _square(value, what: str, name: str) -> int:
    return as_square(
        value, f"layer {name!r} has a non-square {what}", "receptive_field reports one size for square fields only"
    )


def _geometry(module: nn.Module, name: str) -> tuple[int, int, int] | None:
    """(kernel, stride, dilation) of a layer, None for a pointwise one; error for the rest."""
    if isinstance(module, POINTWISE_LAYERS):
        return None
    if isinstance(module, nn.Conv2d):
        return (
            _square(module.kernel_size, "kernel", name),
            _square(module.stride, "stride", name),
            _square(module.dilation, "dilation", name),
        )
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        dilation = getattr(module, "dilation", 1)
        stride = module.stride if module.stride is not None else module.kernel_size
        return (
            _square(module.kernel_size, "kernel", name),
            _square(stride, "stride", name),
            _square(dilation, "dilation", name),
        )
    raise TypeError(
        f"receptive_field cannot analyse layer {name!r} ({type(module).__name__}). It handles "
        "chains of Conv2d, MaxPool2d/AvgPool2d, activations, BatchNorm, Dropout and Sequential; "
        "for other layers (Linear, ConvTranspose2d, adaptive pooling, branches) use "
        "empirical_receptive_field(model, input_size)"
    )


def _chain(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's layers in the order its forward pass applies them."""
    if isinstance(model, nn.Sequential):
        layers = []
        for name, child in model.named_children():
            sub = _chain(child) if isinstance(child, nn.Sequential) else [("", child)]
            layers += [(f"{name}.{n}" if n else name, m) for n, m in sub]
        return layers
    if not list(model.children()):
        return [(type(model).__name__, model)]
    return _traced_chain(model)


def _traced_chain(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Follow a custom module's forward with torch.fx; it must be a single chain."""
    import torch.fx as fx

    try:
        graph = fx.symbolic_trace(model).graph
    except Exception as exc:  # tracing fails on data-dependent control flow
        raise TypeError(
            f"receptive_field could not follow {type(model).__name__}.forward ({exc}); wrap the "
            "layers in nn.Sequential or use empirical_receptive_field"
        ) from exc
    modules = dict(model.named_modules())
    layers, previous = [], None
    for node in graph.nodes:
        if node.op in ("placeholder", "output", "get_attr"):
            previous = node if node.op == "placeholder" else previous
            continue
        inputs = [a for a in node.all_input_nodes if a.op != "get_attr"]
        if len(inputs) != 1 or inputs[0] is not previous:
            raise TypeError(
                f"receptive_field follows chains, but {type(model).__name__} combines several "
                f"tensors at {node.name!r} (a skip connection or branch); use "
                "empirical_receptive_field for such models"
            )
        if node.op == "call_module":
            layers.append((str(node.target), modules[str(node.target)]))
        elif node.op == "call_function" and node.target in _POINTWISE_FUNCTIONS | _ARITHMETIC:
            pass
        elif node.op == "call_method" and node.target in ("relu", "sigmoid", "tanh", "contiguous"):
            pass
        else:
            raise TypeError(
                f"receptive_field cannot analyse the operation {node.name!r} ({node.target}) in "
                f"{type(model).__name__}.forward; use empirical_receptive_field"
            )
        previous = node
    return layers


def receptive_field_table(model: nn.Module) -> list[LayerGeometry]:
    """The receptive field and jump after each layer of a chain-shaped model, in order."""
    rf, jump, rows = 1, 1, []
    for name, module in _chain(model):
        geometry = _geometry(module, name)
        if geometry is None:
            continue
        kernel, stride, dilation = geometry
        rf += (kernel - 1) * dilation * jump
        jump *= stride
        rows.append(LayerGeometry(name, type(module).__name__, kernel, stride, dilation, rf, jump))
    return rows


def receptive_field(model: nn.Module) -> int:
    """Receptive-field size (square side, in input pixels) of one output pixel of ``model``.

    Works for nn.Sequential models and for custom modules whose forward is a single chain of
    supported layers (traced with torch.fx); raises a clear error for anything else.
    """
    table = receptive_field_table(model)
    return table[-1].receptive_field if table else 1


def empirical_receptive_field(
    model: nn.Module,
    input_size: int | tuple[int, int] = 64,
    in_channels: int | None = None,
    n_samples: int = 16,
    seed: int = 0,
) -> int:
    """Receptive field measured from gradients: the side of the input region on which the
    centre output pixel depends, union over ``n_samples`` random inputs.

    Max-pooling routes the gradient to one input per window, and ReLUs block it where they are
    off, so one input may under-estimate the field; the union over several inputs does not.
    """
    if in_channels is None:
        first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
        if first is None:
            raise ValueError("pass in_channels: the model has no Conv2d to read it from")
        in_channels = first.in_channels
    h, w = as_pair(input_size, "input_size")
    if min(n_samples, in_channels, h, w) < 1:
        raise ValueError(
            f"input_size, in_channels and n_samples must be positive, got {input_size!r}, {in_channels!r}, "
            f"{n_samples!r}"
        )
    check_allocation(
        8.0 * n_samples * in_channels * h * w, f"{n_samples} inputs of {h}x{w}", "use a smaller input_size or n_samples"
    )
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n_samples, in_channels, h, w, generator=generator).to(model_device(model)).requires_grad_(True)
    with eval_mode(model):
        y = model(x)
    if y.dim() != 4:
        raise ValueError(f"the model's output must be (N, C, H, W) feature maps, got {tuple(y.shape)}")
    y[:, :, y.shape[2] // 2, y.shape[3] // 2].sum().backward()
    touched = (x.grad.abs().sum(dim=(0, 1)) > 0).nonzero()
    if touched.numel() == 0:
        raise ValueError(
            "the centre output pixel has a zero gradient for every sample (saturated activations "
            "or dead ReLUs), so the field cannot be measured; re-initialise the weights or use "
            "smaller ones"
        )
    rows, cols = touched[:, 0], touched[:, 1]
    if rows.min() == 0 or cols.min() == 0 or rows.max() == h - 1 or cols.max() == w - 1:
        raise ValueError(
            f"the receptive field reaches the border of the {h}x{w} input, so it may be larger; "
            "pass a larger input_size"
        )
    height, width = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
    return max(height, width)


# --------------------------------------------------------------------------- size and cost
def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (weights and biases) of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _macs_of(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    """Multiply-accumulates one call of a layer performed (biases and activations not counted)."""
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return output.numel() * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.ConvTranspose2d):
        kh, kw = module.kernel_size
        return inputs[0].numel() * (module.out_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulate operations of one forward pass on an input of ``input_shape``.

    Counted by forward hooks on the real Conv2d, ConvTranspose2d and Linear modules as they run,
    so it reflects the actual output sizes, strides and groups. ``input_shape`` is (C, H, W)
    for one image or (N, C, H, W) for a batch. Additions of biases, normalisation and
    activations are not counted (they are a small share for convolutional networks).
    """
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 3:
        shape = (1, *shape)
    if len(shape) != 4:
        raise ValueError(f"input_shape must be (C, H, W) or (N, C, H, W), got {tuple(input_shape)}")
    if min(shape) < 1:
        raise ValueError(f"input_shape must hold positive sizes, got {tuple(input_shape)}")
    check_allocation(
        4.0 * math.prod(shape),
        f"an input of shape {shape}",
        "count MACs on a smaller input_shape (MACs grow with H x W, so scale the result)",
    )
    device, dtype = model_device(model), model_dtype(model)
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        total += _macs_of(module, inputs, output)

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))
    ]
    try:
        with eval_mode(model), torch.no_grad():
            model(torch.zeros(shape, device=device, dtype=dtype))
    finally:
        for handle in handles:
            handle.remove()
    return total


def activation_bytes(net: nn.Module, shape: tuple[int, ...]) -> int:
    """Bytes of every leaf layer's output for one input of ``shape``: the activations a forward
    pass creates (lecture 003's "preserve the resolution" cost, notebook 03). Computed from shapes
    on the meta device, which allocates nothing; ``net`` is moved there, so pass a copy you can
    spare (or one built on the meta device)."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        total += output.numel() * output.element_size()

    leaves = [m for m in net.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.no_grad():
            net.to("meta")(torch.zeros(shape, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return total


def saved_for_backward_bytes(net: nn.Module, x: torch.Tensor) -> int:
    """Bytes autograd keeps for the backward pass of one call ``net(x)`` (notebook 03), measured:
    every tensor it saves passes through a ``saved_tensors_hooks`` pack hook; tensors that share
    storage (a layer's input and the previous layer's output) are counted once."""
    storages = {}

    def pack(t):
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        net(x)
    return sum(storages.values())
