"""The book's status page (book/status.md) is produced by tools/execute_notebooks.py from a real run.
These tests keep it honest: every notebook has a record, the record belongs to the notebook's current
code, the pages say what the record says, and every notebook met the course's budget when it ran."""

import importlib.util
import json
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
spec = importlib.util.spec_from_file_location("execute_notebooks", ROOT / "tools" / "execute_notebooks.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)
RERUN = "re-execute it with: python tools/execute_notebooks.py {}"


@pytest.fixture(scope="module")
def status():
    assert tool.STATUS_JSON.is_file(), "book/status.json is missing; run: python tools/execute_notebooks.py"
    return json.loads(tool.STATUS_JSON.read_text())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_has_a_current_record_within_budget(status, path):
    record = status["notebooks"].get(path.name)
    assert record, f"{path.name} has no run record in book/status.json; " + RERUN.format(path.relative_to(ROOT))
    assert record["code_hash"] == tool.code_hash(nbformat.read(path, as_version=4)), (
        f"{path.name}'s code changed after its run time was recorded; " + RERUN.format(path.relative_to(ROOT))
    )
    assert record["seconds"] <= tool.BUDGET_SECONDS, f"{path.name} took {record['seconds']} s"
    assert record["peak_memory_gb"] is None or record["peak_memory_gb"] <= tool.BUDGET_GB


def test_the_pages_are_regenerated_from_the_record(status, tmp_path, monkeypatch):
    recorded, present = set(status["notebooks"]), {p.name for p in NOTEBOOKS}
    assert not recorded - present, (
        f"book/status.json has records for notebooks that no longer exist: "
        f"{sorted(recorded - present)}; re-executing any notebook with tools/execute_notebooks.py drops them"
    )
    assert not present - recorded, (
        f"notebooks without a record in book/status.json: {sorted(present - recorded)}; "
        f"run: python tools/execute_notebooks.py "
        + " ".join(f"notebooks/{name}" for name in sorted(present - recorded))
    )
    committed = {p: p.read_text() for p in (tool.STATUS_PAGE, tool.RUN_TIMES)}
    monkeypatch.setattr(tool, "STATUS_PAGE", tmp_path / "status.md")
    monkeypatch.setattr(tool, "RUN_TIMES", tmp_path / "_run_times.md")
    tool.write_pages(status)
    assert (tmp_path / "status.md").read_text() == committed[ROOT / "book" / "status.md"]
    assert (tmp_path / "_run_times.md").read_text() == committed[ROOT / "book" / "_run_times.md"]


def test_code_hash_ignores_outputs_but_not_code():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    before = tool.code_hash(notebook)
    notebook.cells[0].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    assert tool.code_hash(notebook) == before
    notebook.cells[0].source = "x = 2"
    assert tool.code_hash(notebook) != before


def test_the_instructor_schedule_quotes_the_recorded_run_times(status):
    """book/instructors.md's schedule gives each session's run time; it must agree with the
    recorded times of its notebooks (within 25 %, or 10 s), so re-executed notebooks cannot
    leave the guide quoting old numbers."""
    import re

    guide = (ROOT / "book" / "instructors.md").read_text(encoding="utf-8")
    seconds = {name[:2]: record["seconds"] for name, record in status["notebooks"].items()}
    rows = re.findall(r"^\| [0-9–]+ \| ([^|]+) \| ~(\d+) (s|min)[^|]* \|", guide, flags=re.M)
    assert len(rows) >= 7, "the schedule table was not found in book/instructors.md"
    for notebooks, amount, unit in rows:
        numbers = re.findall(r"\b(\d\d) ", notebooks + " ")
        actual = sum(seconds[n] for n in numbers)
        quoted = int(amount) * (60 if unit == "min" else 1)
        assert abs(quoted - actual) <= max(10, 0.25 * actual), (
            f"book/instructors.md says ~{amount} {unit} for notebooks {numbers}; book/status.json records "
            f"{actual:.0f} s: update the schedule"
        )
