"""Execute the course notebooks in place and record how long each took and how much memory it used.

This is the one command that stores a notebook's outputs for the repository and the book:

    python tools/execute_notebooks.py                      # every notebooks/NN_*.ipynb, in order
    python tools/execute_notebooks.py notebooks/02_*.ipynb # some of them
    SEGLIB_DATASET=voc python tools/execute_notebooks.py   # re-execute on real PASCAL VOC

Each notebook runs top to bottom in a fresh kernel (``SEGLIB_DATASET`` defaults to ``synthetic``,
as in the tests, unless you set it), and is written back only if every cell succeeded. Its wall
time, its slowest cells and the kernel's peak resident memory (``VmHWM`` from
``/proc/<pid>/status``, read just before the kernel shuts down; Linux only, else left blank) go to
``book/status.json``, from which ``book/status.md`` (the book's status page) and
``book/_run_times.md`` (the table on the "How to use this book" page) are regenerated.
``tests/test_status.py`` checks that the record matches the notebooks' current code.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
STATUS_JSON = ROOT / "book" / "status.json"
STATUS_PAGE = ROOT / "book" / "status.md"
RUN_TIMES = ROOT / "book" / "_run_times.md"
BUDGET_SECONDS, BUDGET_GB = 120, 3.0


def code_hash(notebook: nbformat.NotebookNode) -> str:
    """A hash of the code cells' sources: the record belongs to this code, whatever the outputs.
    The install cell (tools/add_install_cell.py) is left out: where the notebook is executed,
    seglib is installed and the cell does nothing, so it cannot change the time or memory."""
    sources = [
        cell.source
        for cell in notebook.cells
        if cell.cell_type == "code" and "install" not in cell.metadata.get("tags", [])
    ]
    return hashlib.sha256("\n\x00\n".join(sources).encode()).hexdigest()[:16]


def title_of(notebook: nbformat.NotebookNode) -> str:
    first = notebook.cells[0].source.splitlines()[0] if notebook.cells else ""
    return first.lstrip("# ").strip()


def peak_memory_gb(pid: int | None) -> float | None:
    """Peak resident set size of process ``pid`` in GB (Linux ``VmHWM``), or None if unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e9
    except (OSError, ValueError, TypeError):
        pass
    return None


def cell_seconds(cell) -> float:
    timing = cell.get("metadata", {}).get("execution", {})
    try:
        start = dt.datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
        end = dt.datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return 0.0
    return (end - start).total_seconds()


KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def execute(path: Path, timeout: int = 600) -> dict:
    """Run ``path`` in a fresh kernel from the notebooks folder, write it back, return its record."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        record_timing=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.reset_execution_trackers()
    peak = {}
    started = time.perf_counter()
    with client.setup_kernel():
        pid = getattr(getattr(client.km, "provisioner", None), "process", None)
        pid = getattr(pid, "pid", None)
        info = client.wait_for_reply(client.kc.kernel_info())  # what `nbclient.execute` would record
        notebook.metadata["language_info"] = info["content"]["language_info"]  # the book's syntax highlighting
        notebook.metadata["kernelspec"] = KERNELSPEC  # Jupyter opens the notebook with this kernel
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
        peak["gb"] = peak_memory_gb(pid)
    seconds = time.perf_counter() - started
    client.set_widgets_metadata()
    nbformat.write(notebook, path)
    slowest = sorted(
        ((cell_seconds(c), i) for i, c in enumerate(notebook.cells) if c.cell_type == "code"), reverse=True
    )[:3]
    return {
        "notebook": path.name,
        "title": title_of(notebook),
        "seconds": round(seconds, 1),
        "peak_memory_gb": None if peak["gb"] is None else round(peak["gb"], 2),
        "slowest_cells": [{"cell": i, "seconds": round(s, 1)} for s, i in slowest],
        "code_hash": code_hash(notebook),
    }


def machine() -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    device = "CUDA " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "device": device,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "dataset": os.environ.get("SEGLIB_DATASET", "synthetic"),
    }


def table(records: list[dict]) -> str:
    rows = ["| notebook | run time | peak memory |", "|---|---:|---:|"]
    for r in records:
        memory = "–" if r["peak_memory_gb"] is None else f"{r['peak_memory_gb']:.2f} GB"
        rows.append(f"| {r['title']} | {r['seconds']:.0f} s | {memory} |")
    return "\n".join(rows) + "\n"


def write_pages(status: dict) -> None:
    records = sorted(status["notebooks"].values(), key=lambda r: r["notebook"])
    env = status["machine"]
    where = (
        f"{env['cores']}-core {env['cpu']}, {env['device']}, Python {env['python']}, torch {env['torch']}, "
        f"dataset `{env['dataset']}`"
    )
    RUN_TIMES.write_text(
        "<!-- Generated by tools/execute_notebooks.py from book/status.json; do not edit. -->\n\n"
        + table(records)
        + f"\nMeasured on {status['date']}: {where}.\n",
        encoding="utf-8",
    )
    detail = [
        "| notebook | run time | peak memory | slowest cells (index: seconds) | within budget |",
        "|---|---:|---:|---|---|",
    ]
    for r in records:
        memory = "–" if r["peak_memory_gb"] is None else f"{r['peak_memory_gb']:.2f} GB"
        slow = ", ".join(f"{c['cell']}: {c['seconds']:.1f}" for c in r["slowest_cells"])
        ok = r["seconds"] <= BUDGET_SECONDS and (r["peak_memory_gb"] or 0) <= BUDGET_GB
        detail.append(f"| `{r['notebook']}` | {r['seconds']:.1f} s | {memory} | {slow} | {'yes' if ok else '**no**'} |")
    STATUS_PAGE.write_text(
        "<!-- Generated by tools/execute_notebooks.py from book/status.json; do not edit. -->\n"
        "# Status\n\n"
        "Each notebook's run time and peak memory from the last time it was executed for this book, "
        "top to bottom in a fresh kernel, by `python tools/execute_notebooks.py`. Run time is the "
        "wall time of all cells, peak memory the kernel's peak resident set size (Linux `VmHWM`). "
        f"The budget is {BUDGET_SECONDS} s and {BUDGET_GB:g} GB per notebook on a 2-core CPU without a GPU.\n\n"
        f"Machine: {where}. Last run: {status['date']}.\n\n" + "\n".join(detail) + "\n\n"
        "`tests/test_status.py` fails when a notebook's code changed after its row was recorded, so "
        "this page cannot silently go stale: re-execute the notebook with the command above.\n",
        encoding="utf-8",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: all, in order)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    os.environ.setdefault("SEGLIB_DATASET", "synthetic")
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    status = json.loads(STATUS_JSON.read_text()) if STATUS_JSON.is_file() else {"notebooks": {}}
    for path in paths:
        print(f"{path.name}: running ...", end=" ", flush=True)
        record = execute(path, args.timeout)
        print(f"{record['seconds']:.1f} s, peak {record['peak_memory_gb']} GB", flush=True)
        status["notebooks"][path.name] = record
        status["machine"] = machine()
        status["date"] = dt.date.today().isoformat()
        STATUS_JSON.write_text(json.dumps(status, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    known = {p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    status["notebooks"] = {name: r for name, r in status["notebooks"].items() if name in known}
    STATUS_JSON.write_text(json.dumps(status, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    write_pages(status)
    return 0


if __name__ == "__main__":
    sys.exit(main())
