"""seglib.train: fit learns, resumes exactly from a checkpoint, evaluate and predict agree."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from seglib.metrics import ConfusionMatrix
from seglib.analysis import count_macs, count_params
from seglib.train import compare, comparison_table, evaluate, fit, predict


def loaders(n=48, size=12, seed=0):
    """A learnable task: the label is 1 where the first channel is positive; a void border."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 3, size, size, generator=g)
    masks = (images[:, 0] > 0).long()
    masks[:, 0, :] = 255
    data = TensorDataset(images, masks)
    return DataLoader(data, batch_size=8, shuffle=True), DataLoader(data, batch_size=16)


def small_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Dropout2d(0.1), nn.Conv2d(8, 2, 1))


def test_fit_learns_and_records_history():
    train, val = loaders()
    model = small_model()
    history = fit(model, train, val, num_classes=2, epochs=6, lr=0.05, device="cpu", progress=False)
    assert history["epoch"] == list(range(1, 7))
    assert set(history) >= {
        "train_loss",
        "train_miou",
        "val_loss",
        "val_miou",
        "val_pixel_accuracy",
        "seconds",
        "train_seconds",
    }
    assert all(0 < t < s for t, s in zip(history["train_seconds"], history["seconds"], strict=True)), (
        "validation is excluded"
    )
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    assert history["val_miou"][-1] > 0.85


def test_resume_continues_exactly(tmp_path):
    train, val = loaders()
    straight = small_model()
    h_straight = fit(straight, train, val, num_classes=2, epochs=4, device="cpu", progress=False)

    ckpt = tmp_path / "run" / "model.pt"
    resumed = small_model()
    fit(resumed, train, val, num_classes=2, epochs=2, device="cpu", checkpoint=ckpt, progress=False)
    assert ckpt.is_file() and not list(ckpt.parent.glob("*.part"))
    fresh = small_model(seed=123)  # different initial weights: everything must come from the file
    h_resumed = fit(
        fresh, train, val, num_classes=2, epochs=4, device="cpu", checkpoint=ckpt, resume=True, progress=False
    )
    assert h_resumed["epoch"] == [1, 2, 3, 4]
    for key in ("train_loss", "val_loss", "val_miou"):
        assert h_resumed[key] == pytest.approx(h_straight[key], rel=1e-6)
    for a, b in zip(straight.state_dict().values(), fresh.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_evaluate_and_predict_agree_with_the_confusion_matrix():
    train, val = loaders()
    model = small_model()
    fit(model, train, num_classes=2, epochs=2, device="cpu", progress=False)
    images, masks = val.dataset.tensors
    labels = predict(model, images, batch_size=5, device="cpu")
    assert labels.shape == masks.shape and labels.dtype == torch.int64
    expected = ConfusionMatrix(2)
    expected.update(labels, masks)
    results = evaluate(model, val, 2, device="cpu")
    assert results["miou"] == pytest.approx(expected.compute()["miou"])
    probs = predict(model, images[0], device="cpu", probabilities=True)
    assert probs.shape == (2, 12, 12) and torch.allclose(probs.sum(0), torch.ones(12, 12))


class DictModel(nn.Module):
    """Like torchvision's segmentation models: returns {"out": logits}."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)

    def forward(self, x):
        return {"out": self.conv(x)}


def test_dict_outputs_and_clear_errors():
    train, val = loaders(n=16)
    assert evaluate(DictModel(), val, 2, device="cpu")["confusion"].sum() > 0
    with pytest.raises(ValueError, match="upsample inside the model"):
        fit(nn.Conv2d(3, 2, 2, stride=2), train, num_classes=2, epochs=1, device="cpu", progress=False)
    images, masks = val.dataset.tensors
    float_masks = DataLoader(TensorDataset(images, masks.float()), batch_size=8)
    with pytest.raises(TypeError, match="masks must be integer class indices"):
        evaluate(DictModel(), float_masks, 2, device="cpu")
    with pytest.raises(ValueError, match="float images"):
        predict(DictModel(), masks)


def test_compare_trains_each_model_alike_and_measures_it():
    train, val = loaders()
    builders = {
        "small": small_model,
        "wide": lambda: nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 2, 1)),
    }
    rows = compare(builders, train, val, num_classes=2, epochs=2, input_shape=(3, 12, 12), lr=0.05, device="cpu")
    assert list(rows) == ["small", "wide"]
    for row in rows.values():
        model = row["model"]
        assert row["parameters"] == count_params(model) and row["macs"] == count_macs(model, (3, 12, 12))
        assert row["miou"] == evaluate(model, val, 2, device="cpu")["miou"] == row["val"]["miou"]
        assert row["seconds"] == pytest.approx(sum(row["history"]["train_seconds"]) / 2)
        assert len(row["history"]["epoch"]) == 2
    # same seed, same builder: the same training run
    again = compare(
        {"small": small_model}, train, val, num_classes=2, epochs=2, input_shape=(3, 12, 12), lr=0.05, device="cpu"
    )
    assert again["small"]["history"]["train_loss"] == rows["small"]["history"]["train_loss"]
    table = comparison_table(rows, baseline=0.25).splitlines()
    assert table[0].split() == ["model", "parameters", "MACs", "s", "/", "epoch", "val", "mIoU"]
    assert table[1].split()[:2] == ["small", f"{rows['small']['parameters']:,}"]
    assert table[-1].startswith("predicting background everywhere") and table[-1].endswith("0.250")
    assert len({len(line) for line in table}) == 1, "columns line up"
