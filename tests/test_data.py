"""The data module: IDX parsing and validation, locating and downloading, the study's split."""

import gzip
import os
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from fmnist_jax.data import idx
from fmnist_jax.data.batches import padded_batches
from fmnist_jax.data.idx import IdxFile
from fmnist_jax.data.split import study_split, synthetic_raw
from fmnist_jax.errors import DataError

SMALL_LABELS = IdxFile("tiny-labels-idx1-ubyte", 2049, (5,), None, None)
SMALL_IMAGES = IdxFile("tiny-images-idx3-ubyte", 2051, (5, 28, 28), None, None)


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write(path: Path, payload: bytes, compress: bool = True) -> Path:
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


def test_reads_gzipped_and_plain_idx_files_alike(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28))
    payload = idx_bytes(images, 2051)
    gz = write(tmp_path / "a.gz", payload)
    plain = write(tmp_path / "a", payload, compress=False)
    np.testing.assert_array_equal(idx.read_idx(gz, SMALL_IMAGES), images)
    np.testing.assert_array_equal(idx.read_idx(plain, SMALL_IMAGES), images)


@pytest.mark.parametrize("payload, message", [
    (idx_bytes(np.arange(5), 2051), "wrong magic number 2051"),
    (idx_bytes(np.arange(6), 2049), "wrong dimensions (6,)"),
    (idx_bytes(np.arange(5), 2049)[:-2], "truncated or padded"),
    (idx_bytes(np.arange(5), 2049) + b"\0", "truncated or padded"),
    (idx_bytes(np.array([0, 1, 2, 3, 10]), 2049), "label 10 is outside 0-9"),
    (b"\0\0", "truncated"),
])
def test_each_structural_fault_names_file_and_problem(tmp_path, payload, message):
    path = write(tmp_path / "labels.gz", payload)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")) as error:
        idx.read_idx(path, SMALL_LABELS)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_truncated_gzip_archive_is_reported(tmp_path):
    archive = gzip.compress(idx_bytes(np.arange(5), 2049))
    path = tmp_path / "labels.gz"
    path.write_bytes(archive[: len(archive) // 2])
    with pytest.raises(DataError, match="truncated or corrupt gzip archive"):
        idx.read_idx(path, SMALL_LABELS)


def test_checksum_mismatch_is_reported(tmp_path):
    spec = IdxFile("tiny", 2049, (5,), gz_sha256="0" * 64, raw_sha256=None)
    path = write(tmp_path / "labels.gz", idx_bytes(np.arange(5), 2049))
    with pytest.raises(DataError, match="checksum does not match"):
        idx.read_idx(path, spec)


def test_a_directory_in_place_of_a_file_is_reported(tmp_path):
    (tmp_path / "labels.gz").mkdir()
    with pytest.raises(DataError, match="is a directory"):
        idx.read_idx(tmp_path / "labels.gz", SMALL_LABELS)


def test_data_dir_argument_wins_over_environment_over_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("FMNIST_DATA_DIR", str(tmp_path / "env"))
    assert idx.resolve_data_dir(tmp_path / "arg") == (tmp_path / "arg", False)
    assert idx.resolve_data_dir() == (tmp_path / "env", False)
    monkeypatch.delenv("FMNIST_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert idx.resolve_data_dir() == (tmp_path / "cache" / "fmnist-jax" / "fashion-mnist", True)


def test_missing_files_in_an_explicit_directory_say_how_to_get_them(tmp_path):
    with pytest.raises(DataError, match=r"missing; run `fmnist data --data-dir"):
        idx.ensure_files(tmp_path)


class FakeResponse:
    """Stands in for urlopen's response: yields `chunks`, raising any that is an exception."""

    def __init__(self, chunks):
        self.chunks = list(chunks)
        self.headers = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def read(self, size):
        chunk = self.chunks.pop(0)
        if isinstance(chunk, Exception):
            raise chunk
        return chunk


def test_failed_download_leaves_no_file_behind(monkeypatch, tmp_path):
    cut = [b"the first bytes", urllib.error.URLError("connection reset")]
    monkeypatch.setattr(idx.urllib.request, "urlopen", lambda url, timeout: FakeResponse(cut))
    with pytest.raises(DataError, match="cannot download .* pass --data-dir"):
        idx.ensure_files(tmp_path, download=True, progress=False)
    assert os.listdir(tmp_path) == []


def test_download_with_wrong_checksum_is_not_kept(monkeypatch, tmp_path):
    wrong = [b"not the real file", b""]
    monkeypatch.setattr(idx.urllib.request, "urlopen", lambda url, timeout: FakeResponse(wrong))
    with pytest.raises(DataError, match="fails its sha256 checksum"):
        idx.ensure_files(tmp_path, download=True, progress=False)
    assert os.listdir(tmp_path) == []


def test_study_split_takes_first_50000_for_training_and_next_10000_for_validation():
    raw = synthetic_raw(n_train=60, n_test=7)
    split = study_split(raw, n_train=50, n_val=10)
    assert split.x_train.shape == (50, 28, 28, 1) and split.x_val.shape == (10, 28, 28, 1)
    np.testing.assert_array_equal(split.y_val, raw.train_labels[50:])
    np.testing.assert_allclose(split.x_train[..., 0], raw.train_images[:50] / 255.0)
    assert split.x_train.dtype == np.float32 and 0 <= split.x_train.min() <= split.x_train.max() <= 1


@pytest.mark.real_data
def test_real_files_load_with_published_shapes_and_class_counts(real_data_dir):
    raw = idx.load_raw(real_data_dir)
    assert raw.train_images.shape == (60_000, 28, 28) and raw.test_images.shape == (10_000, 28, 28)
    assert np.bincount(raw.train_labels).tolist() == [6000] * 10
    assert np.bincount(raw.test_labels).tolist() == [1000] * 10
    split = study_split(raw)
    assert (len(split.y_train), len(split.y_val), len(split.y_test)) == (50_000, 10_000, 10_000)


@pytest.mark.real_data
def test_real_files_uncompressed_pass_their_own_checksum(real_data_dir, tmp_path):
    spec = idx.FILES["test_labels"]
    plain = tmp_path / spec.stem
    plain.write_bytes(gzip.decompress((real_data_dir / f"{spec.stem}.gz").read_bytes()))
    assert idx.read_idx(plain, spec).shape == (10_000,)


def test_padded_batches_keep_the_short_last_batch_and_mask_its_padding():
    indices, mask = padded_batches(np.array([4, 2, 0, 1, 3]), 2)
    assert indices.tolist() == [[4, 2], [0, 1], [3, 0]]
    assert mask.tolist() == [[1, 1], [1, 1], [1, 0]] and mask.dtype == np.float32
