"""``neuro data fetch antolik2016``: download, verify, then move the dataset into place.

The zip is downloaded to ``<dest>/.antolik2016.zip.part`` (an interrupted download resumes from
there with an HTTP Range request), unpacked into a hidden temporary folder beside ``<dest>/Data``,
every file is checked against the embedded checksums (:mod:`.checksums`), and only then is the
``Data`` folder renamed into place. Any failure raises DatasetError and leaves no ``Data`` folder
and no temporary folder behind; only a download cut off mid-way keeps its ``.part`` file, so the
next run resumes it.

Limits (:class:`Limits`) come from the dataset's known file sizes: the download may not exceed
them (checked against Content-Length and while streaming), the archive may hold only the
dataset's files, and unpacking stops at their total size, so a wrong URL, an endless response or
a zip bomb cannot fill the disk.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

from msc_neuro_cli.api import DatasetError

from .checksums import EXPECTED, SIZES, verify_tree

ANTOLIK_URL = ("https://journals.plos.org/ploscompbiol/article/file?type=supplementary"
               "&id=info:doi/10.1371/journal.pcbi.1004927.s001")
PART_NAME = ".antolik2016.zip.part"
CHUNK = 1 << 16

Progress = Callable[[int, int | None], None]  # (bytes so far, total or None)

SIZE_MARGIN = 1.05      # over the dataset's known total size
SIZE_SLACK = 1 << 20    # zip headers, folder entries


@dataclass(frozen=True)
class Limits:
    """What one download may bring: the dataset's files (paths like ``Data/region1/x.npy``),
    the bytes it may download and the bytes it may unpack."""

    members: frozenset[str]
    max_download: int
    max_unpacked: int

    @classmethod
    def from_sizes(cls, sizes: dict[str, int]) -> "Limits":
        bound = int(sum(sizes.values()) * SIZE_MARGIN) + SIZE_SLACK
        return cls(frozenset(sizes), bound, bound)


ANTOLIK_LIMITS = Limits.from_sizes(SIZES)


def _as_url(url: str) -> str:
    """A local path (a copy of the zip) becomes a file:// URL."""
    if "://" in url:
        return url
    return Path(url).expanduser().resolve().as_uri()


def download(url: str, part: Path, progress: Progress | None = None, timeout: float = 60,
             max_bytes: int | None = None) -> None:
    """Download ``url`` into ``part``, continuing a partial file with a Range request; more than
    ``max_bytes`` in all is refused (the partial file is deleted)."""
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
        total = have + int(length) if length is not None and length.isdigit() else None
        if max_bytes is not None and total is not None and total > max_bytes:
            part.unlink(missing_ok=True)
            raise DatasetError(f"{url}: the server offers {total} bytes, more than the {max_bytes} "
                               "this dataset can take; refused")
        done = have
        try:
            with open(part, "ab" if have else "wb") as out:
                while block := response.read(CHUNK):
                    done += len(block)
                    if max_bytes is not None and done > max_bytes:
                        break
                    out.write(block)
                    if progress:
                        progress(done, total)
        except (OSError, socket.timeout, ConnectionError) as exc:
            raise DatasetError(f"{url}: download interrupted after {done} bytes ({exc}); "
                               f"run the command again to resume") from None
        if max_bytes is not None and done > max_bytes:
            part.unlink(missing_ok=True)
            raise DatasetError(f"{url}: the download passed {max_bytes} bytes, more than this dataset "
                               "can take; refused and deleted")
    if total is not None and done < total:
        raise DatasetError(f"{url}: download interrupted after {done} of {total} bytes; "
                           f"run the command again to resume")


def _safe_extract(archive: Path, into: Path, limits: Limits) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            files = [info for info in zf.infolist() if not info.is_dir()]
            for info in files:
                _check_member(archive, info.filename, limits)
            declared = sum(info.file_size for info in files)
            if declared > limits.max_unpacked:
                raise DatasetError(f"{archive}: would unpack {declared} bytes, more than the "
                                   f"{limits.max_unpacked} of this dataset; refused")
            budget = limits.max_unpacked
            for info in files:  # streamed with a byte budget: declared sizes may lie
                target = into / PurePosixPath(info.filename)
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    while block := src.read(CHUNK):
                        budget -= len(block)
                        if budget < 0:
                            raise DatasetError(f"{archive}: unpacks to more than the "
                                               f"{limits.max_unpacked} bytes of this dataset; refused")
                        dst.write(block)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise DatasetError(f"{archive}: not a complete zip file ({exc}); truncated or corrupt download") from None


def _check_member(archive: Path, filename: str, limits: Limits) -> None:
    """Only the dataset's own files, at the top of the zip or under one folder."""
    name = PurePosixPath(filename)
    if name.is_absolute() or ".." in name.parts:
        raise DatasetError(f"{archive}: unsafe path {filename!r} in the zip")
    parts = name.parts
    if "/".join(parts) not in limits.members and "/".join(parts[1:]) not in limits.members:
        raise DatasetError(f"{archive}: {filename!r} is not a file of this dataset; refused")


def _find_data_dir(root: Path) -> Path:
    """The unpacked ``Data`` folder (at the top of the zip or one level down)."""
    for candidate in [root / "Data", *sorted(root.glob("*/Data"))]:
        if (candidate / "region1").is_dir():
            return candidate
    raise DatasetError("the downloaded zip has no Data/region1 folder: is this the Antolik 2016 S1 dataset?")


def fetch_antolik2016(dest: Path, url: str = ANTOLIK_URL, expected: dict | None = None,
                      progress: Progress | None = None, timeout: float = 60,
                      limits: Limits = ANTOLIK_LIMITS) -> Path:
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
    download(url, part, progress, timeout, limits.max_download)
    staging = Path(tempfile.mkdtemp(prefix=".antolik2016-", dir=dest))
    try:
        try:
            _safe_extract(part, staging, limits)
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
