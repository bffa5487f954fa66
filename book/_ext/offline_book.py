"""Sphinx extension that keeps the built book working with no network (DESIGN.md, "Book").

Registered in _config.yml under ``sphinx: local_extensions``. MathJax is pointed at the copy
in ``book/_vendor/`` by plain configuration (``mathjax_path``); the book loads no ipywidgets
manager (``nb_ipywidgets_js: {}``: live widgets are removed from pages, their static twins
show instead). This extension does what configuration cannot:

1. Stored notebook outputs may link assets on a CDN: matplotlib's ``to_jshtml()`` animations
   link Font Awesome 4.4 on maxcdn. Such links in a page's body are rewritten to the vendored
   copies in ``LOCAL_COPIES``.
2. Sphinx 7.4 writes inline ``<script>`` bodies that an extension adds after the builder
   started twice (``None`` and ``''`` filenames compare unequal; fixed upstream in Sphinx
   PR #13402). sphinx-thebe's ``const THEBE_JS_URL = ...`` then throws "Identifier
   'THEBE_JS_URL' has already been declared" on every page. Duplicates are dropped.

Finally every page is checked: a ``<script src>``, stylesheet, ``<img src>`` or similar that
still points at http(s) is a build warning, so ``jupyter-book build -W`` (tests/test_book.py)
fails on an asset that would not load offline even where no browser is installed to run
tests/test_browser.py.
"""

from __future__ import annotations

import re

from sphinx.util import logging

logger = logging.getLogger(__name__)

# CDN address in stored outputs -> vendored copy under book/_vendor/ (served from _static/).
LOCAL_COPIES = {
    "https://maxcdn.bootstrapcdn.com/font-awesome/4.4.0/css/font-awesome.min.css": "font-awesome/css/font-awesome.min.css",
}

# What makes a browser fetch something as the page loads: src attributes, stylesheet/preload/
# icon links and CSS urls. (<a href>, <link rel="canonical"> and the like fetch nothing.)
_FETCHING = re.compile(
    r"""(?:<(?:script|img|iframe|audio|video|source|track|embed|input)\b[^>]*?\ssrc\s*=\s*["']?(?:https?:)?//"""
    r"""|<link\b(?=[^>]*\srel\s*=\s*["']?[^"'>]*\b(?:stylesheet|preload|modulepreload|icon|manifest)\b)"""
    r"""[^>]*?\shref\s*=\s*["']?(?:https?:)?//"""
    r"""|@import\s+(?:url\()?\s*["']?(?:https?:)?//"""
    r"""|url\(\s*["']?(?:https?:)?//)"""
    r"""[^"'\s>)]*""",  # the address itself, for the message
    re.IGNORECASE,
)


def _asset_key(asset) -> tuple:
    attributes = getattr(asset, "attributes", {})
    return _filename(asset), getattr(asset, "priority", 500), tuple(sorted((k, str(v)) for k, v in attributes.items()))


def _drop_duplicate_scripts(context: dict) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for asset in scripts:
        key = _asset_key(asset)
        if key not in seen:
            seen.add(key)
            unique.append(asset)
    scripts[:] = unique  # the builder's own list: the same object for every page


def _use_local_copies(context: dict) -> None:
    body = context.get("body")
    if not body:
        return
    for url, local in LOCAL_COPIES.items():
        if url in body:
            body = body.replace(url, context["pathto"]("_static/" + local, 1))
    context["body"] = body


def _filename(asset) -> str:
    return str(getattr(asset, "filename", asset) or "")


def _check_offline(pagename: str, context: dict) -> None:
    assets = [_filename(a) for key in ("script_files", "css_files") for a in context.get(key) or []]
    remote = [name for name in assets if "://" in name or name.startswith("//")]
    remote += [" ".join(m.group(0).split())[-160:] for m in _FETCHING.finditer(context.get("body") or "")]
    for item in remote:
        logger.warning(
            "%s: loads %s from the network; the book must work offline (vendor it under "
            "book/_vendor/ and map it in book/_ext/offline_book.py)",
            pagename,
            item,
            type="offline_book",
            subtype="remote_asset",
        )


def _on_page(app, pagename, templatename, context, doctree):
    _drop_duplicate_scripts(context)
    _use_local_copies(context)


def _on_page_check(app, pagename, templatename, context, doctree):
    _check_offline(pagename, context)


def setup(app):
    # After myst-nb (500) and sphinx.ext.mathjax have added their per-page scripts.
    app.connect("html-page-context", _on_page, priority=900)
    app.connect("html-page-context", _on_page_check, priority=999)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
