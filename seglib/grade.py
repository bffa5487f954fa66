"""Grade a folder of submitted lab notebooks: run each, read its checks, write one table.

Each notebook runs top to bottom in a fresh kernel (nbclient), with every cell allowed to fail,
so a wrong Task 2 does not hide a right Task 4, and with one time limit for the whole notebook.
Each cell that calls a ``seglib.check`` function (``check.TASKS``) gives that task's result:
"pass" when it printed its ✓ line, "fail" with the check's message and hint, "error" when it
raised something else, "not run" when the notebook stopped before it. A submission that cannot
be read, crashes its kernel, or runs past the limit gets a row saying so; the grader goes on.

Usage::

    python -m seglib.grade submissions/ -o grades/ --timeout 600

writes ``grades/grades.csv`` (one row per notebook: status, seconds, then per task its result
and message) and ``grades/summary.md`` (the same, readable), and prints the summary. With
``--executed`` it also keeps each executed notebook in ``grades/executed/``, to return to
students with their outputs.

nbclient rather than nbgrader: the checks already are the tests and print their own feedback,
so all grading needs is to execute and read outputs; nbgrader would add its own database,
cell metadata and course layout for the same result.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import time
from pathlib import Path

import nbformat

from .check import TASKS

__all__ = ["grade_notebook", "grade_folder", "main"]

PASS, FAIL, ERROR, NOT_RUN = "pass", "fail", "error", "not run"
_CALL = re.compile(r"\bcheck\.(" + "|".join(TASKS) + r")\s*\(")


def _text(outputs, kind: str) -> str:
    return "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream" and o.get("name") == kind)


def _task_results(notebook) -> dict[str, tuple[str, str]]:
    """``{task: (result, message)}`` from the outputs of the check cells of an executed notebook."""
    results = {task: (NOT_RUN, "") for task in TASKS.values()}
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for function in _CALL.findall(cell.source):
            task = TASKS[function]
            if cell.get("execution_count") is None and not cell.get("outputs"):
                continue  # the notebook stopped before this cell
            errors = [o for o in cell.outputs if o.get("output_type") == "error"]
            if any(line.startswith(f"✓ {task}") for line in _text(cell.outputs, "stdout").splitlines()):
                results[task] = (PASS, "")
            elif errors and errors[0].get("ename") == "CheckFailed":
                results[task] = (FAIL, errors[0].get("evalue", ""))
            elif errors:
                results[task] = (ERROR, f"{errors[0].get('ename')}: {errors[0].get('evalue', '')}"[:500])
            else:
                results[task] = (ERROR, "the check cell printed no ✓ line")
    return results


def grade_notebook(path, timeout: float = 600, kernel_name: str = "python3", executed_dir=None) -> dict:
    """Run the notebook at ``path`` in a fresh kernel (at most ``timeout`` seconds in all) and
    return its row: ``notebook``, ``status`` (completed, timed out, kernel died, unreadable),
    ``seconds``, ``passed`` and, per task, ``(result, message)`` under the task's name."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    path = Path(path)
    row = {"notebook": path.name, "status": "completed", "seconds": 0.0}
    try:
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:  # grade what runs now, not what the student's outputs say
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
    except Exception as error:  # nbformat raises several types for unreadable files
        row.update(status=f"unreadable: {str(error).splitlines()[0][:200]}")
        row.update({task: (NOT_RUN, "") for task in TASKS.values()})
        row["passed"] = 0
        return row
    began = time.monotonic()
    deadline = began + timeout
    client = NotebookClient(
        notebook,
        kernel_name=kernel_name,
        allow_errors=True,
        timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
        startup_timeout=120,
        shutdown_kernel="immediate",
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    except CellTimeoutError:
        row["status"] = f"timed out after {timeout:g} s"
    except DeadKernelError as error:
        row["status"] = f"kernel died: {str(error).splitlines()[0][:200]}"
    except Exception as error:  # a kernel that does not start, a broken cell structure, ...
        row["status"] = (
            f"failed to run: {type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
        )
    row["seconds"] = round(time.monotonic() - began, 1)
    row.update(_task_results(notebook))
    row["passed"] = sum(row[task][0] == PASS for task in TASKS.values())
    if executed_dir is not None:
        Path(executed_dir).mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, Path(executed_dir) / path.name)
    return row


def _short(task: str) -> str:
    return task.split(" (")[0]


def write_table(rows: list[dict], out_dir) -> tuple[Path, Path]:
    """Write ``grades.csv`` and ``summary.md`` for ``rows`` into ``out_dir``; return both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, summary_path = out_dir / "grades.csv", out_dir / "summary.md"
    header = ["notebook", "status", "seconds", "passed"]
    for task in TASKS.values():
        header += [_short(task), f"{_short(task)} message"]
    with csv_path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        for row in rows:
            line = [row["notebook"], row["status"], row["seconds"], f"{row['passed']}/{len(TASKS)}"]
            for task in TASKS.values():
                line += list(row[task])
            writer.writerow(line)
    lines = [
        f"# Lab grades: {len(rows)} submissions",
        "",
        "| notebook | status | s | passed | " + " | ".join(_short(t) for t in TASKS.values()) + " |",
        "|---|---|---|---|" + "---|" * len(TASKS),
    ]
    marks = {PASS: "✓", FAIL: "✗", ERROR: "error", NOT_RUN: "–"}
    for row in rows:
        lines.append(
            f"| {row['notebook']} | {row['status']} | {row['seconds']:g} | {row['passed']}/{len(TASKS)} | "
            + " | ".join(marks[row[t][0]] for t in TASKS.values())
            + " |"
        )
    lines += ["", "## Messages", ""]
    for row in rows:
        failed = [(t, r, m) for t, (r, m) in ((t, row[t]) for t in TASKS.values()) if r in (FAIL, ERROR)]
        if failed:
            lines.append(f"**{row['notebook']}**")
            lines += [f"- {m if m.startswith(t) else f'{t}: {m}'}".replace("\n", " ") for t, _, m in failed]
            lines.append("")
    summary_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return csv_path, summary_path


def grade_folder(folder, out_dir, timeout: float = 600, executed: bool = False) -> list[dict]:
    """Grade every ``*.ipynb`` in ``folder`` (sorted by name, checkpoints skipped) and write the table."""
    paths = sorted(p for p in Path(folder).glob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    executed_dir = Path(out_dir) / "executed" if executed else None
    rows = []
    for path in paths:
        print(f"grading {path.name} ...", file=sys.stderr, flush=True)
        rows.append(grade_notebook(path, timeout=timeout, executed_dir=executed_dir))
    write_table(rows, out_dir)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seglib.grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a folder of submitted notebooks (*.ipynb)")
    parser.add_argument("-o", "--out", type=Path, default=Path("grades"), help="output folder (default: grades/)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=600,
        help="seconds each notebook may run in all (default 600; the lab takes ~2 min on a CPU)",
    )
    parser.add_argument("--executed", action="store_true", help="also keep each executed notebook in OUT/executed/")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        print(f"error: {args.folder} is not a folder of notebooks", file=sys.stderr)
        return 1
    if not any(args.folder.glob("*.ipynb")):
        print(f"error: {args.folder} holds no .ipynb files", file=sys.stderr)
        return 1
    grade_folder(args.folder, args.out, args.timeout, args.executed)
    print((args.out / "summary.md").read_text(encoding="utf-8"))
    print(f"wrote {args.out / 'grades.csv'} and {args.out / 'summary.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
