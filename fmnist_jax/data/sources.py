"""Where a run's images come from: the raw IDX files (the study's order) or tensorflow-datasets."""

from fmnist_jax.data.idx import FILES, _find, load_raw, resolve_data_dir
from fmnist_jax.data.split import RawData
from fmnist_jax.errors import DataError

SOURCES = ("raw", "tfds")


def load_source(source: str = "raw", data_dir=None, progress: bool = True) -> RawData:
    """The release from `source`: "raw" reads the IDX files in the published order (the study's);
    "tfds" loads tensorflow-datasets' copy in its own shuffled order (see fmnist_jax.data.tfds)."""
    if source not in SOURCES:
        raise DataError(f"unknown data source {source!r}: choose one of {', '.join(SOURCES)}")
    if source == "tfds":
        from fmnist_jax.data.tfds import load_tfds

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
