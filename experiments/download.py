"""Download a file from a list of mirrors, verify its MD5, and never leave a corrupt copy.

The bytes are streamed into a temporary file beside the destination while their MD5 is
computed; only a complete file with the expected checksum is renamed into place
(``os.replace``, atomic), so an interrupted download or a bad mirror leaves the cache
as it was. Mirrors are tried in turn until one delivers the right bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Sequence

from gates.atomic import atomic_path

__all__ = ["DownloadError", "download", "file_md5"]

_CHUNK = 1 << 16


class DownloadError(OSError):
    """No mirror delivered the file with the expected checksum; the message lists each
    URL tried and why it failed."""


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


def _fetch(url: str, target: Path, md5: str, max_bytes: int | None, timeout: float,
           notice) -> None:
    """Stream ``url`` into ``target`` and check that what arrived has MD5 ``md5``.

    Raises OSError (URLError, timeouts, refused connections) or
    http.client.HTTPException (a connection dropped mid-body) on failure, and
    DownloadError when fewer bytes arrive than the server announced, when the server
    announces or sends more than ``max_bytes``, or when the MD5 differs (the message
    says how many bytes of what content type came, e.g. a web page instead of the file).
    """
    digest = hashlib.md5(usedforsecurity=False)
    received = 0
    with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as out:
        length = response.headers.get("Content-Length", "")
        announced = int(length) if length.isdigit() else None
        if max_bytes is not None and announced is not None and announced > max_bytes:
            raise DownloadError(f"the server announces {announced:,} bytes, more than the "
                                f"{max_bytes:,} the file has")
        if notice:
            notice(f"downloading {url}" + (f" ({announced:,} bytes)" if announced else ""))
        for chunk in iter(lambda: response.read(_CHUNK), b""):
            received += len(chunk)
            if max_bytes is not None and received > max_bytes:
                raise DownloadError(f"the server sent more than the {max_bytes:,} bytes "
                                    f"the file has")
            digest.update(chunk)
            out.write(chunk)
        content_type = response.headers.get("Content-Type") or "unknown type"
    if announced is not None and received != announced:
        raise DownloadError(f"connection closed after {received} of {announced} bytes")
    if digest.hexdigest() != md5:
        raise DownloadError(f"MD5 mismatch: expected {md5}, got {digest.hexdigest()} "
                            f"({received:,} bytes of {content_type})")


def download(filename: str, md5: str, mirrors: Sequence[str], dest_dir, *,
             max_bytes: int | None = None, timeout: float = 30.0,
             notice: Callable[[str], None] | None = None) -> Path:
    """Download ``filename`` from the first mirror that serves it with MD5 ``md5``.

    Each mirror is a base URL; the file's URL is ``mirror + filename``. The result is
    ``dest_dir / filename`` (the directory is created), written atomically. ``max_bytes``
    (the file's known size) stops a server that announces or sends more than that
    instead of filling the disk. ``notice`` (e.g. a print to stderr) is told which URL
    is being fetched once a server answers, so an offline attempt stays quiet.

    Raises :class:`DownloadError` (an OSError) listing every URL and its failure
    (unreachable, HTTP error, dropped connection, too many bytes, checksum mismatch)
    when none succeeds, or naming ``dest_dir`` when it cannot be created or written.
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
    failures = []
    for mirror in mirrors:
        url = mirror if mirror.endswith(filename) else mirror.rstrip("/") + "/" + filename
        try:
            with atomic_path(dest) as tmp:
                _fetch(url, tmp, md5, max_bytes, timeout, notice)
            return dest
        except urllib.error.HTTPError as exc:
            failures.append(f"{url}: HTTP {exc.code} {_one_line(exc.reason)}")
        except urllib.error.URLError as exc:
            failures.append(f"{url}: {_one_line(exc.reason)}")
        except (OSError, http.client.HTTPException) as exc:
            failures.append(f"{url}: {_one_line(exc) or type(exc).__name__}")
    if created:
        # a folder made for nothing would hide a mistyped --data-dir next time
        with contextlib.suppress(OSError):
            dest_dir.rmdir()
    tried = "\n  ".join(failures) or "(no mirrors given)"
    raise DownloadError(f"could not download {filename}:\n  {tried}")
