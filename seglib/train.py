"""Training and evaluation loops shared by every notebook that trains a model.

``fit`` trains with progress bars (``tqdm.auto``), records loss and mIoU per epoch, and can save
and resume checkpoints; ``evaluate`` streams a ``ConfusionMatrix`` over a loader; ``predict``
returns label maps. Loaders yield ``(images (N, 3, H, W) float, masks (N, H, W) int64)`` and
models return logits (N, C, H, W) at the masks' resolution (or torchvision's ``{"out": ...}``).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import nn
from tqdm.auto import tqdm

from . import get_device, seed_everything
from ._files import write_atomically
from .analysis import count_macs, count_params
from .metrics import ConfusionMatrix

__all__ = ["fit", "evaluate", "predict", "logits_of", "compare", "comparison_row", "comparison_table"]


def logits_of(output, target_size: tuple[int, int] | None = None) -> torch.Tensor:
    """The logits tensor of a model's output (torchvision segmentation models return a dict)."""
    logits = output["out"] if isinstance(output, dict) else output
    if not isinstance(logits, torch.Tensor) or logits.dim() != 4:
        raise TypeError(
            f"a segmentation model must return logits (N, C, H, W) or a dict with 'out'; got "
            f"{type(logits).__name__} {tuple(getattr(logits, 'shape', ()))}"
        )
    if target_size is not None and tuple(logits.shape[-2:]) != tuple(target_size):
        raise ValueError(
            f"the model returns {tuple(logits.shape[-2:])} logits for {tuple(target_size)} masks; "
            f"upsample inside the model (F.interpolate(..., size=x.shape[-2:])) so they match"
        )
    return logits


def _batches(loader: Iterable, device: torch.device):
    for batch in loader:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise TypeError("the loader must yield (images, masks) pairs")
        images, masks = batch
        if masks.is_floating_point():
            raise TypeError(
                f"masks must be integer class indices, got {masks.dtype}; return torch.long masks "
                f"from the dataset (seglib.data transforms do)"
            )
        yield images.to(device, non_blocking=True), masks.to(device, non_blocking=True).long()


def _run_epoch(model, loader, device, loss_fn, optimizer, matrix: ConfusionMatrix, description: str,
               progress: bool) -> float:
    """One pass over ``loader``, filling ``matrix``; trains when ``optimizer`` is given.

    Returns the loss averaged over images (NaN without ``loss_fn``).
    """
    training = optimizer is not None
    model.train(training)
    total, count = 0.0, 0
    with torch.set_grad_enabled(training):
        for images, masks in tqdm(_batches(loader, device), desc=description, total=_length(loader),
                                  leave=False, disable=not progress):
            logits = logits_of(model(images), masks.shape[-2:])
            loss = loss_fn(logits, masks) if loss_fn is not None else None
            if training:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            total += loss.item() * len(images) if loss is not None else 0.0
            count += len(images)
            matrix.update(logits.detach().argmax(1), masks)
    if count == 0:
        raise ValueError(f"the {description} loader yielded no batches")
    return total / count if loss_fn is not None else float("nan")


def _length(loader) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


def fit(
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable | None = None,
    *,
    num_classes: int,
    epochs: int = 10,
    loss_fn: Callable | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-3,
    scheduler=None,
    ignore_index: int = 255,
    device: str | torch.device | None = None,
    seed: int = 0,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, list]:
    """Train ``model`` and return its history: lists ``epoch``, ``train_loss``, ``train_miou``,
    ``val_loss``, ``val_miou``, ``val_pixel_accuracy``, ``seconds`` (the whole epoch) and
    ``train_seconds`` (its training part, without validation), one entry per epoch.

    Defaults: Adam at ``lr``, cross-entropy ignoring ``ignore_index``, the device from
    ``seglib.get_device()``. Each epoch starts from ``seed_everything(seed + epoch)``, so a run
    resumed from a checkpoint (saved atomically after every epoch when ``checkpoint`` is a path)
    continues exactly as the uninterrupted run would have on the same machine.
    """
    device = get_device(device)
    model.to(device)
    loss_fn = loss_fn or nn.CrossEntropyLoss(ignore_index=ignore_index)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    history: dict[str, list] = {key: [] for key in (
        "epoch", "train_loss", "train_miou", "val_loss", "val_miou", "val_pixel_accuracy", "seconds",
        "train_seconds")}
    start = 1
    path = Path(checkpoint) if checkpoint is not None else None
    if resume and path is not None and path.exists():
        state = torch.load(path, map_location=device, weights_only=True)  # never runs code from a file
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        history = state["history"]
        history.setdefault("train_seconds", list(history["seconds"]))  # checkpoints from before it existed
        start = state["epoch"] + 1

    bar = tqdm(range(start, epochs + 1), desc="epochs", disable=not progress)
    for epoch in bar:
        seed_everything(seed + epoch)
        began = time.perf_counter()
        train_matrix = ConfusionMatrix(num_classes, ignore_index)
        train_loss = _run_epoch(model, train_loader, device, loss_fn, optimizer, train_matrix, "train", progress)
        if scheduler is not None:
            scheduler.step()
        train_seconds = time.perf_counter() - began
        row = {"epoch": epoch, "train_loss": train_loss, "train_miou": train_matrix.compute()["miou"],
               "val_loss": float("nan"), "val_miou": float("nan"), "val_pixel_accuracy": float("nan")}
        if val_loader is not None:
            results = evaluate(model, val_loader, num_classes, ignore_index=ignore_index, device=device,
                               loss_fn=loss_fn, progress=progress)
            row.update(val_loss=results["loss"], val_miou=results["miou"],
                       val_pixel_accuracy=results["pixel_accuracy"])
        row["seconds"] = time.perf_counter() - began
        row["train_seconds"] = train_seconds
        for key, value in row.items():
            history[key].append(value)
        bar.set_postfix(loss=f"{train_loss:.3f}", val_miou=f"{row['val_miou']:.3f}")
        if path is not None:
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict() if scheduler is not None else None,
                     "history": history, "epoch": epoch}
            write_atomically(path, lambda file: torch.save(state, file))  # a crash keeps the last one
    return history


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, num_classes: int, *, ignore_index: int = 255,
             device: str | torch.device | None = None, loss_fn: Callable | None = None,
             progress: bool = False) -> dict:
    """The ``ConfusionMatrix`` results of ``model`` on ``loader`` (plus ``loss`` if ``loss_fn``)."""
    device = get_device(device)
    model.to(device)
    matrix = ConfusionMatrix(num_classes, ignore_index)
    loss = _run_epoch(model, loader, device, loss_fn, None, matrix, "eval", progress)
    results = matrix.compute()
    if loss_fn is not None:
        results["loss"] = loss
    return results


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, *, batch_size: int = 32,
            device: str | torch.device | None = None, probabilities: bool = False) -> torch.Tensor:
    """Label maps (N, H, W) int64 on the CPU for images (N, 3, H, W) or one image (3, H, W).

    With ``probabilities=True`` it returns the softmax (N, C, H, W) instead.
    """
    if images.dim() == 3:
        return predict(model, images[None], batch_size=batch_size, device=device, probabilities=probabilities)[0]
    if images.dim() != 4 or not images.is_floating_point():
        raise ValueError(f"predict wants float images (N, 3, H, W) or (3, H, W), got {tuple(images.shape)} {images.dtype}")
    device = get_device(device)
    model.to(device).eval()
    outputs = []
    for chunk in images.split(batch_size):
        logits = logits_of(model(chunk.to(device)), chunk.shape[-2:])
        outputs.append((logits.softmax(1) if probabilities else logits.argmax(1)).cpu())
    return torch.cat(outputs)


# --- Comparing models ----------------------------------------------------------------------------

def comparison_row(model: nn.Module, history: dict, val_results: dict, input_shape: tuple[int, ...]) -> dict:
    """One row of a model comparison (lectures 004-005 and the lab): the trained ``model``, its
    ``history`` from ``fit``, ``parameters``, ``macs`` for one input of ``input_shape`` (C, H, W),
    ``seconds`` (mean training time per epoch, validation excluded), ``miou`` and the full
    ``val`` results of ``evaluate``."""
    return {"model": model, "history": history, "parameters": count_params(model),
            "macs": count_macs(model, input_shape), "seconds": sum(history["train_seconds"]) / len(history["train_seconds"]),
            "miou": val_results["miou"], "val": val_results}


def compare(builders: dict[str, Callable[[], nn.Module]], train_loader: Iterable, val_loader: Iterable, *,
            num_classes: int, epochs: int, input_shape: tuple[int, ...], seed: int = 0,
            device: str | torch.device | None = None, progress: bool = False, **fit_options) -> dict[str, dict]:
    """Build, train and evaluate each model the same way (same data, epochs, optimiser and seed)
    and return ``{name: comparison_row(...)}`` in the order of ``builders``. Each builder is a
    function returning a fresh model, called right after ``seed_everything(seed)``, so every
    model starts from the same random state. Validation runs once, after the last epoch;
    ``fit_options`` (``lr``, ``loss_fn``, ...) go to ``fit``."""
    rows = {}
    for name, build in builders.items():
        seed_everything(seed)
        model = build()
        history = fit(model, train_loader, num_classes=num_classes, epochs=epochs, seed=seed, device=device,
                      progress=progress, **fit_options)
        results = evaluate(model, val_loader, num_classes, device=device)
        rows[name] = comparison_row(model, history, results, input_shape)
    return rows


def comparison_table(rows: dict[str, dict], baseline: float | None = None) -> str:
    """``rows`` from ``compare`` as a fixed-width text table: parameters, MACs, seconds per
    epoch and val mIoU, plus a last line with ``baseline`` (e.g. predicting background
    everywhere) when given."""
    width = max(24, *(len(name) for name in rows)) if rows else 24
    lines = [f"{'model':{width}s} {'parameters':>11s} {'MACs':>8s} {'s / epoch':>9s} {'val mIoU':>8s}"]
    for name, r in rows.items():
        lines.append(f"{name:{width}s} {r['parameters']:11,d} {r['macs'] / 1e6:7.0f}M {r['seconds']:9.1f} {r['miou']:8.3f}")
    if baseline is not None:
        label = "predicting background everywhere"
        lines.append(f"{label:{width + 31}s} {baseline:8.3f}")
    return "\n".join(lines)
