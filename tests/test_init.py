"""He and Xavier initialisation: the variances that keep signals from exploding or dying."""

import numpy as np
import pytest

from graph.init import he, xavier, zeros


def test_he_variance_is_2_over_fan_in():
    w = he(784, 256, np.random.default_rng(0))
    assert w.shape == (784, 256) and w.dtype == np.float32
    assert w.var() == pytest.approx(2 / 784, rel=0.02)
    assert abs(w.mean()) < 0.002


def test_he_keeps_the_signal_through_relu_layers():
    # E[relu(z)^2] = Var(z) / 2, and He's factor 2 gives that back: after 10 layers the
    # mean square of the activations is still of the order of the input's
    rng = np.random.default_rng(0)
    h = rng.standard_normal((500, 256))
    for _ in range(10):
        h = np.maximum(h @ he(256, 256, rng, np.float64), 0)
    assert 0.3 < np.mean(h ** 2) < 3


def test_xavier_is_uniform_with_variance_2_over_fan_in_plus_fan_out():
    w = xavier(300, 100, np.random.default_rng(1), dtype=np.float64)
    a = np.sqrt(6 / 400)
    assert w.dtype == np.float64 and np.abs(w).max() <= a
    assert w.var() == pytest.approx(2 / 400, rel=0.03)


def test_same_seed_same_weights_and_zero_biases():
    np.testing.assert_array_equal(he(5, 3, np.random.default_rng(7)),
                                  he(5, 3, np.random.default_rng(7)))
    assert zeros(4).tolist() == [0, 0, 0, 0] and zeros(4).dtype == np.float32


def test_sizes_must_be_positive():
    with pytest.raises(ValueError, match=r"positive fan_in and fan_out, got \(0, 3\)"):
        he(0, 3, np.random.default_rng(0))
