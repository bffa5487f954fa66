"""seglib.check: each lab check passes on a correct result and names the mistake, with a hint,
on each wrong one (the messages are the product here, so the tests match them)."""

import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from seglib import check, data, metrics, train
from seglib.check import CheckFailed

S = 32
LAB = Path(__file__).resolve().parents[1] / "notebooks" / "09_lab_voc64.ipynb"
HINTS = []  # every hint a test below has seen; the last test checks that none gives an answer away


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    return data.make_synthetic_voc(tmp_path_factory.mktemp("voc"), 16, seed=0)


def _sets(voc):
    train_set = data.VOCSegmentation(voc, "train", transform=data.train_transform(S))
    val_set = data.VOCSegmentation(voc, "val", transform=data.eval_transform(S))
    return train_set, val_set


def _fails(pattern, fn, *args, **kwargs):
    with pytest.raises(CheckFailed, match=pattern) as info:
        fn(*args, **kwargs)
    assert info.value.hint, "every failure gives a hint"
    HINTS.append(info.value.hint)
    return info.value


class TinyNet(nn.Module):
    def __init__(self, classes=data.NUM_CLASSES, softmax=False, scale=1, unused=False):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, classes, 1))
        self.softmax, self.scale = softmax, scale
        self.unused = nn.Conv2d(3, 3, 1) if unused else None

    def forward(self, x):
        y = self.body(x[..., :: self.scale, :: self.scale])
        return y.softmax(1) if self.softmax else y


class Scaffold(nn.Module):
    def forward(self, x):
        raise NotImplementedError("Task 2: write MyCNN.forward")


# --- Task 1 --------------------------------------------------------------------------------------


def test_dataset_and_loader_passes_on_the_solution(voc, capsys):
    train_set, val_set = _sets(voc)
    check.dataset_and_loader(
        Subset(train_set, range(6)),
        val_set,
        DataLoader(train_set, 4, shuffle=True),
        DataLoader(val_set, 8),
        image_size=S,
    )
    assert capsys.readouterr().out.startswith("✓ Task 1")


def test_dataset_and_loader_names_each_mistake(voc):
    train_set, val_set = _sets(voc)
    good = dict(
        train_set=train_set,
        val_set=val_set,
        train_loader=DataLoader(train_set, 4, shuffle=True),
        val_loader=DataLoader(val_set, 4),
    )

    def run(**changes):
        args = {**good, **changes}
        return check.dataset_and_loader(
            args["train_set"], args["val_set"], args["train_loader"], args["val_loader"], image_size=S
        )

    error = _fails("not done yet: `train_loader` is still ...", run, train_loader=...)
    assert error.task == "Task 1 (dataset and loader)"
    _fails("not tensors", run, train_set=data.VOCSegmentation(voc, "train"))
    _fails("should read 'val'", run, val_set=data.VOCSegmentation(voc, "train", transform=data.eval_transform(S)))
    _fails("both should be 32×32", run, val_set=data.VOCSegmentation(voc, "val", transform=data.eval_transform(48)))
    _fails("not augmented", run, train_set=data.VOCSegmentation(voc, "train", transform=data.eval_transform(S)))
    _fails("validation is augmented", run, val_set=data.VOCSegmentation(voc, "val", transform=data.train_transform(S)))
    _fails("does not shuffle", run, train_loader=DataLoader(train_set, 4))
    _fails("not a DataLoader", run, val_loader=list(DataLoader(val_set, 4)))

    class FloatMasks(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            image, mask = val_set[i]
            return image, mask.float()

    _fails("must stay integers", run, val_set=FloatMasks())

    class ColourMasks(FloatMasks):
        def __getitem__(self, i):
            image, mask = val_set[i]
            return image, torch.full_like(mask, 128)

    _fails(re.escape("values [128], outside 0..20"), run, val_set=ColourMasks())

    class Unnormalised(FloatMasks):
        def __getitem__(self, i):
            image, mask = val_set[i]
            return image * 0 + 200.0, mask

    _fails("not normalised", run, val_set=Unnormalised())


# --- Task 2 --------------------------------------------------------------------------------------


def test_segmentation_model_passes_and_reports_size(capsys):
    check.segmentation_model(TinyNet(), image_size=S)
    out = capsys.readouterr().out
    assert out.startswith("✓ Task 2") and f"{sum(p.numel() for p in TinyNet().parameters()):,} parameters" in out


@pytest.mark.parametrize(
    "model, pattern",
    [
        (..., "not done yet: `my_model` is still ..."),
        (Scaffold(), r"not done yet: forward raises NotImplementedError \(Task 2: write MyCNN.forward\)"),
        (TinyNet(classes=3), "has 3 channels; there are 21 classes"),
        (TinyNet(scale=4), "upsample by 4"),
        (TinyNet(softmax=True), "applies a softmax"),
        (TinyNet(unused=True), r"1 layer\(s\) get no gradient, e.g. \['unused'\]"),
        (lambda x: x, "not an nn.Module"),
    ],
)
def test_segmentation_model_names_each_mistake(model, pattern):
    _fails(pattern, check.segmentation_model, model, image_size=S)


def test_a_model_without_parameters_is_refused():
    class Fixed(nn.Module):
        def forward(self, x):
            return x.new_zeros(x.shape[0], data.NUM_CLASSES, *x.shape[-2:])

    _fails("no trainable parameters", check.segmentation_model, Fixed(), image_size=S)


# --- Task 3 --------------------------------------------------------------------------------------


def _results(pred, target):
    """What ``train.evaluate`` returns for these label maps."""
    matrix = metrics.ConfusionMatrix(data.NUM_CLASSES)
    matrix.update(pred, target)
    return matrix.compute()


def test_training_run_passes_and_names_each_mistake(voc, capsys):
    _, val_set = _sets(voc)
    masks = torch.stack([val_set[i][1] for i in range(len(val_set))])
    history = {"train_loss": [2.0, 1.2, 0.9], "val_miou": [0.1, 0.2, 0.3]}
    perfect = _results(masks, masks)
    check.training_run(history, perfect, val_set)
    assert capsys.readouterr().out.startswith(
        "✓ Task 3 (train and evaluate): 3 epochs, training loss 2.000 → 0.900; val mIoU 1.000"
    )
    _fails("not done yet: `history` is still ...", check.training_run, ..., perfect, val_set)
    _fails("not done yet: `val_results` is still ...", check.training_run, history, ..., val_set)
    _fails("did not fall", check.training_run, {"train_loss": [1.0, 1.2], "val_miou": [0.1, 0.1]}, perfect, val_set)
    _fails("diverged", check.training_run, {"train_loss": [1.0, float("nan")]}, perfect, val_set)
    error = _fails(
        "ran without a validation loader",
        check.training_run,  # fit(model, train_loader) only
        {"train_loss": [2.0, 1.0], "val_miou": [float("nan")] * 2},
        perfect,
        val_set,
    )
    assert "val_loader" in error.hint
    _fails("ran without a validation loader", check.training_run, {"train_loss": [2.0, 1.0]}, perfect, val_set)
    _fails("without 'train_loss'", check.training_run, [0.5], perfect, val_set)
    _fails("without a confusion matrix", check.training_run, history, {"miou": 0.5}, val_set)
    _fails("labelled pixels; val_set has", check.training_run, history, _results(masks[:2], masks[:2]), val_set)
    background = _results(torch.zeros_like(masks), masks)
    _fails("no better than predicting background", check.training_run, history, background, val_set)
    model = TinyNet()  # train.evaluate's results have the same form
    evaluated = train.evaluate(model, DataLoader(val_set, 4), data.NUM_CLASSES, device="cpu")
    assert set(evaluated) == set(perfect)


# --- Task 4 --------------------------------------------------------------------------------------


def test_smp_models_passes_and_names_each_mistake(capsys):
    import segmentation_models_pytorch as smp

    def unet():
        return smp.Unet(
            "resnet18", encoder_weights=None, classes=data.NUM_CLASSES, encoder_depth=3, decoder_channels=(16, 8, 8)
        )

    def fpn():
        return smp.FPN(
            "resnet18",
            encoder_weights=None,
            classes=data.NUM_CLASSES,
            decoder_pyramid_channels=16,
            decoder_segmentation_channels=32,
        )

    check.smp_models({"a": unet, "b": fpn, "c": unet}, image_size=S)
    assert capsys.readouterr().out.startswith("✓ Task 4 (segmentation_models.pytorch): 3 models (FPN, Unet)")
    _fails("not done yet: `smp_builders` is empty", check.smp_models, {}, image_size=S)
    _fails("not done yet", check.smp_models, ..., image_size=S)
    _fails("at least 3 models, got 2", check.smp_models, {"a": unet, "b": fpn}, image_size=S)
    _fails("not a function that builds a model", check.smp_models, {"a": unet(), "b": fpn, "c": unet}, image_size=S)
    _fails("compare different architectures", check.smp_models, {"a": unet, "b": unet, "c": unet}, image_size=S)
    late = {}
    for build in (fpn, unet, unet):  # the classic slip: a lambda in a loop sees the loop's last value
        late[build.__name__ + str(len(late))] = lambda: build()  # noqa: B023 (the slip under test)
    error = _fails("one and the same function, so they all build Unet", check.smp_models, late, image_size=S)
    assert "lambda arch=arch" in error.hint
    _fails("not an smp model", check.smp_models, {"a": unet, "b": fpn, "c": TinyNet}, image_size=S)

    def offline():
        raise OSError("Max retries exceeded with url: https://download.pytorch.org/...")

    _fails("encoder_weights=None", check.smp_models, {"a": unet, "b": fpn, "c": offline}, image_size=S)

    def shallow_fpn():  # FPN's final upsampling assumes the default depth
        return smp.FPN(
            "resnet18",
            encoder_weights=None,
            classes=data.NUM_CLASSES,
            encoder_depth=3,
            decoder_pyramid_channels=16,
            decoder_segmentation_channels=32,
        )

    _fails(
        r"outputs \(128, 128\) maps for 32×32", check.smp_models, {"a": unet, "b": fpn, "c": shallow_fpn}, image_size=S
    )

    _fails("fails on a batch of 40×40 images", check.smp_models, {"a": unet, "b": fpn, "c": unet}, image_size=40)

    def wrong_classes():
        return smp.FPN(
            "resnet18", encoder_weights=None, classes=3, decoder_pyramid_channels=16, decoder_segmentation_channels=32
        )

    _fails(
        "outputs 3 channels; there are 21 classes",
        check.smp_models,
        {"a": unet, "b": fpn, "c": wrong_classes},
        image_size=S,
    )


# --- Task 5 --------------------------------------------------------------------------------------


def test_test_evaluation_passes_and_names_each_mistake(voc, capsys):
    model = TinyNet()
    test_set = data.VOCSegmentation(voc, "test", transform=data.eval_transform(S))
    results = train.evaluate(model, DataLoader(test_set, 4), data.NUM_CLASSES, device="cpu")
    check.test_evaluation(results, test_set)
    assert capsys.readouterr().out.startswith(f"✓ Task 5 (the test set): {len(test_set)} test images")
    _fails("not done yet: `test_set` is still ...", check.test_evaluation, results, ...)
    _fails("not done yet: `test_results` is still ...", check.test_evaluation, ..., test_set)
    val_set = data.VOCSegmentation(voc, "val", transform=data.eval_transform(S))
    _fails("reads the 'val' split", check.test_evaluation, results, val_set)
    _fails("keeps 2 of the split's", check.test_evaluation, results, Subset(test_set, range(2)))
    torch.manual_seed(0)  # the transform draws its seed from torch
    augmented = data.VOCSegmentation(voc, "test", transform=data.train_transform(S))
    _fails("test images are augmented", check.test_evaluation, results, augmented)
    _fails("without a confusion matrix", check.test_evaluation, {"miou": 0.5}, test_set)
    wrong = dict(results, confusion=np.asarray(results["confusion"]) * 2)
    _fails("labelled pixels; the test split has", check.test_evaluation, wrong, test_set)
    rows = {"A": {"val": {"miou": 0.2}}, "B": {"val": {"miou": 0.3}}}
    check.test_evaluation(results, test_set, "B", rows)
    assert capsys.readouterr().out.startswith("✓ Task 5")
    _fails("not done yet: `best_name` is still ...", check.test_evaluation, results, test_set, ..., rows)
    _fails("'C', which is not a row", check.test_evaluation, results, test_set, "C", rows)
    _fails("'A' has val mIoU 0.200, but 'B' has 0.300", check.test_evaluation, results, test_set, "A", rows)


def test_a_failed_check_renders_as_message_and_hint():
    error = CheckFailed("Task 9 (x)", "y is wrong.", "do z")
    assert str(error) == "Task 9 (x): y is wrong.\nHint: do z"
    assert error._render_traceback_() == ["✗ Task 9 (x): y is wrong.", "  Hint: do z"]
    assert isinstance(error, AssertionError)


def _squeeze(text):
    return re.sub(r"\s+", "", text).replace("'", '"')


def test_no_hint_gives_a_solution_away():
    """Hints say what to use and why, never the finished code: no hint seen above (each task's
    "not done yet" one included) holds a line of a solution cell of the lab, nor assigns one of
    the names a task asks for."""
    for task in ("dataset_and_loader", "training_run", "smp_models", "test_evaluation", "segmentation_model"):
        assert any(h for h in HINTS), task
    lab = nbformat.read(LAB, as_version=4)
    solutions = [c.source for c in lab.cells if "solution" in c.metadata.get("tags", [])]
    assert len(solutions) == 5
    lines = {_squeeze(line).rstrip(",([{") for source in solutions for line in source.splitlines()}
    lines = {line for line in lines if len(line) >= 12}
    assert len(HINTS) > 30
    names = (
        r"\b(train_set|val_set|train_loader|val_loader|my_model|history|val_results|smp_builders"
        r"|best_name|best_model|test_set|test_loader|test_results)\s*=[^=]"
    )
    for hint in HINTS:
        assert not [line for line in lines if line in _squeeze(hint)], hint
        assert not re.search(names, hint), hint
