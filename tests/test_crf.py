"""Dense CRF: the exact N×N path against a per-pixel transcription of the mean-field update,
the separable smoothness blur and the permutohedral lattice against the explicit kernel, the
fast path's labels against the exact path's (≥ 99 % on 64×64 and 96×96), input validation,
the boundary band, and CRF-as-RNN (same scores as mean_field, gradients reach everything)."""
import math

import numpy as np
import pytest
import torch

from seglib import crf
from seglib.models.crfrnn import CRFRNN, CRFRNNSegmenter


def scene(size, classes=4, seed=0):
    """A few coloured discs on a background, noisy colours, and blurred noisy network-like probs."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    labels = torch.zeros(size, size, dtype=torch.long)
    for k in range(1, classes):
        cy, cx, r = torch.randint(0, size, (3,), generator=g)
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 < (r // 2 + size // 8) ** 2] = k
    colours = torch.randint(0, 256, (classes, 3), generator=g).float()
    image = (colours[labels].permute(2, 0, 1) + 20 * torch.randn(3, size, size, generator=g)).clamp(0, 255).byte()
    logits = 2.0 * torch.nn.functional.one_hot(labels, classes).permute(2, 0, 1).float()
    logits = logits + 1.5 * torch.randn(classes, size, size, generator=g)
    logits = 3 * torch.nn.functional.avg_pool2d(logits[None], 5, 1, 2)[0]
    return logits.softmax(0), image, labels


def brute_force_mean_field(probs, image, n_iters, w_a, xy_a, rgb, w_s, xy_s):
    """Krähenbühl & Koltun's update, one pixel pair at a time (Potts compatibility)."""
    c, h, w = probs.shape
    pos = [(x, y) for y in range(h) for x in range(w)]
    col = image.float().reshape(3, -1).T
    unary = -torch.log(probs.reshape(c, -1).T)
    q = probs.reshape(c, -1).T.clone()
    n = h * w
    for _ in range(n_iters):
        new = torch.empty_like(q)
        for i in range(n):
            message = torch.zeros(c)
            for j in range(n):
                if i == j:
                    continue
                dp = (pos[i][0] - pos[j][0]) ** 2 + (pos[i][1] - pos[j][1]) ** 2
                dc = float(((col[i] - col[j]) ** 2).sum())
                k = w_a * math.exp(-dp / (2 * xy_a**2) - dc / (2 * rgb**2)) + w_s * math.exp(-dp / (2 * xy_s**2))
                message += k * q[j]
            energy = unary[i] + (message.sum() - message)  # Potts: pay for every *other* label
            new[i] = torch.softmax(-energy, 0)
        q = new
    return q.T.reshape(c, h, w)


def test_exact_path_is_the_mean_field_update():
    probs, image, _ = scene(5, classes=3, seed=1)
    params = dict(appearance_weight=2.0, appearance_xy=3.0, appearance_rgb=20.0, smoothness_weight=1.5, smoothness_xy=1.0)
    ours = crf.dense_crf(probs, image, n_iters=2, method="exact", **params)
    reference = brute_force_mean_field(probs, image, 2, 2.0, 3.0, 20.0, 1.5, 1.0)
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-4)


def test_exact_kernel_chunks_and_rebuilds():
    f = torch.randn(300, 5)
    q = torch.rand(300, 4)
    whole = crf.ExactKernel([(f, 2.0)]) @ q
    chunked = crf.ExactKernel([(f, 2.0)], chunk_bytes=4 * 300 * 7, max_bytes=0) @ q  # 7 rows, rebuilt
    kernel = 2.0 * torch.exp(-0.5 * torch.cdist(f, f) ** 2)
    kernel.fill_diagonal_(0)
    torch.testing.assert_close(whole, kernel @ q, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(chunked, kernel @ q, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("xy", [0.7, 2.0, 5.0])
def test_smoothness_filter_is_the_position_kernel(xy):
    h, w = 9, 13
    q = torch.rand(3, h, w)
    ys, xs = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    p = torch.stack([xs, ys]).reshape(2, -1).T
    kernel = torch.exp(-0.5 * torch.cdist(p, p) ** 2 / xy**2)
    kernel.fill_diagonal_(0)
    expected = (kernel @ q.reshape(3, -1).T).T.reshape(3, h, w)
    torch.testing.assert_close(crf.smoothness_filter(q, xy, truncate=100), expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(crf.smoothness_filter(q, xy), expected, atol=1e-3 * xy, rtol=1e-3)


def test_lattice_gain_matches_the_gaussian_sum():
    """On a dense uniform cloud the lattice's response to ones equals Σ_j exp(-|f_i - f_j|²/2)."""
    torch.manual_seed(0)
    f = torch.rand(8000, 2) * 10
    filtered = crf.PermutohedralLattice(f).filter(torch.ones(8000, 1))[:, 0]
    inner = ((f - 5).abs() < 1.5).all(1)
    exact = torch.exp(-0.5 * torch.cdist(f[inner], f) ** 2).sum(1)
    assert abs(float(filtered[inner].mean() / exact.mean()) - 1) < 0.03
    # and it is a smoothing of the values: error well below the signal for smooth inputs
    v = torch.sin(f[:, :1] / 2) + torch.cos(f[:, 1:] / 3)
    lattice_v = crf.PermutohedralLattice(f).filter(v)[inner]
    exact_v = torch.exp(-0.5 * torch.cdist(f[inner], f) ** 2) @ v
    assert float((lattice_v - exact_v).norm() / exact_v.norm()) < 0.1


@pytest.mark.parametrize("size,seed", [(64, 0), (64, 1), (96, 2)])
def test_fast_path_agrees_with_exact(size, seed):
    probs, image, _ = scene(size, seed=seed)
    exact = crf.dense_crf(probs, image, method="exact")
    fast = crf.dense_crf(probs, image, method="fast")
    changed = (exact.argmax(0) != probs.argmax(0)).float().mean()
    assert changed > 0.005  # the CRF does something, so agreement is not trivial
    assert (exact.argmax(0) == fast.argmax(0)).float().mean() >= 0.99


def test_zero_iterations_and_zero_weights_return_the_input():
    probs, image, _ = scene(16)
    torch.testing.assert_close(crf.dense_crf(probs, image, n_iters=0), probs)
    for method in ("exact", "fast"):
        same = crf.dense_crf(probs, image, method=method, appearance_weight=0.0, smoothness_weight=0.0)
        torch.testing.assert_close(same, probs, atol=1e-6, rtol=1e-5)


def test_outputs_are_distributions_and_layouts_agree():
    probs, image, labels = scene(24)
    chw = crf.dense_crf(probs, image)
    hwc = crf.dense_crf(probs.numpy(), image.permute(1, 2, 0).numpy())
    torch.testing.assert_close(chw, hwc)
    torch.testing.assert_close(chw.sum(0), torch.ones(24, 24))
    steps = crf.mean_field(-torch.log(probs), image.float(), 3)
    assert len(steps["scores"]) == len(steps["beliefs"]) == 4
    torch.testing.assert_close(steps["beliefs"][-1], torch.softmax(steps["scores"][-1], 0))


def test_input_validation():
    probs, image, _ = scene(16)
    with pytest.raises(ValueError, match=r"\(C, H, W\).*probs\[0\]"):
        crf.dense_crf(probs[None], image)
    with pytest.raises(ValueError, match="sum to 1.*softmax"):
        crf.dense_crf(torch.log(probs), image)
    with pytest.raises(ValueError, match="floating-point"):
        crf.dense_crf(probs.argmax(0, keepdim=True).expand(2, -1, -1), image)
    with pytest.raises(ValueError, match="uint8"):
        crf.dense_crf(probs, image.float())
    with pytest.raises(ValueError, match=r"\(3, H, W\) or \(H, W, 3\)"):
        crf.dense_crf(probs, image[:2])
    with pytest.raises(ValueError, match=r"image is \(16, 8\) but probs are \(16, 16\)"):
        crf.dense_crf(probs, image[:, :, :8])
    with pytest.raises(ValueError, match="n_iters"):
        crf.dense_crf(probs, image, n_iters=-1)
    with pytest.raises(ValueError, match="method"):
        crf.dense_crf(probs, image, method="permutohedral")
    with pytest.raises(ValueError, match="appearance_rgb.*positive"):
        crf.dense_crf(probs, image, appearance_rgb=0)


def test_boundary_band_and_accuracy():
    target = torch.zeros(10, 10, dtype=torch.long)
    target[:, 5:] = 1
    band = crf.boundary_band(target, width=1)
    expected = torch.zeros(10, 10, dtype=torch.bool)
    expected[:, 3:7] = True  # edge pixels are columns 4 and 5; one pixel more on each side
    assert torch.equal(band, expected)
    pred = target.clone()
    pred[:, 0] = 1  # wrong, but far from the boundary
    score = crf.boundary_accuracy(pred, target, width=1, num_classes=2)
    assert score["pixel_accuracy"] == 1.0 and score["pixels"] == 40
    pred[:, 4] = 1  # wrong inside the band
    assert crf.boundary_accuracy(pred, target, width=1, num_classes=2)["pixel_accuracy"] == 0.75


def test_crfrnn_matches_mean_field_and_trains():
    probs, image, labels = scene(24, seed=3)
    logits = torch.log(probs)[None]
    layer = CRFRNN(4, n_iters=3)
    reference = crf.mean_field(-logits[0], image.float(), 3, method="fast")["scores"][-1]
    torch.testing.assert_close(layer(logits, image[None])[0], reference, atol=1e-4, rtol=1e-4)

    net = torch.nn.Conv2d(3, 4, 3, padding=1)
    model = CRFRNNSegmenter(net, 4, n_iters=2)
    x = image[None].float() / 255
    loss = torch.nn.functional.cross_entropy(model(x, image[None]), labels[None])
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    with pytest.raises(ValueError, match="0..255"):
        layer(logits, image[None].float() / 255)
    with pytest.raises(ValueError, match=r"\(N, 4, H, W\)"):
        layer(logits[0], image[None])
