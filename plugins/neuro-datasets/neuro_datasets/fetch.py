"""``neuro data fetch antolik2016``: download, verify, then move the dataset into place.

The zip is downloaded to ``<dest>/.antolik2016.zip.part`` (an interrupted download resumes from
there with an HTTP Range request), unpacked into a hidden temporary folder beside ``<dest>/Data``,
every file is checked against the embedded checksums (:mod:`.checksums`), and only then is the
``Data`` folder renamed into place. Any failure raises DatasetError and leaves no ``Data`` folder
and no temporary folder behind; only a download cut off mid-way keeps its ``.part`` file, so the
next run resumes it.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath
from typing import Callable

from msc_neuro_cli.errors import DatasetError

from .checksums import EXPECTED, verify_tree

ANTOLIK_URL = ("https://journals.plos.org/ploscompbiol/article/file?type=supplementary"
               "&id=info:doi/10.1371/journal.pcbi.1004927.s001")
PART_NAME = ".antolik2016.zip.part"
CHUNK = 1 << 16

Progress = Callable[[int, int | None], None]  # (bytes so far, total or None)


def _as_url(url: str) -> str:
    """A local path (a copy of the zip) becomes a file:// URL."""
    if "://" in url:
        return url
    return Path(url).expanduser().resolve().as_uri()


def download(url: str, part: Path, progress: Progress | None = None, timeout: float = 60) -> None:
    """Download ``url`` into ``part``, continuing a partial file with a Range request."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "neuro-datasets"})
    if have and url.startswith(("http://", "https://")):
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (user-chosen URL)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the file is already complete
            return
        raise DatasetError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, socket.timeout, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DatasetError(f"{url}: cannot download ({reason})") from None
    with response:
        status = getattr(response, "status", None) or 200
        if status != 206:
            have = 0  # the server sent the whole file
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        done = have
        try:
            with open(part, "ab" if have else "wb") as out:
                while True:
                    block = response.read(CHUNK)
                    if not block:
                        break
                    out.write(block)
                    done += len(block)
                    if progress:
                        progress(done, total)
        except (OSError, socket.timeout, ConnectionError) as exc:
            raise DatasetError(f"{url}: download interrupted after {done} bytes ({exc}); "
                               f"run the command again to resume") from None
    if total is not None and done < total:
        raise DatasetError(f"{url}: download interrupted after {done} of {total} bytes; "
                           f"run the command again to resume")


def _safe_extract(archive: Path, into: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                name = PurePosixPath(info.filename)
                if name.is_absolute() or ".." in name.parts:
                    raise DatasetError(f"{archive}: unsafe path {info.filename!r} in the zip")
            bad = zf.testzip()
            if bad is not None:
                raise DatasetError(f"{archive}: {bad} is corrupt in the zip (CRC mismatch)")
            zf.extractall(into)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise DatasetError(f"{archive}: not a complete zip file ({exc}); truncated or corrupt download") from None


def _find_data_dir(root: Path) -> Path:
    """The unpacked ``Data`` folder (at the top of the zip or one level down)."""
    for candidate in [root / "Data", *sorted(root.glob("*/Data"))]:
        if (candidate / "region1").is_dir():
            return candidate
    raise DatasetError("the downloaded zip has no Data/region1 folder: is this the Antolik 2016 S1 dataset?")


def fetch_antolik2016(dest: Path, url: str = ANTOLIK_URL, expected: dict | None = None,
                      progress: Progress | None = None, timeout: float = 60) -> Path:
    """Download and verify the dataset into ``<dest>/Data``; returns that folder.

    ``expected`` overrides the embedded checksum table (``{"sha256": {...}, "git_blob": {...}}``
    keyed by paths like ``Data/region1/training_set.npy``); tests use it for stand-in files.
    """
    expected = EXPECTED if expected is None else expected
    dest = Path(dest).expanduser()
    target = dest / "Data"
    if target.exists():
        problems = verify_tree(dest, expected)
        if problems:
            raise DatasetError(f"{target}: already exists but does not match the published dataset "
                               f"({problems[0]}); move it away and fetch again")
        return target
    dest.mkdir(parents=True, exist_ok=True)
    part = dest / PART_NAME
    url = _as_url(url)
    download(url, part, progress, timeout)
    staging = Path(tempfile.mkdtemp(prefix=".antolik2016-", dir=dest))
    try:
        try:
            _safe_extract(part, staging)
            data = _find_data_dir(staging)
            problems = verify_tree(data.parent, expected)
            if problems:
                raise DatasetError(f"{url}: verification failed: {'; '.join(problems)}")
        except DatasetError:
            part.unlink(missing_ok=True)  # a complete but bad download: start afresh next time
            raise
        os.replace(data, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    part.unlink(missing_ok=True)
    return target
