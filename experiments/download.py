"""Download a file from a list of mirrors, verify its MD5, and never leave a corrupt copy.

The bytes are streamed into a temporary file beside the destination while their MD5 is
computed; only a complete file with the expected checksum is renamed into place
(``os.replace``, atomic), so an interrupted download or a bad mirror leaves the cache
as it was. Mirrors are tried in turn until one delivers the right bytes, within one
deadline for them all, so a network that swallows packets costs seconds, not minutes.

A failed attempt can be remembered in a small JSON file (:func:`remember_failure`), so
that the next runs, for a while, skip the network at once instead of waiting again
(:func:`recent_failure`).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, TextIO

from gates._util import atomic_path, atomic_write_text

__all__ = ["DownloadError", "download", "file_md5", "DEFAULT_DEADLINE", "RecentFailure",
           "remember_failure", "recent_failure", "forget_failure", "minutes_ago"]

_CHUNK = 1 << 16
#: seconds that one download (all its mirrors) may wait for a server to answer
DEFAULT_DEADLINE = 15.0


class DownloadError(OSError):
    """No mirror delivered the file with the expected checksum; the message lists each
    URL tried and why it failed.

    ``failures`` holds ``(url, reason)`` for every mirror; it is empty when the download
    could not even start (the destination folder cannot be made or written), which is
    no fault of the network.
    """

    failures: tuple = ()

    def summary(self) -> str:
        """Each mirror's host and failure on one line, e.g. ``"a.org: HTTP 404 Not
        Found; b.org: no answer within 15 s"``; the message when there are none."""
        if not self.failures:
            return _one_line(self)
        return "; ".join(f"{urllib.parse.urlsplit(url).netloc or url}: {reason}"
                         for url, reason in self.failures)


def file_md5(path) -> str:
    """The hex MD5 digest of a file's bytes."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _one_line(text) -> str:
    """A failure reason on one line (urllib's redirect-loop message spans three)."""
    return " ".join(str(text).split())


def _isatty(stream) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):    # no isatty, or a closed stream
        return False


class _ProgressLine:
    """One line on a terminal, redrawn with \\r at most 10 times a second: the file's
    name, the percentage and the bytes so far. Draws nothing when ``stream`` is not a
    terminal (a log or a pipe would fill with redraws)."""

    def __init__(self, stream: TextIO | None, name: str, total: int | None):
        self.stream = stream if _isatty(stream) else None
        self.name, self.total = name, total
        self._drawn, self._last = 0, 0.0

    def update(self, received: int, final: bool = False) -> None:
        """Redraw for ``received`` bytes; ``final`` draws even within the 0.1 s."""
        if self.stream is None:
            return
        now = time.monotonic()
        if not final and now - self._last < 0.1:
            return
        self._last = now
        if self.total:
            text = (f"  {self.name}: {100 * received / self.total:3.0f}% of "
                    f"{self.total:,} bytes")
        else:
            text = f"  {self.name}: {received:,} bytes"
        self.stream.write("\r" + text.ljust(self._drawn))
        self.stream.flush()
        self._drawn = len(text)

    def clear(self) -> None:
        """Erase the line, so what is printed next starts on a clean one."""
        if self.stream is not None and self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self.stream.flush()
            self._drawn = 0


def _open(url: str, seconds: float):
    """``urllib.request.urlopen(url)``, waited for at most ``seconds``.

    The socket timeout alone does not bound the wait: a name lookup that hangs (a
    network whose DNS swallows packets) ignores it. So the request is made in a helper
    thread and abandoned when it has not answered in time; if it answers later, the
    thread closes the response itself. The thread touches no file, so abandoning it
    leaves nothing behind.

    Returns the response (its reads time out after ``seconds`` of silence); raises
    TimeoutError when there is no answer within ``seconds`` (whether the socket's
    timeout or the wait ran out first), else what urlopen raises.
    """
    box: dict = {}
    lock = threading.Lock()
    answered = threading.Event()

    def request():
        try:
            box["response"] = urllib.request.urlopen(url, timeout=seconds)
        except Exception as exc:       # handed to the waiting thread, raised there
            box["error"] = exc
        with lock:
            answered.set()
            abandoned = box.get("abandoned", False)
        if abandoned and "response" in box:
            box["response"].close()

    threading.Thread(target=request, name=f"download {url}", daemon=True).start()
    try:
        answered.wait(seconds)
    finally:
        # also on Ctrl-C: a late answer must be closed by the thread, not leaked
        with lock:
            box["abandoned"] = not answered.is_set()
    no_answer = TimeoutError(f"no answer within {seconds:.3g} s")
    if box["abandoned"]:
        raise no_answer
    error = box.get("error")
    # the socket's own timeout: raw while waiting for the reply, a URLError before
    if isinstance(error, TimeoutError) or (isinstance(error, urllib.error.URLError)
                                           and isinstance(error.reason, TimeoutError)):
        raise no_answer from None
    if error is not None:
        raise error
    return box["response"]


def _read(response, silence: float, received: int) -> bytes:
    """The next chunk of the body; DownloadError when the server falls silent."""
    try:
        # read1: what has arrived, not a full chunk, so the count (and the progress
        # line) is up to date when the server slows down or stops
        return response.read1(_CHUNK)
    except TimeoutError:
        raise DownloadError(f"nothing arrived for {silence:.3g} s after {received:,} "
                            f"bytes") from None


def _receive(response, url: str, target: Path, md5: str, max_bytes: int | None,
             silence: float, progress: TextIO | None) -> None:
    """Stream the body of ``response`` into ``target`` and check that it has MD5 ``md5``.

    Raises OSError or http.client.HTTPException (a connection dropped mid-body) on
    failure, and DownloadError when nothing arrives for ``silence`` seconds (the
    response's socket timeout), when fewer bytes arrive than the server announced,
    when the server announces or sends more than ``max_bytes``, or when the MD5
    differs (the message says how many bytes of what content type came, e.g. a web
    page instead of the file).
    """
    digest = hashlib.md5(usedforsecurity=False)
    received = 0
    length = response.headers.get("Content-Length", "")
    announced = int(length) if length.isdigit() else None
    if max_bytes is not None and announced is not None and announced > max_bytes:
        raise DownloadError(f"the server announces {announced:,} bytes, more than the "
                            f"{max_bytes:,} the file has")
    bar = _ProgressLine(progress, url.rsplit("/", 1)[-1], announced)
    try:
        with open(target, "wb") as out:
            for chunk in iter(lambda: _read(response, silence, received), b""):
                received += len(chunk)
                if max_bytes is not None and received > max_bytes:
                    raise DownloadError(f"the server sent more than the {max_bytes:,} bytes "
                                        f"the file has")
                digest.update(chunk)
                out.write(chunk)
                bar.update(received)
            bar.update(received, final=True)
    finally:
        bar.clear()
    content_type = response.headers.get("Content-Type") or "unknown type"
    if announced is not None and received != announced:
        raise DownloadError(f"connection closed after {received} of {announced} bytes")
    if digest.hexdigest() != md5:
        raise DownloadError(f"MD5 mismatch: expected {md5}, got {digest.hexdigest()} "
                            f"({received:,} bytes of {content_type})")


def download(filename: str, md5: str, mirrors: Sequence[str], dest_dir, *,
             max_bytes: int | None = None, deadline: float = DEFAULT_DEADLINE,
             notice: Callable[[str], None] | None = None,
             progress: TextIO | None = None) -> Path:
    """Download ``filename`` from the first mirror that serves it with MD5 ``md5``.

    Each mirror is a base URL; the file's URL is ``mirror + filename``. The result is
    ``dest_dir / filename`` (the directory is created), written atomically. ``max_bytes``
    (the file's known size) stops a server that announces or sends more than that
    instead of filling the disk.

    ``deadline`` bounds, in seconds, the waiting for all the mirrors together: each
    mirror gets what is left of it to answer (and then as long of silence between
    reads), and the mirrors left when it has passed are not tried. A server that is
    sending the file is not cut off for being slow, only for falling silent.

    ``notice`` (e.g. a print to stderr) is told ``"downloading URL"`` before each
    mirror is tried. ``progress``, a text stream, gets a line with the percentage
    received, redrawn in place, when it is a terminal; nothing otherwise.

    Raises :class:`DownloadError` (an OSError) listing every URL and its failure
    (unreachable, no answer in time, HTTP error, dropped connection, too many bytes,
    checksum mismatch, not tried for lack of time) when none succeeds, or naming
    ``dest_dir`` when it cannot be created or written.
    """
    dest_dir = Path(dest_dir)
    created = not dest_dir.exists()
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot download {filename}: cannot create the folder "
                            f"{dest_dir}: {exc.strerror or exc}") from None
    if not os.access(dest_dir, os.W_OK):
        raise DownloadError(f"cannot download {filename}: {dest_dir} is not writable")
    dest = dest_dir / filename
    end = time.monotonic() + deadline
    failures = []
    for mirror in mirrors:
        url = mirror if mirror.endswith(filename) else mirror.rstrip("/") + "/" + filename
        left = end - time.monotonic()
        if left <= 0:
            failures.append((url, f"not tried: the {deadline:g} s deadline had passed"))
            continue
        if notice:
            notice(f"downloading {url}")
        try:
            # the connection opens before the temporary file: a mirror that never
            # answers leaves not even an empty file behind
            with _open(url, left) as response, atomic_path(dest) as tmp:
                _receive(response, url, tmp, md5, max_bytes, left, progress)
            return dest
        except urllib.error.HTTPError as exc:
            failures.append((url, f"HTTP {exc.code} {_one_line(exc.reason)}"))
        except urllib.error.URLError as exc:
            failures.append((url, _one_line(exc.reason)))
        except (OSError, http.client.HTTPException) as exc:
            failures.append((url, _one_line(exc) or type(exc).__name__))
    if created:
        # a folder made for nothing would hide a mistyped --data-dir next time
        with contextlib.suppress(OSError):
            dest_dir.rmdir()
    tried = "\n  ".join(f"{url}: {reason}" for url, reason in failures) or "(no mirrors given)"
    error = DownloadError(f"could not download {filename}:\n  {tried}")
    error.failures = tuple(failures)
    raise error


# -- remembering a failed attempt ----------------------------------------------------

@dataclass(frozen=True)
class RecentFailure:
    """A failed download remembered by :func:`remember_failure`: how many seconds ago
    it happened, why, and the file that remembers it."""

    seconds_ago: float
    reason: str
    path: Path

    def ago(self) -> str:
        """When, in words: ``"less than a minute ago"``, ``"1 minute ago"``, ..."""
        return minutes_ago(self.seconds_ago)


def minutes_ago(seconds: float) -> str:
    """``seconds`` in the past as words: "less than a minute ago", "1 minute ago",
    "5 minutes ago", "2 hours ago"."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return "less than a minute ago"
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''} ago"
    return f"{minutes // 60} hours ago"


def remember_failure(path, reason: str, mirrors: Sequence[str] = ()) -> None:
    """Record, in the JSON file ``path`` (written atomically, its folder created), that
    a download failed now and why, so that :func:`recent_failure` can tell the next
    runs. Raises OSError when the file cannot be written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    now = time.time()
    record = {"failed_at": now,
              "failed_at_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)),
              "reason": reason, "mirrors": list(mirrors)}
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")


def recent_failure(path, max_age: float) -> RecentFailure | None:
    """The failure recorded in ``path`` by :func:`remember_failure` if it happened less
    than ``max_age`` seconds ago; None when there is no such file or the failure is
    older (or dated in the future: a clock that was wrong then or is wrong now).

    Raises ValueError naming the file when it is not such a record (then it should be
    ignored and overwritten, not trusted).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read: {exc}") from None
    try:
        record = json.loads(text)
        failed_at, reason = float(record["failed_at"]), str(record["reason"])
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{path}: not a record of a failed download ({_one_line(exc)})") \
            from None
    age = time.time() - failed_at
    if not 0 <= age < max_age:
        return None
    return RecentFailure(age, reason, path)


def forget_failure(path) -> None:
    """Remove the record ``path`` of a failed download (it is fine if there is none).
    Raises OSError when it exists and cannot be removed."""
    Path(path).unlink(missing_ok=True)
