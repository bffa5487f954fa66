"""The Jupyter Book builds with zero warnings, produces a page for every _toc.yml entry and
loads nothing from the network.

Runs `jupyter-book build <repo> -W -n --keep-going --path-output <tmp>`: the HTML, the doctree
and jupyter-cache all go under pytest's temporary folder, so the source tree is not written to.
Notebooks are not executed (`execute_notebooks: "off"` in _config.yml); the book shows the
outputs stored in them. The build runs once per pytest process (`build_book`, the `book`
fixture) and tests/test_browser.py opens the same HTML in Chromium. Deselect with
`pytest -m "not book"`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

# The console script `jupyter-book` is `jupyter_book.cli.main:main`; calling it through this
# interpreter avoids depending on PATH (pyenv shims, an un-activated venv).
JB = [sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; sys.exit(main())"]


def toc_files(node) -> list[str]:
    """Every `root` and `file` entry of a (parsed) _toc.yml, in order, at any depth."""
    found: list[str] = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if isinstance(node.get(key), str):
                found.append(node[key])
        for key, value in node.items():
            if key not in ("root", "file"):
                found.extend(toc_files(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(toc_files(item))
    return found


def _strip_suffix(entry: str) -> str:
    for suffix in (".md", ".ipynb", ".rst"):
        if entry.endswith(suffix):
            return entry[: -len(suffix)]
    return entry


def test_toc_files_collects_nested_entries():
    toc = {
        "root": "book/intro",
        "parts": [
            {"caption": "A", "chapters": [{"file": "a", "sections": [{"file": "a/b.md"}]}]},
            {"caption": "B", "chapters": [{"url": "https://example.org", "title": "x"}]},
        ],
    }
    assert toc_files(toc) == ["book/intro", "a", "a/b.md"]


@dataclass
class BookBuild:
    """The outcome of one `jupyter-book build` into a temporary folder."""

    returncode: int
    log: str  # stdout + stderr, colour escapes removed
    html: Path  # <tmp>/_build/html
    pages: list[str]  # _toc.yml entries without suffix, root first
    seconds: float

    @property
    def tail(self) -> str:
        return "\n".join(self.log.splitlines()[-60:])

    def page_html(self, page: str) -> Path:
        return self.html / f"{page}.html"


_BUILDS: dict[str, BookBuild] = {}


def build_book(tmp_path_factory: pytest.TempPathFactory) -> BookBuild:
    """Build the book once per pytest process and share it (test_book.py, test_browser.py).

    Under `pytest -n 2 --dist loadfile` the two files may land on different workers; each
    worker then builds its own copy (a few seconds), never the same folder twice.
    """
    if "book" not in _BUILDS:
        toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
        pages = [_strip_suffix(entry) for entry in toc_files(toc)]
        assert pages and pages[0] == _strip_suffix(toc["root"]), "_toc.yml has no root page"

        out = tmp_path_factory.mktemp("book")
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        start = time.perf_counter()
        proc = subprocess.run(
            [*JB, "build", str(ROOT), "-W", "-n", "--keep-going", "--path-output", str(out)],
            cwd=out,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        # Sphinx colours its output even when piped; strip the escapes for readable messages.
        log = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + "\n" + proc.stderr)
        _BUILDS["book"] = BookBuild(proc.returncode, log, out / "_build" / "html", pages, time.perf_counter() - start)
    return _BUILDS["book"]


@pytest.fixture(scope="session")
def book(tmp_path_factory) -> BookBuild:
    return build_book(tmp_path_factory)


@pytest.mark.book
def test_book_builds_without_warnings(book):
    assert book.returncode == 0, f"jupyter-book build failed (rc={book.returncode}):\n{book.tail}"

    warnings = [line for line in book.log.splitlines() if "WARNING" in line]
    assert not warnings, "the book build printed warnings:\n" + "\n".join(warnings)

    missing = [page for page in book.pages if not book.page_html(page).is_file()]
    assert not missing, f"no HTML produced for these _toc.yml entries: {missing}\n{book.tail}"
    # The book renders the stored outputs; it never executes a notebook. A wall-clock bound
    # would say the same less reliably (24 s idle here, 94 s once on a busy CI machine), so
    # check the execution mode the build reports and that no notebook was run.
    assert "execution_mode='off'" in book.log, "_config.yml must keep execute_notebooks: off"
    executed = [line for line in book.log.splitlines() if line.lstrip().startswith("Executing")]
    assert not executed, "the book build executed notebooks:\n" + "\n".join(executed)


@pytest.mark.book
def test_book_loads_nothing_from_cdns(book):
    """The offline set-up (book/_vendor/, book/_ext/offline_book.py) is in place, checked on the
    HTML alone, so it holds where no browser is installed for tests/test_browser.py."""
    assert book.returncode == 0, f"jupyter-book build failed:\n{book.tail}"
    static = book.html / "_static"
    assert not (static / "README.md").exists(), "book/_vendor/README.md should not be published"
    fetching = re.compile(
        r"""<(?:script|img)\b[^>]*?\ssrc=["']?(?:https?:)?//[^"' >]+"""
        r"""|<link\b(?=[^>]*\srel=["']?(?:stylesheet|preload|icon))[^>]*?\shref=["']?(?:https?:)?//[^"' >]+""",
        re.DOTALL,
    )
    local_src = re.compile(r"""<script\b[^>]*?\ssrc="((?:\.\./)*_static/[^"?]+)""")
    for page in book.pages:
        html = book.page_html(page).read_text(encoding="utf-8")
        remote = fetching.findall(html)
        assert not remote, f"{page}.html loads from the network: {remote[:3]}"
        assert html.count("const THEBE_JS_URL") <= 1, f"{page}.html declares THEBE_JS_URL twice"
        if 'class="math' in html:
            assert "_static/mathjax/tex-chtml-full.js" in html, f"{page}.html has math but no local MathJax"
        # No widget manager is loaded (nb_ipywidgets_js: {}), so no page may show a widget view:
        # live widget cells are tagged remove-output and their static twin shows instead.
        assert "application/vnd.jupyter.widget-view+json" not in html, (
            f"{page}.html shows a live widget, which cannot work in the static book; tag its cell "
            "remove-output and add a static twin (viz.static_slider)"
        )
        for src in local_src.findall(html):
            target = (book.page_html(page).parent / src).resolve()
            assert target.is_file(), f"{page}.html loads {src}, which the build did not produce"


def test_every_reference_is_cited_somewhere():
    """The references page lists the whole .bib file (`:all:`), so every entry must be cited by a
    notebook or a page; Sphinx itself (-n) reports citations of keys the .bib lacks."""
    import re

    bib = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    keys = re.findall(r"^@\w+\{([^,\s]+),", bib, flags=re.M)
    sources = [p.read_text(encoding="utf-8") for p in (ROOT / "notebooks").glob("*.ipynb")]
    sources += [p.read_text(encoding="utf-8") for p in (ROOT / "book").glob("*.md")]
    cited = set()
    for text in sources:
        for group in re.findall(r"\{cite[a-z:]*\}`([^`]+)`", text):
            cited.update(key.strip() for key in group.split(","))
    uncited = sorted(set(keys) - cited)
    assert not uncited, f"references.bib entries no page cites (cite them or remove them): {uncited}"
    assert len(keys) == len(set(keys)), "duplicate keys in references.bib"


def test_api_page_documents_every_public_module():
    """book/api.md names each seglib module (seglib.data's submodules are documented through
    the package, which re-exports their public names); a new module must be added there."""
    page = (ROOT / "book" / "api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"\.\. automodule:: (seglib[\w.]*)", page))
    modules = {"seglib", "seglib.data"}
    for path in (ROOT / "seglib").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[1:2] == ("data",) or any(p.startswith("_") for p in parts):
            continue
        modules.add(".".join(parts))
    assert modules - documented == set(), f"add these modules to book/api.md: {sorted(modules - documented)}"


@pytest.mark.book
def test_the_student_version_ships_with_the_book_and_no_launch_button_shows_broken(book):
    """The default _config.yml names no repository: no repository or launch button, rather than
    broken ones (tests/test_publishing.py builds a book with a URL). The lab's student version is
    built into the HTML and the lab's page links to it."""
    import nbformat

    assert book.returncode == 0, f"jupyter-book build failed:\n{book.tail}"
    lab = book.page_html("notebooks/09_lab_voc64").read_text(encoding="utf-8")
    for marker in ("mybinder.org", "colab.research.google.com", "user-redirect/git-pull", "github.com/YOUR-ORG"):
        assert marker not in lab, f"the lab's page shows a launch link ({marker}) with no repository URL set"
    assert 'href="../student/09_lab_voc64.ipynb"' in lab, "the lab's page links to the student version"
    handout = nbformat.read(book.html / "student" / "09_lab_voc64.ipynb", as_version=4)
    solution = nbformat.read(ROOT / "notebooks" / "09_lab_voc64.ipynb", as_version=4)
    answers = {c.source for c in solution.cells if "solution" in c.metadata.get("tags", [])}
    assert len(answers) == 5 and not answers & {c.source for c in handout.cells}
    assert sum("scaffold" in c.metadata.get("tags", []) for c in handout.cells) == 5


def test_glossary_covers_the_course_and_says_where_each_term_is_taught():
    """book/glossary.md: every term the notebooks introduce (40 or more), each with a definition
    that links the notebook (or page) teaching it."""
    text = (ROOT / "book" / "glossary.md").read_text(encoding="utf-8")
    body = text.split("```{glossary}", 1)[1].rsplit("```", 1)[0]
    entries = [e for e in body.strip().split("\n\n") if e.strip()]
    assert len(entries) >= 40, f"the glossary has {len(entries)} terms"
    terms = [e.splitlines()[0] for e in entries]
    assert len(set(t.lower() for t in terms)) == len(terms), "a term is defined twice"
    for entry in entries:
        term, definition = entry.split("\n", 1)
        definition = " ".join(definition.split())
        assert "Taught in {doc}`" in definition, f"{term}: say where it is taught"
        for target in re.findall(r"\{doc\}`[^`<]*<([^>]+)>`", definition):
            page = (ROOT / "book" / target).resolve()
            assert page.with_suffix(".ipynb").is_file() or page.with_suffix(".md").is_file(), (term, target)
