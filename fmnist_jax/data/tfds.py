"""Fashion-MNIST through tensorflow-datasets, prepared offline from the same four .gz files.

Order (measured with tensorflow-datasets 4.9.10): tfds stores each split shuffled, not in the
published order of the raw files (and keras). Its train split is the raw train set permuted:
position k holds raw image `tfds_order("train", 60000)[k]`, the raw indices sorted by the md5 of
the split name followed by the index, so the order is the same on every machine. The test split
is permuted the same way with "test". The study's split follows the raw order: of tfds's first
50000 train images only 41654 are in the study's training set, and of its last 10000 only 1654
are in the study's validation set. Use `fmnist_jax.data.idx.load_raw` to reproduce the study.
"""

import hashlib
import tempfile
from pathlib import Path

import numpy as np

from fmnist_jax.data.idx import FILES, default_cache_dir, ensure_files
from fmnist_jax.data.split import RawData
from fmnist_jax.errors import DataError


def default_tfds_dir() -> Path:
    return default_cache_dir().parent / "tfds"


def tfds_order(split: str, n: int) -> np.ndarray:
    """Raw indices in the order tfds stores a split of n examples (its shuffle sorts by this hash)."""
    keys = [int(hashlib.md5(f"{split}{index}".encode()).hexdigest(), 16) for index in range(n)]
    return np.array(sorted(range(n), key=keys.__getitem__))


def load_tfds(data_dir=None, tfds_dir=None, progress: bool = True) -> RawData:
    """tfds's `fashion_mnist`, prepared once into tfds_dir from the four files, in tfds's order."""
    try:
        import importlib_resources  # noqa: F401  tfds 4.9.10 needs it but does not declare it
        import tensorflow  # noqa: F401  tfds needs it to prepare and read the dataset
        import tensorflow_datasets as tfds
    except ImportError as error:
        raise DataError(f"the tfds source cannot import {error.name}; "
                        "pip install 'fmnist-jax[tfds]'") from None
    paths = ensure_files(data_dir, progress=progress)
    manual_dir = paths["train_images"].parent
    if any(path != manual_dir / f"{FILES[key].stem}.gz" for key, path in paths.items()):
        raise DataError(f"{manual_dir}: the tfds source needs the four files gzipped, as released")
    if not progress:
        tfds.disable_progress_bar()
    builder = tfds.builder("fashion_mnist", data_dir=str(tfds_dir or default_tfds_dir()))
    with tempfile.TemporaryDirectory() as scratch:  # tfds's copies of the extracted files
        builder.download_and_prepare(download_dir=scratch, download_config=tfds.download.DownloadConfig(
            manual_dir=str(manual_dir), try_download_gcs=False))
    splits = tfds.as_numpy(builder.as_dataset(batch_size=-1, as_supervised=True))
    (train_images, train_labels), (test_images, test_labels) = splits["train"], splits["test"]
    return RawData(train_images[..., 0], train_labels.astype(np.uint8),
                   test_images[..., 0], test_labels.astype(np.uint8))
