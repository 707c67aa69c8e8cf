"""Download a file from a list of mirrors, verify its MD5, and never leave a corrupt copy.

The bytes are streamed into a temporary file beside the destination while their MD5 is
computed; only a complete file with the expected checksum is renamed into place
(``os.replace``, atomic), so an interrupted download or a bad mirror leaves the cache
as it was. Mirrors are tried in turn until one delivers the right bytes.
"""

from __future__ import annotations

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


def _fetch(url: str, target: Path, timeout: float, notice) -> str:
    """Stream ``url`` into ``target``; return the MD5 of what arrived.

    Raises OSError (URLError, timeouts, refused connections) or
    http.client.HTTPException (a connection dropped mid-body) on failure, and
    DownloadError when fewer bytes arrive than the server announced.
    """
    digest = hashlib.md5(usedforsecurity=False)
    received = 0
    with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as out:
        announced = response.headers.get("Content-Length")
        if notice:
            notice(f"downloading {url}" + (f" ({int(announced):,} bytes)" if announced else ""))
        for chunk in iter(lambda: response.read(_CHUNK), b""):
            digest.update(chunk)
            out.write(chunk)
            received += len(chunk)
    if announced is not None and received != int(announced):
        raise DownloadError(f"connection closed after {received} of {announced} bytes")
    return digest.hexdigest()


def download(filename: str, md5: str, mirrors: Sequence[str], dest_dir, *,
             timeout: float = 30.0, notice: Callable[[str], None] | None = None) -> Path:
    """Download ``filename`` from the first mirror that serves it with MD5 ``md5``.

    Each mirror is a base URL; the file's URL is ``mirror + filename``. The result is
    ``dest_dir / filename`` (the directory is created), written atomically. ``notice``
    (e.g. a print to stderr) is told which URL is being fetched once a server answers,
    so an offline attempt stays quiet.

    Raises :class:`DownloadError` (an OSError) listing every URL and its failure
    (unreachable, HTTP error, dropped connection, checksum mismatch) when none succeeds,
    or naming ``dest_dir`` when it is not writable.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    if not os.access(dest_dir, os.W_OK):
        raise DownloadError(f"cannot download {filename}: {dest_dir} is not writable")
    dest = dest_dir / filename
    failures = []
    for mirror in mirrors:
        url = mirror if mirror.endswith(filename) else mirror.rstrip("/") + "/" + filename
        try:
            with atomic_path(dest) as tmp:
                got = _fetch(url, tmp, timeout, notice)
                if got != md5:
                    raise DownloadError(f"MD5 mismatch: expected {md5}, got {got}")
            return dest
        except urllib.error.HTTPError as exc:
            failures.append(f"{url}: HTTP {exc.code} {exc.reason}")
        except urllib.error.URLError as exc:
            failures.append(f"{url}: {exc.reason}")
        except (OSError, http.client.HTTPException) as exc:
            failures.append(f"{url}: {str(exc) or type(exc).__name__}")
    tried = "\n  ".join(failures) or "(no mirrors given)"
    raise DownloadError(f"could not download {filename}:\n  {tried}")
