"""Conventions every notebook keeps (CONTRIBUTING.md), checked before nbval runs them.

These catch, with a clear message, mistakes that otherwise show up as confusing nbval diffs or
as a broken book page.
"""

import json
import tokenize
import io
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
KNOWN_TAGS = {
    "nbval-ignore-output",
    "nbval-skip",
    "raises-exception",
    "remove-input",
    "remove-output",
    "remove-cell",
    "hide-input",
    "hide-output",
    "hide-cell",
    "solution",
    "scaffold",
    "solution-only",
    "install",
}


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell):
    return "".join(cell["source"])


def _ends_with_semicolon(code: str) -> bool:
    try:
        tokens = [
            t
            for t in tokenize.generate_tokens(io.StringIO(code).readline)
            if t.type
            not in (
                tokenize.NEWLINE,
                tokenize.NL,
                tokenize.COMMENT,
                tokenize.ENDMARKER,
                tokenize.INDENT,
                tokenize.DEDENT,
            )
        ]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return False
    return bool(tokens) and tokens[-1].string == ";"


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks/NN_topic.ipynb found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_executed_in_order(path):
    code = [c for c in _cells(path) if c["cell_type"] == "code" and _source(c).strip()]
    # tools/add_install_cell.py inserts the install cell without re-executing the notebook
    # (where seglib is installed it prints nothing): unexecuted, it is left out of the count.
    code = [c for c in code if not ("install" in c["metadata"].get("tags", []) and c.get("execution_count") is None)]
    counts = [c.get("execution_count") for c in code]
    assert counts == list(range(1, len(code) + 1)), (
        f"{path.name}: execution counts are {counts[:10]}...; re-execute it top to bottom in a fresh "
        f"kernel: python tools/execute_notebooks.py {path.relative_to(ROOT)}"
    )
    for i, cell in enumerate(code):
        tags = cell.get("metadata", {}).get("tags", [])
        for out in cell.get("outputs", []):
            if out["output_type"] == "error":
                assert "raises-exception" in tags, f"{path.name}: code cell {i} stored an error ({out['ename']})"
            if out["output_type"] == "stream" and out["name"] == "stderr":
                raise AssertionError(f"{path.name}: code cell {i} wrote to stderr: {''.join(out['text'])[:200]}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_layout_and_tags(path):
    cells = _cells(path)
    assert cells[0]["cell_type"] == "markdown" and _source(cells[0]).startswith("# "), (
        f"{path.name}: the first cell must be a markdown title '# NN — Topic' followed by learning goals"
    )
    assert "Summary" in _source(cells[-2]) + _source(cells[-1]) and "Exercises" in _source(cells[-1]), (
        f"{path.name}: the notebook must end with a summary and exercises"
    )
    for i, cell in enumerate(cells):
        unknown = set(cell.get("metadata", {}).get("tags", [])) - KNOWN_TAGS
        assert not unknown, (
            f"{path.name}: cell {i} has unknown tags {sorted(unknown)} (typo?); known: {sorted(KNOWN_TAGS)}"
        )
        if cell["cell_type"] == "code":
            assert "# NBVAL" not in _source(cell), f"{path.name}: cell {i} uses a '# NBVAL' comment; use a cell tag"
            assert not _ends_with_semicolon(_source(cell)), (
                f"{path.name}: cell {i} ends with ';'. nbval runs cells without storing history, so "
                "IPython does not see the ';' and the value is displayed anyway (a failing diff). "
                "End plotting cells with plt.show() instead."
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_in_the_book(path):
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    assert f"notebooks/{path.stem}" in toc, f"{path.name} is not listed in _toc.yml, so the book leaves it out"


def test_semicolon_detection():
    assert _ends_with_semicolon("plt.plot([1, 2]);")
    assert _ends_with_semicolon("x = 1\nf(x);  # comment\n")
    assert not _ends_with_semicolon("f(x)\nplt.show()")
    assert not _ends_with_semicolon("s = 'a;'")


README_COMMANDS = [
    "pip install -r requirements.txt",
    "command -v chromium >/dev/null || { sudo apt-get update && sudo apt-get install -y chromium; }",
    "pytest",
]


def _commands(lines) -> list[str]:
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def test_ci_runs_the_readme_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = readme.split("## Set up and test", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    assert _commands(setup.splitlines()) == README_COMMANDS, "README.md's set-up block changed; update .ci/run"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    marker = next(i for i, line in enumerate(ci) if line.startswith("# The README's commands, verbatim"))
    prelude = _commands(ci[:marker])  # shell options, cd, the sudo stand-in for root: no commands
    assert all(line.startswith(("set ", "cd ", "if ")) for line in prelude), prelude
    assert _commands(ci[marker:]) == README_COMMANDS, "CI must run exactly the README's set-up and test commands"
    requirements = (ROOT / "requirements.txt").read_text()
    assert requirements.rstrip().splitlines()[-1] == "-e .", "requirements.txt must end with -e ."
    assert yaml.safe_load((ROOT / "_config.yml").read_text())["only_build_toc_files"] is True


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_names_its_language_and_kernel(path):
    """Without language_info the book shows code unhighlighted (and warns); without a kernelspec
    Jupyter asks which kernel to use. tools/execute_notebooks.py records both."""
    metadata = json.loads(path.read_text(encoding="utf-8"))["metadata"]
    assert metadata.get("language_info", {}).get("name") == "python", (
        f"{path.name} has no language_info; execute it with tools/execute_notebooks.py"
    )
    assert metadata.get("kernelspec", {}).get("name") == "python3", (
        f"{path.name} has no python3 kernelspec; execute it with tools/execute_notebooks.py"
    )
