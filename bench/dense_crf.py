"""Benchmark ``seglib.crf.dense_crf`` (fast path: separable blur + permutohedral lattice) on
320×240 and 640×480 images with 21 classes and 5 mean-field iterations, side by side with the
C++ reference pydensecrf2 when it is installed.

Run from the repository root:

    python bench/dense_crf.py [--repeats 3] [--threads 1] [--breakdown]

For each size it prints the best-of-``repeats`` wall-clock time (``seglib.timing.time_calls``,
interleaved rounds, ``--threads`` torch threads) of

- seglib with pydensecrf's README parameters (``crf.README_PARAMS``) and semantics
  (``**crf.PYDENSECRF``: symmetric normalisation, the pixel's own term included), next to
  pydensecrf2's ``DenseCRF2D`` with the same parameters;
- seglib with its defaults (``crf.DEFAULTS``, symmetric normalisation, j ≠ i), next to
  pydensecrf2 with the same kernel widths and weights (a narrower colour width makes a larger
  lattice for both),

the peak memory of one seglib call, measured as the growth of the process's peak resident set
size (``resource.getrusage`` ru_maxrss, before anything else runs at that size; sizes run
smallest first, so each size's peak is its own), and the share of pixels where the labels of
seglib with pydensecrf's parameters and semantics agree with pydensecrf2's. ``--breakdown`` also times the parts
of one seglib call (building the lattice, the normalisation, the filters of 5 iterations).
The input is a synthetic scene: coloured discs on a noisy background with blurred noisy class
probabilities. pydensecrf2 is optional (``pip install pydensecrf2``; not in requirements.txt);
without it that part is skipped with a message.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np
import torch

from seglib import crf, timing


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
    d.addPairwiseBilateral(
        sxy=p["appearance_xy"],
        srgb=p["appearance_rgb"],
        rgbim=np.ascontiguousarray(image_hwc),
        compat=p["appearance_weight"],
    )
    return np.array(d.inference(n_iters)).reshape(c, h, w)


def breakdown(probs: torch.Tensor, image: torch.Tensor, params: dict, n_iters: int = 5) -> dict[str, float]:
    """Seconds spent in the parts of one ``dense_crf`` call with ``params`` (one run), in the
    (N, C) layout the fast path iterates in."""
    p = dict(crf.DEFAULTS, **params)
    parts: dict[str, float] = {}
    image_f = image.float()
    start = time.perf_counter()
    lattice = crf.PermutohedralLattice(crf.appearance_features(image_f, p["appearance_xy"], p["appearance_rgb"]))
    parts["lattice construction"] = time.perf_counter() - start
    start = time.perf_counter()
    kernels = crf.PairwiseKernels(
        image_f,
        method="fast",
        appearance_xy=p["appearance_xy"],
        appearance_rgb=p["appearance_rgb"],
        smoothness_xy=p["smoothness_xy"],
        normalization=p.get("normalization", "symmetric"),
        include_self=p.get("include_self", False),
    )  # builds the lattice again
    parts["normalisation (filtering ones)"] = time.perf_counter() - start - parts["lattice construction"]
    c = probs.shape[0]
    q = probs.reshape(c, -1).T.contiguous()
    for name, weights in (
        ("appearance filter (lattice)", (p["appearance_weight"], 0.0)),
        ("smoothness filter (separable blur)", (0.0, p["smoothness_weight"])),
    ):
        start = time.perf_counter()
        for _ in range(n_iters):
            kernels.messages_nc(q, *weights)
        parts[f"{name} x{n_iters}"] = time.perf_counter() - start
    base = -torch.log(q)
    start = time.perf_counter()
    for _ in range(n_iters):  # Potts compatibility, as _iterate_fast computes it
        torch.softmax(torch.add(base, q).sub_(q.sum(1, keepdim=True)), 1)
    parts[f"compatibility + softmax x{n_iters}"] = time.perf_counter() - start
    del lattice
    return parts


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--breakdown", action="store_true", help="time the parts of one seglib call")
    args = parser.parse_args(argv)
    try:
        import pydensecrf.densecrf  # noqa: F401

        have_pydensecrf = True
    except ImportError:
        have_pydensecrf = False

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"dense_crf, 21 classes, 5 iterations, torch {torch.__version__}, {args.threads} thread(s), "
        f"best of {args.repeats}; load average {load:.2f} on {os.cpu_count()} CPUs"
    )
    print(f"defaults {crf.DEFAULTS}; pydensecrf's choices: {crf.README_PARAMS} with {crf.PYDENSECRF}")
    like_pydensecrf = dict(crf.README_PARAMS, **crf.PYDENSECRF)
    for height, width in ((240, 320), (480, 640)):
        probs, image = scene(height, width)
        before = peak_rss_mb()
        refined = crf.dense_crf(probs, image, n_iters=5)
        peak = peak_rss_mb() - before
        image_hwc = image.permute(1, 2, 0).numpy()
        times = {
            "seglib, README parameters, pydensecrf's semantics": lambda probs=probs, image=image: crf.dense_crf(
                probs, image, n_iters=5, **like_pydensecrf
            ),
            "seglib, defaults": lambda probs=probs, image=image: crf.dense_crf(probs, image, n_iters=5),
        }
        if have_pydensecrf:
            for name, params in (
                ("pydensecrf2, README parameters", crf.README_PARAMS),
                ("pydensecrf2, seglib's default parameters", crf.DEFAULTS),
            ):
                times[name] = lambda probs=probs, image_hwc=image_hwc, params=params: pydensecrf_refine(
                    probs.numpy(), image_hwc, 5, params
                )
        best = timing.time_calls(times, repeats=args.repeats, threads=args.threads)
        changed = float((refined.argmax(0) != probs.argmax(0)).float().mean())
        print(
            f"{width}x{height}: peak RSS growth of one seglib call {peak:.0f} MB (ru_maxrss); "
            f"labels changed by the CRF {changed:.1%}"
        )
        names = list(best)
        for name in names:
            ratio = ""
            if have_pydensecrf and name.startswith("seglib"):
                twin = names[names.index(name) + 2]
                ratio = f"  {best[name] / best[twin]:.2f}x the time of {twin}"
            print(f"  {name:52s} {best[name]:6.3f} s{ratio}")
        if have_pydensecrf:
            ours = crf.dense_crf(probs, image, n_iters=5, **like_pydensecrf).argmax(0).numpy()
            theirs = pydensecrf_refine(probs.numpy(), image_hwc, 5, crf.README_PARAMS).argmax(0)
            print(f"  label agreement, seglib with pydensecrf's choices vs pydensecrf2: {(ours == theirs).mean():.2%}")
        if args.breakdown:
            with timing.cpu_threads(args.threads):
                split = {
                    "README + pydensecrf's semantics": breakdown(probs, image, like_pydensecrf),
                    "defaults": breakdown(probs, image, {}),
                }
            print(f"    {'parts of one seglib call (one run)':40s} " + " ".join(f"{k:>32s}" for k in split))
            for part in split["defaults"]:
                print(f"    {part:40s} " + " ".join(f"{v[part]:30.3f} s" for v in split.values()))
    if not have_pydensecrf:
        print("pydensecrf2 is not installed: skipped the comparison (pip install pydensecrf2 to run it)")


if __name__ == "__main__":
    sys.exit(main())
