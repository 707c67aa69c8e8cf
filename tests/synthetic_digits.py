"""Small synthetic "digits" for the data and training tests, written as real IDX files.

Digit k is noise with a bright horizontal bar at row 2k + 4, so even softmax regression
learns it in a few epochs, and the files exercise the same reader as MNIST's.
"""

import numpy as np

from experiments.idx import write_idx


def bar_digits(n, seed):
    """(images (n, 28, 28) uint8, labels (n,) uint8): the labels cycle 0, 1, ..., 9."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 10).astype(np.uint8)
    images = rng.integers(0, 80, size=(n, 28, 28), dtype=np.uint8)
    images[np.arange(n), 2 * labels + 4, 3:25] = 255
    return images, labels


def write_bar_digits(folder, n_train=40, n_test=20, seed=0, gz=True):
    """The four files of a dataset, named like MNIST's, in ``folder`` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for prefix, n, split_seed in (("train", n_train, seed), ("t10k", n_test, seed + 1)):
        images, labels = bar_digits(n, split_seed)
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return folder
