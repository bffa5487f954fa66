"""Classic filters: sums, shapes, and what they do to known signals."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from seglib import kernels


def test_slides_gaussian_is_the_integer_kernel_over_273():
    assert int(kernels.GAUSSIAN_5X5_INTEGER.sum()) == 273
    g = kernels.gaussian_5x5()
    torch.testing.assert_close(g.sum(), torch.tensor(1.0))
    torch.testing.assert_close(g, g.T)
    torch.testing.assert_close(g, g.flip(0))
    assert g[2, 2] == 41 / 273


def test_gaussian_is_normalised_symmetric_and_close_to_the_slides_kernel():
    for size in (3, 5, 7):
        g = kernels.gaussian(size)
        assert g.shape == (size, size)
        torch.testing.assert_close(g.sum(), torch.tensor(1.0))
        torch.testing.assert_close(g, g.T)
    # The integer kernel approximates a sampled Gaussian with sigma about 1.05 (every tap within
    # 0.002); sigma = 1 is further off (0.012 at the centre).
    assert (kernels.gaussian(5, sigma=1.05) - kernels.gaussian_5x5()).abs().max() < 0.002
    assert (kernels.gaussian(5, sigma=1.0) - kernels.gaussian_5x5()).abs().max() > 0.01
    with pytest.raises(ValueError, match="positive odd"):
        kernels.gaussian(4)


def test_derivatives_on_a_ramp_and_a_parabola():
    xs = torch.arange(10.0)
    ramp = (3 * xs).expand(6, 10).clone()  # slope 3 along x
    for kind in ("forward", "backward", "central"):
        dx = kernels.filter2d(ramp, kernels.derivative(kind, "x"), padding="zeros")
        torch.testing.assert_close(dx[:, 1:-1], torch.full((6, 8), 3.0))
        dy = kernels.filter2d(ramp, kernels.derivative(kind, "y"), padding="zeros")
        torch.testing.assert_close(dy[1:-1, 1:-1], torch.zeros(4, 8))
    # forward and backward differ by one pixel on a parabola; the central one is exact there.
    parabola = (xs**2).expand(5, 10).clone()
    central = kernels.filter2d(parabola, kernels.derivative("central", "x"), padding="zeros")
    torch.testing.assert_close(central[:, 1:-1], (2 * xs[1:-1]).expand(5, 8))
    assert kernels.derivative("central", "y").shape == (3, 1)


def test_laplacian_of_a_quadratic_is_constant():
    ys, xs = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
    out = kernels.filter2d(xs**2 + 3 * ys**2, kernels.laplacian(), padding="zeros")
    torch.testing.assert_close(out[1:-1, 1:-1], torch.full((6, 6), 2.0 + 6.0))
    assert kernels.laplacian().sum() == 0


def test_filter2d_matches_scipy_on_every_channel():
    rng = np.random.default_rng(0)
    image = rng.random((3, 17, 20)).astype(np.float32)
    kernel = rng.random((5, 3)).astype(np.float32)
    ours = kernels.filter2d(torch.from_numpy(image), torch.from_numpy(kernel))
    # torch's "reflect" padding is scipy's "mirror" (the edge pixel is not repeated)
    ref = np.stack([ndimage.correlate(c, kernel, mode="mirror") for c in image])
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-5)
    zeros = kernels.filter2d(torch.from_numpy(image), torch.from_numpy(kernel), padding="zeros")
    ref = np.stack([ndimage.correlate(c, kernel, mode="constant") for c in image])
    np.testing.assert_allclose(zeros.numpy(), ref, atol=1e-5)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: kernels.filter2d(torch.zeros(5, 5, dtype=torch.uint8), kernels.laplacian()), "floating-point"),
        (lambda: kernels.filter2d(torch.zeros(5, 5), torch.zeros(2, 2)), "odd"),
        (lambda: kernels.filter2d(torch.zeros(5, 5), torch.zeros(3)), "2-D"),
        (lambda: kernels.filter2d(torch.zeros(5, 5), kernels.laplacian(), padding="wrap"), "'reflect' or 'zeros'"),
        (lambda: kernels.derivative("sideways"), "kind must be one of"),
        (lambda: kernels.derivative("central", "z"), "axis must be"),
    ],
)
def test_filter_errors(call, match):
    with pytest.raises((TypeError, ValueError), match=match):
        call()
