"""``python -m seglib.data download [--root DIR] [--keep-archive]``: fetch PASCAL VOC 2012, the only
way the course downloads data. Apart from the floors of ``seglib.data``, like ``download``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .download import (
    VOC_ARCHIVE,
    ArchiveError,
    ChecksumError,
    DownloadError,
    IncompleteDatasetError,
    UnsafeArchiveError,
    download_voc,
)
from .paths import DATA_ENV


def main(argv=None) -> None:
    """``python -m seglib.data download [--root DIR] [--keep-archive]``."""
    parser = argparse.ArgumentParser(prog="python -m seglib.data", description="PASCAL VOC 2012 for the course.")
    commands = parser.add_subparsers(dest="command", required=True)
    get = commands.add_parser("download", help=f"download and extract {VOC_ARCHIVE} (~2 GB)")
    get.add_argument("--root", type=Path, default=None,
                     help=f"folder to hold VOCdevkit/ (default: ${DATA_ENV} or the repository's data/)")
    get.add_argument("--keep-archive", action="store_true", help="keep the .tar after extracting it")
    args = parser.parse_args(argv)
    try:
        path = download_voc(args.root, keep_archive=args.keep_archive)
    except (DownloadError, ChecksumError, UnsafeArchiveError, ArchiveError, IncompleteDatasetError, OSError) as err:
        parser.exit(1, f"error: {err}\n")  # a message, not a traceback: disk full, permissions, bad archive
    print(f"PASCAL VOC 2012 is ready in {path}")
