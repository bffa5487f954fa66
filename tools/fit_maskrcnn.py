"""Fit notebook 07's small Mask R-CNN (and its semantic head) on the synthetic scenes, on a CPU.

Notebook 07 trains ``seglib.models.maskrcnn.build_maskrcnn()`` for a few steps only (its time
budget is two minutes), which is far too little for a detector trained from scratch; it loads
the checkpoint this script writes when ``checkpoints/maskrcnn_scenes.pt`` is present. The
same holds for the stuff logits of its panoptic fusion, which come from
``seglib.models.panoptic.SemanticNet``: ``--semantic`` fits that one instead and writes
``checkpoints/semantic_scenes.pt``. Rerun:

    python tools/fit_maskrcnn.py                      # Mask R-CNN; ~14 min on one busy CPU thread
    python tools/fit_maskrcnn.py --semantic           # the semantic head
    python tools/fit_maskrcnn.py --steps 3000 --out /tmp/longer.pt

Everything is seeded (data order, flips, initialisation), so the same command on the same
machine rebuilds the same weights; other CPUs may differ in the last float bits. The weights
are stored as float16 to keep the file small (the notebook casts them back to float32).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

import seglib
from seglib import data
from seglib.models.maskrcnn import build_maskrcnn, to_maskrcnn_input

ROOT = Path(__file__).resolve().parents[1]
SEMANTIC_WIDTH = 24  # SemanticNet(width=...); notebook 07 reads it from the checkpoint's meta


def flip(image, target):
    """Mirror an image and its Mask R-CNN target left-right."""
    width = image.shape[-1]
    boxes = target["boxes"].clone()
    boxes[:, [0, 2]] = width - target["boxes"][:, [2, 0]]
    return image.flip(-1), {**target, "boxes": boxes, "masks": target["masks"].flip(-1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=400, help="scenes generated (80%% train, 20%% val); notebook 07 uses 400")
    parser.add_argument("--seed", type=int, default=0, help="seed of the scenes and of the training")
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps")
    parser.add_argument("--batch", type=int, default=4, help="images per step")
    parser.add_argument("--lr", type=float, default=2e-3, help="peak AdamW learning rate (linear warm-up, cosine decay)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (1 leaves the other cores free)")
    parser.add_argument("--semantic", action="store_true", help="fit the semantic head instead (SemanticNet)")
    parser.add_argument("--epochs", type=int, default=8, help="epochs of the semantic head (each sees every scene and its mirror image)")
    parser.add_argument("--out", type=Path, default=None,
                        help="default: checkpoints/maskrcnn_scenes.pt (or semantic_scenes.pt with --semantic)")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = ROOT / "checkpoints" / ("semantic_scenes.pt" if args.semantic else "maskrcnn_scenes.pt")

    torch.set_num_threads(args.threads)
    seglib.seed_everything(args.seed)
    if args.semantic:
        return fit_semantic(args, argv)
    scenes = data.PanopticScenes(data.synthetic_panoptic(args.images, seed=args.seed), "train")
    samples = [to_maskrcnn_input(scenes[i]) for i in range(len(scenes))]
    model = build_maskrcnn()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    warmup = max(1, args.steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps)))
    generator = torch.Generator().manual_seed(args.seed)
    order = torch.empty(0, dtype=torch.long)
    model.train()
    began = time.perf_counter()
    for step in range(1, args.steps + 1):
        if len(order) < args.batch:
            order = torch.cat([order, torch.randperm(len(samples), generator=generator)])
        picked, order = order[:args.batch], order[args.batch:]
        flips = torch.rand(args.batch, generator=generator) < 0.5
        batch = [flip(*samples[i]) if f else samples[i] for i, f in zip(picked.tolist(), flips.tolist())]
        images, targets = zip(*batch)
        losses = model(list(images), list(targets))
        loss = sum(losses.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 25 == 0 or step == args.steps:
            parts = " ".join(f"{k[5:]} {v.item():.3f}" for k, v in losses.items())
            print(f"step {step:5d}  loss {loss.item():.3f}  ({parts})  {time.perf_counter() - began:.0f} s", flush=True)
    seconds = time.perf_counter() - began

    meta = {"model": "build_maskrcnn()", "images": args.images, "seed": args.seed, "steps": args.steps, "batch": args.batch, "lr": args.lr,
            "threads": args.threads, "seconds": round(seconds), "torch": str(torch.__version__),
            "command": command(argv)}
    save(model, meta, args.out)
    return 0


def command(argv) -> str:
    return " ".join(["python tools/fit_maskrcnn.py", *(argv if argv is not None else sys.argv[1:])])


def save(model, meta: dict, out: Path) -> None:
    """The state dict in float16 (half the bytes; the notebook casts back) plus how it was made."""
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state, "meta": meta}, out)
    print(f"saved {out} ({out.stat().st_size / 1e6:.2f} MB): {meta}")


def fit_semantic(args, argv) -> int:
    """Fit ``SemanticNet`` with ``seglib.train.fit`` (Adam, cosine schedule, flips)."""
    import numpy as np
    from torch.utils.data import DataLoader, TensorDataset

    from seglib import train
    from seglib.models.panoptic import SemanticNet

    root = data.synthetic_panoptic(args.images, seed=args.seed)

    def tensors(split):
        scenes = data.PanopticScenes(root, split)
        items = [scenes[i] for i in range(len(scenes))]
        images = torch.as_tensor(np.stack([item["image"] for item in items])).permute(0, 3, 1, 2).float() / 255
        return images, torch.as_tensor(np.stack([item["semantic"] for item in items])).long()

    images, labels = tensors("train")
    images, labels = torch.cat([images, images.flip(-1)]), torch.cat([labels, labels.flip(-1)])  # mirrored copies
    model = SemanticNet(data.PanopticScenes(root, "train").num_classes, width=SEMANTIC_WIDTH)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr * 5)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.epochs)
    loader = DataLoader(TensorDataset(images, labels), batch_size=16, shuffle=True)
    val_loader = DataLoader(TensorDataset(*tensors("val")), batch_size=40)
    began = time.perf_counter()
    history = train.fit(model, loader, val_loader, num_classes=model.classifier.out_channels, epochs=args.epochs,
                        optimizer=optimizer, scheduler=scheduler, seed=args.seed, device="cpu", progress=False)
    for epoch, loss, miou in zip(history["epoch"], history["train_loss"], history["val_miou"]):
        print(f"epoch {epoch:3d}  train loss {loss:.3f}  val mIoU {miou:.3f}", flush=True)
    meta = {"model": "SemanticNet", "width": SEMANTIC_WIDTH, "images": args.images, "seed": args.seed,
            "epochs": args.epochs, "lr": args.lr * 5, "threads": args.threads,
            "seconds": round(time.perf_counter() - began), "val_miou": round(history["val_miou"][-1], 3),
            "torch": str(torch.__version__), "command": command(argv)}
    save(model, meta, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
