"""Seeded, shuffled mini-batches: every example once per epoch, a new order each epoch."""

import numpy as np
import pytest

from graph.batches import batch_indices, minibatches


def test_ten_examples_in_batches_of_four():
    batches = batch_indices(10, 4)
    assert [b.tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [len(b) for b in batch_indices(10, 4, drop_last=True)] == [4, 4]


def test_shuffled_epochs_cover_everything_once_and_differ():
    rng = np.random.default_rng(0)
    first = np.concatenate(batch_indices(100, 32, rng))
    second = np.concatenate(batch_indices(100, 32, rng))
    assert sorted(first.tolist()) == list(range(100)) == sorted(second.tolist())
    assert first.tolist() != second.tolist()


def test_the_same_seed_gives_the_same_batches():
    a = batch_indices(50, 8, np.random.default_rng(3))
    b = batch_indices(50, 8, np.random.default_rng(3))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_minibatches_keep_images_and_labels_together():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)     # row i is (2i, 2i + 1)
    y = np.arange(10)
    for xb, yb in minibatches(x, y, 3, np.random.default_rng(1)):
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)


def test_misuse():
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        batch_indices(10, 0)
    with pytest.raises(ValueError, match="x has 3 rows but y has 2"):
        next(minibatches(np.zeros((3, 1)), np.zeros(2), 2))
