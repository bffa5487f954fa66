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

from test_book import JB

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# import name -> distribution name, where they differ
DISTRIBUTIONS = {"cv2": "opencv-python-headless", "skimage": "scikit-image", "sklearn": "scikit-learn",
                 "PIL": "pillow", "segmentation_models_pytorch": "segmentation-models-pytorch",
                 "IPython": "ipython"}


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
    missing = {module: where for module, where in needed.items()
               if DISTRIBUTIONS.get(module, module).lower().replace("_", "-") not in installed}
    assert not missing, f"imported but not installed by `pip install seglib[course]` (pyproject.toml): {missing}"


def test_the_repository_url_is_read_from_its_one_place(tmp_path):
    from seglib import student

    (tmp_path / "_config.yml").write_text("title: x\nrepository:\n  url: \"\"   # e.g. ...\n  branch: main\n")
    assert student._repository_url(tmp_path) is None
    (tmp_path / "_config.yml").write_text("repository:\n  branch: main\n  url: https://github.com/o/r  # ours\n")
    assert student._repository_url(tmp_path) == "https://github.com/o/r"
    assert student._repository_url(ROOT) is None, "the committed _config.yml publishes no URL"


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
    config["sphinx"]["local_extensions"] = {name: str(ROOT / "book" / "_ext")
                                            for name in config["sphinx"]["local_extensions"]}
    config["sphinx"]["config"]["html_static_path"] = [str(ROOT / "book" / "_vendor")]
    config["sphinx"]["extra_extensions"] = []
    book = tmp_path / "src"
    (book / "book").mkdir(parents=True)
    (book / "notebooks").mkdir()
    shutil.copy(ROOT / "book" / "references.bib", book / "book" / "references.bib")
    (book / "_config.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    (book / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: notebooks/09_lab\n")
    (book / "book" / "intro.md").write_text("# A course\n\nOne lab.\n")
    lab = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 09 — Lab\n\nFill in the task."),
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["solution"]}),
        nbformat.v4.new_raw_cell("# TODO\nx = ...", metadata={"tags": ["scaffold", "remove-cell"]}),
        nbformat.v4.new_markdown_cell("## Summary\nx.\n\n## Exercises\n1. y")])
    lab.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    lab.metadata["language_info"] = {"name": "python"}
    nbformat.write(lab, book / "notebooks" / "09_lab.ipynb")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([*JB, "build", str(book), "--path-output", str(tmp_path / "out")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    html_dir = tmp_path / "out" / "_build" / "html"
    page = (html_dir / "notebooks" / "09_lab.html").read_text(encoding="utf-8")
    assert f'href="{URL}"' in page, "the repository button"
    assert "https://mybinder.org/v2/gh/example-org/seg-course/main?urlpath=lab/tree/notebooks/09_lab.ipynb" in page
    assert f"https://colab.research.google.com/github/example-org/seg-course/blob/main/notebooks/09_lab.ipynb" in page
    assert "https://hub.example.edu/hub/user-redirect/git-pull?repo=" in page
    handout = nbformat.read(html_dir / "student" / "09_lab.ipynb", as_version=4)
    assert f'"seglib[course] @ git+{URL}"' in handout.cells[2].source
    assert [c.source for c in handout.cells if "scaffold" in c.metadata.get("tags", [])] == ["# TODO\nx = ..."]
