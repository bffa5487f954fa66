"""What changes when a notebook leaves the book: citations become text, and a first cell installs
the course where it is missing.

Inside the book, notebooks cite with the ``{cite}`` role and Sphinx resolves it against
``book/references.bib``. Anywhere else (JupyterLab, Colab, a downloaded notebook) Markdown shows
the role as raw text. The committed notebooks keep the roles, since they are the book's source;
every copy the book hands out (the page's download button, the lab's student version) gets
:func:`readable_citations` instead: "(Everingham et al., 2010)", the label the book prints.

Every notebook's first code cell is :func:`install_source`, inserted by
``python tools/add_install_cell.py`` (never by hand). Where seglib is installed it does nothing
and prints nothing; in Colab it clones the repository named by ``repository: url:`` in
``_config.yml`` (the course checkpoints come with it) and installs it with the ``course`` extra
(seglib and everything the notebooks import); anywhere else
without seglib it stops with a message saying how to install the course, rather than downloading
anything unasked.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from pathlib import Path

import nbformat

__all__ = [
    "repository_url",
    "bib_labels",
    "citation_labels",
    "readable_citations",
    "install_source",
    "install_cell",
    "with_install_cell",
    "handout",
    "INSTALL_TAG",
    "REPOSITORY_PLACEHOLDER",
]

ROOT = Path(__file__).resolve().parents[1]
REPOSITORY_PLACEHOLDER = "https://github.com/YOUR-ORG/YOUR-REPO"
INSTALL_TAG = "install"
INSTALL_CELL_ID = "install-course"
_INSTALL = """# Setup. Where seglib is installed (your course environment, Binder) this cell does nothing.
# In Colab it clones the course (with its checkpoints) and installs it with everything the
# notebooks import (a few minutes).
import importlib.util
import sys

if importlib.util.find_spec("seglib") is None:
    if "google.colab" not in sys.modules:
        raise ModuleNotFoundError(
            "seglib is not installed: in a checkout of the course run `pip install -r requirements.txt` "
            "(the book's Setup page); to install the course here instead, run the clone and %pip lines below by themselves")
    {pip}"""


# --- The repository URL ----------------------------------------------------------------------------


def repository_url(root: Path = ROOT) -> str | None:
    """The repository URL set in ``root/_config.yml`` (``repository: url:``), or None when it is
    empty or the file is missing."""
    config = Path(root) / "_config.yml"
    if not config.is_file():
        return None
    match = re.search(
        r"^repository:[ \t]*\n(?:[ \t]+.*\n)*?[ \t]+url:[ \t]*[\"']?([^\"'\s#]*)", config.read_text(), re.M
    )
    return match.group(1) if match and match.group(1) else None


# --- Citations -------------------------------------------------------------------------------------

# LaTeX accent commands -> Unicode combining marks (enough for names in a .bib file).
_ACCENTS = {
    "'": "\u0301",
    "`": "\u0300",
    "^": "\u0302",
    '"': "\u0308",
    "~": "\u0303",
    "=": "\u0304",
    ".": "\u0307",
    "c": "\u0327",
    "v": "\u030c",
    "u": "\u0306",
    "H": "\u030b",
    "k": "\u0328",
}


def _latex_to_text(text: str) -> str:
    """Cire{\\c{s}}an -> Cireşan, J{\\"u}rgen -> Jürgen: accents decoded, braces dropped."""

    def accent(match):
        return match.group(2) + _ACCENTS[match.group(1)]

    text = re.sub(r"\\(['`^\"~=.]|[cvuHk](?![A-Za-z]))\s*\{?\s*([A-Za-z])\}?", accent, text)
    return unicodedata.normalize("NFC", re.sub(r"[{}]", "", text))


def bib_labels(bib_text: str) -> dict[str, str]:
    """``{key: "Author et al., Year"}`` for each entry of a BibTeX file ("Year a"/"Year b" when
    two entries would share a label), as the book's references page labels them."""
    labels, titles = {}, {}
    for match in re.finditer(r"@\w+\s*\{\s*([^,\s]+)\s*,(.*?)\n\}", bib_text, re.S):
        key, body = match.groups()
        author = re.search(r"\bauthor\s*=\s*\{(.*?)\}\s*,?\s*\n", body, re.S)
        year = re.search(r"\byear\s*=\s*\{?(\d{4})", body)
        names = [n.strip() for n in re.split(r"\s+and\s+", author.group(1))] if author else []
        surnames = [n.split(",")[0].strip() if "," in n else n.split()[-1] for n in names if n]
        surnames = [_latex_to_text(n) for n in surnames]
        who = (
            surnames[0]
            if len(surnames) == 1
            else f"{surnames[0]} and {surnames[1]}"
            if len(surnames) == 2
            else f"{surnames[0]} et al."
            if surnames
            else key
        )
        labels[key] = f"{who}, {year.group(1)}" if year else who
        title = re.search(r"\btitle\s*=\s*\{(.*?)\}\s*,?\s*\n", body, re.S)
        titles[key] = re.sub(r"[{}\\]", "", title.group(1)).lower() if title else key
    # Two works with the same label become "2018a" and "2018b", in title order, as in the
    # book's references page (book/_ext/book_style.py).
    for label in {v for v in labels.values() if list(labels.values()).count(v) > 1}:
        keys = sorted((k for k, v in labels.items() if v == label), key=titles.get)
        for letter, key in zip("abcdefghijklmnopqrstuvwxyz", keys, strict=False):
            labels[key] = label + letter
    return labels


def citation_labels(root: Path = ROOT) -> dict[str, str]:
    """:func:`bib_labels` of ``root/book/references.bib`` (empty when the file is missing)."""
    bib = Path(root) / "book" / "references.bib"
    return bib_labels(bib.read_text(encoding="utf-8")) if bib.is_file() else {}


def readable_citations(text: str, labels: dict[str, str]) -> str:
    """Replace the book's {cite}`A,B` roles with "(Author et al., Year; ...)"."""

    def label(match):
        keys = [k.strip() for k in match.group(1).split(",")]
        return "(" + "; ".join(labels.get(k, k) for k in keys) + ")"

    return re.sub(r"\{cite(?::\w+)?\}`([^`]+)`", label, text)


# --- The install cell --------------------------------------------------------------------------------

COLAB_FOLDER = "/content/segmentation-course"


def install_source(url: str | None) -> str:
    """The source of the first code cell of every notebook, installing from ``url`` (the
    repository; a placeholder that shows where the address goes when None). It clones the
    repository rather than pip-installing seglib from it: notebooks 04-08 load the course
    checkpoints, which live in the repository's ``checkpoints/`` folder beside the package."""
    steps = [
        f"!git clone --quiet --depth 1 {url or REPOSITORY_PLACEHOLDER} {COLAB_FOLDER}",
        f'%pip install --quiet -e "{COLAB_FOLDER}[course]"',
        f'sys.path.insert(0, "{COLAB_FOLDER}")  # importable now, without restarting the session',
    ]
    return _INSTALL.format(pip="\n    ".join(steps))


def install_cell(url: str | None) -> nbformat.NotebookNode:
    """The install cell: :func:`install_source`, tagged ``install`` and ``remove-cell`` (the book's
    pages leave it out: it is for the notebook outside the book, and book/setup.md explains it),
    with a fixed id so that inserting it twice changes nothing."""
    cell = nbformat.v4.new_code_cell(install_source(url), metadata={"tags": [INSTALL_TAG, "remove-cell"]})
    cell.id = INSTALL_CELL_ID
    return cell


def _is_install(cell) -> bool:
    return INSTALL_TAG in cell.get("metadata", {}).get("tags", [])


def with_install_cell(notebook: nbformat.NotebookNode, url: str | None) -> tuple[nbformat.NotebookNode, bool]:
    """``(notebook, changed)``: the notebook with the current install cell right after its title
    cell, as its first code cell. An existing install cell is brought up to date in place; one
    elsewhere is moved. Every other cell is left as it is. The input notebook is not changed."""
    notebook = copy.deepcopy(notebook)
    cells = notebook.cells
    if not cells or cells[0].cell_type != "markdown":
        raise ValueError("the notebook must start with a markdown title cell; the install cell goes right after it")
    fresh = install_cell(url)
    existing = [i for i, cell in enumerate(cells) if _is_install(cell)]
    if existing == [1]:  # in place: its execution count stays that of the executed notebook
        cell = cells[1]
        if cell.source == fresh.source and cell.metadata.get("tags") == fresh.metadata.tags:
            return notebook, False
        cell.source, cell.metadata["tags"] = fresh.source, list(fresh.metadata.tags)
        return notebook, True
    for i in reversed(existing):
        del cells[i]
    cells.insert(1, fresh)
    return notebook, True


def handout(
    notebook: nbformat.NotebookNode, *, citations: dict[str, str] | None = None, repository_url: str | None = None
) -> nbformat.NotebookNode:
    """A copy of ``notebook`` as it leaves the book: citations as text (``citations``, by default
    from ``book/references.bib``) and the install cell for ``repository_url``. Outputs stay."""
    labels = citation_labels() if citations is None else citations
    notebook, _ = with_install_cell(notebook, repository_url)
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = readable_citations(cell.source, labels)
    return notebook
