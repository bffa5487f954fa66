"""seglib.ops against torch.nn.functional on many random configurations (micrograd's way)."""

import random

import pytest
import torch
import torch.nn.functional as F

from seglib import ops


def _random_conv_config(rng: random.Random, transposed: bool) -> dict:
    """A random but valid configuration; ints and pairs both appear."""
    groups = rng.choice([1, 1, 2, 3])
    kh, kw = rng.randint(1, 4), rng.randint(1, 4)
    sh, sw = rng.randint(1, 3), rng.randint(1, 3)
    dh, dw = rng.randint(1, 3), rng.randint(1, 3)
    ph, pw = rng.randint(0, 2), rng.randint(0, 2)
    square = rng.random() < 0.4
    if square:
        kw, sw, dw, pw = kh, sh, dh, ph
    cfg = dict(
        n=rng.randint(1, 3),
        c_in=groups * rng.randint(1, 3),
        c_out=groups * rng.randint(1, 3),
        groups=groups,
        kernel=(kh, kw),
        stride=sh if square else (sh, sw),
        dilation=dh if square else (dh, dw),
        padding=ph if square else (ph, pw),
        bias=rng.random() < 0.7,
    )
    if transposed:
        cfg["h"], cfg["w"] = rng.randint(1, 7), rng.randint(1, 7)
        oph = rng.randint(0, max(sh, dh) - 1)
        opw = rng.randint(0, max(sw, dw) - 1)
        cfg["output_padding"] = oph if square and oph < max(sw, dw) else (oph, opw)
        # padding must leave a positive output
        if (cfg["h"] - 1) * sh + dh * (kh - 1) + 1 <= 2 * ph or (cfg["w"] - 1) * sw + dw * (kw - 1) + 1 <= 2 * pw:
            cfg["padding"] = 0
    else:
        cfg["h"] = max(1, dh * (kh - 1) + 1 - 2 * ph) + rng.randint(0, 9)
        cfg["w"] = max(1, dw * (kw - 1) + 1 - 2 * pw) + rng.randint(0, 9)
    return cfg


N_CONFIGS = 150


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("index", range(N_CONFIGS))
def test_conv2d_matches_torch(index, dtype):
    cfg = _random_conv_config(random.Random(1000 + index), transposed=False)
    gen = torch.Generator().manual_seed(index)
    x = torch.randn(cfg["n"], cfg["c_in"], cfg["h"], cfg["w"], generator=gen, dtype=dtype)
    w = torch.randn(cfg["c_out"], cfg["c_in"] // cfg["groups"], *cfg["kernel"], generator=gen, dtype=dtype)
    b = torch.randn(cfg["c_out"], generator=gen, dtype=dtype) if cfg["bias"] else None
    args = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"], groups=cfg["groups"])
    ours, ref = ops.conv2d(x, w, b, **args), F.conv2d(x, w, b, **args)
    assert ours.shape == ref.shape, cfg
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5, msg=str(cfg))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("index", range(N_CONFIGS))
def test_conv_transpose2d_matches_torch(index, dtype):
    cfg = _random_conv_config(random.Random(5000 + index), transposed=True)
    gen = torch.Generator().manual_seed(index)
    x = torch.randn(cfg["n"], cfg["c_in"], cfg["h"], cfg["w"], generator=gen, dtype=dtype)
    w = torch.randn(cfg["c_in"], cfg["c_out"] // cfg["groups"], *cfg["kernel"], generator=gen, dtype=dtype)
    b = torch.randn(cfg["c_out"], generator=gen, dtype=dtype) if cfg["bias"] else None
    args = dict(
        stride=cfg["stride"],
        padding=cfg["padding"],
        output_padding=cfg["output_padding"],
        groups=cfg["groups"],
        dilation=cfg["dilation"],
    )
    ours, ref = ops.conv_transpose2d(x, w, b, **args), F.conv_transpose2d(x, w, b, **args)
    assert ours.shape == ref.shape, cfg
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5, msg=str(cfg))


def test_configurations_cover_the_interesting_cases():
    """The random sweep really exercises groups, dilation, stride, padding and output_padding."""
    plain = [_random_conv_config(random.Random(1000 + i), False) for i in range(N_CONFIGS)]
    trans = [_random_conv_config(random.Random(5000 + i), True) for i in range(N_CONFIGS)]
    as_pair = lambda v: v if isinstance(v, tuple) else (v, v)  # noqa: E731
    for configs in (plain, trans):
        assert any(c["groups"] > 1 for c in configs)
        assert any(max(as_pair(c["dilation"])) > 1 for c in configs)
        assert any(max(as_pair(c["stride"])) > 1 for c in configs)
        assert any(max(as_pair(c["padding"])) > 0 for c in configs)
        assert any(isinstance(c["stride"], tuple) for c in configs) and any(
            isinstance(c["stride"], int) for c in configs
        )
    assert any(max(as_pair(c["output_padding"])) > 0 for c in trans)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("kernel,dilation", [(3, 1), (4, 1), (3, 2), (2, 3), ((2, 5), (1, 2))])
def test_conv2d_string_padding(padding, kernel, dilation):
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    x, w = torch.randn(2, 3, 12, 13, dtype=torch.float64), torch.randn(4, 3, kh, kw, dtype=torch.float64)
    torch.testing.assert_close(
        ops.conv2d(x, w, padding=padding, dilation=dilation), F.conv2d(x, w, padding=padding, dilation=dilation)
    )


def test_unbatched_input_is_accepted_like_torch():
    x, w = torch.randn(3, 9, 9, dtype=torch.float64), torch.randn(5, 3, 3, 3, dtype=torch.float64)
    torch.testing.assert_close(ops.conv2d(x, w, padding=1), F.conv2d(x, w, padding=1))
    wt = torch.randn(3, 2, 3, 3, dtype=torch.float64)
    torch.testing.assert_close(ops.conv_transpose2d(x, wt, stride=2), F.conv_transpose2d(x, wt, stride=2))


def test_gradients_match_torch():
    """The from-scratch ops are built from differentiable tensor operations."""
    gen = torch.Generator().manual_seed(0)
    for fn_ours, fn_ref, w_shape, kwargs in [
        (ops.conv2d, F.conv2d, (6, 2, 3, 3), dict(stride=2, padding=1, dilation=2, groups=2)),
        (ops.conv_transpose2d, F.conv_transpose2d, (4, 3, 3, 3), dict(stride=2, padding=1, output_padding=1, groups=2)),
    ]:
        x = torch.randn(2, 4, 9, 9, generator=gen, dtype=torch.float64, requires_grad=True)
        w = torch.randn(*w_shape, generator=gen, dtype=torch.float64, requires_grad=True)
        grads_ours = torch.autograd.grad(fn_ours(x, w, **kwargs).square().sum(), (x, w))
        grads_ref = torch.autograd.grad(fn_ref(x, w, **kwargs).square().sum(), (x, w))
        for g_ours, g_ref in zip(grads_ours, grads_ref, strict=True):
            torch.testing.assert_close(g_ours, g_ref)


@pytest.mark.parametrize("index", range(30))
@pytest.mark.parametrize("formulation", ["distances", "areas"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_upsample_bilinear_matches_interpolate(index, formulation, align_corners):
    rng = random.Random(index)
    x = torch.randn(
        rng.randint(1, 2),
        rng.randint(1, 3),
        rng.randint(1, 9),
        rng.randint(1, 9),
        generator=torch.Generator().manual_seed(index),
        dtype=torch.float64,
    )
    if index % 2:
        scale = rng.choice([2, 3, 4, 1.5, 2.5])
        ours = ops.upsample_bilinear(x, scale_factor=scale, align_corners=align_corners, formulation=formulation)
        ref = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=align_corners)
    else:
        size = (rng.randint(1, 20), rng.randint(1, 20))
        ours = ops.upsample_bilinear(x, size=size, align_corners=align_corners, formulation=formulation)
        ref = F.interpolate(x, size=size, mode="bilinear", align_corners=align_corners)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("scale", [1, 2, 3, (2, 3)])
def test_upsample_nearest_matches_interpolate(scale):
    x = torch.randn(2, 3, 4, 5)
    torch.testing.assert_close(ops.upsample_nearest(x, scale), F.interpolate(x, scale_factor=scale, mode="nearest"))


def test_bed_of_nails_keeps_values_top_left_and_zeros_elsewhere():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    expected = torch.tensor([[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]], dtype=torch.float32)
    torch.testing.assert_close(ops.bed_of_nails(x, 2), expected)
    # Average-pooling a bed of nails with the same factor recovers x / factor².
    y = torch.randn(2, 3, 5, 4)
    torch.testing.assert_close(F.avg_pool2d(ops.bed_of_nails(y, 3), 3), y / 9)


@pytest.mark.parametrize(
    "kernel,stride,padding,size",
    [(2, 2, 0, (8, 8)), (3, 2, 1, (9, 11)), (3, 3, 0, (9, 9)), (2, 1, 0, (5, 6)), ((2, 3), (2, 3), 0, (6, 9))],
)
def test_max_unpool2d_matches_torch(kernel, stride, padding, size):
    x = torch.randn(2, 3, *size)
    pooled, indices = F.max_pool2d(x, kernel, stride, padding, return_indices=True)
    # Without output_size the default (n - 1) s - 2p + k must cover the pooling input, as in torch.
    for output_size in (None, x.shape[-2:]):
        ours = ops.max_unpool2d(pooled, indices, kernel, stride, padding, output_size=output_size)
        ref = F.max_unpool2d(pooled, indices, kernel, stride, padding, output_size=output_size)
        torch.testing.assert_close(ours, ref)


@pytest.mark.parametrize("r,channels", [(1, 3), (2, 8), (3, 18), (4, 16)])
def test_pixel_shuffle_matches_torch(r, channels):
    x = torch.randn(2, channels, 3, 5)
    torch.testing.assert_close(ops.pixel_shuffle(x, r), F.pixel_shuffle(x, r))


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_bilinear_kernel_upsamples_like_bilinear_interpolation(factor):
    """FCN's initialisation: a transposed convolution that equals bilinear interpolation
    (half-pixel centres) everywhere except the one-pixel border zero padding disturbs."""
    x = torch.randn(1, 3, 10, 10)
    kernel_size = 2 * factor - factor % 2
    weight = ops.bilinear_kernel(3, 3, kernel_size)
    up = F.conv_transpose2d(x, weight, stride=factor, padding=(kernel_size - factor) // 2)
    ref = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    assert up.shape == ref.shape
    inner = slice(factor, 10 * factor - factor)
    torch.testing.assert_close(up[..., inner, inner], ref[..., inner, inner], atol=1e-5, rtol=1e-5)
    # Channels do not mix, and the tent filter's taps for one output pixel sum to 1.
    assert weight[0, 1].abs().sum() == 0
    torch.testing.assert_close(weight[0, 0].sum(), torch.tensor(float(factor * factor)))


# ----------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: ops.conv2d(torch.randn(5, 5), torch.randn(1, 1, 3, 3)), r"\(N, C, H, W\).*x\[None, None\]"),
        (lambda: ops.conv2d(torch.randn(1, 4, 5, 5), torch.randn(2, 3, 3, 3)), r"4 channels but weight expects 3"),
        (lambda: ops.conv2d(torch.randn(1, 4, 5, 5), torch.randn(3, 2, 3, 3), groups=2), r"groups=2 must divide"),
        (lambda: ops.conv2d(torch.randn(1, 3, 5, 5), torch.randn(4, 1, 3, 3), groups=2), r"groups=2 must divide"),
        (lambda: ops.conv2d(torch.randn(1, 3, 5, 5), torch.randn(4, 3, 3)), r"weight must be a 4-D tensor"),
        (
            lambda: ops.conv2d(torch.randn(1, 3, 5, 5), torch.randn(4, 3, 3, 3), torch.randn(3)),
            r"bias must have shape \(4,\)",
        ),
        (
            lambda: ops.conv2d(torch.ones(1, 3, 5, 5, dtype=torch.uint8), torch.randn(4, 3, 3, 3)),
            r"floating-point.*x.float\(\)",
        ),
        (lambda: ops.conv2d(torch.randn(1, 3, 5, 5), torch.randn(4, 3, 3, 3, dtype=torch.float64)), r"same dtype"),
        (
            lambda: ops.conv2d(torch.randn(1, 3, 4, 4), torch.randn(4, 3, 3, 3), dilation=2),
            r"footprint \(5x5.*larger than the padded input \(4x4\)",
        ),
        (lambda: ops.conv2d(torch.randn(1, 3, 5, 5), torch.randn(4, 3, 3, 3), stride=0), r"stride must be >= 1"),
        (lambda: ops.conv2d(torch.randn(1, 3, 5, 5), torch.randn(4, 3, 3, 3), padding=-1), r"padding must be >= 0"),
        (lambda: ops.conv2d(torch.randn(1, 3, 5, 5), torch.randn(4, 3, 3, 3), stride=(1, 2, 3)), r"int or a pair"),
        (lambda: ops.conv2d(torch.randn(1, 3, 5, 5), torch.randn(4, 3, 3, 3), padding="full"), r"'valid' or 'same'"),
        (
            lambda: ops.conv2d(torch.randn(1, 3, 5, 5), torch.randn(4, 3, 3, 3), padding="same", stride=2),
            r"needs stride 1",
        ),
        (
            lambda: ops.conv_transpose2d(torch.randn(1, 3, 5, 5), torch.randn(4, 3, 3, 3)),
            r"3 channels but weight has 4",
        ),
        (
            lambda: ops.conv_transpose2d(torch.randn(1, 3, 5, 5), torch.randn(3, 2, 3, 3), groups=2),
            r"groups=2 must divide the input channels \(3\)",
        ),
        (
            lambda: ops.conv_transpose2d(torch.randn(1, 3, 5, 5), torch.randn(3, 2, 3, 3), stride=2, output_padding=2),
            r"output_padding .* smaller than the stride",
        ),
        (lambda: ops.conv_transpose2d(torch.randn(1, 3, 1, 1), torch.randn(3, 2, 1, 1), padding=1), r"crops more"),
        (lambda: ops.upsample_bilinear(torch.randn(1, 1, 3, 3)), r"exactly one of scale_factor and size"),
        (lambda: ops.upsample_bilinear(torch.randn(1, 1, 3, 3), 2, formulation="cubes"), r"'distances' or 'areas'"),
        (lambda: ops.max_unpool2d(torch.randn(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), 2), r"int64 tensor returned"),
        (lambda: ops.max_unpool2d(torch.randn(1, 1, 2, 2), torch.full((1, 1, 2, 2), 99), 2), r"outside the 4x4 output"),
        (lambda: ops.pixel_shuffle(torch.randn(1, 6, 2, 2), 2), r"divisible by upscale_factor² \(4\)"),
        (lambda: ops.bilinear_kernel(3, 3, 0), r"kernel_size must be a positive int"),
    ],
)
def test_bad_inputs_get_clear_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
