"""seglib.data.download: mirrors, MD5, atomic writes, and extraction that refuses path traversal.

Mirrors are file:// URLs and one local HTTP server; no network.
"""

import functools
import http.server
import io
import os
import tarfile
import threading
import zipfile

import pytest

from seglib.data.download import (
    ChecksumError,
    DownloadError,
    UnsafeArchiveError,
    download,
    file_md5,
    safe_extract,
)

PAYLOAD = b"VOC-ish bytes " * 5000


@pytest.fixture
def mirror(tmp_path):
    """A file to download, its MD5, and a URL for it plus one for a missing file."""
    source = tmp_path / "mirror" / "data.tar"
    source.parent.mkdir()
    source.write_bytes(PAYLOAD)
    return source.as_uri(), (tmp_path / "mirror" / "missing.tar").as_uri(), file_md5(source)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_first_mirror_missing_the_second_is_used(tmp_path, mirror, capsys):
    good, missing, md5 = mirror
    dest = tmp_path / "out" / "data.tar"
    assert download([missing, good], dest, md5) == dest
    assert dest.read_bytes() == PAYLOAD and leftovers(dest.parent) == ["data.tar"]
    assert "missing.tar" in capsys.readouterr().err  # each failure is reported


def test_checksum_mismatch_everywhere_fails_and_leaves_nothing(tmp_path, mirror):
    good, missing, _ = mirror
    dest = tmp_path / "out" / "data.tar"
    with pytest.raises(
        DownloadError,
        match=r"(?s)any of 2 mirror\(s\).*missing\.tar.*"
        r"data\.tar: .*failed checksum: expected MD5 0{32}, got .*put it at .*data\.tar",
    ):
        download([missing, good], dest, "0" * 32, progress=False)
    assert leftovers(dest.parent) == []  # no .part, no dest


def test_existing_file_is_kept_when_its_md5_matches_and_refused_when_not(tmp_path, mirror):
    _, missing, md5 = mirror
    dest = tmp_path / "data.tar"
    dest.write_bytes(PAYLOAD)
    assert download([missing], dest, md5, progress=False) == dest  # no mirror needed
    dest.write_bytes(b"truncated")
    with pytest.raises(ChecksumError, match=rf"data\.tar failed checksum: expected MD5 {md5}, got {file_md5(dest)}"):
        download([missing], dest, md5, progress=False)


def test_http_errors_are_caught_and_the_next_mirror_used(tmp_path, mirror):
    _, _, md5 = mirror
    served = tmp_path / "mirror"
    handler = functools.partial(QuietHandler, directory=str(served))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            dest = download([f"{base}/nope.tar", f"{base}/data.tar"], tmp_path / "data.tar", md5, progress=False)
        finally:
            server.shutdown()
    assert dest.read_bytes() == PAYLOAD


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


# --- Safe extraction -----------------------------------------------------------------------------


def add(tf, name, data=b"x", **fields):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in fields.items():
        setattr(info, key, value)
    tf.addfile(info, io.BytesIO(data) if info.isreg() else None)


def make_tar(path, evil=None):
    with tarfile.open(path, "w") as tf:
        add(tf, "VOCdevkit/VOC2012/ImageSets/Segmentation/train.txt", b"2007_000032\n")
        add(tf, "VOCdevkit/VOC2012/JPEGImages/a.jpg", b"jpeg")
        add(tf, "VOCdevkit/VOC2012/link.txt", type=tarfile.SYMTYPE, linkname="JPEGImages/a.jpg")
        if evil:
            evil(tf)
    return path


def test_good_archive_extracts_and_merges_into_an_existing_folder(tmp_path):
    archive = make_tar(tmp_path / "good.tar")
    target = tmp_path / "data"
    target.mkdir()
    (target / "README.md").write_text("kept")
    safe_extract(archive, target)
    voc = target / "VOCdevkit" / "VOC2012"
    assert (voc / "ImageSets" / "Segmentation" / "train.txt").read_bytes() == b"2007_000032\n"
    assert (voc / "link.txt").read_bytes() == b"jpeg"  # a link inside the target is fine
    assert (target / "README.md").read_text() == "kept"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left
    with pytest.raises(FileExistsError, match="would overwrite 3 existing file"):
        safe_extract(archive, target)  # never replaces files


EVIL = {
    "parent": lambda tf: add(tf, "../evil"),
    "nested parent": lambda tf: add(tf, "VOCdevkit/../../evil"),
    "absolute": lambda tf: add(tf, "/tmp/abs-evil"),
    "symlink out": lambda tf: add(tf, "etc", type=tarfile.SYMTYPE, linkname="/etc"),
    "relative symlink out": lambda tf: add(tf, "VOCdevkit/up", type=tarfile.SYMTYPE, linkname="../../.."),
    "hard link out": lambda tf: add(tf, "passwd", type=tarfile.LNKTYPE, linkname="../../etc/passwd"),
    "through a symlink": lambda tf: (
        add(tf, "here", type=tarfile.SYMTYPE, linkname="."),
        add(tf, "here/up", type=tarfile.SYMTYPE, linkname=".."),
    ),
    "device": lambda tf: add(tf, "dev", type=tarfile.CHRTYPE, devmajor=1, devminor=3),
}


@pytest.mark.parametrize("kind", list(EVIL))
def test_traversal_members_are_refused_before_anything_is_written(tmp_path, kind):
    archive = make_tar(tmp_path / "evil.tar", EVIL[kind])
    target = tmp_path / "a" / "data"
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(UnsafeArchiveError, match=r"(?s)refusing to extract .*nothing was written"):
        safe_extract(archive, target)
    assert sorted(os.listdir(tmp_path)) == before  # not even the target folder was created


def test_zip_archives_extract_and_traversal_is_refused(tmp_path):
    good, evil = tmp_path / "good.zip", tmp_path / "evil.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("VOCdevkit/VOC2012/a.txt", "ok")
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("ok.txt", "ok")
        zf.writestr("../evil.txt", "bad")
    safe_extract(good, tmp_path / "out")
    assert (tmp_path / "out" / "VOCdevkit" / "VOC2012" / "a.txt").read_text() == "ok"
    with pytest.raises(UnsafeArchiveError, match="'../evil.txt': path outside the target"):
        safe_extract(evil, tmp_path / "out2")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out2").exists()
