"""The student version of the lab: `python -m seglib.student` puts every scaffold where its
solution was, clears outputs and keeps the checks; run, each check fails with its friendly
"not done yet" message on the unfilled scaffold."""

import json
import re
from pathlib import Path

import nbformat
import pytest

from seglib import publish, student

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "notebooks" / "09_lab_voc64.ipynb"
TASKS = 5
CITATIONS = publish.citation_labels(ROOT)


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    assert student.main([str(LAB), "-o", str(out)]) == 0
    return nbformat.read(LAB, as_version=4), nbformat.read(out / LAB.name, as_version=4)


def test_scaffolds_sit_where_the_solutions_were(versions):
    solution, handout = versions
    expected, i = [], 0
    while i < len(solution.cells):  # each (solution, raw scaffold) pair becomes one code cell
        cell = solution.cells[i]
        if "solution-only" in _tags(cell):
            i += 1
            continue
        if "solution" in _tags(cell):
            scaffold = solution.cells[i + 1]
            assert scaffold.cell_type == "raw" and "scaffold" in _tags(scaffold)
            expected.append(("code", scaffold.source, True))
            i += 2
        else:
            source = publish.readable_citations(cell.source, CITATIONS) if cell.cell_type == "markdown" else cell.source
            expected.append((cell.cell_type, source, False))
            i += 1
    got = [(c.cell_type, c.source, "scaffold" in _tags(c)) for c in handout.cells]
    assert got[1][1] == student.STUDENT_NOTE.format(tasks=TASKS), "a note after the title says what to do"
    assert got[2] == ("code", publish.install_source(publish.repository_url(ROOT)), False), "then the install cell"
    assert solution.cells[1].source == got[2][1], "the same as the solution's first code cell"
    assert got[:1] + got[2:] == expected
    assert sum(is_scaffold for *_, is_scaffold in got) == TASKS
    solutions = [c.source for c in solution.cells if "solution" in _tags(c)]
    assert not any(c.source == s for c in handout.cells for s in solutions)
    for cell in handout.cells:
        if "scaffold" in _tags(cell):
            assert "TODO" in cell.source and ("..." in cell.source or "NotImplementedError" in cell.source)
            assert "remove-cell" not in _tags(cell), "students must see their scaffolds"


def test_the_student_version_reads_as_written_for_students(versions):
    solution, handout = versions
    text = "\n".join(c.source for c in handout.cells if c.cell_type == "markdown")
    assert "{cite" not in text and "(Everingham et al., 2010)" in text, "citations are readable outside the book"
    assert "shows the solutions" not in text and "instructor" not in handout.cells[0].source.lower()
    assert not any("solution-only" in _tags(c) for c in handout.cells)
    assert any("solution-only" in _tags(c) for c in solution.cells)
    assert not any('rows["MyCNN"]["parameters"]' in c.source for c in handout.cells), "reference-only asserts go"


def test_outputs_are_cleared_and_checks_kept(versions):
    solution, handout = versions
    code = [c for c in handout.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "widgets" not in handout.metadata
    checks = [c.source for c in solution.cells if c.source.startswith("check.")]
    assert len(checks) == TASKS
    assert [c.source for c in handout.cells if c.source.startswith("check.")] == checks


@pytest.mark.slow  # runs the student version's cells in a kernel (~15 s)
def test_each_check_fails_with_its_friendly_message_on_an_unfilled_scaffold(versions, tmp_path):
    from nbclient import NotebookClient

    solution, handout = versions
    solution_lines = {
        re.sub(r"\s+", "", line).replace("'", '"').rstrip(",([{")
        for c in solution.cells
        if "solution" in _tags(c)
        for line in c.source.splitlines()
    }
    solution_lines = {line for line in solution_lines if len(line) >= 12}
    client = NotebookClient(
        handout, timeout=300, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    checks = [c for c in handout.cells if c.source.startswith("check.")]
    for number, cell in enumerate(checks, start=1):
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert len(errors) == 1, f"check {number} did not fail on its scaffold: {cell.outputs}"
        error = errors[0]
        assert error.ename == "CheckFailed", (number, error.ename, error.evalue)
        assert error.evalue.startswith(f"Task {number} ") and "not done yet" in error.evalue
        # IPython shows the message and the hint, not a traceback into seglib
        shown = "\n".join(error.traceback)
        assert shown.startswith(f"✗ Task {number} ") and "Hint:" in shown and "seglib/check.py" not in shown
        hint = shown.split("Hint:", 1)[1]
        squeezed = re.sub(r"\s+", "", hint).replace("'", '"')
        given_away = [line for line in solution_lines if line in squeezed]
        assert not given_away, f"check {number}'s hint gives the answer away: {given_away}"
    first = next(i for i, c in enumerate(handout.cells) if "scaffold" in _tags(c))
    before = [c for c in handout.cells[:first] if c.cell_type == "code"]
    assert not any(o.output_type == "error" for c in before for o in c.outputs), "the set-up cells must run"


def _notebook(*cells):
    return nbformat.v4.new_notebook(cells=list(cells))


def _code(source, *tags):
    return nbformat.v4.new_code_cell(source, metadata={"tags": list(tags)})


def _raw(source, *tags):
    return nbformat.v4.new_raw_cell(source, metadata={"tags": list(tags)})


def test_student_version_keeps_other_cells_and_drops_book_tags():
    nb = _notebook(
        nbformat.v4.new_markdown_cell("# T"),
        _code("x = 1", "solution"),
        _raw("x = ...", "scaffold", "remove-cell"),
        _code("check(x)"),
    )
    nb.cells[3].outputs = [nbformat.v4.new_output("stream", text="ok\n")]
    nb.cells[3].execution_count = 3
    out = student.student_version(nb)
    assert [c.cell_type for c in out.cells] == ["markdown", "markdown", "code", "code", "code"]
    assert out.cells[1].source.startswith("**Your version of the lab.** The cells that start with `# TODO` (1 of them)")
    assert publish.REPOSITORY_PLACEHOLDER in out.cells[2].source, "no URL given: the install cell says where it goes"
    assert out.cells[3].source == "x = ..." and _tags(out.cells[3]) == ["scaffold"]
    assert out.cells[4].outputs == [] and out.cells[4].execution_count is None
    assert nb.cells[3].outputs, "the input notebook must not change"
    nb.cells.insert(1, nbformat.v4.new_markdown_cell("See {cite}`A2020,Zed`.", metadata={"tags": ["solution-only"]}))
    nb.cells.insert(2, nbformat.v4.new_markdown_cell("As {cite:p}`A2020` and {cite}`Zed` show."))
    labels = publish.bib_labels("@article{A2020,\n  author = {Ab, Cd and Ef, Gh and Ij, Kl},\n  year = {2020}\n}\n")
    assert labels == {"A2020": "Ab et al., 2020"}
    out = student.student_version(nb, citations=labels, repository_url="https://example.org/r")
    assert [c.source for c in out.cells if c.cell_type == "markdown"][2] == "As (Ab et al., 2020) and (Zed) show."
    assert "git clone --quiet --depth 1 https://example.org/r " in out.cells[2].source


@pytest.mark.parametrize(
    "cells, message",
    [
        ([_code("x = 1", "solution")], "has no scaffold after it"),
        ([_code("x = 1", "solution"), _code("x = ...", "scaffold")], "has no scaffold after it"),
        ([_raw("x = ...", "scaffold")], "does not follow a cell tagged 'solution'"),
        (
            [nbformat.v4.new_markdown_cell("answer", metadata={"tags": ["solution"]}), _raw("...", "scaffold")],
            "is not a code cell",
        ),
        ([_code("x = 1")], "has no cells tagged 'solution'"),
    ],
)
def test_malformed_notebooks_are_refused_with_the_fix(cells, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        student.student_version(_notebook(*cells), "lab.ipynb")


def test_command_line_errors(tmp_path, capsys):
    assert student.main([str(tmp_path / "missing.ipynb"), "-o", str(tmp_path)]) == 1
    assert "does not exist" in capsys.readouterr().err
    broken = tmp_path / "broken.ipynb"
    broken.write_text('{"cells": [')
    assert student.main([str(broken), "-o", str(tmp_path / "out")]) == 1
    assert "not a readable notebook" in capsys.readouterr().err
    assert not (tmp_path / "out" / "broken.ipynb").exists(), "nothing half-written"
    lab = tmp_path / "lab.ipynb"
    nbformat.write(_notebook(_code("x = 1", "solution"), _raw("x = ...", "scaffold")), lab)
    assert student.main([str(lab), "-o", str(tmp_path)]) == 1
    assert "would overwrite the solution" in capsys.readouterr().err
    assert "".join(json.loads(lab.read_text())["cells"][0]["source"]) == "x = 1"


def test_citation_labels_decode_accents_and_tell_same_year_works_apart():
    bib = (
        "@article{C1,\n  author = {Dan Cire{\\c{s}}an and B Bee and C Cee},\n  title = {Zebra},\n  year = {2012}\n}\n"
        "@article{C2,\n  author = {Dan Cire{\\c{s}}an and D Dee and E Eee},\n  title = {Apple},\n  year = {2012}\n}\n"
        '@article{K,\n  author = {Philipp Kr{\\"a}henb{\\"u}hl and Vladlen Koltun},\n  year = {2011}\n}\n'
    )
    assert publish.bib_labels(bib) == {
        "C1": "Cireşan et al., 2012b",
        "C2": "Cireşan et al., 2012a",
        "K": "Krähenbühl and Koltun, 2011",
    }
