"""The tensorflow-datasets source: the same release as the raw files, in tfds's documented order."""

import sys
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest

from fmnist_jax.data.idx import FILES, load_raw
from fmnist_jax.data.sources import load_source
from fmnist_jax.data.tfds import load_tfds, tfds_order
from fmnist_jax.errors import DataError


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


class FakeTfds(ModuleType):
    """tensorflow_datasets as `load_tfds` calls it: a builder prepared from a manual directory,
    whose splits `as_numpy` returns as (images NHWC uint8, labels int64), the shapes tfds gives."""

    def __init__(self, splits: dict):
        super().__init__("tensorflow_datasets")
        self.splits, self.calls = splits, {}
        self.download = SimpleNamespace(DownloadConfig=lambda **config: config)

    def disable_progress_bar(self):
        self.calls["progress bar"] = "disabled"

    def builder(self, name, data_dir):
        self.calls["builder"] = (name, data_dir)
        return self

    def download_and_prepare(self, download_dir, download_config):
        self.calls["manual_dir"] = download_config["manual_dir"]
        self.calls["try_download_gcs"] = download_config["try_download_gcs"]

    def as_dataset(self, batch_size, as_supervised):
        self.calls["as_dataset"] = (batch_size, as_supervised)
        return "datasets"

    def as_numpy(self, datasets):
        assert datasets == "datasets"
        return self.splits


def fake_split(n: int, seed: int):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8),
            rng.integers(0, 10, n).astype(np.int64))


@pytest.fixture
def fake_tfds(monkeypatch, tmp_path) -> FakeTfds:
    """The fake in place of tensorflow_datasets (and of what it needs), a user cache in tmp_path."""
    fake = FakeTfds({"train": fake_split(6, 0), "test": fake_split(4, 1)})
    for name in ("importlib_resources", "tensorflow"):
        monkeypatch.setitem(sys.modules, name, ModuleType(name))
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return fake


def write_files(directory, suffix: str) -> None:
    """The four files' names (load_tfds only locates them; tfds reads them)."""
    directory.mkdir()
    for spec in FILES.values():
        (directory / f"{spec.stem}{suffix}").touch()


def test_the_tfds_source_converts_what_tfds_returns_without_tensorflow(fake_tfds, tmp_path):
    write_files(tmp_path / "data", ".gz")
    raw = load_source("tfds", tmp_path / "data", progress=False)
    assert fake_tfds.calls == {
        "progress bar": "disabled",
        "builder": ("fashion_mnist", str(tmp_path / "cache" / "fmnist-jax" / "tfds")),
        "manual_dir": str(tmp_path / "data"), "try_download_gcs": False,
        "as_dataset": (-1, True)}
    for images, labels, split in ((raw.train_images, raw.train_labels, "train"),
                                  (raw.test_images, raw.test_labels, "test")):
        want_images, want_labels = fake_tfds.splits[split]
        np.testing.assert_array_equal(images, want_images[..., 0])
        np.testing.assert_array_equal(labels, want_labels)
        assert (images.shape[1:], labels.dtype) == ((28, 28), np.uint8)


def test_the_tfds_source_refuses_uncompressed_files(fake_tfds, tmp_path):
    write_files(tmp_path / "data", "")
    with pytest.raises(DataError, match="needs the four files gzipped"):
        load_source("tfds", tmp_path / "data", progress=False)
    assert "builder" not in fake_tfds.calls
