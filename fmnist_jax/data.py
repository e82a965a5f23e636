"""Fashion-MNIST: find, download, validate and split the four IDX files (numpy-only, no JAX).

Sources give their images in different orders: the raw files (and keras) in the published
order, which the study's split follows; tensorflow-datasets in its own shuffled order (see
`fmnist_jax.tfds_source`). Everything here returns the raw order.
"""

import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DATA_DIR_ENV = "FMNIST_DATA_DIR"
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
TRAIN_SIZE = 50_000  # the study's split: first 50000 train images train, the last 10000 validate
VALIDATION_SIZE = 10_000


class DataError(Exception):
    """A data problem, worded as one line that names the file and says what to do."""


def bad_file(name, problem: str) -> DataError:
    """The error for a file that is there but wrong, with what to do about it (`fmnist data`
    downloads only missing files, so the bad one must go first)."""
    return DataError(f"{name}: {problem}; delete it and run `fmnist data --data-dir "
                     f"{Path(name).parent}` to download it again, or point --data-dir at good "
                     "files")


@dataclass(frozen=True)
class IdxFile:
    """One of the four release files: its name, shape and published checksums."""

    stem: str
    magic: int
    shape: tuple[int, ...]
    gz_sha256: str | None
    raw_sha256: str | None

    @property
    def is_labels(self) -> bool:
        return self.magic == 2049


FILES = {
    "train_images": IdxFile("train-images-idx3-ubyte", 2051, (60_000, 28, 28),
                            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train_labels": IdxFile("train-labels-idx1-ubyte", 2049, (60_000,),
                            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "test_images": IdxFile("t10k-images-idx3-ubyte", 2051, (10_000, 28, 28),
                           "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                           "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "test_labels": IdxFile("t10k-labels-idx1-ubyte", 2049, (10_000,),
                           "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                           "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}


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


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fmnist-jax" / "fashion-mnist"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """`--data-dir`, else `$FMNIST_DATA_DIR`, else the user cache; says whether it is the cache."""
    chosen = data_dir or os.environ.get(DATA_DIR_ENV)
    return (Path(chosen), False) if chosen else (default_cache_dir(), True)


def parse_idx(buf: bytes, spec: IdxFile, name: str) -> np.ndarray:
    """Parses uncompressed IDX bytes, checking magic number, dimensions, count and labels."""
    if len(buf) < 4:
        raise bad_file(name, f"file is truncated ({len(buf)} bytes)")
    magic = int.from_bytes(buf[:4], "big")
    if magic != spec.magic:
        raise bad_file(name, f"wrong magic number {magic} (expected {spec.magic}), "
                             "not the right IDX file")
    header = 4 + 4 * len(spec.shape)
    if len(buf) < header:
        raise bad_file(name, "file is truncated inside its header")
    shape = tuple(int.from_bytes(buf[i:i + 4], "big") for i in range(4, header, 4))
    if shape != spec.shape:
        raise bad_file(name, f"wrong dimensions {shape} (expected {spec.shape})")
    size = int(np.prod(shape))
    if len(buf) != header + size:
        raise bad_file(name, f"holds {len(buf) - header} data bytes, expected {size} "
                             "(truncated or padded)")
    array = np.frombuffer(buf, dtype=np.uint8, offset=header).reshape(shape)
    if spec.is_labels and array.max(initial=0) >= 10:
        raise bad_file(name, f"label {int(array.max())} is outside 0-9")
    return array


def read_idx(path: Path, spec: IdxFile) -> np.ndarray:
    """Reads one IDX file (.gz or uncompressed) and validates structure, then checksum."""
    is_gz = path.suffix == ".gz"
    try:
        stored = path.read_bytes()
    except IsADirectoryError:
        raise bad_file(path, "is a directory, not a file") from None
    except PermissionError:
        raise DataError(f"{path}: cannot be read (permission denied); fix its permissions") from None
    try:
        buf = gzip.decompress(stored) if is_gz else stored
    except (EOFError, OSError, zlib.error) as error:
        raise bad_file(path, f"truncated or corrupt gzip archive ({error})") from None
    array = parse_idx(buf, spec, str(path))
    expected = spec.gz_sha256 if is_gz else spec.raw_sha256
    if expected and hashlib.sha256(stored).hexdigest() != expected:
        raise bad_file(path, "sha256 checksum does not match the published release")
    return array


def _find(directory: Path, spec: IdxFile) -> Path | None:
    for candidate in (directory / f"{spec.stem}.gz", directory / spec.stem):
        if candidate.exists():
            return candidate
    return None


def _download(url: str, target: Path, expected_sha256: str, progress: bool) -> None:
    """Streams `url` to a temp file beside `target`, checks it, then renames: never a partial file."""
    from tqdm import tqdm

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=target.name,
                      disable=not progress) as bar:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        if digest.hexdigest() != expected_sha256:
            raise DataError(f"{url}: downloaded file fails its sha256 checksum; try again later")
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError) as error:
        raise DataError(f"cannot download {url} ({error}); put the four Fashion-MNIST files in "
                        f"{target.parent} or pass --data-dir DIR") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def ensure_files(data_dir=None, download: bool | None = None, progress: bool = True) -> dict:
    """Returns the path of each of the four files, downloading missing ones when allowed.

    By default only the user cache is filled automatically; an explicit directory must already
    hold the files unless `download=True` (what `fmnist data --data-dir DIR` does).
    """
    directory, is_cache = resolve_data_dir(data_dir)
    download = is_cache if download is None else download
    paths = {}
    for key, spec in FILES.items():
        path = _find(directory, spec)
        if path is None and download:
            path = directory / f"{spec.stem}.gz"
            _download(MIRROR + path.name, path, spec.gz_sha256, progress)
        if path is None:
            raise DataError(f"{directory / (spec.stem + '.gz')}: missing; run `fmnist data "
                            f"--data-dir {directory}` to download it, or copy the four files there")
        paths[key] = path
    return paths


def load_raw(data_dir=None, download: bool | None = None, progress: bool = True) -> RawData:
    """Loads and validates the four files from the resolved data directory."""
    paths = ensure_files(data_dir, download, progress)
    return RawData(**{key: read_idx(path, FILES[key]) for key, path in paths.items()})


SOURCES = ("raw", "tfds")


def load_source(source: str = "raw", data_dir=None, progress: bool = True) -> RawData:
    """The release from `source`: "raw" reads the IDX files in the published order (the study's);
    "tfds" loads tensorflow-datasets' copy in its own shuffled order (see fmnist_jax.tfds_source)."""
    if source not in SOURCES:
        raise DataError(f"unknown data source {source!r}: choose one of {', '.join(SOURCES)}")
    if source == "tfds":
        from fmnist_jax.tfds_source import load_tfds

        return load_tfds(data_dir, progress=progress)
    return load_raw(data_dir, progress=progress)


def describe_source(source: str = "raw", data_dir=None) -> dict:
    """The data a run read, for its provenance: the source, the directory of the four files
    and their sha256 (loading checks each against the published release)."""
    directory, _ = resolve_data_dir(data_dir)
    sha256 = {}
    for spec in FILES.values():
        path = _find(directory, spec)
        if path is not None:
            sha256[path.name] = spec.gz_sha256 if path.suffix == ".gz" else spec.raw_sha256
    return {"source": source, "directory": str(directory.resolve()), "sha256": sha256}


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
