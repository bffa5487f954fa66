"""Self-checks for the tasks of the lab (lecture 001's lab, notebook 09).

Each check takes what a task should have produced and either prints one line saying what it
verified, or raises ``CheckFailed``: what is wrong, and a hint for fixing it. In Jupyter a
failed check shows only that message, not a traceback into this module. A task left as its
scaffold (``...`` or a ``NotImplementedError``) fails with "not done yet" and says what to use and
why: the seglib functions and the shape a result must have. Hints teach; they never give the
finished code (``tests/test_check.py`` fails if a hint holds a line of a solution cell).

The checks test what a task must deliver (shapes, dtypes, splits, that training learned
something), not one particular solution: any dataset, model or training loop that does the job
passes.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler, Subset

from ._guards import check_allocation, check_number
from ._torch import model_device, train_mode
from .data.labels import IGNORE_INDEX, NUM_CLASSES
from .metrics import background_miou

__all__ = ["CheckFailed", "dataset_and_loader", "segmentation_model", "training_run", "smp_models", "test_evaluation"]

# Each check function and the task it checks, in the lab's order (the grader's columns).
TASKS = {
    "dataset_and_loader": "Task 1 (dataset and loader)",
    "segmentation_model": "Task 2 (your CNN)",
    "training_run": "Task 3 (train and evaluate)",
    "smp_models": "Task 4 (segmentation_models.pytorch)",
    "test_evaluation": "Task 5 (the test set)",
}


class CheckFailed(AssertionError):
    """A task's result is not right yet. The message says what is wrong and how to fix it."""

    def __init__(self, task: str, problem: str, hint: str):
        self.task, self.problem, self.hint = task, problem, hint
        super().__init__(f"{task}: {problem}\nHint: {hint}")

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"✗ {self.task}: {self.problem}", f"  Hint: {self.hint}"]


def _passed(task: str, what: str) -> None:
    print(f"✓ {task}: {what}")


def _not_done(task: str, name: str, value, hint: str) -> None:
    """Fail when ``value`` is still the scaffold's ``...`` (or None)."""
    if value is ... or value is None:
        raise CheckFailed(task, f"not done yet: `{name}` is still {'...' if value is ... else 'None'}.", hint)


def _base(dataset):
    """The dataset under any ``Subset`` wrappers."""
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    return dataset


def _item(task: str, dataset, name: str, index: int = 0):
    try:
        return dataset[index]
    except NotImplementedError as error:
        raise CheckFailed(
            task,
            f"reading {name}[{index}] raised NotImplementedError ({error}).",
            "replace the scaffold's `raise NotImplementedError` with your code",
        ) from None


# --- Task 1: dataset and loader ------------------------------------------------------------------


def _check_pair(task: str, name: str, image, mask, image_size: int, num_classes: int) -> None:
    if not isinstance(image, torch.Tensor) or not isinstance(mask, torch.Tensor):
        raise CheckFailed(
            task,
            f"{name} gives {type(image).__name__} and {type(mask).__name__}, not tensors.",
            "give the dataset a transform that ends in ToTensorV2: seglib's data.train_transform (training) "
            "and data.eval_transform (validation and test) do",
        )
    if image.dim() != 3 or image.shape[0] != 3:
        raise CheckFailed(
            task,
            f"{name}'s image has shape {tuple(image.shape)}; expected (3, H, W), channels first.",
            "use ToTensorV2 (it moves channels first); the seglib transforms already do",
        )
    if tuple(image.shape[1:]) != (image_size, image_size) or tuple(mask.shape) != (image_size, image_size):
        raise CheckFailed(
            task,
            f"{name} gives an image {tuple(image.shape[1:])} and a mask {tuple(mask.shape)}; "
            f"both should be {image_size}×{image_size}.",
            f"resize image and mask together inside the transform: build seglib's transforms with the side "
            f"{image_size}, or end your own A.Compose with a resize to {image_size}×{image_size}",
        )
    if not image.is_floating_point():
        raise CheckFailed(
            task,
            f"{name}'s image is {image.dtype}; networks need float input.",
            "normalise in the transform (A.Normalize with the ImageNet mean and std) before ToTensorV2",
        )
    if not bool(torch.isfinite(image).all()):
        raise CheckFailed(
            task,
            f"{name}'s image holds NaN or infinite values.",
            "read images as uint8 and normalise them in the transform (A.Normalize); a std of 0 or a "
            "division by zero gives NaN",
        )
    if image.abs().max() > 20:
        raise CheckFailed(
            task,
            f"{name}'s image has values up to {image.abs().max():.0f}: it is not normalised.",
            "add A.Normalize(mean=data.IMAGENET_MEAN, std=data.IMAGENET_STD) before ToTensorV2",
        )
    if mask.is_floating_point() or mask.dtype == torch.bool:
        raise CheckFailed(
            task,
            f"{name}'s mask is {mask.dtype}; masks are class indices and must stay integers.",
            "never normalise or interpolate a mask; the seglib transforms return int64 masks",
        )
    values = set(mask.unique().tolist())
    bad = sorted(v for v in values if not (0 <= v < num_classes or v == IGNORE_INDEX))
    if bad:
        raise CheckFailed(
            task,
            f"{name}'s mask holds values {bad[:5]}, outside 0..{num_classes - 1} and {IGNORE_INDEX} (void).",
            "read masks as palette indices (VOCSegmentation does), not as colours, and resize them "
            "with nearest neighbour so labels are never blended",
        )


def _loader_batch(task: str, name: str, loader, image_size: int):
    if not isinstance(loader, DataLoader):
        raise CheckFailed(
            task,
            f"`{name}` is a {type(loader).__name__}, not a DataLoader.",
            "torch.utils.data.DataLoader wraps a Dataset and serves it in batches",
        )
    batch = next(iter(loader), None)
    if batch is None:
        raise CheckFailed(
            task,
            f"`{name}` yields no batch: its dataset is empty, or drop_last drops its only batch.",
            "give the DataLoader a non-empty dataset and a batch size no larger than it",
        )
    if (
        not isinstance(batch, (tuple, list))
        or len(batch) < 2
        or not all(isinstance(t, torch.Tensor) for t in batch[:2])
    ):
        raise CheckFailed(
            task,
            f"a batch of {name} is a {type(batch).__name__}, not (images, masks) tensors.",
            "the dataset must return one (image, mask) pair of tensors per item, not a dict",
        )
    images, masks = batch[:2]
    if images.dim() != 4 or masks.dim() != 3 or images.shape[0] != masks.shape[0]:
        raise CheckFailed(
            task,
            f"a batch of {name} has images {tuple(images.shape)} and masks {tuple(masks.shape)}; "
            f"expected (B, 3, {image_size}, {image_size}) and (B, {image_size}, {image_size}).",
            "let the DataLoader stack (image, mask) pairs: the dataset must return one pair per item",
        )
    return images, masks


def dataset_and_loader(
    train_set, val_set, train_loader, val_loader, *, image_size: int, num_classes: int = NUM_CLASSES
) -> None:
    """Task 1: the course's train and val splits with the Albumentations transforms (random for
    training, fixed for validation) at ``image_size``, and DataLoaders over them (the training one
    shuffles)."""
    task = "Task 1 (dataset and loader)"
    hint = (
        "read the 'train' and 'val' splits with data.VOCSegmentation, giving each a transform: "
        "data.train_transform (random, so every epoch sees new variants) for training, data.eval_transform "
        "(fixed, so scores are comparable) for validation. Each item must be an (image, mask) pair: a float "
        f"(3, {image_size}, {image_size}) tensor and an integer ({image_size}, {image_size}) mask. Then wrap "
        "each dataset in a torch DataLoader; which of the two should shuffle?"
    )
    for name, value in (
        ("train_set", train_set),
        ("val_set", val_set),
        ("train_loader", train_loader),
        ("val_loader", val_loader),
    ):
        _not_done(task, name, value, hint)
    for name, dataset, split in (("train_set", train_set, "train"), ("val_set", val_set, "val")):
        if not isinstance(dataset, Dataset) or len(dataset) == 0:
            raise CheckFailed(task, f"`{name}` is a {type(dataset).__name__} with no items; expected a Dataset.", hint)
        base = _base(dataset)
        if getattr(base, "split", split) != split:
            raise CheckFailed(
                task,
                f"`{name}` reads the {base.split!r} split; it should read {split!r}.",
                "the course split has 'train' (fit), 'val' (choose models) and 'test' (once, at the end)",
            )
        image, mask = _item(task, dataset, name)
        _check_pair(task, f"{name}[0]", image, mask, image_size, num_classes)
    if not _varies(train_set, 8):
        raise CheckFailed(
            task,
            "train_set[0] came out identical 8 times: the training data is not augmented.",
            "training needs a random transform (flips, warps, colour): data.train_transform",
        )
    if _varies(val_set):
        raise CheckFailed(
            task,
            "val_set[0] changes from one read to the next: validation is augmented.",
            "validate on fixed images, or scores change from run to run: data.eval_transform",
        )
    images, _ = _loader_batch(task, "train_loader", train_loader, image_size)
    if not isinstance(train_loader.sampler, RandomSampler):
        raise CheckFailed(
            task,
            "train_loader does not shuffle, so every epoch sees the images in the same order.",
            "ask the training DataLoader to shuffle (and only that one: validation order does not matter)",
        )
    if images.shape[0] < 2:
        raise CheckFailed(
            task,
            f"train_loader's batches hold {images.shape[0]} image; batch normalisation needs more.",
            "give the DataLoader a batch size of several images: BATCH_SIZE (16 is a good start on a CPU)",
        )
    _loader_batch(task, "val_loader", val_loader, image_size)
    _passed(
        task,
        f"{len(train_set)} augmented training and {len(val_set)} fixed validation images of "
        f"{image_size}×{image_size}; batches of {images.shape[0]}, shuffled for training.",
    )


# --- Task 2: the model ---------------------------------------------------------------------------


def segmentation_model(model, *, image_size: int, num_classes: int = NUM_CLASSES) -> None:
    """Task 2: ``model`` maps a batch (B, 3, S, S) to logits (B, num_classes, S, S), has trainable
    parameters, and every parameter gets a gradient."""
    task = "Task 2 (your CNN)"
    image_size = _check_image_size(image_size)
    _not_done(
        task, "my_model", model, "write the class MyCNN (an nn.Module), then create one instance of it as my_model"
    )
    if not isinstance(model, nn.Module):
        raise CheckFailed(
            task,
            f"`my_model` is a {type(model).__name__}, not an nn.Module.",
            "my_model must be an instance of your class (a subclass of nn.Module), not the class or a function",
        )
    parameters = [p for p in model.parameters() if p.requires_grad]
    device = model_device(model)
    torch.manual_seed(0)
    x = torch.randn(2, 3, image_size, image_size, device=device)
    try:
        with train_mode(model):
            output = model(x)
    except NotImplementedError as error:
        raise CheckFailed(
            task,
            f"not done yet: forward raises NotImplementedError ({error}).",
            "build the layers in __init__ and return the logits from forward",
        ) from None
    if isinstance(output, dict) and "out" not in output:
        raise CheckFailed(
            task,
            f"forward returned a dict with keys {sorted(output)}; expected a tensor.",
            "return the logits tensor (or torchvision's {'out': logits})",
        )
    if not parameters:
        raise CheckFailed(
            task,
            "the model has no trainable parameters.",
            "create the layers in __init__ as attributes (self.conv1 = nn.Conv2d(...)) or inside "
            "nn.Sequential, so PyTorch registers them",
        )
    logits = output["out"] if isinstance(output, dict) else output
    if not isinstance(logits, torch.Tensor) or logits.dim() != 4:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise CheckFailed(
            task,
            f"forward returned {shape}; expected logits (B, {num_classes}, H, W).",
            "end with a 1×1 convolution to num_classes channels, then upsample to the input size",
        )
    if logits.shape[1] != num_classes:
        raise CheckFailed(
            task,
            f"the output has {logits.shape[1]} channels; there are {num_classes} classes.",
            f"the last layer should be nn.Conv2d(channels, {num_classes}, 1): one score per class",
        )
    if tuple(logits.shape[-2:]) != (image_size, image_size):
        h, w = logits.shape[-2:]
        factor = image_size / h
        raise CheckFailed(
            task,
            f"the output is {h}×{w}, the masks {image_size}×{image_size}: every pixel needs a score.",
            f"upsample by {factor:g}: F.interpolate(x, size=(H, W), mode='bilinear') or "
            "nn.ConvTranspose2d, as in the decoders of notebooks 04 and 05",
        )
    if not bool(torch.isfinite(logits).all()):
        raise CheckFailed(
            task,
            "the output holds NaN or infinite values on a random batch.",
            "look for a division (by a norm or a sum that can be 0), a log of 0, or a layer whose weights start as NaN",
        )
    probabilities = logits.detach()
    if probabilities.min() >= 0 and torch.allclose(
        probabilities.sum(1), torch.ones_like(probabilities[:, 0]), atol=1e-3
    ):
        raise CheckFailed(
            task,
            "the output already sums to 1 over the classes: forward applies a softmax.",
            "return raw logits; nn.CrossEntropyLoss applies log-softmax itself",
        )
    logits.square().mean().backward()
    unused = list(
        dict.fromkeys(
            name.rpartition(".")[0] or name
            for name, p in model.named_parameters()
            if p.requires_grad and p.grad is None
        )
    )  # layers, in order
    model.zero_grad(set_to_none=True)
    if unused:
        raise CheckFailed(
            task,
            f"{len(unused)} layer(s) get no gradient, e.g. {unused[:3]}: forward never uses them.",
            "call every layer you create in __init__ from forward, or delete it",
        )
    count = sum(p.numel() for p in parameters)
    _passed(
        task,
        f"{count:,} parameters; (B, 3, {image_size}, {image_size}) → logits "
        f"(B, {num_classes}, {image_size}, {image_size}); gradients reach every layer.",
    )


# --- Task 3: training and evaluation -------------------------------------------------------------


def training_run(history, val_results, val_set, *, num_classes: int = NUM_CLASSES) -> None:
    """Task 3: ``history`` from ``seglib.train.fit`` with a finite, falling training loss, and
    ``val_results`` from ``seglib.train.evaluate`` over all of ``val_set``, with an mIoU above
    predicting background everywhere."""
    task = "Task 3 (train and evaluate)"
    hint = (
        "seglib's train.fit trains a model on a training loader for some epochs and returns its history "
        "(a dict of per-epoch lists); give it the validation loader too, so the history follows the val mIoU. "
        "train.evaluate then scores a model on a loader and returns a dict with 'miou', 'iou' and the "
        "'confusion' matrix"
    )
    _not_done(task, "history", history, hint)
    _not_done(task, "val_results", val_results, hint)
    if not isinstance(history, dict) or "train_loss" not in history:
        raise CheckFailed(
            task,
            f"`history` is a {type(history).__name__} without 'train_loss'.",
            "keep the dict that train.fit returns as history",
        )
    if not isinstance(history["train_loss"], (list, tuple)):
        raise CheckFailed(
            task,
            f"history['train_loss'] is a {type(history['train_loss']).__name__}, not a list of per-epoch losses.",
            "keep the dict that train.fit returns as history, unedited",
        )
    losses = [float(v) for v in history["train_loss"]]
    if not losses:
        raise CheckFailed(task, "history holds no epochs.", "train for at least one epoch (epochs=EPOCHS)")
    if not all(math.isfinite(v) for v in losses):
        raise CheckFailed(
            task,
            f"the training loss became {losses[-1]} (not finite): training diverged.",
            "lower the learning rate (try LR / 10) and check that images are normalised",
        )
    val_miou = [float(v) for v in history.get("val_miou", [])]
    if len(val_miou) != len(losses) or not all(math.isfinite(v) for v in val_miou):
        raise CheckFailed(
            task,
            "history has no validation mIoU per epoch: training ran without a validation loader.",
            "pass val_loader to train.fit as well: it scores the model after every epoch, and the "
            "learning curves below plot that",
        )
    if len(losses) >= 2 and losses[-1] >= losses[0]:
        raise CheckFailed(
            task,
            f"the training loss did not fall: {losses[0]:.3f} → {losses[-1]:.3f}.",
            "check that the optimiser holds my_model's parameters and try another learning rate",
        )
    if not isinstance(val_results, dict) or "confusion" not in val_results:
        raise CheckFailed(
            task,
            f"`val_results` is a {type(val_results).__name__} without a confusion matrix.",
            "keep the dict that train.evaluate returns for the validation loader as val_results",
        )
    masks = _masks(val_set)
    counted, val_pixels = int(val_results["confusion"].sum()), int((masks != IGNORE_INDEX).sum())
    if counted != val_pixels:
        raise CheckFailed(
            task,
            f"val_results counts {counted:,} labelled pixels; val_set has {val_pixels:,}.",
            "evaluate on val_loader, which covers the whole validation split",
        )
    baseline_miou = background_miou(masks, num_classes, IGNORE_INDEX)
    if not val_results["miou"] > baseline_miou:
        raise CheckFailed(
            task,
            f"val mIoU {val_results['miou']:.3f} is no better than predicting background "
            f"everywhere ({baseline_miou:.3f}).",
            "train longer (EPOCHS), try LR between 1e-3 and 1e-2, and check the model with Task 2's check",
        )
    _passed(
        task,
        f"{len(losses)} epochs, training loss {losses[0]:.3f} → {losses[-1]:.3f}; val mIoU "
        f"{val_results['miou']:.3f} against {baseline_miou:.3f} for predicting background.",
    )


# --- Task 4: models from segmentation_models.pytorch ---------------------------------------------


def smp_models(builders, *, image_size: int, num_classes: int = NUM_CLASSES, at_least: int = 3) -> None:
    """Task 4: a dict of at least ``at_least`` builders (functions returning a fresh model) of
    segmentation_models.pytorch models with different architectures, built without downloading
    weights, each mapping (B, 3, S, S) to (B, num_classes, S, S)."""
    task = "Task 4 (segmentation_models.pytorch)"
    example = (
        "a dict {name: function}: each function takes no arguments and returns a new smp model (smp.Unet, "
        "smp.FPN, smp.DeepLabV3Plus, ... are classes of different architectures) built on SMP_ENCODER, with "
        "encoder_weights=SMP_WEIGHTS (None: no download) and one output channel per class; a lambda is such "
        "a function"
    )
    _not_done(task, "smp_builders", builders, example)
    if isinstance(builders, dict) and not builders:
        raise CheckFailed(task, "not done yet: `smp_builders` is empty.", example)
    if not isinstance(builders, dict) or len(builders) < at_least:
        count = len(builders) if isinstance(builders, dict) else type(builders).__name__
        raise CheckFailed(task, f"`smp_builders` should be a dict of at least {at_least} models, got {count}.", example)
    architectures = set()
    for name, build in builders.items():
        if isinstance(build, nn.Module) or not callable(build):
            raise CheckFailed(
                task,
                f"smp_builders[{name!r}] is a {type(build).__name__}, not a function that builds a model.",
                "store a function that builds the model (a lambda works), not a built model, so that "
                "every run starts from fresh weights",
            )
        try:
            model = build()
        except (OSError, RuntimeError) as error:  # a download attempt offline, or a bad configuration
            raise CheckFailed(
                task,
                f"building {name!r} failed: {str(error).splitlines()[0][:160]}",
                "use encoder_weights=None (no download); 'imagenet' fetches weights from the internet",
            ) from None
        module = type(model).__module__
        if not module.startswith("segmentation_models_pytorch"):
            raise CheckFailed(
                task,
                f"{name!r} builds a {type(model).__name__} from {module}, not an smp model.",
                "use the library: smp.Unet, smp.FPN, smp.DeepLabV3Plus, smp.Linknet, smp.PSPNet, ...",
            )
        architectures.add(type(model).__name__)
        model.eval()
        try:
            with torch.no_grad():
                logits = model(torch.zeros(2, 3, image_size, image_size))
        except (ValueError, RuntimeError) as error:
            raise CheckFailed(
                task,
                f"{name!r} fails on a batch of {image_size}×{image_size} images: {str(error).splitlines()[0][:160]}",
                "smp models need sides divisible by 32; at small sizes a deep encoder leaves 1×1 maps "
                "that some normalisation layers refuse: try a larger IMAGE_SIZE",
            ) from None
        if logits.shape[1] != num_classes:
            raise CheckFailed(
                task,
                f"{name!r} outputs {logits.shape[1]} channels; there are {num_classes} classes.",
                f"smp's `classes` argument sets the output channels; its default is 1, for binary masks, "
                f"and here there are {num_classes}",
            )
        if tuple(logits.shape[2:]) != (image_size, image_size):
            raise CheckFailed(
                task,
                f"{name!r} outputs {tuple(logits.shape[2:])} maps for {image_size}×{image_size} images.",
                "keep the encoder's default depth (5) so that the decoder's upsampling "
                "matches it, and use images whose side is a multiple of 32",
            )
    if len(architectures) < 2:
        functions = list(builders.values())
        codes = {getattr(build, "__code__", None) for build in functions}
        if len({id(f) for f in functions}) > 1 and len(codes) == 1 and None not in codes:  # one lambda, made in a loop
            raise CheckFailed(
                task,
                f"all {len(builders)} entries are one and the same function, so they all build "
                f"{architectures.pop()}: a lambda made in a loop reads the loop variable when it is called, after "
                "the loop has ended, not when it is made.",
                "bind the value when the lambda is made, with a default argument (lambda arch=arch: ...), or "
                "write one lambda per architecture",
            )
        raise CheckFailed(
            task,
            f"all {len(builders)} models are {architectures.pop()}; compare different architectures.",
            "use different smp classes (decoders): smp.Unet, smp.FPN, smp.DeepLabV3Plus, smp.Linknet ...",
        )
    _passed(
        task,
        f"{len(builders)} models ({', '.join(sorted(architectures))}) build offline and give "
        f"({num_classes}, {image_size}, {image_size}) logits.",
    )


# --- Task 5: the test set ------------------------------------------------------------------------


def test_evaluation(test_results, test_set, best_name=None, rows=None) -> None:
    """Task 5: ``test_results`` from ``seglib.train.evaluate`` over all of ``test_set``, the
    whole test split read with the fixed evaluation transform. With ``rows`` (the comparison,
    ``{name: train.comparison_row(...)}``), ``best_name`` must be the row with the best
    validation mIoU."""
    task = "Task 5 (the test set)"
    hint = (
        "choose by the validation mIoU stored in rows (never by test scores); read the 'test' split with "
        "data.VOCSegmentation and the fixed evaluation transform, then score the chosen model (rows[name]['model']) "
        "once on a DataLoader over all of it with train.evaluate, which returns a dict with 'miou' and 'confusion'"
    )
    if rows is not None:
        _not_done(task, "best_name", best_name, hint)
    _not_done(task, "test_set", test_set, hint)
    _not_done(task, "test_results", test_results, hint)
    if rows is not None:
        missing = [name for name, row in rows.items() if not isinstance(row, dict) or "miou" not in row.get("val", {})]
        if missing:
            raise CheckFailed(
                task,
                f"rows[{missing[0]!r}] has no validation results ('val' with 'miou').",
                "build rows with train.compare or train.comparison_row, which store them",
            )
        if best_name not in rows:
            raise CheckFailed(
                task,
                f"best_name is {best_name!r}, which is not a row of the comparison ({', '.join(map(repr, rows))}).",
                "best_name must be one of the keys of rows",
            )
        best = max(rows, key=lambda name: rows[name]["val"]["miou"])
        if rows[best_name]["val"]["miou"] < rows[best]["val"]["miou"]:
            raise CheckFailed(
                task,
                f"{best_name!r} has val mIoU {rows[best_name]['val']['miou']:.3f}, but {best!r} "
                f"has {rows[best]['val']['miou']:.3f}.",
                "choose the row with the highest validation mIoU: rows[name]['val']['miou']",
            )
    base = _base(test_set)
    if getattr(base, "split", "test") != "test":
        raise CheckFailed(
            task,
            f"test_set reads the {base.split!r} split.",
            "the final evaluation uses the 'test' split, which nothing else has touched",
        )
    if len(test_set) != len(base):
        raise CheckFailed(
            task,
            f"test_set keeps {len(test_set)} of the split's {len(base)} images.",
            "evaluate on the whole test split: no Subset",
        )
    if _varies(test_set):
        raise CheckFailed(
            task,
            "test_set[0] changes from one read to the next: the test images are augmented.",
            "the test split takes the fixed evaluation transform, data.eval_transform",
        )
    if not isinstance(test_results, dict) or "confusion" not in test_results:
        raise CheckFailed(
            task,
            f"`test_results` is a {type(test_results).__name__} without a confusion matrix.",
            "keep the dict that train.evaluate returns for the test loader as test_results",
        )
    counted, test_pixels = int(test_results["confusion"].sum()), int((_masks(test_set) != IGNORE_INDEX).sum())
    if counted != test_pixels:
        raise CheckFailed(
            task,
            f"test_results counts {counted:,} labelled pixels; the test split has {test_pixels:,}.",
            "evaluate on a loader over test_set, once, with every test image",
        )
    _passed(task, f"{len(test_set)} test images, {counted:,} labelled pixels; test mIoU {test_results['miou']:.3f}.")


# --- Helpers -------------------------------------------------------------------------------------


def _check_image_size(image_size) -> int:
    """The side of the square test batches: a positive int the machine can hold."""
    image_size = int(
        check_number(image_size, "image_size", minimum=1, integer=True, hint="pass the notebook's IMAGE_SIZE")
    )
    check_allocation(
        2 * 3 * 4.0 * image_size**2,
        f"a test batch of 2 images of {image_size}×{image_size}",
        "pass the notebook's IMAGE_SIZE",
    )
    return image_size


def _varies(dataset, reads: int = 6) -> bool:
    """Whether the first image changes between ``reads`` reads (a random transform). Each of
    the training transform's three random steps is skipped half the time, so one pair of reads
    can match by chance; six rarely do."""
    first = dataset[0][0]
    return any(not torch.equal(first, dataset[0][0]) for _ in range(reads - 1))


def _masks(dataset) -> torch.Tensor:
    """Every mask of ``dataset`` (items are (image, mask) tensors), stacked."""
    return torch.stack([torch.as_tensor(dataset[i][1]) for i in range(len(dataset))])
