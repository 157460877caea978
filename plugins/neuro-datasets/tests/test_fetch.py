"""`neuro data fetch antolik2016` against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import io
import re
import socket
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from msc_neuro_cli.api import DatasetError
from neuro_datasets.checksums import EXPECTED, SHA256, git_blob_id
from neuro_datasets.fetch import PART_NAME, fetch_antolik2016

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "antolik2016"
pytestmark = pytest.mark.skipif(not (SHARED / "Data").exists(), reason="shared Antolik data not present")
ROWS = {1: 1800, 2: 1260, 3: 1800}


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory) -> tuple[Path, dict]:
    """Stand-in training inputs of the published shape, and the checksum table that matches them."""
    folder = tmp_path_factory.mktemp("stand_ins")
    blobs = {}
    for region, rows in ROWS.items():
        path = folder / f"region{region}_training_inputs.npy"
        pixels = np.random.default_rng(region).integers(0, 256, (rows, 961))
        np.save(path, pixels.astype(np.float64) / 1e6)
        blobs[f"Data/region{region}/training_inputs.npy"] = git_blob_id(path)
    assert set(blobs) == set(EXPECTED["git_blob"])
    return folder, {"sha256": dict(SHA256), "git_blob": blobs}


_CACHE: dict = {}


def build_zip(stand_ins: Path, change: str | None = None, prefix: str = "") -> bytes:
    key = (stand_ins, change, prefix)
    if key not in _CACHE:
        _CACHE[key] = _build_zip(stand_ins, change, prefix)
    return _CACHE[key]


def _build_zip(stand_ins: Path, change: str | None, prefix: str) -> bytes:
    """The S1 zip layout from the real files; ``change`` flips one byte of that file."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:  # stored: fast to build
        files = {rel: (SHARED / rel).read_bytes() for rel in SHA256}
        for region in ROWS:
            files[f"Data/region{region}/training_inputs.npy"] = (
                stand_ins / f"region{region}_training_inputs.npy").read_bytes()
        for rel, content in sorted(files.items()):
            if rel == change:
                content = content[:-1] + bytes([content[-1] ^ 1])
            zf.writestr(prefix + rel, content)
    return buffer.getvalue()


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files``; honours ``Range: bytes=N-``; can drop the connection mid-body."""

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        self.server.requests.append((self.path, self.headers.get("Range")))
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match:
            start = int(match.group(1))
            if start >= len(body):
                self.send_error(416, "Range Not Satisfiable")
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        payload = body[start:]
        if self.server.drop_after is not None:
            payload, self.server.drop_after = payload[:self.server.drop_after], None
            self.wfile.write(payload)
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(payload)


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.files, httpd.requests, httpd.drop_after = {}, [], None
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def url_of(httpd, path: str) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}{path}"


def leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def test_fetch_verifies_and_installs(server, stand_ins, tmp_path):
    folder, table = stand_ins
    server.files["/s1.zip"] = build_zip(folder)
    seen = []
    target = fetch_antolik2016(tmp_path / "ds", url_of(server, "/s1.zip"), expected=table,
                               progress=lambda done, total: seen.append((done, total)))
    assert target == tmp_path / "ds" / "Data"
    assert leftovers(tmp_path / "ds") == ["Data"]  # no .part, no staging folder
    assert seen[-1] == (len(server.files["/s1.zip"]),) * 2
    from neuro_datasets import AntolikDataset
    data = AntolikDataset({"path": "ds", "regions": [1, 2, 3]}, tmp_path).load()
    assert data.train_y.shape == (4860, 260)
    # A second fetch finds the verified folder and downloads nothing.
    server.requests.clear()
    assert fetch_antolik2016(tmp_path / "ds", url_of(server, "/s1.zip"), expected=table) == target
    assert server.requests == []


def test_zip_with_a_top_folder(server, stand_ins, tmp_path):
    folder, table = stand_ins
    server.files["/s1.zip"] = build_zip(folder, prefix="S1_Dataset/")
    fetch_antolik2016(tmp_path, url_of(server, "/s1.zip"), expected=table)
    assert (tmp_path / "Data/region3/raw_validation_set.npy").is_file()


def test_interrupted_download_resumes_with_range(server, stand_ins, tmp_path):
    folder, table = stand_ins
    body = build_zip(folder)
    server.files["/s1.zip"] = body
    server.drop_after = 1_000_000
    with pytest.raises(DatasetError, match="interrupted after 1000000 .*run the command again"):
        fetch_antolik2016(tmp_path, url_of(server, "/s1.zip"), expected=table)
    assert leftovers(tmp_path) == [PART_NAME]
    assert (tmp_path / PART_NAME).stat().st_size == 1_000_000
    fetch_antolik2016(tmp_path, url_of(server, "/s1.zip"), expected=table)
    assert server.requests[-1] == ("/s1.zip", "bytes=1000000-")
    assert leftovers(tmp_path) == ["Data"]


def test_checksum_mismatch_leaves_nothing(server, stand_ins, tmp_path):
    folder, table = stand_ins
    server.files["/bad.zip"] = build_zip(folder, change="Data/region2/validation_set.npy")
    with pytest.raises(DatasetError, match=r"verification failed: Data/region2/validation_set.npy: sha256 mismatch"):
        fetch_antolik2016(tmp_path, url_of(server, "/bad.zip"), expected=table)
    assert leftovers(tmp_path) == []
    server.files["/bad.zip"] = build_zip(folder, change="Data/region3/training_inputs.npy")
    with pytest.raises(DatasetError, match=r"region3/training_inputs.npy: git_blob mismatch"):
        fetch_antolik2016(tmp_path, url_of(server, "/bad.zip"), expected=table)
    assert leftovers(tmp_path) == []


def test_embedded_table_rejects_stand_ins(server, stand_ins, tmp_path):
    server.files["/s1.zip"] = build_zip(stand_ins[0])
    with pytest.raises(DatasetError, match=r"region1/training_inputs.npy: git_blob mismatch"):
        fetch_antolik2016(tmp_path, url_of(server, "/s1.zip"))  # the real published ids
    assert leftovers(tmp_path) == []


def test_truncated_zip(server, stand_ins, tmp_path):
    folder, table = stand_ins
    body = build_zip(folder)
    server.files["/cut.zip"] = body[: len(body) // 2]  # served as if complete
    with pytest.raises(DatasetError, match="not a complete zip file"):
        fetch_antolik2016(tmp_path, url_of(server, "/cut.zip"), expected=table)
    assert leftovers(tmp_path) == []


def test_missing_file_in_zip(server, stand_ins, tmp_path):
    folder, table = stand_ins
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(build_zip(folder))) as src, zipfile.ZipFile(buffer, "w") as dst:
        for info in src.infolist():
            if info.filename != "Data/README":
                dst.writestr(info, src.read(info))
    server.files["/short.zip"] = buffer.getvalue()
    with pytest.raises(DatasetError, match=r"Data/README: missing"):
        fetch_antolik2016(tmp_path, url_of(server, "/short.zip"), expected=table)
    assert leftovers(tmp_path) == []


def test_http_error_and_no_network(server, tmp_path):
    with pytest.raises(DatasetError, match=r"/missing.zip: HTTP 404"):
        fetch_antolik2016(tmp_path, url_of(server, "/missing.zip"))
    assert leftovers(tmp_path) == []
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DatasetError, match="cannot download"):
        fetch_antolik2016(tmp_path, f"http://127.0.0.1:{port}/s1.zip", timeout=5)
    assert leftovers(tmp_path) == []


def test_unsafe_zip_paths_are_refused(server, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("../evil.txt", b"x")
    server.files["/evil.zip"] = buffer.getvalue()
    with pytest.raises(DatasetError, match="unsafe path"):
        fetch_antolik2016(tmp_path / "d", url_of(server, "/evil.zip"))
    assert not (tmp_path / "evil.txt").exists() and leftovers(tmp_path / "d") == []


def test_local_copy_and_existing_bad_folder(stand_ins, tmp_path):
    folder, table = stand_ins
    zip_path = tmp_path / "copy.zip"
    zip_path.write_bytes(build_zip(folder))
    fetch_antolik2016(tmp_path / "a", str(zip_path), expected=table)
    assert (tmp_path / "a/Data/region2/training_set.npy").is_file()
    (tmp_path / "a/Data/README").write_text("changed")
    with pytest.raises(DatasetError, match=r"already exists but does not match .*Data/README: sha256 mismatch"):
        fetch_antolik2016(tmp_path / "a", str(zip_path), expected=table)


def test_cli_fetch(server, stand_ins, tmp_path, monkeypatch):
    """Through the Typer command (with the checksum table swapped for the stand-ins' one)."""
    import typer
    from typer.testing import CliRunner

    from neuro_datasets import checksums, commands

    folder, table = stand_ins
    server.files["/s1.zip"] = build_zip(folder)
    monkeypatch.setitem(checksums.EXPECTED, "git_blob", table["git_blob"])
    app = typer.Typer()
    app.command()(commands.fetch)
    result = CliRunner().invoke(app, ["antolik2016", "--dest", str(tmp_path), "--url", url_of(server, "/s1.zip")])
    assert result.exit_code == 0, result.output
    assert "verified" in result.output and (tmp_path / "Data/region1/training_inputs.npy").is_file()
