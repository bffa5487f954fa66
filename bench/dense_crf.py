"""Benchmark ``seglib.crf.dense_crf`` (fast path: separable blur + permutohedral lattice) on
320×240 and 640×480 images with 21 classes and 5 mean-field iterations.

Run from the repository root:

    python bench/dense_crf.py [--repeats 3] [--threads 1]

For each size it prints the best-of-``repeats`` wall-clock time (``seglib.analysis.time_calls``,
interleaved rounds, ``--threads`` torch threads) and the peak memory of one call, measured as
the growth of the process's peak resident set size (``resource.getrusage`` ru_maxrss; sizes run
smallest first, so each size's peak is its own). The input is a synthetic scene: coloured
discs on a noisy background with blurred noisy class probabilities.

If the optional ``pydensecrf2`` package is installed (``pip install pydensecrf2``; it is not in
requirements.txt), it also times pydensecrf's ``DenseCRF2D`` with the same kernels and reports
the share of pixels where its labels agree with ours. pydensecrf normalises its kernels and
keeps the self term by default, so a perfect agreement is not expected. When it is missing, that
part is skipped with a message.
"""
from __future__ import annotations

import argparse
import resource
import sys

import numpy as np
import torch

from seglib import analysis, crf


def scene(height: int, width: int, classes: int = 21, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    labels = torch.zeros(height, width, dtype=torch.long)
    for k in torch.randint(1, classes, (12,), generator=g):
        cy, cx = int(torch.randint(0, height, (1,), generator=g)), int(torch.randint(0, width, (1,), generator=g))
        r = int(torch.randint(height // 16, height // 4, (1,), generator=g))
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 < r**2] = k
    colours = torch.randint(0, 256, (classes, 3), generator=g).float()
    image = (colours[labels].permute(2, 0, 1) + 20 * torch.randn(3, height, width, generator=g)).clamp(0, 255).byte()
    logits = 2.0 * torch.nn.functional.one_hot(labels, classes).permute(2, 0, 1).float()
    logits = logits + 1.5 * torch.randn(classes, height, width, generator=g)
    logits = 3 * torch.nn.functional.avg_pool2d(logits[None], 9, 1, 4)[0]
    return logits.softmax(0), image


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def pydensecrf_refine(probs: np.ndarray, image_hwc: np.ndarray, n_iters: int, p: dict) -> np.ndarray:
    import pydensecrf.densecrf as dcrf
    from pydensecrf.utils import unary_from_softmax

    c, h, w = probs.shape
    d = dcrf.DenseCRF2D(w, h, c)
    d.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(probs)))
    d.addPairwiseGaussian(sxy=p["smoothness_xy"], compat=p["smoothness_weight"])
    d.addPairwiseBilateral(sxy=p["appearance_xy"], srgb=p["appearance_rgb"], rgbim=np.ascontiguousarray(image_hwc),
                           compat=p["appearance_weight"])
    return np.array(d.inference(n_iters)).reshape(c, h, w)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        import pydensecrf.densecrf  # noqa: F401
        have_pydensecrf = True
    except ImportError:
        have_pydensecrf = False

    print(f"dense_crf, 21 classes, 5 iterations, torch {torch.__version__}, {args.threads} thread(s), "
          f"best of {args.repeats}; parameters {crf.DEFAULTS}")
    for height, width in ((240, 320), (480, 640)):
        probs, image = scene(height, width)
        before = peak_rss_mb()
        refined = crf.dense_crf(probs, image, n_iters=5)
        peak = peak_rss_mb() - before
        times = {"seglib": lambda: crf.dense_crf(probs, image, n_iters=5)}
        if have_pydensecrf:
            image_hwc = image.permute(1, 2, 0).numpy()
            times["pydensecrf"] = lambda: pydensecrf_refine(probs.numpy(), image_hwc, 5, crf.DEFAULTS)
        best = analysis.time_calls(times, repeats=args.repeats, threads=args.threads)
        changed = float((refined.argmax(0) != probs.argmax(0)).float().mean())
        print(f"{width}x{height}: seglib {best['seglib']:.2f} s, peak RSS growth {peak:.0f} MB "
              f"(ru_maxrss), labels changed by the CRF {changed:.1%}")
        if have_pydensecrf:
            theirs = pydensecrf_refine(probs.numpy(), image_hwc, 5, crf.DEFAULTS)
            agree = float((refined.argmax(0).numpy() == theirs.argmax(0)).mean())
            print(f"{'':9s} pydensecrf {best['pydensecrf']:.2f} s; label agreement with seglib {agree:.1%}")
    if not have_pydensecrf:
        print("pydensecrf2 is not installed: skipped the comparison (pip install pydensecrf2 to run it)")


if __name__ == "__main__":
    sys.exit(main())
