"""Small torch idioms that several seglib modules need, written once (private: not part of the API).

- :data:`POINTWISE_LAYERS`: layers that act on each pixel (or each channel) alone, so they keep
  a network's geometry: ``analysis.receptive_field`` passes over them and
  ``models.patch.convolutionalize`` copies them unchanged.
- :func:`as_pair` and :func:`as_square`: PyTorch's "an int or a pair of ints" arguments
  (``kernel_size=3`` or ``(3, 5)``) as a pair, or as one side when both are equal.
- :func:`eval_mode` / :func:`train_mode`: run a block with the model in eval (or train) mode and
  give it back in the mode it had, even if the block raises.
- :func:`model_device` and :func:`model_dtype`: where a model's weights live, to put inputs there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import nn

__all__ = ["POINTWISE_LAYERS", "as_pair", "as_square", "eval_mode", "train_mode", "model_device", "model_dtype"]

# Pixel-wise activations, dropout and per-channel normalisation: the output at a pixel depends on
# the input at that pixel only (the statistics of a normalisation are constants at inference).
POINTWISE_LAYERS: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardtanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Softplus,
    nn.Softmax,
    nn.LogSoftmax,
    nn.Identity,
    nn.Dropout,
    nn.Dropout2d,
    nn.BatchNorm2d,
    nn.InstanceNorm2d,
)


def as_pair(value, name: str = "value", minimum: int | None = None) -> tuple[int, int]:
    """``value`` (an int or a pair of ints, as ``torch.nn.Conv2d`` takes) as a pair of ints.

    Raises a ``TypeError`` naming ``name`` for anything else (a bool, a float, three numbers)
    and a ``ValueError`` when ``minimum`` is given and a side is smaller."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if isinstance(value, int):
        pair = (value, value)
    elif (
        isinstance(value, Sequence)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if minimum is not None and min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return pair


def as_square(value, problem: str, fix: str = "") -> int:
    """The one side of an int-or-pair ``value`` whose two sides are equal (a square kernel, an
    equal stride in both directions). Otherwise a ``ValueError``: ``problem``, the pair, then
    ``fix``: ``as_square((3, 5), "layer 'conv' has a non-square kernel", "use 3×3")`` says
    "layer 'conv' has a non-square kernel (3, 5); use 3×3"."""
    a, b = as_pair(value)
    if a != b:
        raise ValueError(f"{problem} {(a, b)}" + (f"; {fix}" if fix else ""))
    return a


@contextlib.contextmanager
def train_mode(model: nn.Module, training: bool = True) -> Iterator[nn.Module]:
    """Set ``model.train(training)`` for the ``with`` block, then restore the mode it had (also
    when the block raises), so a helper never leaves a student's model in the wrong mode."""
    was_training = model.training
    model.train(training)
    try:
        yield model
    finally:
        model.train(was_training)


def eval_mode(model: nn.Module) -> contextlib.AbstractContextManager[nn.Module]:
    """``train_mode(model, False)``: eval mode (batch norm's running statistics, no dropout) for
    the ``with`` block, then the model's own mode again."""
    return train_mode(model, False)


def model_device(model: nn.Module, default: torch.device | str = "cpu") -> torch.device:
    """The device of ``model``'s first parameter (or buffer); ``default`` for a model with neither
    (a bare ``nn.ReLU``), where the input can stay where it is."""
    tensor = next(model.parameters(), None)
    if tensor is None:
        tensor = next(model.buffers(), None)
    return tensor.device if tensor is not None else torch.device(default)


def model_dtype(model: nn.Module, default: torch.dtype = torch.float32) -> torch.dtype:
    """The floating-point dtype of ``model``'s first parameter; ``default`` without one."""
    param = next(model.parameters(), None)
    return param.dtype if param is not None and param.is_floating_point() else default
