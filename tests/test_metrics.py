"""seglib.metrics against hand-computed cases, scikit-learn, and properties that must hold."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn import metrics as sk

from seglib.metrics import (
    ConfusionMatrix,
    background_miou,
    binary_metrics,
    boundary_accuracy,
    boundary_band,
    confusion_matrix,
    metrics_from_confusion,
    panoptic_quality,
    per_image_iou,
)


def random_batch(seed: int, num_classes: int, shape=(3, 17, 23), ignore_fraction=0.1):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, num_classes, shape, generator=g)
    # Predictions right 60% of the time, so every metric is away from 0 and 1.
    noise = torch.randint(0, num_classes, shape, generator=g)
    pred = torch.where(torch.rand(shape, generator=g) < 0.6, target, noise)
    target[torch.rand(shape, generator=g) < ignore_fraction] = 255
    return pred, target


# --------------------------------------------------------------------------- hand-computed
def test_slides_95_percent_pixel_accuracy_pitfall():
    """Lecture 001: predicting only background on a 95%-background image scores 95% accuracy."""
    target = torch.zeros(1, 20, 20, dtype=torch.long)
    target[0, :1, :] = 1  # 20 of 400 pixels = 5% object
    pred = torch.zeros_like(target)
    r = ConfusionMatrix(2)
    r.update(pred, target)
    out = r.compute()
    assert out["pixel_accuracy"] == pytest.approx(0.95)
    assert out["mean_accuracy"] == pytest.approx(0.5)
    assert out["iou"].tolist() == pytest.approx([0.95, 0.0])
    assert out["miou"] == pytest.approx(0.475)
    assert out["fwiou"] == pytest.approx(0.95 * 0.95)


def test_prediction_larger_than_ground_truth():
    """A prediction that covers the object and more: recall 1, but IoU = |gt| / |pred| < 1."""
    target = torch.zeros(1, 40, 40, dtype=torch.long)
    target[0, 10:20, 10:20] = 1  # 100 pixels
    pred = torch.zeros_like(target)
    pred[0, 5:25, 5:25] = 1  # 400 pixels containing the object
    out = metrics_from_confusion(confusion_matrix(pred, target, 2))
    assert out["iou"][1] == pytest.approx(100 / 400)
    assert out["accuracy"][1] == 1.0  # recall of the object
    assert out["precision"][1] == pytest.approx(0.25)
    assert out["dice"][1] == pytest.approx(2 * 100 / (100 + 400))
    assert out["iou"][0] == pytest.approx((1600 - 400) / (1600 - 100))  # background loses too


def test_confusion_matrix_layout_rows_are_truth():
    target = torch.tensor([[0, 0, 1, 2]])
    pred = torch.tensor([[0, 1, 1, 1]])
    m = confusion_matrix(pred, target, 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]


def test_absent_class_is_nan_and_left_out_of_means():
    target = torch.tensor([[0, 0, 1, 1]])
    pred = torch.tensor([[0, 1, 1, 1]])
    out = metrics_from_confusion(confusion_matrix(pred, target, 4))
    assert math.isnan(out["iou"][2]) and math.isnan(out["dice"][3])
    assert out["miou"] == pytest.approx((0.5 + 2 / 3) / 2)


# --------------------------------------------------------------------------- references
@pytest.mark.parametrize("seed", range(8))
def test_against_scikit_learn(seed):
    num_classes = 2 + seed
    pred, target = random_batch(seed, num_classes)
    cm = ConfusionMatrix(num_classes)
    cm.update(pred, target)
    out = cm.compute()
    keep = target != 255
    y_true, y_pred = target[keep].numpy(), pred[keep].numpy()
    labels = list(range(num_classes))
    np.testing.assert_array_equal(out["confusion"], sk.confusion_matrix(y_true, y_pred, labels=labels))
    np.testing.assert_allclose(out["iou"], sk.jaccard_score(y_true, y_pred, labels=labels, average=None))
    np.testing.assert_allclose(out["dice"], sk.f1_score(y_true, y_pred, labels=labels, average=None))
    np.testing.assert_allclose(out["precision"], sk.precision_score(y_true, y_pred, labels=labels, average=None))
    assert out["pixel_accuracy"] == pytest.approx(sk.accuracy_score(y_true, y_pred))
    assert out["mean_accuracy"] == pytest.approx(sk.balanced_accuracy_score(y_true, y_pred))
    assert out["miou"] == pytest.approx(sk.jaccard_score(y_true, y_pred, labels=labels, average="macro"))
    assert out["fwiou"] == pytest.approx(sk.jaccard_score(y_true, y_pred, labels=labels, average="weighted"))


@pytest.mark.parametrize("seed", range(5))
def test_binary_metrics_against_scikit_learn(seed):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(30, 30, generator=g) < 0.3
    pred = torch.rand(30, 30, generator=g) < 0.4
    out = binary_metrics(pred, target)
    p, r, f, _ = sk.precision_recall_fscore_support(target.ravel(), pred.ravel(), average="binary")
    assert (out["precision"], out["recall"], out["f1"]) == pytest.approx((p, r, f))
    assert out["iou"] == pytest.approx(sk.jaccard_score(target.ravel(), pred.ravel()))
    assert out["tp"] + out["fp"] + out["fn"] + out["tn"] == 900


# --------------------------------------------------------------------------- properties
@pytest.mark.parametrize("seed", range(5))
def test_dice_is_a_function_of_iou(seed):
    pred, target = random_batch(seed, 5)
    out = metrics_from_confusion(confusion_matrix(pred, target, 5))
    iou = out["iou"]
    np.testing.assert_allclose(out["dice"], 2 * iou / (1 + iou))


@pytest.mark.parametrize("seed", range(5))
def test_invariant_to_relabelling_classes(seed):
    num_classes = 6
    pred, target = random_batch(seed, num_classes)
    perm = torch.randperm(num_classes, generator=torch.Generator().manual_seed(seed))
    relabel = torch.cat([perm, torch.arange(num_classes, 256)])  # 255 stays 255
    a = metrics_from_confusion(confusion_matrix(pred, target, num_classes))
    b = metrics_from_confusion(confusion_matrix(relabel[pred], relabel[target], num_classes))
    for key in ("pixel_accuracy", "mean_accuracy", "miou", "fwiou", "mdice"):
        assert a[key] == pytest.approx(b[key])
    np.testing.assert_allclose(b["iou"][perm.numpy()], a["iou"])


def test_streaming_equals_one_update_and_logits_equal_labels():
    pred, target = random_batch(0, 4, shape=(6, 9, 9))
    logits = torch.nn.functional.one_hot(pred, 4).permute(0, 3, 1, 2).float() + 0.1 * torch.rand(6, 4, 9, 9)
    whole, streamed = ConfusionMatrix(4), ConfusionMatrix(4)
    whole.update(pred, target)
    for k in range(0, 6, 2):
        streamed.update(logits[k : k + 2], target[k : k + 2])
    assert torch.equal(whole.matrix, streamed.matrix)
    streamed.reset()
    with pytest.raises(RuntimeError, match="before any update"):
        streamed.compute()


def test_ignored_pixels_do_not_count():
    pred, target = random_batch(1, 3)
    other = pred.clone()
    other[target == 255] = (other[target == 255] + 1) % 3
    assert torch.equal(confusion_matrix(pred, target, 3), confusion_matrix(other, target, 3))
    assert confusion_matrix(pred, target, 3).sum() == (target != 255).sum()


def test_per_image_and_dataset_level_averages_differ():
    # Image 1: a large object found perfectly; image 2: a tiny object missed.
    target = torch.zeros(2, 10, 10, dtype=torch.long)
    target[0, :5] = 1
    target[1, 0, 0] = 1
    pred = target.clone()
    pred[1, 0, 0] = 0
    rows = per_image_iou(pred, target, 2)
    assert rows.shape == (2, 2)
    assert rows[1, 1] == 0.0 and rows[0, 1] == 1.0
    dataset_iou_object = metrics_from_confusion(confusion_matrix(pred, target, 2))["iou"][1]
    assert dataset_iou_object == pytest.approx(50 / 51)
    assert np.nanmean(rows[:, 1]) == pytest.approx(0.5)


# --------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    "pred, target, match",
    [
        (torch.zeros(2, 4, 4, dtype=torch.long), torch.zeros(2, 4, 5, dtype=torch.long), "shapes differ"),
        (torch.zeros(1, 4, 4, dtype=torch.long), torch.full((1, 4, 4), 7), "label 7, outside 0..2"),
        (torch.full((1, 4, 4), 3), torch.zeros(1, 4, 4, dtype=torch.long), "prediction holds label 3"),
        (torch.zeros(1, 4, 4, dtype=torch.long), torch.zeros(1, 4, 4), "integer class indices"),
        (torch.zeros(1, 5, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long), "C = num_classes = 3"),
    ],
)
def test_bad_inputs(pred, target, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ConfusionMatrix(3).update(pred, target)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="is a real class"):
        ConfusionMatrix(3, ignore_index=1)
    with pytest.raises(ValueError, match="num_classes must be an int >= 2"):
        ConfusionMatrix(1)
    with pytest.raises(TypeError, match="threshold it first"):
        binary_metrics(torch.rand(3, 3), torch.ones(3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="only 0 and 1"):
        binary_metrics(torch.full((3, 3), 2), torch.ones(3, 3, dtype=torch.long))


# --------------------------------------------------------------------------- panoptic quality
def panoptic(shape, *segments):
    """A panoptic map from (category * 1000 + instance, slice) pairs, drawn in order; void = -1."""
    out = np.full(shape, -1, dtype=np.int64)
    for segment_id, region in segments:
        out[region] = segment_id
    return out


def test_panoptic_quality_perfect_prediction():
    gt = panoptic((10, 10), (0, np.s_[:, :]), (1001, np.s_[2:5, 2:5]), (1002, np.s_[6:9, 6:9]))
    out = panoptic_quality(gt, gt.copy())
    assert (out["pq"], out["sq"], out["rq"]) == (1.0, 1.0, 1.0)
    assert out["tp"].tolist() == [1, 2]


def test_panoptic_quality_hand_computed():
    # Stuff (category 0) fills the image; two things of category 1. The prediction finds thing A
    # with IoU 16/20 = 0.8, misses thing B (FN), and hallucinates thing C (FP).
    gt = panoptic((20, 20), (0, np.s_[:, :]), (1001, np.s_[0:4, 0:4]), (1002, np.s_[10:14, 10:14]))
    pred = panoptic((20, 20), (0, np.s_[:, :]), (1007, np.s_[0:4, 0:5]), (1008, np.s_[16:19, 0:3]))
    out = panoptic_quality(pred, gt)
    assert out["tp"].tolist() == [1, 1] and out["fp"].tolist() == [0, 1] and out["fn"].tolist() == [0, 1]
    assert out["sq_per_class"][1] == pytest.approx(0.8)
    assert out["rq_per_class"][1] == pytest.approx(1 / (1 + 0.5 + 0.5))
    assert out["pq_per_class"][1] == pytest.approx(0.4)
    # Stuff is what the things leave: 368 true and 371 predicted pixels, 355 of them shared.
    stuff_iou = (400 - 20 - 16 - 9) / ((400 - 32) + (400 - 29) - (400 - 45))
    assert out["pq_per_class"][0] == pytest.approx(stuff_iou)
    assert out["pq"] == pytest.approx((0.4 + stuff_iou) / 2)
    np.testing.assert_allclose(out["pq_per_class"], out["sq_per_class"] * out["rq_per_class"])


def test_panoptic_quality_needs_iou_above_half():
    gt = panoptic((10, 10), (1001, np.s_[0:4, 0:4]))
    pred = panoptic((10, 10), (1001, np.s_[0:4, 0:2]))  # IoU exactly 0.5: not a match
    out = panoptic_quality(pred, gt)
    assert out["tp"][1] == 0 and out["fp"][1] == 1 and out["fn"][1] == 1 and out["pq"] == 0.0


def test_panoptic_void_and_crowd_handling():
    gt = panoptic((10, 10), (1001, np.s_[0:4, 0:4]), (1009, np.s_[6:10, 6:10]))
    # A prediction mostly on void, and one mostly on the crowd region: neither is a false positive.
    pred = panoptic((10, 10), (1001, np.s_[0:4, 0:4]), (1002, np.s_[5:6, :]), (1003, np.s_[6:10, 5:10]))
    out = panoptic_quality(pred, gt, crowd_targets=[1009])
    assert out["tp"][1] == 1 and out["fp"][1] == 0 and out["fn"][1] == 0
    # Without the crowd flag the big region is a missed thing and the overlapping prediction matches it.
    plain = panoptic_quality(pred, gt)
    assert plain["tp"][1] == 2 and plain["fp"][1] == 0


def test_panoptic_quality_accumulates_over_images():
    gt = panoptic((8, 8), (1001, np.s_[0:4, 0:4]))
    miss = panoptic((8, 8))
    out = panoptic_quality([gt, miss], [gt, gt])
    assert out["tp"][1] == 1 and out["fn"][1] == 1 and out["rq"] == pytest.approx(1 / 1.5)
    with pytest.raises(ValueError, match="integer map"):
        panoptic_quality(np.zeros((2, 2)), np.zeros((2, 2)))


def test_boundary_band_and_accuracy():
    target = torch.zeros(10, 10, dtype=torch.long)
    target[:, 5:] = 1
    band = boundary_band(target, width=1)
    expected = torch.zeros(10, 10, dtype=torch.bool)
    expected[:, 3:7] = True  # edge pixels are columns 4 and 5; one pixel more on each side
    assert torch.equal(band, expected)
    pred = target.clone()
    pred[:, 0] = 1  # wrong, but far from the boundary
    score = boundary_accuracy(pred, target, width=1, num_classes=2)
    assert score["pixel_accuracy"] == 1.0 and score["pixels"] == 40
    pred[:, 4] = 1  # wrong inside the band
    assert boundary_accuracy(pred, target, width=1, num_classes=2)["pixel_accuracy"] == 0.75


def test_background_miou_matches_the_confusion_matrix():
    masks = torch.tensor([[[0, 0, 1, 255]], [[0, 2, 2, 0]]])
    # background: TP 4, FP 3 (the 1 and the two 2s), FN 0 → 4/7; classes 1 and 2 score 0
    assert background_miou(masks, 21) == pytest.approx((4 / 7 + 0 + 0) / 3)


def test_stride_ceiling_limits():
    """stride 1 reproduces the truth; a stride as large as the map predicts each image's
    majority class everywhere (bilinear upsampling of a 1×1 map is constant); void is ignored."""
    from seglib.metrics import ConfusionMatrix, stride_ceiling

    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 4, (3, 16, 16), generator=g)
    target[:, :2] = 255
    assert stride_ceiling(target, 4, 1)["miou"] == 1.0
    majority = torch.stack([torch.bincount(t[t != 255], minlength=4).argmax() for t in target])
    expected = ConfusionMatrix(4)
    expected.update(majority[:, None, None].expand_as(target), target)
    assert stride_ceiling(target, 4, 16)["miou"] == pytest.approx(expected.compute()["miou"])
    with pytest.raises(ValueError, match="divisor"):
        stride_ceiling(target, 4, 5)


def test_background_scores_by_hand():
    from seglib.metrics import background_scores

    target = torch.tensor([[[0, 0, 1, 255]]])  # 2 of 3 labelled pixels are background
    miou, accuracy = background_scores(target, 2)
    assert accuracy == pytest.approx(2 / 3) and miou == pytest.approx((2 / 3 + 0) / 2)
