"""Sphinx extension for how the book reads: author–year references and a small stylesheet.

Registered in _config.yml under ``sphinx: local_extensions``.

1. **References.** sphinxcontrib-bibtex's default bibliography style labels the list on
   book/references.md alphabetically ("[KHG+19]") and mangles names with LaTeX accents
   ("Cire{\\c{s}}an" became "[CirecsanGGS12]"), while the text cited author–year. The pybtex
   style ``author_year`` registered here labels each entry "Kirillov et al., 2019" (accents
   decoded; "2018a", "2018b" when two entries would share a label) and sorts the list by first
   author, year and title; ``bibtex_default_style: author_year`` in _config.yml selects it, and
   ``bibtex_reference_style: label`` makes every ``{cite}`` in the text print that same label,
   so a citation and its entry always read alike.
2. **Stylesheet** (``static/book.css``): code (cells, outputs, code blocks) wraps long lines
   instead of scrolling sideways, and ``seglib.viz.Table`` outputs look like the book's own
   tables. tests/test_browser.py fails when a code block, table or figure overflows the content
   column.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from pathlib import Path

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting import BaseSortingStyle

STATIC = Path(__file__).parent / "static"


def _surname(person) -> str:
    """A person's last name(s) as plain text, LaTeX accents decoded: Cire{\\c{s}}an -> Cireşan."""
    parts = person.prelast_names + person.last_names
    return " ".join(Text.from_latex(part).render_as("text") for part in parts)


def _persons(entry):
    return entry.persons.get("author") or entry.persons.get("editor") or []


def _plain(text: str) -> str:
    """Lower case without accents, for sorting: Cireşan sorts as ciresan."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


def author_year_label(entry) -> str:
    """ "Surname, Year", "Surname and Surname, Year" or "Surname et al., Year", as cited in the text."""
    names = [_surname(p) for p in _persons(entry)]
    if not names:
        who = entry.fields.get("title", entry.key)
    elif len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    year = entry.fields.get("year", "")
    return f"{who}, {year}" if year else who


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        labels = [author_year_label(entry) for entry in entries]
        counts, seen = Counter(labels), Counter()
        for label in labels:
            if counts[label] > 1:  # two works with the same authors and year: 2018a, 2018b
                seen[label] += 1
                yield label + "abcdefghijklmnopqrstuvwxyz"[seen[label] - 1]
            else:
                yield label


class FirstAuthorYearTitle(BaseSortingStyle):
    """The list in the order of its labels: first author's surname, year, then title (which
    decides between 2018a and 2018b)."""

    def sorting_key(self, entry):
        persons = _persons(entry)
        first = _plain(_surname(persons[0])) if persons else ""
        title = _plain(Text.from_latex(entry.fields.get("title", "")).render_as("text"))
        return (first, entry.fields.get("year", ""), title)


class AuthorYearStyle(UnsrtStyle):
    default_label_style = AuthorYearLabels
    default_sorting_style = FirstAuthorYearTitle


def _add_static(app, config) -> None:
    config.html_static_path.append(str(STATIC))


def setup(app):
    register_plugin("pybtex.style.labels", "author_year", AuthorYearLabels)
    register_plugin("pybtex.style.formatting", "author_year", AuthorYearStyle)
    app.connect("config-inited", _add_static)
    app.add_css_file("book.css")
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
