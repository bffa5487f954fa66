"""Course checkpoints: the models whose lesson needs convergence (DESIGN.md, "Course checkpoints").

A notebook cannot train FCN-8s or U-Net to convergence in its two minutes on a laptop CPU, and
a model near the trivial answer teaches nothing. Each such model has a **recipe** here: what to
build, on which data, for how many epochs, with which optimiser and schedule. One tool,
``python tools/train_course_models.py``, runs the recipes with ``seglib.train.fit`` and writes
``checkpoints/course/NAME.pt``: float16 weights of seed 0, plus the history, results, settings,
device and wall time of every seed, and a fingerprint of the model's definition. Notebooks
call :func:`load` and evaluate the model live; ``RETRAIN = True`` in a notebook calls
:func:`train_recipe` with the same code instead. ``tests/test_course.py`` loads every checkpoint
strictly and reproduces its stored val mIoU.

Checkpoints are trained and scored on the synthetic stand-in (``DATASET``), the data every
student and CI has; with real VOC, retrain them (the tool's ``--dataset voc``).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from . import data, get_device, seed_everything, train
from ._files import write_atomically

__all__ = [
    "RECIPES",
    "Recipe",
    "CHECKPOINT_DIR",
    "StaleCheckpoint",
    "load",
    "record",
    "train_recipe",
    "make_checkpoint",
    "task_loaders",
    "build",
    "evaluate",
    "fingerprint",
    "spread",
    "distinguishable",
    "compare",
    "table",
    "retrained_dir",
    "verdict",
    "things_truth",
    "ALL_SEED_WEIGHTS",
    "LOSSES",
    "lab_definition",
]

CHECKPOINT_DIR = Path(__file__).resolve().parents[1] / "checkpoints" / "course"
COMMAND = "python tools/train_course_models.py"
DATASET = "synthetic"
IMAGE_SIZE = 64


class StaleCheckpoint(RuntimeError):
    """A checkpoint that no longer matches its recipe or model definition."""


# --- Recipes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """How one course model is made: ``build()`` returns the untrained model; it trains on
    ``task`` for ``epochs`` with AdamW (``lr``, ``weight_decay``) and a cosine schedule, starting
    from the weights of recipe ``init`` (same seed) when given, copied by ``transfer``."""

    name: str
    notebook: str
    title: str
    task: str
    build: Callable[[], nn.Module] = field(repr=False, compare=False)
    epochs: int = 40
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch_size: int = 16
    train_images: int | None = None
    init: str | None = None
    seeds: tuple[int, ...] = (0, 1)
    note: str = ""
    loss: str = "cross-entropy"
    crf_lr: float | None = None

    def settings(self) -> dict:
        """What the checkpoint records and compares: every field but ``build``; ``loss`` and
        ``crf_lr`` only when they are not their defaults (checkpoints made before the fields
        existed used those)."""
        settings = {k: v for k, v in asdict(self).items() if k != "build"}
        settings["seeds"] = list(self.seeds)
        if self.loss == "cross-entropy":
            del settings["loss"]
        if self.crf_lr is None:
            del settings["crf_lr"]
        return settings


def _fcn_classifier():
    from .models.fcn import VGGClassifier

    return VGGClassifier(num_classes=21, patch_size=32)


def _fcn(variant: str):
    from .models.fcn import FCN

    return lambda num_classes=21: FCN(num_classes, variant, head_kernel=1)  # fc6 covers the classifier's 1×1 pool5 map


def _segnet(num_classes: int = 21):
    from .models.segnet import SegNet

    return SegNet(num_classes=num_classes, widths=(16, 32, 64), convs_per_stage=2)


def _unet(num_classes: int = 21):
    from .models.unet import UNet

    return lambda num_classes=num_classes: UNet(num_classes, 3, depth=3, base_width=16, se=True)


def _smp_unet(num_classes: int = 21):
    import segmentation_models_pytorch as smp

    return smp.Unet(
        encoder_name="tu-mobilenetv3_small_100",
        encoder_weights=None,
        in_channels=3,
        classes=num_classes,
        decoder_attention_type="scse",
        decoder_channels=(128, 64, 32, 16, 16),
    )


def _membrane_unet():
    from .models.unet import UNet

    return UNet(num_classes=2, in_channels=1, depth=2, base_width=16, padding="valid")


def _membrane_patch_classifier():
    from .models.patch import PatchClassifier

    return PatchClassifier(
        in_channels=1,
        num_classes=2,
        patch_size=MEMBRANE_PATCH,
        widths=(8, 16, 16),
        kernel_sizes=(5, 5, 3),
        pool=True,
        hidden=(32,),
    )  # notebook 03's net


def _small_dilated_net(num_classes: int = 21):
    from .models.small import SmallDilatedNet

    return SmallDilatedNet(num_classes=num_classes, width=24)


# notebook 06: DeepLab's atrous rates scaled from the paper's feature map to ours (64×64 inputs at
# output stride 8 give an 8×8 map), so each branch keeps the paper's share of the map.
DEEPLAB_MAP = IMAGE_SIZE // 8
PAPER_MAPS = {"v1": 41, "v2": 41, "v3": 33}  # 321×321 crops at output stride 8; 513×513 at 16
PAPER_RATES = {"v1": (12,), "v2": (6, 12, 18, 24), "v3": (6, 12, 18)}


def deeplab_rates(version: str) -> tuple[int, ...]:
    """The paper's rates of DeepLab ``version`` scaled to the course map (``deeplab.scaled_rates``)."""
    from .models.deeplab import scaled_rates

    return scaled_rates(PAPER_RATES[version], PAPER_MAPS[version], DEEPLAB_MAP)


def _deeplab(version: str, num_classes: int = 21):
    from .models import deeplab

    rates = deeplab_rates("v3" if version == "v3+" else version)
    if version == "v1":
        return deeplab.DeepLabV1(num_classes, rate=rates[0])
    if version == "v2":
        return deeplab.DeepLabV2(num_classes, rates=rates)
    if version == "v3":
        return deeplab.DeepLabV3(num_classes, output_stride=8, rates=rates)
    return deeplab.DeepLabV3Plus(num_classes, output_stride=8, rates=rates)


def _pspnet(num_classes: int = 21):
    from .models.psp import PSPNet

    return PSPNet(num_classes)


def _crfrnn_deeplab_v1():
    from .models.crfrnn import CRFRNNSegmenter

    return CRFRNNSegmenter(_deeplab("v1"), 21, n_iters=5)


CRFRNN_EPOCHS = 8

LOSSES = ("cross-entropy", "weighted CE", "focal", "soft Dice", "CE + Dice")  # notebook 08's comparison


def _loss_function(name: str, train_set) -> nn.Module:
    """Loss ``name`` of ``LOSSES``; "weighted CE" weighs classes by median frequency balancing
    over the training masks (without augmentation)."""
    from . import losses

    if name == "cross-entropy":
        return nn.CrossEntropyLoss(ignore_index=255)
    if name == "weighted CE":
        masks = torch.stack([torch.as_tensor(mask) for _, mask in train_set])
        return nn.CrossEntropyLoss(weight=losses.median_frequency_weights(masks, 21), ignore_index=255)
    if name == "focal":
        return losses.FocalLoss(gamma=2.0)
    if name == "soft Dice":
        return losses.SoftDiceLoss()
    if name == "CE + Dice":
        return losses.CombinedLoss([nn.CrossEntropyLoss(ignore_index=255), losses.SoftDiceLoss()])
    raise KeyError(f"unknown loss {name!r}; the course losses are {', '.join(LOSSES)}")


# notebook 09: the lab's reference models are built by the lab's own solution cells, so they are
# the models a student sees there; changing a solution cell makes these checkpoints stale.
LAB_NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "09_lab_voc64.ipynb"


def lab_definition(name: str, notebook: Path | None = None, **names):
    """The object that the lab's solution cells bind to ``name`` (``MyCNN``, ``smp_builders``).

    The solution cell that defines ``name`` is run in a fresh namespace, but only its imports,
    functions, classes and the assignment to ``name`` (not the cell's other statements, such as
    seeding or building a model). The namespace holds torch, ``nn``, ``F``, ``smp``, the
    literal settings of the lab's settings cell (``SMP_ENCODER``, ``SMP_WEIGHTS``, ...) and
    ``names`` (e.g. ``NUM_CLASSES=21``). Needs a checkout of the course (the notebook file)."""
    import ast
    import json

    notebook = Path(notebook or LAB_NOTEBOOK)
    if not notebook.is_file():
        raise FileNotFoundError(
            f"the lab's reference models are defined by the solution cells of {notebook}, which is "
            "missing; they need a checkout of the course repository"
        )
    cells = [c for c in json.loads(notebook.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    for cell in cells:  # IPython's %magic and !shell lines are not Python: each becomes a `pass`
        cell["source"] = re.sub(r"(?m)^([ \t]*)[%!].*$", r"\1pass", "".join(cell["source"]))
    import segmentation_models_pytorch as smp

    namespace = {"torch": torch, "nn": nn, "F": F, "smp": smp}
    for cell in cells:  # the settings: every NAME = literal at the top level of a provided cell
        if "solution" in cell["metadata"].get("tags", []):
            continue
        for node in ast.parse(cell["source"]).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                try:
                    namespace[node.targets[0].id] = ast.literal_eval(node.value)
                except (ValueError, TypeError, SyntaxError):  # not a literal: not a setting
                    pass
    namespace.update(names)

    def binds(node) -> bool:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            return node.name == name
        return isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)

    for cell in cells:
        if "solution" not in cell["metadata"].get("tags", []):
            continue
        tree = ast.parse(cell["source"])
        if any(binds(node) for node in tree.body):
            kept = [
                node
                for node in tree.body
                if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)) or binds(node)
            ]
            exec(compile(ast.Module(body=kept, type_ignores=[]), f"{notebook.name} (solution)", "exec"), namespace)
            return namespace[name]
    raise KeyError(f"no solution cell of {notebook.name} defines {name!r}")


LAB_SMP = "smp.Unet tu-mobilenetv3_small_100"  # the key of the lab's smp_builders trained for reference


def _lab_cnn():
    return lab_definition("MyCNN", NUM_CLASSES=21)(21)


def _lab_smp():
    builders = lab_definition("smp_builders", NUM_CLASSES=21, SMP_WEIGHTS=None)
    if LAB_SMP not in builders:
        raise KeyError(
            f"the lab's smp_builders has no {LAB_SMP!r} (it has {', '.join(builders)}); update course.LAB_SMP"
        )
    return builders[LAB_SMP]()


def _maskrcnn():
    from .models.maskrcnn import build_maskrcnn

    return build_maskrcnn()


def _semantic_scenes():
    from .models.panoptic import SemanticNet

    return SemanticNet(NUM_CLASSES["scenes"], width=24)


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        # notebook 04: FCN starts from a classifier, as the paper starts from VGG16
        Recipe(
            "fcn_classifier",
            "04",
            "VGG classifier (32×32 crops)",
            "voc64-crops",
            _fcn_classifier,
            epochs=24,
            note="classifies the centre pixel of 32×32 crops; the FCNs start from its weights",
        ),
        Recipe("fcn32s", "04", "FCN-32s", "voc64", _fcn("32s"), epochs=50, init="fcn_classifier"),
        Recipe("fcn16s", "04", "FCN-16s", "voc64", _fcn("16s"), epochs=50, init="fcn_classifier"),
        Recipe("fcn8s", "04", "FCN-8s", "voc64", _fcn("8s"), epochs=50, init="fcn_classifier"),
        Recipe(
            "fcn8s_scratch",
            "04",
            "FCN-8s from random weights",
            "voc64",
            _fcn("8s"),
            epochs=50,
            note="FCN-8s without the classifier's start: what the start is worth",
        ),
        # notebook 05: encoder-decoders on the same data, U-Net on membranes, a transfer experiment
        Recipe("segnet", "05", "SegNet", "voc64", _segnet, epochs=40),
        Recipe("unet", "05", "U-Net", "voc64", _unet(), epochs=40),
        Recipe(
            "smp_unet",
            "05",
            "smp.Unet mobilenetv3_small scSE",
            "voc64",
            _smp_unet,
            epochs=40,
            note="a small encoder: resnet18/34 would not fit the 6 MB checkpoint budget",
        ),
        Recipe("membrane_unet", "05", "U-Net on EM membranes", "membranes", _membrane_unet, epochs=30, lr=2e-3),
        Recipe(
            "membrane_patch",
            "05",
            "patch classifier on EM membranes (notebook 03's)",
            "membrane-patches",
            _membrane_patch_classifier,
            epochs=20,
            batch_size=128,
            note="Ciresan-style centre-pixel classifier; its val mIoU is on 4000 pixels sampled uniformly from "
            "the U-Net's held-out slices (notebook 05 scores both on every pixel of them)",
        ),
        Recipe(
            "scenes_unet",
            "05",
            "U-Net on stuff-and-things scenes",
            "scenes64",
            _unet(8),
            epochs=30,
            seeds=(0,),
            note="the source of the transfer experiment: its encoder is copied, its head is not",
        ),
        Recipe(
            "unet_few_transfer",
            "05",
            "U-Net, 100 images, encoder from the scenes",
            "voc64",
            _unet(),
            epochs=40,
            train_images=100,
            init="scenes_unet",
        ),
        Recipe(
            "unet_few_scratch", "05", "U-Net, 100 images, from scratch", "voc64", _unet(), epochs=40, train_images=100
        ),
        # notebook 07: the detector and the stuff logits of its panoptic fusion, on the 128 px scenes
        Recipe(
            "maskrcnn_scenes",
            "07",
            "Mask R-CNN (its thing masks painted, scored as mIoU)",
            "scenes-instances",
            _maskrcnn,
            epochs=15,
            lr=2e-3,
            batch_size=4,
            note="trained from scratch: val mIoU is that of the detections painted into a map of the 3 thing "
            "classes (0 elsewhere), as paint_detections does",
        ),
        Recipe(
            "semantic_scenes",
            "07",
            "semantic head (SemanticNet) on the scenes",
            "scenes",
            _semantic_scenes,
            epochs=24,
            lr=1e-2,
        ),
        # notebook 06: DeepLab v1-v3+ and PSPNet on notebook 04/05's data, then CRF as RNN on v1
        Recipe(
            "deeplab_v1",
            "06",
            "DeepLab v1",
            "voc64",
            functools.partial(_deeplab, "v1"),
            epochs=100,
            note="plain VGG blocks and a dropout head learn slowly: 40 epochs left it rising (0.36 val mIoU)",
        ),
        *[
            Recipe(
                "deeplab_" + v.replace("+", "plus"),
                "06",
                f"DeepLab {v}",
                "voc64",
                functools.partial(_deeplab, v),
                epochs=40,
            )
            for v in ("v2", "v3", "v3+")
        ],
        Recipe("pspnet", "06", "PSPNet", "voc64", _pspnet, epochs=40),
        Recipe(
            "crfrnn_v1",
            "06",
            "DeepLab v1 + CRF as RNN, fine-tuned",
            "voc64",
            _crfrnn_deeplab_v1,
            epochs=CRFRNN_EPOCHS,
            lr=1e-3,
            crf_lr=0.02,
            init="deeplab_v1",
            note="the converged v1 and a Potts CRF, trained end to end; the CRF's 483 parameters at lr 0.02",
        ),
        Recipe(
            "finetune_v1",
            "06",
            "DeepLab v1, fine-tuned alone",
            "voc64",
            functools.partial(_deeplab, "v1"),
            epochs=CRFRNN_EPOCHS,
            lr=1e-3,
            init="deeplab_v1",
            note="crfrnn_v1's budget without the CRF: what the CRF layers add",
        ),
        # notebook 08: one small network, five losses, the same data, schedule and seeds
        *[
            Recipe(
                "loss_" + loss.lower().replace(" + ", "_").replace(" ", "_").replace("-", "_"),
                "08",
                f"small dilated net, {loss}",
                "voc64",
                _small_dilated_net,
                epochs=40,
                loss=loss,
            )
            for loss in LOSSES
        ],
        # notebook 09: the lab's reference CNN and one of its smp models, trained long for reference curves
        Recipe(
            "lab_cnn",
            "09",
            "the lab's reference CNN (MyCNN)",
            "voc64",
            _lab_cnn,
            epochs=40,
            seeds=(0,),
            note="the solution's MyCNN, 40 epochs on all 500 training images: a reference curve "
            "of what longer training reaches, so one seed (no spread is claimed)",
        ),
        Recipe(
            "lab_smp_unet",
            "09",
            f"the lab's {LAB_SMP}",
            "voc64",
            _lab_smp,
            epochs=40,
            seeds=(0,),
            note="the solution's first smp model, from scratch, 40 epochs: a reference curve, one seed",
        ),
    ]
}

# Checkpoints that keep every seed's weights, not only seed 0's: notebook 07 fuses its two models,
# so its comparisons over seeds need both models of each seed; notebook 06 measures the dense
# CRF's effect on both seeds of DeepLab v1.
ALL_SEED_WEIGHTS = ("maskrcnn_scenes", "semantic_scenes", "deeplab_v1")

NUM_CLASSES = {
    "voc64": 21,
    "voc64-crops": 21,
    "membranes": 2,
    "membrane-patches": 2,
    "scenes64": 8,
    "scenes": 8,
    "scenes-instances": 4,
}
POINT_TASKS = ("voc64-crops", "membrane-patches")  # classifiers: one label per input
DETECTION_TASKS = ("scenes-instances",)  # torchvision detectors: trained by train.fit_detector


def build(name: str, num_classes: int | None = None) -> nn.Module:
    """A fresh, untrained model of recipe ``name``; ``num_classes`` builds the same architecture
    for another dataset's classes (a student's own VOC-format data), where the recipe allows it."""
    recipe = _recipe(name)
    if num_classes is None:
        return recipe.build()
    if "num_classes" not in inspect.signature(recipe.build).parameters:
        raise ValueError(
            f"recipe {name!r} is built for its task's {NUM_CLASSES[recipe.task]} classes only; "
            f"build the model class yourself for {num_classes} classes"
        )
    return recipe.build(num_classes=num_classes)


def _recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise KeyError(f"no course recipe {name!r}; the recipes are {', '.join(RECIPES)}")
    return RECIPES[name]


def fingerprint(model: nn.Module) -> str:
    """A short hash of a model's definition: its module tree (``repr``) and every state-dict key
    with its shape and dtype. Changing a layer, a width or a name changes it; training does not."""
    shapes = [(k, tuple(v.shape), str(v.dtype)) for k, v in model.state_dict().items()]
    return hashlib.sha256((repr(model) + repr(shapes)).encode()).hexdigest()[:16]


# --- Data ----------------------------------------------------------------------------------------


class CentreCrops(Dataset):
    """Random ``size``×``size`` crops of (augmented) segmentation items, labelled with their centre
    pixel's class as a (1, 1) mask, so a classifier trains with ``train.fit`` (notebook 04 §1).
    A crop whose centre is void is drawn again (up to 20 times; then its label stays void)."""

    def __init__(self, items: Dataset, size: int = 32, per_item: int = 8, fixed_seed: int | None = None):
        self.items, self.size, self.per_item = items, size, per_item
        self.generator = None if fixed_seed is None else torch.Generator().manual_seed(fixed_seed)
        self.fixed = None
        if fixed_seed is not None:  # a validation set: the same crops every time
            self.fixed = [self._draw(i) for i in range(len(self))]

    def __len__(self) -> int:
        return len(self.items) * self.per_item

    def _draw(self, index: int):
        image, mask = self.items[index // self.per_item]
        half = self.size // 2
        for _ in range(20):
            i, j = (int(v) for v in torch.randint(0, mask.shape[-1] - self.size + 1, (2,), generator=self.generator))
            label = mask[i + half, j + half]
            if label != 255:
                break
        return image[:, i : i + self.size, j : j + self.size], label.reshape(1, 1)

    def __getitem__(self, index: int):
        return self.fixed[index] if self.fixed is not None else self._draw(index)


class PointLogits(nn.Module):
    """A classifier's (N, C) logits as (N, C, 1, 1), the segmentation of a one-pixel "image"."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, x):
        return self.classifier(x)[:, :, None, None]


class MembraneTiles(Dataset):
    """Random input tiles of EM slices, mirrored at the border, with the labels of their valid
    output (U-Net's training of Ronneberger et al. 2015; notebook 05 §3)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, tile: int, out: int, per_epoch: int):
        self.margin = (tile - out) // 2
        self.padded = F.pad(images, (self.margin,) * 4, mode="reflect")
        self.labels, self.tile, self.out, self.per_epoch = labels, tile, out, per_epoch

    def __len__(self) -> int:
        return self.per_epoch

    def __getitem__(self, index: int):
        k = int(torch.randint(len(self.labels), ()))
        i, j = (int(v) for v in torch.randint(0, self.labels.shape[-1] - self.out + 1, (2,)))
        tile = self.padded[k, :, i : i + self.tile, j : j + self.tile]
        label = self.labels[k, i : i + self.out, j : j + self.out]
        if torch.rand(()) < 0.5:
            tile, label = tile.flip(-1), label.flip(-1)
        return tile, label


MEMBRANE_TILE, MEMBRANE_TEST_SLICES, MEMBRANE_PATCH = 132, 5, 44


class MembranePatches(Dataset):
    """``MEMBRANE_PATCH``-sided windows of EM slices (mirrored at the border) labelled by their
    centre pixel, for the patch classifier of Ciresan et al. 2012 (notebook 03). Training draws
    half membrane and half cell centres at random; ``fixed_seed`` draws one fixed set of
    uniformly placed centres instead (a validation set)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, per_epoch: int, fixed_seed: int | None = None):
        from .models.patch import pad_for_windows

        self.padded = pad_for_windows(images, MEMBRANE_PATCH)
        self.labels, self.per_epoch = labels, per_epoch
        self.by_class = [torch.nonzero(labels == c) for c in (0, 1)]
        self.fixed = None
        if fixed_seed is not None:
            g = torch.Generator().manual_seed(fixed_seed)
            n, h, w = labels.shape
            self.fixed = torch.stack(
                [
                    torch.randint(n, (per_epoch,), generator=g),
                    torch.randint(h, (per_epoch,), generator=g),
                    torch.randint(w, (per_epoch,), generator=g),
                ],
                1,
            )

    def __len__(self) -> int:
        return self.per_epoch

    def __getitem__(self, index: int):
        if self.fixed is not None:
            k, i, j = self.fixed[index].tolist()
        else:
            pool = self.by_class[index % 2]
            k, i, j = pool[int(torch.randint(len(pool), ()))].tolist()
        patch = self.padded[k, :, i : i + MEMBRANE_PATCH, j : j + MEMBRANE_PATCH]
        return patch, self.labels[k, i, j].reshape(1, 1)


def membrane_data(dataset: str | None = DATASET):
    """The EM stack as float slices (N, 1, H, W) in [0, 1] and membrane labels (N, H, W)
    (1 = membrane), split into training slices and the last ``MEMBRANE_TEST_SLICES`` held out."""
    root = data.em_root(dataset)
    held = data.em_splits(root.path, held_out=MEMBRANE_TEST_SLICES)  # the challenge's test labels are withheld

    def tensors(images, labels):
        return torch.from_numpy(images).float()[:, None] / 255, torch.from_numpy(labels == 0).long()

    return root, tensors(held.train_images, held.train_labels), tensors(held.test_images, held.test_labels)


def membrane_margin(depth: int = 2) -> int:
    from .models.unet import UNet

    return (MEMBRANE_TILE - UNet.output_size(MEMBRANE_TILE, depth=depth)) // 2


def _scenes(split: str) -> list[dict]:
    """Notebook 07's stuff-and-things scenes (400 at 128×128, seed 0): the items of ``split``."""
    scenes = data.PanopticScenes(data.synthetic_panoptic(400, seed=0), split)
    return [scenes[i] for i in range(len(scenes))]


def _scene_tensors(split: str, size: int | None = None):
    """The scenes as (images in [0, 1], semantic labels); at ``size`` (area-resized) the images
    are normalised with ImageNet's statistics, as the VOC-format tasks' are."""
    images, labels = data.scene_tensors(_scenes(split))
    if size is None:
        return images, labels
    images = F.interpolate(images, size=(size, size), mode="area")
    labels = F.interpolate(labels[:, None].float(), size=(size, size), mode="nearest")[:, 0].long()
    mean = torch.tensor(data.IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(data.IMAGENET_STD)[:, None, None]
    return (images - mean) / std, labels


def things_truth(item: dict) -> torch.Tensor:
    """A scene's thing classes (1-3) as a map, 0 for stuff, 255 where the scene is void."""
    semantic = torch.as_tensor(item["semantic"]).long()
    return torch.where((semantic >= 1) & (semantic <= 3) | (semantic == 255), semantic, torch.zeros_like(semantic))


def _evaluate_detector(model: nn.Module, items: list[dict], device=None) -> dict:
    """``train.evaluate``-style results of a detector on scenes: its detections painted into a
    thing-class map (``paint_detections``) against the true thing classes."""
    from .metrics import ConfusionMatrix
    from .models.maskrcnn import paint_detections, predict_instances, to_maskrcnn_input

    device = get_device(device)
    matrix = ConfusionMatrix(NUM_CLASSES["scenes-instances"])
    for start in range(0, len(items), 20):
        chunk = items[start : start + 20]
        outputs = predict_instances(model.to(device), [to_maskrcnn_input(item)[0].to(device) for item in chunk])
        for item, output in zip(chunk, outputs, strict=True):
            output = {k: v.cpu() for k, v in output.items()}
            matrix.update(torch.as_tensor(paint_detections(output))[None], things_truth(item)[None])
    return matrix.compute()


class _ReseededEachCall:
    """A ``SegTransform`` whose every call draws its seed from PyTorch's generator. ``fit`` seeds
    that generator at the start of each epoch, so a run resumed from a checkpoint sees exactly
    the augmentations the uninterrupted run saw (Albumentations' own generator would carry
    state across epochs that a checkpoint does not hold)."""

    def __init__(self, transform):
        self.transform = transform

    def __call__(self, **arrays):
        self.transform.compose.set_random_seed(int(torch.randint(2**31 - 1, ())))
        return self.transform(**arrays)


class _Flipped(Dataset):
    """A tensor dataset whose items are mirrored left-right half of the time (torch's RNG)."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        if torch.rand(()) < 0.5:
            return self.images[i].flip(-1), self.labels[i].flip(-1)
        return self.images[i], self.labels[i]


def task_loaders(
    task: str,
    *,
    batch_size: int = 16,
    train_images: int | None = None,
    dataset: str | None = DATASET,
    image_size: int = IMAGE_SIZE,
) -> tuple[DataLoader, DataLoader]:
    """The (train, val) loaders of a course task:

    * ``voc64``: the course split of the VOC-format dataset at ``image_size``, training images
      augmented by ``data.train_transform``, validation by ``data.eval_transform``;
    * ``voc64-crops``: 32×32 crops of those images labelled by their centre pixel (8 per image);
    * ``membranes``: random 132×132 tiles of the EM training slices; validation on the held-out
      slices, mirrored by the U-Net's margin (overlap-tile with one tile);
    * ``scenes64``: notebook 07's stuff-and-things scenes at 64×64, mirrored half of the time;
      ``scenes``: the same at their 128×128, in [0, 1] as notebook 07 feeds its semantic head.

    ``scenes-instances`` (Mask R-CNN) has no loaders: ``train_recipe`` feeds it (image, target) pairs.
    """
    if task in ("voc64", "voc64-crops"):
        root = data.voc_root(dataset).path
        augment = _ReseededEachCall(data.train_transform(image_size))
        train_set = data.VOCSegmentation(root, "train", transform=augment, size=image_size)
        val_set = data.VOCSegmentation(root, "val", transform=data.eval_transform(image_size), size=image_size)
        if train_images is not None:
            train_set = Subset(train_set, range(min(train_images, len(train_set))))
        if task == "voc64-crops":
            train_set, val_set = CentreCrops(train_set), CentreCrops(val_set, per_item=4, fixed_seed=0)
        return (DataLoader(train_set, batch_size=batch_size, shuffle=True), DataLoader(val_set, batch_size=128))
    if task == "membranes":
        _, (train_x, train_y), (test_x, test_y) = membrane_data(dataset)
        margin = membrane_margin()
        tiles = MembraneTiles(train_x, train_y, MEMBRANE_TILE, MEMBRANE_TILE - 2 * margin, per_epoch=160)
        val = TensorDataset(F.pad(test_x, (margin,) * 4, mode="reflect"), test_y)
        return DataLoader(tiles, batch_size=8), DataLoader(val, batch_size=1)
    if task == "membrane-patches":
        _, (train_x, train_y), (test_x, test_y) = membrane_data(dataset)
        return (
            DataLoader(MembranePatches(train_x, train_y, per_epoch=8000), batch_size=batch_size),
            DataLoader(MembranePatches(test_x, test_y, per_epoch=4000, fixed_seed=0), batch_size=1000),
        )
    if task in ("scenes64", "scenes"):
        size = image_size if task == "scenes64" else None
        train_set = _Flipped(*_scene_tensors("train", size))
        return (
            DataLoader(train_set, batch_size=batch_size, shuffle=True),
            DataLoader(TensorDataset(*_scene_tensors("val", size)), batch_size=64),
        )
    raise KeyError(f"unknown course task {task!r}; the tasks are {', '.join(NUM_CLASSES)}")


# --- Training ------------------------------------------------------------------------------------


def _work_dir() -> Path:
    return data.data_root() / "course_runs"


def retrained_dir() -> Path:
    """Where a notebook with ``RETRAIN = True`` writes its own checkpoints (under ``data/``)."""
    return data.data_root() / "course_retrained"


def _rounded(model: nn.Module) -> dict:
    """The state dict as float16, the precision a checkpoint stores."""
    return {
        k: (v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu())
        for k, v in model.state_dict().items()
    }


def _load_rounded(model: nn.Module, state: dict) -> nn.Module:
    reference = model.state_dict()
    model.load_state_dict({k: v.to(reference[k].dtype) for k, v in state.items()}, strict=True)
    return model


def _initial_weights(recipe: Recipe, model: nn.Module, seed: int, dataset: str | None, device, progress: bool):
    """Start ``model`` from recipe ``init``'s seed-``seed`` weights (training them if needed)."""
    if recipe.init is None:
        return model
    source = _recipe(recipe.init)
    run = _seed_run(source, seed, dataset=dataset, device=device, progress=progress)
    trained = _load_rounded(source.build(), run["state_dict"])
    if recipe.init == "fcn_classifier":
        from .models.fcn import FCN

        model.load_state_dict(FCN.from_classifier(trained, model.variant).state_dict())
    elif recipe.init.startswith("deeplab_"):  # fine-tuning: the whole network, under a CRF or not
        target = model.network if hasattr(model, "crf") else model
        target.load_state_dict(trained.state_dict())
    else:  # an encoder: copy every weight whose name and shape match, except the class scorer
        own = model.state_dict()
        copied = {
            k: v
            for k, v in trained.state_dict().items()
            if k.startswith("downs.") and k in own and own[k].shape == v.shape
        }
        model.load_state_dict(copied, strict=False)
    return model


def forget_runs(name: str, dataset: str | None = DATASET) -> None:
    """Delete the finished and partial runs of recipe ``name`` kept in ``data/course_runs``."""
    for path in (_work_dir() / (dataset or "auto")).glob(f"{_recipe(name).name}-seed*.pt"):
        path.unlink()


def train_recipe(
    name: str,
    seed: int = 0,
    *,
    dataset: str | None = DATASET,
    device=None,
    progress: bool = True,
    checkpoint: str | Path | None = None,
) -> tuple[nn.Module, dict]:
    """Train recipe ``name`` with ``seed`` exactly as the course tool does and return
    ``(model, history)``. Notebooks call this when ``RETRAIN = True``; ``checkpoint`` makes it
    resumable epoch by epoch (``fit``'s checkpoint)."""
    recipe = _recipe(name)
    seed_everything(seed)
    model = recipe.build()
    model = _initial_weights(recipe, model, seed, dataset, device, progress)
    optimizer = torch.optim.AdamW(_parameter_groups(recipe, model), lr=recipe.lr, weight_decay=recipe.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, recipe.epochs)
    if recipe.task in DETECTION_TASKS:
        from .models.maskrcnn import random_hflip, to_maskrcnn_input

        val_items = _scenes("val")
        history = train.fit_detector(
            model,
            [to_maskrcnn_input(item) for item in _scenes("train")],
            lambda m: _evaluate_detector(m, val_items, device),
            epochs=recipe.epochs,
            optimizer=optimizer,
            scheduler=scheduler,
            batch_size=recipe.batch_size,
            augment=random_hflip,
            device=device,
            seed=seed,
            progress=progress,
            checkpoint=checkpoint,
            resume=checkpoint is not None,
        )
        return model.cpu(), history
    train_loader, val_loader = task_loaders(
        recipe.task, batch_size=recipe.batch_size, train_images=recipe.train_images, dataset=dataset
    )
    fitted = PointLogits(model) if recipe.task in POINT_TASKS else model
    loss_fn = None
    if recipe.loss != "cross-entropy":
        root = data.voc_root(dataset).path
        loss_fn = _loss_function(
            recipe.loss, data.VOCSegmentation(root, "train", transform=data.eval_transform(IMAGE_SIZE), size=IMAGE_SIZE)
        )
    history = train.fit(
        fitted,
        train_loader,
        val_loader,
        num_classes=NUM_CLASSES[recipe.task],
        epochs=recipe.epochs,
        optimizer=optimizer,
        scheduler=scheduler,
        loss_fn=loss_fn,
        seed=seed,
        device=device,
        progress=progress,
        checkpoint=checkpoint,
        resume=checkpoint is not None,
    )
    return model.cpu(), history


def _parameter_groups(recipe: Recipe, model: nn.Module) -> list[dict]:
    """One group at the recipe's learning rate, or, with ``crf_lr``, the CRF layers' few
    parameters (kernel weights, compatibility) in a group of their own at ``crf_lr`` without
    weight decay: at the network's fine-tuning rate they would barely move from their start."""
    if recipe.crf_lr is None:
        return [{"params": list(model.parameters())}]
    crf = [p for name, p in model.named_parameters() if name.startswith("crf.")]
    rest = [p for name, p in model.named_parameters() if not name.startswith("crf.")]
    if not crf:
        raise ValueError(f"recipe {recipe.name!r} sets crf_lr but its model has no `crf` layers")
    return [{"params": rest}, {"params": crf, "lr": recipe.crf_lr, "weight_decay": 0.0}]


def evaluate(name: str, model: nn.Module, *, dataset: str | None = DATASET, device=None) -> dict:
    """``train.evaluate`` of ``model`` on recipe ``name``'s validation data."""
    recipe = _recipe(name)
    if recipe.task in DETECTION_TASKS:
        return _evaluate_detector(model, _scenes("val"), device)
    _, val_loader = task_loaders(recipe.task, dataset=dataset)
    fitted = PointLogits(model) if recipe.task in POINT_TASKS else model
    return train.evaluate(fitted, val_loader, NUM_CLASSES[recipe.task], device=device)


def _summary(results: dict) -> dict:
    keep = ("miou", "pixel_accuracy", "mean_accuracy")
    summary = {k: float(results[k]) for k in keep}
    summary["iou"] = [None if np.isnan(v) else float(v) for v in np.asarray(results["iou"])]
    return summary


def _seed_run(recipe: Recipe, seed: int, *, dataset: str | None, device, progress: bool) -> dict:
    """One seed of a recipe, trained once and kept in ``data/course_runs`` (resumable)."""
    folder = _work_dir() / (dataset or "auto")
    done = folder / f"{recipe.name}-seed{seed}.pt"
    if done.exists():
        run = torch.load(done, map_location="cpu", weights_only=True)
        if run["settings"] == recipe.settings() and run["fingerprint"] == fingerprint(recipe.build()):
            return run
    device = get_device(device)
    model, history = train_recipe(
        recipe.name,
        seed,
        dataset=dataset,
        device=device,
        progress=progress,
        checkpoint=folder / f"{recipe.name}-seed{seed}.partial.pt",
    )
    state = _rounded(model)
    results = evaluate(recipe.name, _load_rounded(recipe.build(), state), dataset=dataset, device=device)
    history = {key: [float(v) for v in values] for key, values in history.items()}  # plain floats load safely
    run = {
        "seed": seed,
        "state_dict": state,
        "history": history,
        "val": _summary(results),
        "settings": recipe.settings(),
        "fingerprint": fingerprint(model),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "seconds": round(sum(history["seconds"]), 1),
        "torch": str(torch.__version__),
    }
    write_atomically(done, lambda file: torch.save(run, file))
    (folder / f"{recipe.name}-seed{seed}.partial.pt").unlink(missing_ok=True)
    return run


def make_checkpoint(
    name: str, *, dataset: str | None = DATASET, device=None, progress: bool = True, out_dir: Path = CHECKPOINT_DIR
) -> Path:
    """Train every seed of recipe ``name`` (reusing finished seeds) and write its checkpoint:
    seed 0's float16 weights and every seed's history and validation results."""
    recipe = _recipe(name)
    runs = [_seed_run(recipe, seed, dataset=dataset, device=device, progress=progress) for seed in recipe.seeds]
    description = data.voc_root(dataset).description if recipe.task.startswith("voc") else recipe.task
    meta = {
        "name": name,
        "title": recipe.title,
        "notebook": recipe.notebook,
        "settings": recipe.settings(),
        "fingerprint": runs[0]["fingerprint"],
        "dataset": dataset,
        "data": description,
        "command": f"{COMMAND} --only {name}",
        "runs": [{k: v for k, v in run.items() if k != "state_dict"} for run in runs],
    }
    saved = {"state_dict": runs[0]["state_dict"], "meta": meta}
    if name in ALL_SEED_WEIGHTS:
        saved["seed_state_dicts"] = {str(run["seed"]): run["state_dict"] for run in runs[1:]}
    path = Path(out_dir) / f"{name}.pt"
    write_atomically(path, lambda file: torch.save(saved, file))
    return path


# --- Loading -------------------------------------------------------------------------------------


def _checkpoint_path(name: str, folder: Path | None = None) -> Path:
    _recipe(name)
    return Path(folder or CHECKPOINT_DIR) / f"{name}.pt"


def record(name: str, folder: Path | None = None) -> dict:
    """The ``meta`` of recipe ``name``'s checkpoint: settings, fingerprint, and ``runs`` (one per
    seed: ``history``, ``val`` results, ``seconds``, ``device``)."""
    path = _checkpoint_path(name, folder)
    if not path.is_file():
        raise FileNotFoundError(f"no course checkpoint {path}; make it with `{COMMAND} --only {name}`")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)["meta"]
    except Exception as error:  # a truncated or foreign file
        raise StaleCheckpoint(
            f"{path} cannot be read ({error}); regenerate it with `{COMMAND} --only {name} --force`"
        ) from error


def load(name: str, folder: Path | None = None, seed: int = 0) -> nn.Module:
    """Recipe ``name``'s model with its seed-0 course weights (float32, eval mode), loaded with
    ``weights_only=True`` and ``strict=True``. Raises ``StaleCheckpoint``, naming the command
    that regenerates it, when the recipe or the model's definition changed since it was made.
    Other seeds' weights are kept only for the recipes in ``ALL_SEED_WEIGHTS``."""
    recipe = _recipe(name)
    path = _checkpoint_path(name, folder)
    meta = record(name, folder)
    model = recipe.build()
    fix = f"regenerate it with `{COMMAND} --only {name} --force`"
    if meta["fingerprint"] != fingerprint(model):
        raise StaleCheckpoint(
            f"{path} was made for another definition of {recipe.title} "
            f"(fingerprint {meta['fingerprint']}, now {fingerprint(model)}); {fix}"
        )
    if meta["settings"] != recipe.settings():
        changed = sorted(k for k in recipe.settings() if meta["settings"].get(k) != recipe.settings()[k])
        raise StaleCheckpoint(f"{path} was trained with other settings ({', '.join(changed)} changed); {fix}")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if seed == 0:
        return _load_rounded(model, saved["state_dict"]).eval()
    others = saved.get("seed_state_dicts", {})
    if str(seed) not in others:
        kept = [0, *map(int, others)]
        raise KeyError(
            f"{path} keeps the weights of seed(s) {kept} only, not seed {seed}; the other seeds' "
            f"results are in course.record({name!r})['runs']"
        )
    return _load_rounded(model, others[str(seed)]).eval()


def spread(name: str, key: str = "miou", folder: Path | None = None) -> tuple[float, float, list[float]]:
    """(mean, half the range, values) of a validation result over the checkpoint's seeds. ``key``
    names a number of the stored results: ``miou``, ``pixel_accuracy`` or ``mean_accuracy``."""
    values = [run["val"].get(key) for run in record(name, folder)["runs"]]
    if not all(isinstance(v, float) for v in values):
        scalars = sorted(k for k, v in record(name, folder)["runs"][0]["val"].items() if isinstance(v, float))
        raise KeyError(f"{key!r} is not a number in {name}'s stored results; spread takes one of {scalars}")
    return float(np.mean(values)), (max(values) - min(values)) / 2, values


def distinguishable(better: str, worse: str, key: str = "miou", folder: Path | None = None) -> bool:
    """True when every seed of ``better`` beats every seed of ``worse`` (the gap is outside the spread)."""
    return min(spread(better, key, folder)[2]) > max(spread(worse, key, folder)[2])


def verdict(a: str, b: str, key: str = "miou", folder: Path | None = None) -> str:
    """One line comparing two checkpoints over their seeds, the better one (by the mean over its
    seeds) first: the gap of the seed means and whether it is "distinguishable" (every seed of
    the better one beats every seed of the other)."""
    better, worse = sorted((a, b), key=lambda name: spread(name, key, folder)[0], reverse=True)
    gap = spread(better, key, folder)[0] - spread(worse, key, folder)[0]
    word = "distinguishable" if distinguishable(better, worse, key, folder) else "NOT distinguishable"
    label = "mIoU" if key == "miou" else key.replace("_", " ")
    return (
        f"{record(better, folder)['title']} - {record(worse, folder)['title']}: {gap:+.3f} {label} "
        f"(means over seeds), {word} over the seeds"
    )


# --- Comparing checkpointed models in a notebook ---------------------------------------------------


def compare(names, *, device=None, dataset: str | None = DATASET, folder: Path | None = None) -> dict[str, dict]:
    """Load each checkpoint, evaluate it live on its validation data and return
    ``{name: row}``: ``model``, ``title``, ``results`` (live, seed 0), ``miou`` (live),
    ``seeds`` (stored val mIoU of every seed), ``spread`` (half their range), ``parameters``
    and ``seconds`` (stored mean training seconds per epoch, with ``device``). ``folder``
    reads checkpoints from elsewhere than ``CHECKPOINT_DIR`` (e.g. a notebook's retrained ones)."""
    from .analysis import count_params

    rows = {}
    for name in names:
        model = load(name, folder)
        results = evaluate(name, model, dataset=dataset, device=device)
        meta = record(name, folder)
        runs = meta["runs"]
        rows[name] = {
            "model": model,
            "title": meta["title"],
            "results": results,
            "miou": float(results["miou"]),
            "seeds": [run["val"]["miou"] for run in runs],
            "spread": spread(name, folder=folder)[1],
            "parameters": count_params(model),
            "seconds": float(np.mean(runs[0]["history"]["train_seconds"])),
            "device": runs[0]["device"],
            "epochs": meta["settings"]["epochs"],
            "history": runs[0]["history"],
        }
    return rows


def table(rows: dict[str, dict], baseline: float | tuple[float, float] | None = None) -> str:
    """``compare``'s rows as text: live val mIoU and pixel accuracy of seed 0, the stored mIoU
    of every seed and half their range, parameters, and the trivial ``baseline`` line: its
    mIoU, or (mIoU, pixel accuracy) as ``metrics.background_scores`` returns them."""
    width = max(28, *(len(r["title"]) for r in rows.values()))
    lines = [
        f"{'model':{width}s} {'parameters':>10s} {'epochs':>6s} {'val mIoU':>8s} {'pixel acc':>9s}  seeds (± half range)"
    ]
    for r in rows.values():
        seeds = " / ".join(f"{v:.3f}" for v in r["seeds"])
        lines.append(
            f"{r['title']:{width}s} {r['parameters']:10,d} {r['epochs']:6d} {r['miou']:8.3f} "
            f"{r['results']['pixel_accuracy']:9.3f}  {seeds} (± {r['spread']:.3f})"
        )
    if baseline is not None:
        miou, accuracy = baseline if isinstance(baseline, tuple) else (baseline, None)
        line = f"{'predicting background everywhere':{width}s} {'':10s} {'':6s} {miou:8.3f}"
        lines.append(line + (f" {accuracy:9.3f}" if accuracy is not None else ""))
    return "\n".join(lines)
