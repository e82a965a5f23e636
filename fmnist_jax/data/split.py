"""The study's split of the release, and a synthetic stand-in for tests (numpy-only, no JAX).

Sources give their images in different orders: the raw files (and keras) in the published
order, which the study's split follows; tensorflow-datasets in its own shuffled order (see
`fmnist_jax.data.tfds`). Everything here takes the raw order.
"""

import hashlib
from typing import NamedTuple

import numpy as np

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
TRAIN_SIZE = 50_000  # the study's split: first 50000 train images train, the last 10000 validate
VALIDATION_SIZE = 10_000


class RawData(NamedTuple):
    """The release as uint8 arrays in the published order."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


class Split(NamedTuple):
    """The study's split: float32 NHWC pixels in [0, 1] and int32 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def study_split(raw: RawData, n_train: int = TRAIN_SIZE, n_val: int = VALIDATION_SIZE) -> Split:
    """The study's split: the first 50000 train images train, the next (last) 10000 validate."""

    def pixels(images: np.ndarray) -> np.ndarray:
        return (images.astype(np.float32) / 255.0)[..., None]

    val = slice(n_train, n_train + n_val)
    return Split(
        pixels(raw.train_images[:n_train]), raw.train_labels[:n_train].astype(np.int32),
        pixels(raw.train_images[val]), raw.train_labels[val].astype(np.int32),
        pixels(raw.test_images), raw.test_labels.astype(np.int32),
    )


def sklearn_view(raw: RawData):
    """The study's sklearn view: flattened images, StandardScaler fit on all 60000 training images."""
    from sklearn.preprocessing import StandardScaler

    x_train = raw.train_images.reshape(len(raw.train_images), -1).astype(np.float64)
    x_test = raw.test_images.reshape(len(raw.test_images), -1).astype(np.float64)
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), raw.train_labels, scaler.transform(x_test), raw.test_labels


def synthetic_raw(n_train: int = 600, n_test: int = 200, seed: int = 0) -> RawData:
    """A small stand-in that is learnable but not trivially: each class is a faint pattern on
    a shared background under heavy pixel noise, and one label in five is random (so a large
    network overfits and its validation loss turns back up, as on the real data)."""
    rng = np.random.default_rng(seed)
    templates = 128 + 8 * rng.standard_normal((10, 28, 28))

    def draw(n: int):
        classes = np.arange(n) % 10
        rng.shuffle(classes)
        images = np.clip(templates[classes] + rng.normal(0, 80, size=(n, 28, 28)), 0, 255)
        labels = np.where(rng.random(n) < 0.2, rng.integers(0, 10, n), classes)
        return images.astype(np.uint8), labels.astype(np.uint8)

    return RawData(*draw(n_train), *draw(n_test))


def synthetic_split(n_train: int = 400, n_val: int = 100, n_test: int = 100, seed: int = 0) -> Split:
    """A synthetic dataset split like the study's (for tests and quick demos)."""
    return study_split(synthetic_raw(n_train + n_val, n_test, seed), n_train, n_val)


def checked_split(split) -> Split:
    """A split a user built, as training reads it: float32 NHWC images and int32 labels, each
    set's images and labels of one length (a one-line ConfigError otherwise)."""
    from fmnist_jax.errors import ConfigError

    if not isinstance(split, Split):
        raise ConfigError("split must be a fmnist_jax.Split(x_train, y_train, x_val, y_val, "
                          f"x_test, y_test), got {type(split).__name__}")
    arrays = [np.asarray(array) for array in split]
    for name, images, labels in zip(("train", "val", "test"), arrays[0::2], arrays[1::2]):
        if images.ndim != 4:
            raise ConfigError(f"x_{name} must be NHWC images (n, height, width, channels), got "
                              f"shape {images.shape}; add a channel axis with x[..., None]")
        if labels.ndim != 1 or len(labels) != len(images):
            raise ConfigError(f"y_{name} must hold one label per image: {len(images)} images, "
                              f"labels of shape {labels.shape}")
        if len(labels) == 0 or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
            raise ConfigError(f"y_{name} must be non-empty integer class indices from 0")
    if len({images.shape[1:] for images in arrays[0::2]}) > 1:
        raise ConfigError("x_train, x_val and x_test must hold images of one shape")
    return Split(*(array.astype(np.float32 if i % 2 == 0 else np.int32, copy=False)
                   for i, array in enumerate(arrays)))


def split_record(split: Split) -> dict:
    """The arrays of a split a user passed: their shapes and dtypes, and one sha256 each."""
    return {"source": "arrays passed to the Python API",
            "shapes": {name: list(array.shape) for name, array in split._asdict().items()},
            "dtypes": {name: str(array.dtype) for name, array in split._asdict().items()},
            "sha256": {name: hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
                       for name, array in split._asdict().items()}}
