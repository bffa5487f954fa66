"""The Jupyter Book builds with zero warnings and produces a page for every _toc.yml entry.

Runs `jupyter-book build <repo> -W -n --keep-going --path-output <tmp>`: the HTML, the doctree
and jupyter-cache all go under pytest's temporary folder, so the source tree is not written to.
Notebooks are not executed (`execute_notebooks: "off"` in _config.yml); the book shows the
outputs stored in them. Deselect with `pytest -m "not book"`.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
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


@pytest.mark.book
def test_book_builds_without_warnings(tmp_path):
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    pages = [_strip_suffix(entry) for entry in toc_files(toc)]
    assert pages and pages[0] == _strip_suffix(toc["root"]), "_toc.yml has no root page"

    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(
        [*JB, "build", str(ROOT), "-W", "-n", "--keep-going", "--path-output", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    # Sphinx colours its output even when piped; strip the escapes for readable messages.
    log = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + "\n" + proc.stderr)
    tail = "\n".join(log.splitlines()[-60:])
    assert proc.returncode == 0, f"jupyter-book build failed (rc={proc.returncode}):\n{tail}"

    warnings = [line for line in log.splitlines() if "WARNING" in line]
    assert not warnings, "the book build printed warnings:\n" + "\n".join(warnings)

    html = tmp_path / "_build" / "html"
    missing = [page for page in pages if not (html / f"{page}.html").is_file()]
    assert not missing, f"no HTML produced for these _toc.yml entries: {missing}\n{tail}"
