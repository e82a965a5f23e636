"""The four Fashion-MNIST IDX files: find, download, and validate them against the release's
checksums (numpy-only, no JAX)."""

import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fmnist_jax.data.split import RawData
from fmnist_jax.errors import DataError

MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DATA_DIR_ENV = "FMNIST_DATA_DIR"


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
