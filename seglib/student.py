"""Write the student version of a lab notebook: solutions out, scaffolds in, outputs cleared.

In the solution notebook (the one in the book), every code cell tagged ``solution`` is followed
by a *raw* cell tagged ``scaffold`` (and ``remove-cell``, so the book hides it). A raw cell is
never executed, so the solution notebook runs as is. The student version replaces each solution
by its scaffold, turned into a code cell that says TODO and raises ``NotImplementedError`` or
leaves ``...`` to fill in. Cells tagged ``solution-only`` (a note for the solution page, an
assertion that only the reference solution meets) are left out. Everything else stays, the
``seglib.check`` cells included; all outputs, execution counts and saved widget state are
cleared; a note after the title tells students what to do, followed by the install cell
(``seglib.publish``: it installs the course where seglib is missing, in Colab). Citations written
for the book ({cite}`Key`) become readable text ("(Everingham et al., 2010)"), since outside the
book they are not rendered.

Usage::

    python -m seglib.student notebooks/09_lab_voc64.ipynb -o student/
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat

from . import publish
from ._files import write_atomically

SOLUTION, SCAFFOLD, SOLUTION_ONLY = "solution", "scaffold", "solution-only"
STUDENT_NOTE = (
    "**Your version of the lab.** The cells that start with `# TODO` ({tasks} of them) are yours: "
    "replace their `...` or `raise NotImplementedError` with your code, run the cell, then run the "
    "check below it. A check prints ✓ when the task is done, or says what is still wrong and gives "
    "a hint. Run the notebook from the top, in order: the cells after a check use what that task "
    "made."
)
BOOK_ONLY_TAGS = {"remove-cell", "remove-input", "remove-output", "hide-input", "hide-output", "hide-cell"}

__all__ = ["student_version", "write_student_version", "main"]


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _describe(index: int, cell) -> str:
    first = "".join(cell.get("source", "")).strip().splitlines()[:1]
    return f"cell {index} ({cell['cell_type']}: {first[0][:60] if first else 'empty'!r})"


def student_version(
    notebook: nbformat.NotebookNode,
    source_name: str = "the notebook",
    *,
    citations: dict[str, str] | None = None,
    repository_url: str | None = None,
) -> nbformat.NotebookNode:
    """The student version of ``notebook`` (a new notebook; the input is not changed).

    ``citations`` maps BibTeX keys to the text that replaces a {cite}`Key` role (unknown keys
    stay as the key); ``repository_url`` goes into the install cell (a placeholder when None).

    Raises ``ValueError`` naming the cell when a ``solution`` cell is not a code cell followed by
    a raw ``scaffold`` cell, when a scaffold has no solution before it, or when there is no
    solution at all."""
    cells = notebook.cells
    out = []
    replaced = 0
    i = 0
    while i < len(cells):
        cell, tags = cells[i], _tags(cells[i])
        if SCAFFOLD in tags:
            raise ValueError(
                f"{source_name}: {_describe(i, cell)} is tagged '{SCAFFOLD}' but does not follow a cell "
                f"tagged '{SOLUTION}'; put each scaffold right after its solution"
            )
        if SOLUTION in tags:
            if cell.cell_type != "code":
                raise ValueError(f"{source_name}: {_describe(i, cell)} is tagged '{SOLUTION}' but is not a code cell")
            following = cells[i + 1] if i + 1 < len(cells) else None
            if following is None or following.cell_type != "raw" or SCAFFOLD not in _tags(following):
                raise ValueError(
                    f"{source_name}: solution {_describe(i, cell)} has no scaffold after it; add a raw cell tagged "
                    f"'{SCAFFOLD}' and 'remove-cell' right after it, holding the code students start from "
                    "(a TODO comment and `...` or `raise NotImplementedError`)"
                )
            tags = [t for t in _tags(following) if t not in BOOK_ONLY_TAGS]
            out.append(nbformat.v4.new_code_cell(following.source, metadata={"tags": tags}))
            replaced += 1
            i += 2
            continue
        if SOLUTION_ONLY in tags:
            i += 1
            continue
        cell = copy.deepcopy(cell)
        if publish.INSTALL_TAG in tags:  # a fresh one, for repository_url, goes after the note
            i += 1
            continue
        if cell.cell_type == "markdown":
            cell.source = publish.readable_citations(cell.source, citations or {})
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
        out.append(cell)
        i += 1
    if not replaced:
        raise ValueError(
            f"{source_name} has no cells tagged '{SOLUTION}', so there is nothing to turn into a student "
            "version; tag each solution cell and follow it with a raw cell tagged 'scaffold'"
        )
    if out and out[0].cell_type == "markdown":  # after the title: say what this version is
        out.insert(1, nbformat.v4.new_markdown_cell(STUDENT_NOTE.format(tasks=replaced)))
        out.insert(2, publish.install_cell(repository_url))
    student = nbformat.v4.new_notebook(cells=out, metadata=copy.deepcopy(notebook.metadata))
    student.metadata.pop("widgets", None)  # saved widget state belongs to the executed solution
    student.nbformat, student.nbformat_minor = notebook.nbformat, notebook.nbformat_minor
    nbformat.validate(student)
    return student


def write_student_version(path, out_dir, repository_url: str | None = None) -> Path:
    """Read the solution notebook at ``path``, write its student version into ``out_dir``
    (same file name, written atomically) and return the new file's path. Citations come from
    ``book/references.bib``; the install cell uses ``repository_url``, by default the one set in
    ``_config.yml``."""
    path, out_dir = Path(path), Path(out_dir)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a notebook file in it, e.g. notebooks/09_lab_voc64.ipynb")
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; give a notebook, e.g. notebooks/09_lab_voc64.ipynb")
    blocking = next((p for p in (out_dir, *out_dir.parents) if p.exists()), None)
    if blocking is not None and not blocking.is_dir():
        raise NotADirectoryError(
            f"the output folder {out_dir} cannot be made: {blocking} is a file; give a folder "
            "with -o (it is created if missing)"
        )
    target = out_dir / path.name
    if target.resolve() == path.resolve():
        raise ValueError(f"the student version would overwrite the solution {path}; choose another -o folder")
    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception as error:  # nbformat raises several types for unreadable files
        raise ValueError(f"{path} is not a readable notebook ({error}); is it a complete .ipynb file?") from None
    student = student_version(
        notebook,
        path.name,
        citations=publish.citation_labels(),
        repository_url=repository_url or publish.repository_url(),
    )
    write_atomically(target, lambda file: file.write(nbformat.writes(student).encode("utf-8")))
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seglib.student", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path, help="solution notebooks")
    parser.add_argument("-o", "--out", type=Path, default=Path("student"), help="output folder (default: student/)")
    parser.add_argument("--repository-url", help="for the install cell (default: repository.url in _config.yml)")
    args = parser.parse_args(argv)
    for path in args.notebooks:
        try:
            target = write_student_version(path, args.out, args.repository_url)
        except (OSError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        scaffolds = sum(SCAFFOLD in _tags(c) for c in nbformat.read(target, as_version=4).cells)
        print(f"wrote {target}: {scaffolds} solutions replaced by scaffolds, outputs cleared")
    return 0


if __name__ == "__main__":
    sys.exit(main())
