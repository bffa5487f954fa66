"""Put the install cell (seglib.publish.install_source) first among each notebook's code cells.

    python tools/add_install_cell.py                          # every notebooks/NN_*.ipynb
    python tools/add_install_cell.py notebooks/06_deeplab_and_crf.ipynb
    python tools/add_install_cell.py --check                  # exit 1 naming each notebook to update

The cell goes right after the title cell, with the repository URL of ``_config.yml``
(``repository: url:``); run the tool again after changing that URL. An existing install cell is
updated in place; every other cell, with its outputs and execution count, is left as it is, so a
notebook does not need re-executing: where seglib is installed the cell prints nothing, which is
what nbval compares against. A notebook that already has the current cell is not rewritten.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from seglib import publish

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks (default: every notebooks/NN_*.ipynb)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook needs the tool")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    url = publish.repository_url(ROOT)
    stale = []
    for path in paths:
        if not path.is_file():
            print(f"error: {path} is not a notebook file", file=sys.stderr)
            return 2
        notebook = nbformat.read(path, as_version=4)
        try:
            updated, changed = publish.with_install_cell(notebook, url)
        except ValueError as error:
            print(f"error: {path}: {error}", file=sys.stderr)
            return 2
        if not changed:
            print(f"{path}: install cell is current")
        elif args.check:
            stale.append(path)
            print(f"{path}: install cell missing or out of date")
        else:
            nbformat.write(updated, path)
            print(f"{path}: install cell written (installs from {url or publish.REPOSITORY_PLACEHOLDER})")
    if stale:
        print(f"run: python tools/add_install_cell.py {' '.join(str(p) for p in stale)}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
