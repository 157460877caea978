"""Download limits of `neuro data fetch`: size bounds from the dataset's known file sizes,
checked while streaming (a real HTTP server on 127.0.0.1) and while unpacking."""

from __future__ import annotations

import http.server
import io
import threading
import zipfile

import pytest

from msc_neuro_cli.api import DatasetError
from neuro_datasets.checksums import SIZES
from neuro_datasets.fetch import ANTOLIK_LIMITS, PART_NAME, Limits, fetch_antolik2016

SMALL = Limits(frozenset({"Data/README", "Data/region1/training_set.npy"}), 50_000, 50_000)


class EndlessHandler(http.server.BaseHTTPRequestHandler):
    """``/endless`` streams without a length until the client hangs up (bounded: at most 64 MB);
    ``/huge`` announces a Content-Length of 10 GB and sends nothing."""

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        if self.path == "/huge":
            self.send_header("Content-Length", str(10 << 30))
            self.end_headers()
            return
        self.end_headers()
        try:
            for _ in range(1024):
                self.wfile.write(b"\0" * 65536)
                self.server.sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def endless():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EndlessHandler)
    httpd.sent = 0
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(httpd, path):
    return f"http://127.0.0.1:{httpd.server_address[1]}{path}"


def test_default_limits_follow_the_known_sizes():
    total = sum(SIZES.values())
    assert total < ANTOLIK_LIMITS.max_download <= 1.1 * total + (1 << 20)
    assert total < ANTOLIK_LIMITS.max_unpacked <= 1.1 * total + (1 << 20)
    assert ANTOLIK_LIMITS.members == set(SIZES)


def test_endless_response_is_cut_at_the_limit(endless, tmp_path):
    with pytest.raises(DatasetError, match=r"passed 50000 bytes.*refused and deleted"):
        fetch_antolik2016(tmp_path, _url(endless, "/endless"), limits=SMALL)
    assert not (tmp_path / PART_NAME).exists() and not (tmp_path / "Data").exists()


def test_announced_size_over_the_limit_is_refused_before_reading(endless, tmp_path):
    with pytest.raises(DatasetError, match=r"offers 10737418240 bytes.*refused"):
        fetch_antolik2016(tmp_path, _url(endless, "/huge"))
    assert list(tmp_path.iterdir()) == []


def _zip(members: dict[str, bytes], tmp_path) -> str:
    path = tmp_path / "s1.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return str(path)


def test_zip_bomb_is_refused_before_unpacking(tmp_path):
    # 40 MB of zeros deflate to about 40 kB: under the download limit, over the unpack limit
    archive = _zip({"Data/region1/training_set.npy": b"\0" * 40_000_000}, tmp_path)
    dest = tmp_path / "ds"
    with pytest.raises(DatasetError, match=r"would unpack 40000000 bytes.*refused"):
        fetch_antolik2016(dest, archive, limits=SMALL)
    assert sorted(p.name for p in dest.iterdir()) == []


def test_member_lying_about_its_size_is_refused(tmp_path):
    archive = tmp_path / "s1.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("Data/README", b"\0" * 200_000)
    # rewrite the declared size (central directory and local header) to 100 bytes
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.infolist()[0]
    for offset in (info.header_offset + 22, data.rfind(b"PK\x01\x02") + 24):
        data[offset:offset + 4] = (100).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    dest = tmp_path / "ds"
    with pytest.raises(DatasetError):
        fetch_antolik2016(dest, str(archive), limits=SMALL)
    assert sorted(p.name for p in dest.iterdir()) == []


def test_members_that_are_not_the_dataset_are_refused(tmp_path):
    archive = _zip({"Data/README": b"x", "Data/region1/extra.sh": b"echo hi"}, tmp_path)
    dest = tmp_path / "ds"
    with pytest.raises(DatasetError, match=r"'Data/region1/extra.sh' is not a file of this dataset"):
        fetch_antolik2016(dest, archive)
    assert sorted(p.name for p in dest.iterdir()) == []
