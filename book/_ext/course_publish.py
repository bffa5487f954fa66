"""Sphinx extension for publishing the course: the student path ships with the book.

Registered in _config.yml under ``sphinx: local_extensions``.

1. The student version of every lab notebook (a notebook with cells tagged ``solution``) is
   written by ``seglib.student`` into the built HTML, at ``student/<name>.ipynb``: the same
   place, relative to the page, as ``python -m seglib.student ... -o student/`` puts it in a
   checkout, so the lab's link works in both. Publishing the book publishes the student path.
2. ``repository: url:`` in _config.yml is the one place to say where the repository lives.
   When it is set, the page header gets the repository button and the launch buttons
   (Binder, Colab, and JupyterHub when ``launch_buttons: jupyterhub_url`` names a hub); when it
   is empty, sphinx-book-theme shows no launch button at all, so nothing shows broken.
"""
from __future__ import annotations

import json
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)


def _on_config(app, config) -> None:
    options = config.html_theme_options
    url = (options.get("repository_url") or "").strip()
    if url:
        options["use_repository_button"] = True
    else:
        options.pop("repository_url", None)  # an empty URL means: not published from a repository
        launch = dict(options.get("launch_buttons") or {})
        for key in ("binderhub_url", "colab_url", "jupyterhub_url", "jupyterlite_url"):
            launch[key] = ""  # sphinx-book-theme fails on launch links without a repository
        options["launch_buttons"] = launch


def _is_lab(path: Path) -> bool:
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    return any("solution" in cell.get("metadata", {}).get("tags", []) for cell in cells)


def _write_student_versions(app) -> None:
    if app.builder.format != "html":
        return
    from seglib import student

    url = app.config.html_theme_options.get("repository_url") or None
    out = Path(app.outdir) / "student"
    for path in sorted((Path(app.srcdir) / "notebooks").glob("*.ipynb")):
        if _is_lab(path):
            target = student.write_student_version(path, out, repository_url=url)
            logger.info(f"student version: {target}")


def setup(app):
    app.connect("config-inited", _on_config, priority=900)
    app.connect("builder-inited", _write_student_versions)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
