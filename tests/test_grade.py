"""python -m seglib.grade: a folder of submissions in, one row per notebook out, whatever the
notebooks do (pass, fail a check, raise, loop forever). Tiny notebooks that call the real
seglib.check functions on small inputs keep this fast."""

import csv

import nbformat
import pytest

from seglib import grade

SETUP = """import torch
from seglib import check, metrics
val_set = [(torch.zeros(3, 8, 8), torch.randint(0, 3, (8, 8), generator=torch.Generator().manual_seed(i))) for i in range(2)]
masks = torch.stack([m for _, m in val_set])
matrix = metrics.ConfusionMatrix(21)
matrix.update(masks, masks)
val_results = matrix.compute()"""
TASK2 = "check.segmentation_model(torch.nn.Conv2d(3, 21, 1), image_size=8)"
TASK3 = "check.training_run(history, val_results, val_set)"


def _write(folder, name, *cells):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / name)


@pytest.mark.slow  # grades submitted labs, each run in a fresh kernel (~25 s)
def test_grading_a_folder_gives_every_submission_a_row(tmp_path, capsys):
    folder = tmp_path / "submissions"
    folder.mkdir()
    _write(
        folder, "a_correct.ipynb", SETUP, "history = {'train_loss': [2.0, 1.0], 'val_miou': [0.1, 0.5]}", TASK2, TASK3
    )
    _write(folder, "b_partial.ipynb", SETUP, "history = ...", TASK2, TASK3)
    _write(folder, "c_raises.ipynb", SETUP, "raise RuntimeError('my bug')", TASK2, TASK3)
    _write(folder, "d_loops.ipynb", "while True:\n    pass", TASK2)
    (folder / "e_broken.ipynb").write_text('{"cells": [')
    out = tmp_path / "grades"
    assert grade.main([str(folder), "-o", str(out), "--timeout", "12"]) == 0
    rows = {row["notebook"]: row for row in csv.DictReader((out / "grades.csv").open(encoding="utf-8"))}
    assert list(rows) == ["a_correct.ipynb", "b_partial.ipynb", "c_raises.ipynb", "d_loops.ipynb", "e_broken.ipynb"]
    a, b, c, d, e = rows.values()
    assert a["status"] == "completed" and a["Task 2"] == a["Task 3"] == "pass" and a["passed"] == "2/5"
    assert a["Task 1"] == "not run" and a["Task 3 message"] == ""
    assert b["Task 2"] == "pass" and b["Task 3"] == "fail" and b["passed"] == "1/5"
    assert b["Task 3 message"].startswith("Task 3 (train and evaluate): not done yet: `history` is still ...")
    assert "\nHint: " in b["Task 3 message"]
    assert c["status"] == "completed" and c["Task 2"] == "pass"  # a crash does not hide later tasks
    assert c["Task 3"] == "error" and c["Task 3 message"] == "NameError: name 'history' is not defined"
    assert d["status"] == "timed out after 12 s" and d["Task 2"] == "not run" and float(d["seconds"]) < 40
    assert e["status"].startswith("unreadable") and e["passed"] == "0/5"
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "| a_correct.ipynb | completed |" in summary and "| d_loops.ipynb | timed out after 12 s |" in summary
    assert "- Task 3 (train and evaluate): not done yet: `history` is still .... Hint: " in summary
    assert "- Task 3 (train and evaluate): NameError: name 'history' is not defined" in summary
    assert "wrote " in capsys.readouterr().out


def test_grading_refuses_an_empty_or_missing_folder(tmp_path, capsys):
    assert grade.main([str(tmp_path / "missing")]) == 1
    assert grade.main([str(tmp_path)]) == 1
    assert "no .ipynb files" in capsys.readouterr().err
