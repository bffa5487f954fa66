"""The path from the published book to runnable code: the install line covers every import, and
the repository URL, set in one place in _config.yml, turns on the launch buttons."""

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

from seglib import publish
from test_book import JB

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# import name -> distribution name, where they differ
DISTRIBUTIONS = {
    "cv2": "opencv-python-headless",
    "skimage": "scikit-image",
    "sklearn": "scikit-learn",
    "PIL": "pillow",
    "segmentation_models_pytorch": "segmentation-models-pytorch",
    "IPython": "ipython",
}


def _imports(source: str) -> set[str]:
    source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - {"seglib"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_course_install_covers_every_import_of_every_notebook_and_of_seglib():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    installed = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["course"]}
    needed = {}
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                for module in _imports("".join(cell["source"])):
                    needed.setdefault(module, path.name)
    for path in sorted((ROOT / "seglib").rglob("*.py")):  # what the notebooks' seglib calls import
        for module in _imports(path.read_text(encoding="utf-8")):
            needed.setdefault(module, str(path.relative_to(ROOT)))
    assert {"torch", "segmentation_models_pytorch", "albumentations", "networkx"} <= set(needed)
    missing = {
        module: where
        for module, where in needed.items()
        if DISTRIBUTIONS.get(module, module).lower().replace("_", "-") not in installed
    }
    assert not missing, f"imported but not installed by `pip install seglib[course]` (pyproject.toml): {missing}"
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    pinned = {_name(line) for line in lines if line.strip() and not line.startswith(("#", "-"))}
    missing = {
        module: where
        for module, where in needed.items()
        if DISTRIBUTIONS.get(module, module).lower().replace("_", "-") not in pinned
    }
    assert not missing, f"imported but not listed in requirements.txt (a checkout's install): {missing}"
    assert f'"{publish.COLAB_FOLDER}[course]"' in publish.install_source(None), (
        "the install cell installs the course extra"
    )


def test_the_repository_url_is_read_from_its_one_place(tmp_path):
    from seglib import publish

    (tmp_path / "_config.yml").write_text('title: x\nrepository:\n  url: ""   # e.g. ...\n  branch: main\n')
    assert publish.repository_url(tmp_path) is None
    (tmp_path / "_config.yml").write_text("repository:\n  branch: main\n  url: https://github.com/o/r  # ours\n")
    assert publish.repository_url(tmp_path) == "https://github.com/o/r"
    assert publish.repository_url(ROOT) is None, "the committed _config.yml publishes no URL"


URL = "https://github.com/example-org/seg-course"


@pytest.mark.book
def test_a_repository_url_turns_on_the_repository_and_launch_buttons(tmp_path):
    """A minimal book (one small lab page) with the course's _config.yml, the URL set in its one
    place and a hub named: the page has the repository, Binder, Colab and JupyterHub buttons,
    and the student version is built with it, installing from that URL. The full build
    (tests/test_book.py) checks the default: no URL, no launch button, the student version."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    config["repository"]["url"] = URL
    config["launch_buttons"]["jupyterhub_url"] = "https://hub.example.edu"
    config["sphinx"]["local_extensions"] = {
        name: str(ROOT / "book" / "_ext") for name in config["sphinx"]["local_extensions"]
    }
    config["sphinx"]["config"]["html_static_path"] = [str(ROOT / "book" / "_vendor")]
    config["sphinx"]["extra_extensions"] = []
    book = tmp_path / "src"
    (book / "book").mkdir(parents=True)
    (book / "notebooks").mkdir()
    shutil.copy(ROOT / "book" / "references.bib", book / "book" / "references.bib")
    (book / "_config.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    (book / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: notebooks/09_lab\n")
    (book / "book" / "intro.md").write_text("# A course\n\nOne lab.\n\n```{bibliography}\n:all:\n```\n")
    lab = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# 09 — Lab\n\nFill in the task on PASCAL VOC {cite}`Everingham2010`."),
            nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["solution"]}),
            nbformat.v4.new_raw_cell("# TODO\nx = ...", metadata={"tags": ["scaffold", "remove-cell"]}),
            nbformat.v4.new_markdown_cell("## Summary\nx.\n\n## Exercises\n1. y"),
        ]
    )
    lab.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    lab.metadata["language_info"] = {"name": "python"}
    nbformat.write(lab, book / "notebooks" / "09_lab.ipynb")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [*JB, "build", str(book), "--path-output", str(tmp_path / "out")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    html_dir = tmp_path / "out" / "_build" / "html"
    page = (html_dir / "notebooks" / "09_lab.html").read_text(encoding="utf-8")
    assert f'href="{URL}"' in page, "the repository button"
    assert "https://mybinder.org/v2/gh/example-org/seg-course/main?urlpath=lab/tree/notebooks/09_lab.ipynb" in page
    assert "https://colab.research.google.com/github/example-org/seg-course/blob/main/notebooks/09_lab.ipynb" in page
    assert "https://hub.example.edu/hub/user-redirect/git-pull?repo=" in page
    handout = nbformat.read(html_dir / "student" / "09_lab.ipynb", as_version=4)
    assert f"git clone --quiet --depth 1 {URL} " in handout.cells[2].source
    assert [c.source for c in handout.cells if "scaffold" in c.metadata.get("tags", [])] == ["# TODO\nx = ..."]
    # The download menu: the student version first, then the page's notebook, named as the solutions
    menu = page.split("dropdown-download-buttons", 1)[1].split("</ul>", 1)[0]
    links = re.findall(r'<a href="([^"]+)"', menu)
    assert links[:2] == ["../student/09_lab.ipynb", "../_sources/notebooks/09_lab.ipynb"], links
    assert "student version (.ipynb)" in menu and ".ipynb with solutions" in menu
    # ... and what it downloads works outside the book: citations as text, the install cell for the URL
    for name, path in [
        ("student version", html_dir / "student" / "09_lab.ipynb"),
        ("download", html_dir / "_sources" / "notebooks" / "09_lab.ipynb"),
    ]:
        handed = nbformat.read(path, as_version=4)
        assert "{cite" not in handed.cells[0].source and "(Everingham et al., 2010)" in handed.cells[0].source, name
        installs = [c for c in handed.cells if "install" in c.metadata.get("tags", [])]
        assert [c.source for c in installs] == [publish.install_source(URL)], name
    assert "{cite}`Everingham2010`" in (book / "notebooks" / "09_lab.ipynb").read_text(), "the source keeps its role"
    assert "Everingham et al., 2010" in page, "the book resolves the role"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_starts_with_the_current_install_cell(path):
    """The install cell is the first code cell, generated from seglib.publish for the URL in
    _config.yml; a notebook without it, or with another URL's, names the command that fixes it."""
    notebook = nbformat.read(path, as_version=4)
    _, changed = publish.with_install_cell(notebook, publish.repository_url(ROOT))
    assert not changed, (
        f"{path.name} lacks the current install cell; run: python tools/add_install_cell.py notebooks/{path.name}"
    )
    first = next(c for c in notebook.cells if c.cell_type == "code")
    assert "install" in first.metadata.tags and first.id == "install-course" and first.outputs == []


def _run_install_cell(monkeypatch, *, seglib_installed: bool, colab: bool):
    """Run the install cell as IPython would (magics transformed), with seglib present or not and
    in Colab or not; return the magics it ran."""
    import importlib.util
    import types
    from IPython.core.inputtransformer2 import TransformerManager

    magics = []
    shell = types.SimpleNamespace(
        run_line_magic=lambda name, line: magics.append((name, line)),
        system=lambda command: magics.append(("system", command)),
    )
    if not seglib_installed:
        real = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "seglib" else real(name, *a))
    if colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    code = TransformerManager().transform_cell(publish.install_source(URL))
    exec(compile(code, "install-cell", "exec"), {"get_ipython": lambda: shell})
    return magics


def test_the_install_cell_installs_only_in_colab_and_only_where_seglib_is_missing(monkeypatch, capsys):
    assert _run_install_cell(monkeypatch, seglib_installed=True, colab=False) == []
    assert _run_install_cell(monkeypatch, seglib_installed=True, colab=True) == []
    assert capsys.readouterr() == ("", ""), "with seglib installed the cell prints nothing (nbval compares it)"
    with pytest.raises(ModuleNotFoundError, match=r"seglib is not installed.*pip install -r requirements.txt"):
        _run_install_cell(monkeypatch, seglib_installed=False, colab=False)  # never downloads unasked
    folder = publish.COLAB_FOLDER
    assert _run_install_cell(monkeypatch, seglib_installed=False, colab=True) == [
        ("system", f"git clone --quiet --depth 1 {URL} {folder}"),
        ("pip", f'install --quiet -e "{folder}[course]"'),
    ]
    assert sys.path[0] == folder  # seglib and the checkpoints beside it, without a restart
    sys.path.remove(folder)
    assert publish.REPOSITORY_PLACEHOLDER in publish.install_source(None), "no URL: the cell shows where it goes"


def test_the_install_cell_goes_after_the_title_once_and_is_updated_in_place():
    title, code = nbformat.v4.new_markdown_cell("# 01 — T"), nbformat.v4.new_code_cell("x = 1", execution_count=1)
    notebook, changed = publish.with_install_cell(nbformat.v4.new_notebook(cells=[title, code]), None)
    assert changed and [c.cell_type for c in notebook.cells] == ["markdown", "code", "code"]
    assert notebook.cells[1].id == "install-course" and notebook.cells[2] == code, "the other cells are left alone"
    assert publish.with_install_cell(notebook, None) == (notebook, False), "a second run changes nothing"
    notebook.cells[1].execution_count = 1  # as executed; a new URL keeps the count
    updated, changed = publish.with_install_cell(notebook, URL)
    assert changed and updated.cells[1].source == publish.install_source(URL) and updated.cells[1].execution_count == 1
    assert len(updated.cells) == 3 and notebook.cells[1].source == publish.install_source(None), "input unchanged"
    with pytest.raises(ValueError, match="markdown title"):
        publish.with_install_cell(nbformat.v4.new_notebook(cells=[code]), URL)
