"""seglib's U-Net against segmentation_models.pytorch's ``smp.Unet`` (resnet18 encoder, no weights).

Two measurements, on the course dataset at 64×64 (the synthetic VOC stand-in unless real VOC is
present, see ``seglib.data.voc_root``):

1. **training throughput**: images per second of one training step (forward, cross-entropy,
   backward, Adam step) on a batch of 32 random images, best of ``--repeats`` interleaved rounds
   (``seglib.timing.time_calls``);
2. **mIoU in the same wall-clock budget**: each model trains for ``--budget`` seconds (Adam,
   lr 3e-3, batch 32, the course train split), then its validation mIoU is measured.

Run from the repository root::

    python bench/unet_vs_smp.py                      # 60 s per model, both measurements
    python bench/unet_vs_smp.py --budget 20 --threads 1
    python bench/unet_vs_smp.py --depth 3 --width 12 # the U-Net of notebook 05

It prints the conditions (torch threads, the load average, which dataset), then one line per
model: parameters, MACs per 64×64 image, training images/s, steps and epochs completed in the
budget, and validation mIoU. Timings depend on the machine and on what else runs on it: compare
the two models within one run, not across runs.
"""

from __future__ import annotations

import argparse
import os
import time

import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

import seglib
from seglib import analysis, data, timing, train
from seglib.models.unet import UNet

SIZE, BATCH, LR = 64, 32, 3e-3


def models(depth: int, width: int, num_classes: int) -> dict[str, torch.nn.Module]:
    seglib.seed_everything(0)
    ours = UNet(num_classes, 3, depth=depth, base_width=width)
    seglib.seed_everything(0)
    theirs = smp.Unet(encoder_name="resnet18", encoder_weights=None, in_channels=3, classes=num_classes)
    return {f"seglib UNet(depth={depth}, base_width={width})": ours, "smp.Unet(resnet18, no weights)": theirs}


def throughput(named: dict, repeats: int, threads: int | None, num_classes: int) -> dict[str, float]:
    """Training images per second at batch 32, 64×64."""
    x = torch.randn(BATCH, 3, SIZE, SIZE)
    y = torch.randint(0, num_classes, (BATCH, SIZE, SIZE))
    steps = {}
    for name, model in named.items():
        optimizer = torch.optim.Adam(model.parameters(), lr=LR)

        def step(model=model, optimizer=optimizer):
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        model.train()
        steps[name] = step
    best = timing.time_calls(steps, repeats=repeats, threads=threads)
    return {name: BATCH / seconds for name, seconds in best.items()}


def loaders() -> tuple[DataLoader, DataLoader, str, int]:
    root = data.voc_root()
    train_part, val_part = (data.split_tensors(root, split, size=SIZE) for split in ("train", "val"))
    return train_part.loader(BATCH, shuffle=True), val_part.loader(64), root.description, train_part.num_classes


def train_for(model, train_loader, val_loader, budget: float, num_classes: int) -> dict:
    """Train until ``budget`` seconds have passed (checked after every step); then evaluate."""
    seglib.seed_everything(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    start, steps = time.perf_counter(), 0
    model.train()
    while time.perf_counter() - start < budget:
        for x, y in train_loader:
            loss = F.cross_entropy(model(x), y, ignore_index=255)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps += 1
            if time.perf_counter() - start >= budget:
                break
    results = train.evaluate(model, val_loader, num_classes=num_classes)
    return {"steps": steps, "epochs": steps / len(train_loader), "miou": results["miou"]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=float, default=60, help="training seconds per model (default 60)")
    parser.add_argument("--repeats", type=int, default=3, help="timing rounds for the throughput (default 3)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    parser.add_argument("--depth", type=int, default=4, help="seglib U-Net depth (default 4)")
    parser.add_argument("--width", type=int, default=16, help="seglib U-Net base width (default 16)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    train_loader, val_loader, description, num_classes = loaders()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    print(
        f"data: {description}; {len(train_loader.dataset)} train / {len(val_loader.dataset)} val images at {SIZE}×{SIZE}"
    )
    named = models(args.depth, args.width, num_classes)
    speed = throughput(named, args.repeats, threads=None, num_classes=num_classes)
    for name, model in named.items():
        result = train_for(model, train_loader, val_loader, args.budget, num_classes)
        print(
            f"{name:36s} {analysis.count_params(model):11,d} params "
            f"{analysis.count_macs(model, (3, SIZE, SIZE)) / 1e6:6.0f}M MACs "
            f"| train {speed[name]:6.1f} images/s | {args.budget:.0f} s: {result['steps']} steps "
            f"({result['epochs']:.1f} epochs), val mIoU {result['miou']:.3f}",
            flush=True,
        )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
