"""seglib.cluster: k-means against scikit-learn's KMeans, image helpers, bad inputs."""

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

from seglib import cluster


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.mark.parametrize("k, dim, seed", [(2, 2, 0), (3, 3, 1), (5, 3, 2), (8, 5, 3), (4, 1, 4)])
def test_inertia_within_one_percent_of_sklearn(k, dim, seed):
    x = np.random.default_rng(seed).normal(size=(1500, dim)).astype(np.float32)
    reference = KMeans(k, n_init=10, random_state=seed).fit(x)
    labels, centers, score = cluster.kmeans(torch.from_numpy(x), k, seed=seed, n_init=10, return_inertia=True)
    assert abs(score / reference.inertia_ - 1) < 0.01
    assert score == pytest.approx(cluster.inertia(x, labels, centers), rel=1e-5)
    assert labels.shape == (1500,) and centers.shape == (k, dim) and labels.dtype == torch.int64


@pytest.mark.parametrize("k, seed", [(2, 0), (4, 1), (7, 2)])
def test_same_partition_as_sklearn_on_separated_blobs(k, seed):
    x, _ = make_blobs(800, n_features=3, centers=k, cluster_std=0.5, center_box=(-30, 30), random_state=seed)
    ours, centers = cluster.kmeans(x, k, seed=seed)
    theirs = KMeans(k, n_init=1, random_state=seed).fit_predict(x)
    contingency = np.zeros((k, k), int)
    np.add.at(contingency, (ours.numpy(), theirs), 1)
    # the same partition up to renaming: each of our clusters is exactly one of theirs
    assert ((contingency > 0).sum(0) == 1).all() and ((contingency > 0).sum(1) == 1).all()
    assert centers.dtype == torch.float64  # keeps the input's dtype


def test_fixed_point_and_tolerance():
    x = torch.from_numpy(np.random.default_rng(5).normal(size=(300, 2))).float()
    labels, centers = cluster.kmeans(x, 4, n_iters=300, tol=0.0)
    # converged: every point is nearest its own centre, every centre is the mean of its points
    assert torch.equal(torch.cdist(x, centers).argmin(1), labels)
    for j in range(4):
        torch.testing.assert_close(centers[j], x[labels == j].mean(0), atol=1e-5, rtol=0)
    one = cluster.kmeans(x, 4, n_iters=1, return_inertia=True)[2]
    assert cluster.kmeans(x, 4, n_iters=300, return_inertia=True)[2] <= one


def test_empty_cluster_is_relocated():
    # A centre far from all data attracts no point; it must be moved onto the data.
    x = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0], [10.0, 0.0], [10.1, 0.0]])
    start = torch.tensor([[0.0, 0.0], [5.0, 5.0], [100.0, 100.0]])
    labels, centers, _, _ = cluster._lloyd(x, start, n_iters=20, tol=0.0)
    assert torch.bincount(labels, minlength=3).min() > 0
    assert centers.abs().max() < 20
    labels, _ = cluster.kmeans(torch.zeros(5, 2), 3)  # fewer distinct points than k still works
    assert labels.shape == (5,)


def test_bad_inputs_have_actionable_messages():
    with pytest.raises(ValueError, match="color_features"):
        cluster.kmeans(torch.rand(10), 2)
    with pytest.raises(ValueError, match="lower k"):
        cluster.kmeans(torch.rand(3, 2), 4)
    with pytest.raises(ValueError, match="positive int"):
        cluster.kmeans(torch.rand(3, 2), 0)
    with pytest.raises(ValueError, match="channels-first"):
        cluster.color_features(torch.rand(3, 20, 30))
    with pytest.raises(ValueError, match="cannot fill"):
        cluster.labels_to_image(torch.zeros(10), (3, 4))


def test_image_features_and_back():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    features = cluster.color_features(image)
    assert features.shape == (30, 3) and float(features.max()) <= 1
    torch.testing.assert_close(features[7], torch.from_numpy(image[1, 2] / 255).float())
    xy = cluster.color_xy_features(image, xy_weight=2.0)
    assert xy.shape == (30, 5)
    torch.testing.assert_close(xy[7, 3:], torch.tensor([1.0, 2.0]) * 2 / 6)
    assert cluster.color_features(image[..., 0]).shape == (30, 1)
    labels, centers = cluster.kmeans(features, 3)
    label_map = cluster.labels_to_image(labels, image.shape)
    assert label_map.shape == (6, 5) and label_map[1, 2] == labels[7]
    painted = cluster.quantize(labels, centers, image.shape)
    torch.testing.assert_close(painted[1, 2], centers[labels[7]])


def test_majority_labels_by_hand():
    segments = torch.tensor([[0, 0, 1], [0, 2, 1], [2, 2, 1]])
    target = torch.tensor([[1, 1, 0], [0, 0, 255], [255, 1, 0]])
    # segment 0: votes 1,1,0 -> 1; segment 1: 0,(ignored),0 -> 0; segment 2: 0,(ignored),1 -> tie -> 0
    expected = torch.tensor([[1, 1, 0], [1, 0, 0], [0, 0, 0]])
    assert torch.equal(cluster.majority_labels(segments, target, 2), expected)
    with pytest.raises(ValueError, match="same shape"):
        cluster.majority_labels(segments, target[:2], 2)


def test_dark_cluster_is_kmeans_with_the_darker_centre_as_foreground():
    rng = np.random.default_rng(0)
    truth = rng.random((3, 20, 20)) < 0.3
    images = np.where(truth, 60, 180) + rng.normal(0, 10, truth.shape)
    found = cluster.dark_cluster(torch.from_numpy(images))
    assert found.dtype == torch.bool and found.shape == truth.shape
    assert torch.equal(found, torch.from_numpy(truth))
    assert torch.equal(cluster.dark_cluster(255 - images), ~found)  # inverted grey levels: the other cluster
    labels, centers = cluster.kmeans(torch.from_numpy(images).float().reshape(-1, 1), 2, seed=0)
    assert torch.equal(found.reshape(-1), labels == centers[:, 0].argmin())
