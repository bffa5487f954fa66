"""Train the course checkpoints: the models whose lessons need convergence (seglib.course).

    python tools/train_course_models.py --list           # every recipe, its notebook and state
    python tools/train_course_models.py 04               # notebook 04's set (FCNs and their classifier)
    python tools/train_course_models.py 05               # notebook 05's set
    python tools/train_course_models.py 07               # notebook 07's set (Mask R-CNN, semantic head)
    python tools/train_course_models.py 09               # the lab's reference curves (its CNN and smp.Unet)
    python tools/train_course_models.py --only unet      # one model (all its seeds)
    python tools/train_course_models.py 04 --force       # retrain even if the checkpoint is current
    python tools/train_course_models.py 05 --estimate    # time 2 epochs per recipe, extrapolate the set's time

Each recipe trains with seglib.train.fit (AdamW, cosine schedule) on the synthetic stand-in, for
every seed it lists, and writes checkpoints/course/NAME.pt: seed 0's weights in float16, and the
history, validation results, settings, device and wall time of every seed. It is deterministic by
seed on one machine with the same thread count and library versions (another thread count changes
the order of float sums, and so the last bits of the weights), and resumable: finished seeds are
kept in data/course_runs/ and an interrupted seed resumes from its last epoch; a current checkpoint
is skipped unless --force. The same command runs unchanged on a GPU (the device comes from
seglib.get_device(); SEGLIB_DEVICE=cpu forces the CPU). Checkpoints must stay under 6 MB each and 40
MB together: the tool refuses to write past those budgets.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

from seglib import course, get_device

MAX_FILE_MB, MAX_TOTAL_MB = 6.0, 40.0


def state_of(name: str) -> str:
    try:
        course.load(name)
    except FileNotFoundError:
        return "missing"
    except course.StaleCheckpoint as error:
        return f"stale ({error})"
    except Exception as error:  # e.g. a model whose code no longer imports: say so, list the others
        return f"cannot be loaded ({type(error).__name__}: {error})"
    mean, half, values = course.spread(name)
    return f"current: val mIoU {mean:.3f} ± {half:.3f} over {len(values)} seed(s)"


def summary_table(folder: Path) -> str:
    """One Markdown row per checkpoint: what it is, its size, and every seed's result and time."""
    from seglib.analysis import count_params

    lines = [
        "| notebook | checkpoint | model | parameters | epochs | val mIoU per seed | minutes per seed | device, threads | MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, recipe in course.RECIPES.items():
        path = folder / f"{name}.pt"
        if not path.is_file():
            continue
        meta = course.record(name, folder)
        runs = meta["runs"]
        lines.append(
            f"| {recipe.notebook} | `{name}` | {recipe.title} | {count_params(course.build(name)):,} | {recipe.epochs} | "
            + " / ".join(f"{run['val']['miou']:.3f}" for run in runs)
            + " | "
            + " / ".join(f"{run['seconds'] / 60:.1f}" for run in runs)
            + f" | {runs[0]['device_name']}, {runs[0]['threads']} | {path.stat().st_size / 1e6:.2f} |"
        )
    return "\n".join(lines)


def estimate(names: list[str], device) -> None:
    """Train two epochs of seed 0 of each recipe (nothing is saved) and extrapolate the second
    epoch's time to all its epochs and seeds: the set's time on this machine, without training it."""
    total = 0.0
    for name in names:
        recipe = course.RECIPES[name]
        course.RECIPES[name] = dataclasses.replace(recipe, epochs=2)
        try:
            _, history = course.train_recipe(name, 0, dataset=course.DATASET, device=device, progress=False)
        finally:
            course.RECIPES[name] = recipe
        minutes = history["seconds"][-1] * recipe.epochs * len(recipe.seeds) / 60
        total += minutes
        print(
            f"{name:18s} {history['seconds'][-1]:6.2f} s per epoch x {recipe.epochs} epochs x {len(recipe.seeds)} "
            f"seed(s) = {minutes:5.1f} min",
            flush=True,
        )
    print(f"estimated total: {total:.1f} min on {device} with {torch.get_num_threads()} CPU thread(s)")


def check_budget(folder: Path) -> None:
    sizes = {p.name: p.stat().st_size / 1e6 for p in folder.glob("*.pt")}
    too_big = {n: s for n, s in sizes.items() if s > MAX_FILE_MB}
    if too_big:
        raise SystemExit(f"checkpoints over {MAX_FILE_MB} MB: {too_big}; make the model smaller")
    if sum(sizes.values()) > MAX_TOTAL_MB:
        raise SystemExit(f"course checkpoints total {sum(sizes.values()):.1f} MB, over {MAX_TOTAL_MB} MB")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebook numbers whose set to train, e.g. 04 05")
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME", help="recipes to train by name")
    parser.add_argument("--list", action="store_true", help="list the recipes and the state of their checkpoints")
    parser.add_argument(
        "--summary", action="store_true", help="print a Markdown table of the checkpoints (for checkpoints/README.md)"
    )
    parser.add_argument("--force", action="store_true", help="retrain even when the checkpoint is current")
    parser.add_argument(
        "--estimate",
        action="store_true",
        help="time two epochs of each named recipe and estimate the set's training time (saves nothing)",
    )
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: PyTorch's)")
    parser.add_argument(
        "--dataset",
        default=course.DATASET,
        help="synthetic (default: the checkpoints are for the stand-in), voc or auto",
    )
    parser.add_argument("--out", type=Path, default=course.CHECKPOINT_DIR, help="folder of the checkpoints")
    args = parser.parse_args(argv)

    if args.list:
        for name, recipe in course.RECIPES.items():
            print(f"{recipe.notebook}  {name:18s} {recipe.title:45s} {state_of(name)}")
        return 0
    if args.summary:
        print(summary_table(args.out))
        return 0
    names = [n for n, r in course.RECIPES.items() if r.notebook in args.notebooks] + args.only
    unknown = [n for n in args.only if n not in course.RECIPES]
    if unknown or not names:
        parser.error(
            f"unknown recipe(s) {unknown}"
            if unknown
            else "name notebooks (04, 05, 07) or --only NAME; --list shows them"
        )
    if args.threads:
        torch.set_num_threads(args.threads)
    device = get_device()
    print(f"device {device}, {torch.get_num_threads()} CPU thread(s), torch {torch.__version__}", flush=True)
    if args.estimate:
        estimate(names, device)
        return 0
    for name in names:
        if not args.force and args.out == course.CHECKPOINT_DIR and state_of(name).startswith("current"):
            print(f"{name}: checkpoint is current, skipped (--force retrains)", flush=True)
            continue
        if args.force:
            course.forget_runs(name, args.dataset)
        began = time.perf_counter()
        path = course.make_checkpoint(name, dataset=args.dataset, device=device, progress=False, out_dir=args.out)
        meta = course.record(name, args.out)
        scores = ", ".join(
            f"seed {run['seed']} {run['val']['miou']:.3f} ({run['seconds']:.0f} s)" for run in meta["runs"]
        )
        print(
            f"{name}: val mIoU {scores}; {path.stat().st_size / 1e6:.2f} MB; "
            f"{time.perf_counter() - began:.0f} s in this call",
            flush=True,
        )
        check_budget(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
