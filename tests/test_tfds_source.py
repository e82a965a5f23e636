"""The tensorflow-datasets source: the same release as the raw files, in tfds's documented order."""

import sys

import numpy as np
import pytest

from fmnist_jax.data import DataError, load_raw
from fmnist_jax.tfds_source import load_tfds, tfds_order


@pytest.fixture(scope="module")
def raw_and_tfds(real_data_dir, tmp_path_factory):
    pytest.importorskip("tensorflow_datasets")
    tfds_dir = tmp_path_factory.mktemp("tfds")
    return load_raw(real_data_dir), load_tfds(real_data_dir, tfds_dir, progress=False)


@pytest.mark.real_data
def test_tfds_train_split_is_the_raw_train_set_in_tfds_order(raw_and_tfds):
    raw, tfds = raw_and_tfds
    order = tfds_order("train", len(raw.train_labels))
    np.testing.assert_array_equal(tfds.train_images, raw.train_images[order])
    np.testing.assert_array_equal(tfds.train_labels, raw.train_labels[order])


@pytest.mark.real_data
def test_tfds_test_split_is_the_raw_test_set_in_tfds_order(raw_and_tfds):
    raw, tfds = raw_and_tfds
    order = tfds_order("test", len(raw.test_labels))
    np.testing.assert_array_equal(tfds.test_images, raw.test_images[order])
    np.testing.assert_array_equal(tfds.test_labels, raw.test_labels[order])


def test_tfds_first_50000_train_images_are_not_the_studys_training_set():
    order = tfds_order("train", 60_000)
    assert np.count_nonzero(order[:50_000] < 50_000) == 41_654
    assert np.count_nonzero(order[50_000:] >= 50_000) == 1_654


def test_missing_tfds_dependencies_are_a_data_error_naming_the_extra(monkeypatch):
    for module in ("importlib_resources", "tensorflow", "tensorflow_datasets"):
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(DataError, match=r"pip install 'fmnist-jax\[tfds\]'"):
        load_tfds()
