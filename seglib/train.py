"""Training and evaluation loops shared by every notebook that trains a model.

``fit`` trains with progress bars (``tqdm.auto``), records loss and mIoU per epoch, and can save
and resume checkpoints; ``evaluate`` streams a ``ConfusionMatrix`` over a loader; ``predict``
returns label maps. Loaders yield ``(images (N, 3, H, W) float, masks (N, H, W) int64)`` and
models return logits (N, C, H, W) at the masks' resolution (or torchvision's ``{"out": ...}``).
"""

from __future__ import annotations

import glob
import os
import pickle
import time
import warnings
from pathlib import Path
from collections.abc import Callable, Iterable

import torch
from torch import nn
from tqdm.auto import tqdm

from . import get_device, seed_everything
from ._files import write_atomically
from .analysis import count_macs, count_params
from .metrics import ConfusionMatrix

__all__ = [
    "fit",
    "fit_detector",
    "evaluate",
    "predict",
    "logits_of",
    "NonFiniteLossError",
    "compare",
    "comparison_row",
    "comparison_table",
]


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
        if not isinstance(images, torch.Tensor) or not isinstance(masks, torch.Tensor):
            raise TypeError(
                f"the loader must yield tensors, got {type(images).__name__} and {type(masks).__name__}; "
                f"give the dataset a transform that ends in tensors (seglib.data transforms do)"
            )
        if masks.is_floating_point() or masks.dtype == torch.bool:
            raise TypeError(
                f"masks must be integer class indices, got {masks.dtype}; return torch.long masks "
                f"from the dataset (seglib.data transforms do)"
            )
        if images.dim() != 4 or masks.dim() != 3 or len(images) != len(masks):
            raise ValueError(
                f"the loader must yield images (N, C, H, W) and masks (N, H, W), got {tuple(images.shape)} and "
                f"{tuple(masks.shape)}"
            )
        yield images.to(device, non_blocking=True), masks.to(device, non_blocking=True).long()


class NonFiniteLossError(FloatingPointError):
    """A loss (or the model's weights) became NaN or infinite: training cannot go on."""


_BATCHNORM_ONE_VALUE = "Expected more than 1 value per channel when training"


def _forward(model, images):
    """``model(images)``, turning BatchNorm's error on a batch of one into one that says what to do."""
    try:
        return model(images)
    except ValueError as error:
        if _BATCHNORM_ONE_VALUE not in str(error):
            raise
        raise ValueError(
            f"batch norm cannot normalise a batch of {len(images)} image(s) of {tuple(images.shape[-2:])} in train "
            f"mode: a layer sees a single value per channel. Use batches of at least 2 images (a DataLoader with "
            f"drop_last=True drops a last batch of one), larger images, or model.eval()"
        ) from None


def _check_labels(
    masks: torch.Tensor, num_classes: int, ignore_index: int | None, batch: int, description: str
) -> bool:
    """Whether the masks hold any labelled pixel; raise if one holds a label outside 0..C-1."""
    valid = masks != ignore_index if ignore_index is not None else torch.ones_like(masks, dtype=torch.bool)
    out_of_range = valid & ((masks < 0) | (masks >= num_classes))
    if bool(out_of_range.any()):
        bad = int(masks[out_of_range][0])
        raise ValueError(
            f"batch {batch} of the {description} loader holds mask label {bad}, outside 0..{num_classes - 1} and not "
            f"ignore_index={ignore_index}; check num_classes, and that void pixels carry ignore_index"
        )
    return bool(valid.any())


def _run_epoch(
    model, loader, device, loss_fn, optimizer, matrix: ConfusionMatrix, description: str, progress: bool
) -> float:
    """One pass over ``loader``, filling ``matrix``; trains when ``optimizer`` is given.

    Batches without a labelled pixel (all ``ignore_index``) are skipped: their loss is undefined.
    Returns the loss averaged over images (NaN without ``loss_fn``). Raises ``NonFiniteLossError``
    on a NaN or infinite loss, before the optimizer step, so the weights stay those of the last
    good step.
    """
    training = optimizer is not None
    model.train(training)
    total, count, skipped = 0.0, 0, 0
    num_classes, ignore_index = matrix.num_classes, matrix.ignore_index
    with torch.set_grad_enabled(training):
        batches = tqdm(
            _batches(loader, device), desc=description, total=_length(loader), leave=False, disable=not progress
        )
        for index, (images, masks) in enumerate(batches, start=1):
            if not _check_labels(masks, num_classes, ignore_index, index, description):
                skipped += 1
                continue
            logits = logits_of(_forward(model, images), masks.shape[-2:])
            if logits.shape[1] != num_classes:
                raise ValueError(
                    f"the model outputs {logits.shape[1]} class scores per pixel but num_classes={num_classes}; "
                    f"build the model with num_classes={num_classes} (or pass the dataset's num_classes)"
                )
            loss = loss_fn(logits, masks) if loss_fn is not None else None
            if loss is not None and not bool(torch.isfinite(loss)):
                kept = "; the weights were not updated with it" if training else ""
                raise NonFiniteLossError(f"the {description} loss is {loss.item()} on batch {index}{kept}")
            if loss is None and not bool(torch.isfinite(logits).all()):
                raise NonFiniteLossError(
                    f"the model's logits hold NaN or infinite values on {description} batch {index}; the model has "
                    f"diverged or its input holds NaN: retrain with a lower learning rate, or check the images"
                )
            if training:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            total += loss.item() * len(images) if loss is not None else 0.0
            count += len(images)
            matrix.update(logits.detach().argmax(1), masks)
    if count == 0:
        if skipped:
            raise ValueError(
                f"every batch of the {description} loader ({skipped}) has only ignore_index={ignore_index} pixels, "
                f"so there is nothing to learn or measure; check the masks and ignore_index"
            )
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
    _check_fit_arguments(num_classes, epochs, ignore_index)
    path, device = _prepare(model, checkpoint, device)
    loss_fn = loss_fn or nn.CrossEntropyLoss(ignore_index=ignore_index)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    history, start = _resume(path, model, optimizer, scheduler, epochs, device) if resume else (_new_history(), 1)

    bar = tqdm(range(start, epochs + 1), desc="epochs", disable=not progress)
    for epoch in bar:
        seed_everything(seed + epoch)
        began = time.perf_counter()
        train_matrix = ConfusionMatrix(num_classes, ignore_index)
        try:
            train_loss = _run_epoch(model, train_loader, device, loss_fn, optimizer, train_matrix, "train", progress)
        except NonFiniteLossError as error:
            raise NonFiniteLossError(f"epoch {epoch}: {error}. {_kept(path, epoch)}{_NAN_HINT}") from None
        if scheduler is not None:
            scheduler.step()
        train_seconds = time.perf_counter() - began
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_miou": train_matrix.compute()["miou"],
            "val_loss": float("nan"),
            "val_miou": float("nan"),
            "val_pixel_accuracy": float("nan"),
        }
        if val_loader is not None:
            try:
                results = evaluate(
                    model,
                    val_loader,
                    num_classes,
                    ignore_index=ignore_index,
                    device=device,
                    loss_fn=loss_fn,
                    progress=progress,
                )
            except NonFiniteLossError as error:
                raise NonFiniteLossError(f"epoch {epoch}: {error}. {_kept(path, epoch)}{_NAN_HINT}") from None
            row.update(val_loss=results["loss"], val_miou=results["miou"], val_pixel_accuracy=results["pixel_accuracy"])
        row["seconds"] = time.perf_counter() - began
        row["train_seconds"] = train_seconds
        for key, value in row.items():
            history[key].append(value)
        bar.set_postfix(loss=f"{train_loss:.3f}", val_miou=f"{row['val_miou']:.3f}")
        _save_state(path, model, optimizer, scheduler, history, epoch)
    return history


_NAN_HINT = (
    " Lower the learning rate, check the images and masks for NaN, or clip gradients (torch.nn.utils.clip_grad_norm_)"
)


def _prepare(model: nn.Module, checkpoint, device) -> tuple[Path | None, torch.device]:
    """The checkpoint path (checked before an epoch is spent) and the device, with the model on it."""
    path = Path(checkpoint).expanduser() if checkpoint is not None else None
    if path is not None:
        _check_checkpoint_path(path)
    device = get_device(device)
    model.to(device)
    return path, device


def _new_history() -> dict[str, list]:
    return {
        key: []
        for key in (
            "epoch",
            "train_loss",
            "train_miou",
            "val_loss",
            "val_miou",
            "val_pixel_accuracy",
            "seconds",
            "train_seconds",
        )
    }


def _resume(path: Path | None, model, optimizer, scheduler, epochs: int, device) -> tuple[dict, int]:
    """(history, first epoch to train) of the run saved at ``path``, with the model, optimizer and
    scheduler restored from it; an empty history and epoch 1 when there is no checkpoint yet."""
    if path is None or not path.exists():
        return _new_history(), 1
    state = _load_checkpoint(path, device)
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
    except (RuntimeError, ValueError, KeyError) as error:
        raise ValueError(
            f"checkpoint {path} does not fit this model or optimizer ({_first_line(error)}); it was saved by "
            f"another run: pass another checkpoint path, or resume=False to start again"
        ) from None
    history = state["history"]
    history.setdefault("train_seconds", list(history["seconds"]))  # checkpoints from before it existed
    if state["epoch"] > epochs:
        raise ValueError(
            f"checkpoint {path} already holds {state['epoch']} epochs but epochs={epochs}; pass "
            f"epochs >= {state['epoch']} to continue it, or resume=False (or another checkpoint) to start again"
        )
    return history, state["epoch"] + 1


def _save_state(path: Path | None, model, optimizer, scheduler, history: dict, epoch: int) -> None:
    """Save the run after ``epoch`` atomically at ``path`` (a crash keeps the last one)."""
    if path is None:
        return
    if not all(bool(torch.isfinite(t).all()) for t in model.state_dict().values() if t.is_floating_point()):
        raise NonFiniteLossError(
            f"epoch {epoch}: the model's weights hold NaN or infinite values after the "
            f"last step. {_kept(path, epoch)}{_NAN_HINT}"
        )
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "history": history,
        "epoch": epoch,
    }
    write_atomically(path, lambda file: torch.save(state, file))


def fit_detector(
    model: nn.Module,
    train_items: list,
    evaluate_fn: Callable[[nn.Module], dict] | None = None,
    *,
    epochs: int,
    optimizer: torch.optim.Optimizer,
    scheduler=None,
    batch_size: int = 4,
    augment: Callable | None = None,
    device: str | torch.device | None = None,
    seed: int = 0,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, list]:
    """``fit`` for a torchvision detector (Mask R-CNN, lecture 007): ``train_items`` are
    ``(image, target)`` pairs, the model returns its dict of losses in training mode and their
    sum is minimised. ``augment(image, target)`` (drawing from PyTorch's generator) is applied
    to every item; ``evaluate_fn(model)`` returns ``evaluate``-style results (``miou``,
    ``pixel_accuracy``) after each epoch. The history has ``fit``'s keys (``train_miou`` and
    ``val_loss`` are NaN); seeding, checkpoints and resuming work as in ``fit``."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int (the last epoch to train), got {epochs!r}")
    if not train_items:
        raise ValueError("train_items is empty: give (image, target) pairs to train on")
    path, device = _prepare(model, checkpoint, device)
    history, start = _resume(path, model, optimizer, scheduler, epochs, device) if resume else (_new_history(), 1)
    for epoch in tqdm(range(start, epochs + 1), desc="epochs", disable=not progress):
        seed_everything(seed + epoch)
        began = time.perf_counter()
        model.train()
        order, total = torch.randperm(len(train_items)).tolist(), 0.0
        for step in range(0, len(order), batch_size):
            batch = [train_items[i] for i in order[step : step + batch_size]]
            if augment is not None:
                batch = [augment(*item) for item in batch]
            images = [image.to(device) for image, _ in batch]
            targets = [{k: v.to(device) for k, v in target.items()} for _, target in batch]
            loss = sum(model(images, targets).values())
            if not bool(torch.isfinite(loss)):
                raise NonFiniteLossError(
                    f"epoch {epoch}: the loss is {loss.item()} at image {step}; the weights were "
                    f"not updated with it. {_kept(path, epoch)}{_NAN_HINT}"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        if scheduler is not None:
            scheduler.step()
        train_seconds = time.perf_counter() - began
        results = evaluate_fn(model) if evaluate_fn is not None else {}
        row = {
            "epoch": epoch,
            "train_loss": total / len(order),
            "train_miou": float("nan"),
            "val_loss": float("nan"),
            "val_miou": float(results.get("miou", float("nan"))),
            "val_pixel_accuracy": float(results.get("pixel_accuracy", float("nan"))),
            "seconds": time.perf_counter() - began,
            "train_seconds": train_seconds,
        }
        for key, value in row.items():
            history[key].append(value)
        _save_state(path, model, optimizer, scheduler, history, epoch)
    return history


def _kept(path: Path | None, epoch: int) -> str:
    if path is None:
        return "Training stopped."
    if epoch > 1:
        return f"Training stopped; checkpoint {path} keeps epoch {epoch - 1}, the last good one (resume=True)."
    return f"Training stopped; no checkpoint was written to {path}."


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__


def _check_fit_arguments(num_classes, epochs, ignore_index) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2 (background counts), got {num_classes!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int (the last epoch to train), got {epochs!r}")
    if ignore_index is not None and 0 <= ignore_index < num_classes:
        raise ValueError(
            f"ignore_index={ignore_index} is a real class (0..{num_classes - 1}); use a value outside "
            f"that range (VOC uses 255)"
        )


def _check_checkpoint_path(path: Path) -> None:
    """Refuse a checkpoint path that cannot be written, before an epoch is spent, and remove the
    temporary files that a run killed while writing it left behind."""
    if path.is_dir():
        raise IsADirectoryError(f"checkpoint {path} is a folder; give a file path inside it, e.g. {path / 'model.pt'}")
    parent = next((p for p in (path.parent, *path.parent.parents) if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise NotADirectoryError(
            f"checkpoint {path} lies under {parent}, which is a file, not a folder; choose another checkpoint path"
        )
    if path.parent.is_dir():
        for orphan in path.parent.glob(f".{glob.escape(path.name)}.*.part"):
            orphan.unlink(missing_ok=True)  # a run killed while saving; the checkpoint itself is intact


_CHECKPOINT_KEYS = ("model", "optimizer", "history", "epoch")


def _load_checkpoint(path: Path, device) -> dict:
    """The state ``fit`` saved at ``path``, loaded with ``weights_only=True`` (no code from the file
    runs); a damaged, foreign or hostile file raises an error naming it and what to do."""
    fix = f"delete {path} to start again (or pass resume=False or another checkpoint path)"
    try:
        with warnings.catch_warnings():  # a foreign pickle's protocol warning: the error below says more
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            state = torch.load(path, map_location=device, weights_only=True)  # never runs code from a file
    except pickle.UnpicklingError as error:
        if "weights_only" in str(error) or "Unsupported global" in str(error):
            raise ValueError(
                f"refusing to load checkpoint {path}: it holds Python objects other than tensors and plain "
                f"containers, which could run code (it was not written by seglib.train.fit); {fix}"
            ) from None
        raise ValueError(f"checkpoint {path} is corrupt ({_first_line(error)}); {fix}") from None
    except (RuntimeError, EOFError, OSError, ValueError, AttributeError, IndexError) as error:
        raise ValueError(f"checkpoint {path} is corrupt or truncated ({_first_line(error)}); {fix}") from None
    missing = [key for key in _CHECKPOINT_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise ValueError(
            f"checkpoint {path} lacks {', '.join(repr(k) for k in missing)}: it was not saved by "
            f"seglib.train.fit; {fix}"
        )
    history, epoch = state["history"], state["epoch"]
    if (
        not isinstance(history, dict)
        or not isinstance(epoch, int)
        or epoch < 1
        or any(not isinstance(history.get(k), list) or len(history[k]) != epoch for k in ("epoch", "seconds"))
    ):
        raise ValueError(f"checkpoint {path} has an inconsistent history for epoch {epoch!r}; {fix}")
    return state


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    num_classes: int,
    *,
    ignore_index: int = 255,
    device: str | torch.device | None = None,
    loss_fn: Callable | None = None,
    progress: bool = False,
) -> dict:
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
def predict(
    model: nn.Module,
    images: torch.Tensor,
    *,
    batch_size: int = 32,
    device: str | torch.device | None = None,
    probabilities: bool = False,
) -> torch.Tensor:
    """Label maps (N, H, W) int64 on the CPU for images (N, 3, H, W) or one image (3, H, W).

    With ``probabilities=True`` it returns the softmax (N, C, H, W) instead.
    """
    if images.dim() == 3:
        return predict(model, images[None], batch_size=batch_size, device=device, probabilities=probabilities)[0]
    if images.dim() != 4 or not images.is_floating_point():
        raise ValueError(
            f"predict wants float images (N, 3, H, W) or (3, H, W), got {tuple(images.shape)} {images.dtype}"
        )
    device = get_device(device)
    model.to(device).eval()
    outputs = []
    for chunk in images.split(batch_size):
        logits = logits_of(model(chunk.to(device)), chunk.shape[-2:])
        if not bool(torch.isfinite(logits).all()):
            raise NonFiniteLossError(
                "the model's logits hold NaN or infinite values; the model has diverged or the "
                "images hold NaN: retrain with a lower learning rate, or check the images"
            )
        outputs.append((logits.softmax(1) if probabilities else logits.argmax(1)).cpu())
    return torch.cat(outputs)


# --- Comparing models ----------------------------------------------------------------------------


def comparison_row(model: nn.Module, history: dict, val_results: dict, input_shape: tuple[int, ...]) -> dict:
    """One row of a model comparison (lectures 004-005 and the lab): the trained ``model``, its
    ``history`` from ``fit``, ``parameters``, ``macs`` for one input of ``input_shape`` (C, H, W),
    ``seconds`` (mean training time per epoch, validation excluded), ``miou`` and the full
    ``val`` results of ``evaluate``."""
    return {
        "model": model,
        "history": history,
        "parameters": count_params(model),
        "macs": count_macs(model, input_shape),
        "seconds": sum(history["train_seconds"]) / len(history["train_seconds"]),
        "miou": val_results["miou"],
        "val": val_results,
    }


def compare(
    builders: dict[str, Callable[[], nn.Module]],
    train_loader: Iterable,
    val_loader: Iterable,
    *,
    num_classes: int,
    epochs: int,
    input_shape: tuple[int, ...],
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = False,
    **fit_options,
) -> dict[str, dict]:
    """Build, train and evaluate each model the same way (same data, epochs, optimiser and seed)
    and return ``{name: comparison_row(...)}`` in the order of ``builders``. Each builder is a
    function returning a fresh model, called right after ``seed_everything(seed)``, so every
    model starts from the same random state. Validation runs once, after the last epoch;
    ``fit_options`` (``lr``, ``loss_fn``, ...) go to ``fit``."""
    rows = {}
    for name, build in builders.items():
        seed_everything(seed)
        model = build()
        history = fit(
            model,
            train_loader,
            num_classes=num_classes,
            epochs=epochs,
            seed=seed,
            device=device,
            progress=progress,
            **fit_options,
        )
        results = evaluate(model, val_loader, num_classes, device=device)
        rows[name] = comparison_row(model, history, results, input_shape)
    return rows


def comparison_table(rows: dict[str, dict], baseline: float | None = None):
    """``rows`` from ``compare`` as a ``seglib.viz.Table``: parameters, MACs, seconds per epoch
    and val mIoU, plus a last line with ``baseline`` (e.g. predicting background everywhere)
    when given. It prints as aligned text and shows as an HTML table in Jupyter and the book."""
    from .viz import Table

    body = [
        [name, f"{r['parameters']:,d}", f"{r['macs'] / 1e6:.0f}M", f"{r['seconds']:.1f}", f"{r['miou']:.3f}"]
        for name, r in rows.items()
    ]
    footer = [["predicting background everywhere", "", "", "", f"{baseline:.3f}"]] if baseline is not None else []
    return Table(["model", "parameters", "MACs", "s / epoch", "val mIoU"], body, footer)
