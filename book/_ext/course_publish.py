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
3. The page's download button hands out notebooks that work outside the book: each copy in
   ``_sources/`` gets its citations as text and the install cell for the book's URL
   (``seglib.publish.handout``); on a lab's page the menu offers the student version first and
   names the page's own notebook as the one with solutions.
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


def _url(app) -> str | None:
    return app.config.html_theme_options.get("repository_url") or None


def _write_student_versions(app) -> None:
    app.course_labs = set()  # docnames of the labs, for their pages' download menu
    if app.builder.format != "html":
        return
    from seglib import student

    out = Path(app.outdir) / "student"
    for path in sorted((Path(app.srcdir) / "notebooks").glob("*.ipynb")):
        if _is_lab(path):
            target = student.write_student_version(path, out, repository_url=_url(app))
            app.course_labs.add(f"notebooks/{path.stem}")
            logger.info(f"student version: {target}")


def _offer_the_student_version(app, pagename, templatename, context, doctree) -> None:
    """On a lab's page, after sphinx-book-theme has made its buttons (priority 501): the download
    menu's first entry is the student version; the page's own .ipynb is labelled as solutions."""
    if pagename not in getattr(app, "course_labs", ()):
        return
    group = next((b for b in context.get("header_buttons", []) if b.get("label") == "download-buttons"), None)
    if group is None:  # use_download_button: false
        return
    for button in group["buttons"]:
        if button.get("label") == "download-source-button" and button.get("text") == ".ipynb":
            button["text"] = ".ipynb with solutions"
            button["tooltip"] = "Download this page's notebook, with the solutions"
    group["buttons"].insert(
        0,
        {
            "type": "link",
            "url": context["pathto"](f"student/{Path(pagename).name}.ipynb", 1),
            "text": "student version (.ipynb)",
            "tooltip": "Download the lab for students: the tasks to fill in",
            "icon": "fas fa-user-graduate",
            "label": "download-student-button",
        },
    )


def _hand_out_sources(app, exception) -> None:
    """Rewrite the notebooks in ``_sources/`` (what the download button gives) as they leave the
    book: citations as text, the install cell for this book's repository URL."""
    if exception is not None or app.builder.format != "html":
        return
    import nbformat
    from seglib import publish

    labels = publish.citation_labels(Path(app.srcdir))
    for path in sorted((Path(app.outdir) / "_sources").rglob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        try:
            nbformat.write(publish.handout(notebook, citations=labels, repository_url=_url(app)), path)
        except ValueError as error:
            logger.warning(f"{path.name} is handed out as it is: {error}")


def setup(app):
    app.connect("config-inited", _on_config, priority=900)
    app.connect("builder-inited", _write_student_versions)
    app.connect("html-page-context", _offer_the_student_version, priority=600)
    app.connect("build-finished", _hand_out_sources)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
