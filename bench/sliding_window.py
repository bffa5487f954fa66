"""Benchmark: sliding-window segmentation vs the convolutionalized (fully convolutional) network.

Notebook 03 in one script. It takes the patch classifier of notebook 03
(``seglib.models.patch.PatchClassifier(num_classes=2, in_channels=1)``, 44×44 patches, random weights: the speed does not
depend on the weights), segments square EM slices of each size by sliding the window over every
pixel and by one pass of ``convolutionalize(model)``, checks that the two outputs are identical
(logits within 1e-5, the same labels), and prints, per size, both times and the speed-up.

Run from the repository root::

    python bench/sliding_window.py                      # sizes 64 128 256 512
    python bench/sliding_window.py --sizes 64 128 256   # skip 512 (the sliding window there
                                                        # costs 2^18 forward passes, ~4x the 256 one)
    python bench/sliding_window.py --threads 2 --repeats 5

It prints one row per size: side, windows, sliding-window seconds, fully convolutional
milliseconds, speed-up, largest absolute logit difference; then the multiply-add ratio per pixel.
Timings use ``seglib.timing.time_calls`` (best of ``--repeats`` for the fast network, one run
of the slow one) with ``--threads`` CPU threads (default 1, steady on a busy machine). The exit
status is 1 if the outputs differ anywhere, or if the speed-up at the largest size is below
``--min-speedup``.
"""

from __future__ import annotations

import argparse
import sys

import torch

import seglib
from seglib import analysis, data, timing
from seglib.models.patch import PatchClassifier, convolutionalize, sliding_window


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 512], help="image sides")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats of the fast network")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads while timing")
    parser.add_argument("--batch-size", type=int, default=1024, help="windows per sliding-window forward pass")
    parser.add_argument("--min-speedup", type=float, default=20.0, help="fail below this speed-up at the largest size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    seglib.seed_everything(args.seed)
    model = PatchClassifier(num_classes=2, in_channels=1).eval()
    dense = convolutionalize(model)
    side = max(args.sizes)
    em = data.em_root(n_images=1, size=max(64, side))
    images, _ = data.read_isbi(em.path, "train")  # any slice will do; the real test volume may be absent
    if min(images.shape[1:]) < side:
        raise SystemExit(f"the EM slices are {images.shape[1:]}, smaller than --sizes {side}")
    image = (torch.from_numpy(images[:1]).float()[:, None] - 128) / 40
    print(
        f"{em.description}\nmodel: PatchClassifier(num_classes=2, in_channels=1), {analysis.count_macs(model, (1, 44, 44)):,} "
        f"multiply-adds per window; {args.threads} thread(s)"
    )
    print(f"{'side':>6} {'windows':>9} {'sliding (s)':>12} {'dense (ms)':>11} {'speed-up':>9} {'max |diff|':>11}")
    ok, speedup = True, float("nan")
    for s in sorted(args.sizes):
        crop = image[..., :s, :s]
        out = {}
        slow = timing.time_calls(
            {
                "slow": lambda out=out, crop=crop: out.__setitem__(
                    "slow", sliding_window(model, crop, batch_size=args.batch_size)
                )
            },
            repeats=1,
            warmup=0,
            threads=args.threads,
        )["slow"]
        with torch.no_grad():
            fast = timing.time_calls(
                {"fast": lambda out=out, crop=crop: out.__setitem__("fast", dense(crop))},
                repeats=args.repeats,
                threads=args.threads,
            )["fast"]
        diff = (out["fast"] - out["slow"]).abs().max().item()
        same = torch.allclose(out["fast"], out["slow"], atol=1e-5, rtol=1e-5) and torch.equal(
            out["fast"].argmax(1), out["slow"].argmax(1)
        )
        ok &= same
        speedup = slow / fast
        print(
            f"{s:>6} {s * s:>9,} {slow:>12.2f} {fast * 1e3:>11.1f} {speedup:>8.0f}x {diff:>11.1e}"
            + ("" if same else "  OUTPUTS DIFFER"),
            flush=True,
        )
    per_pixel = analysis.count_macs(dense, (1, 1, side, side)) / side**2
    print(f"multiply-adds per pixel: sliding {analysis.count_macs(model, (1, 44, 44)):,}, dense {per_pixel:,.0f}")
    if not ok:
        print("FAIL: the two outputs differ")
        return 1
    if speedup < args.min_speedup:
        print(f"FAIL: speed-up {speedup:.0f}x at {side}x{side} is below {args.min_speedup:.0f}x")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
