"""Parameter checkpoints in flax's msgpack format: plain arrays, no pickled objects."""

from pathlib import Path

import jax
from flax import serialization

from fmnist_jax.rundir import write_atomic

CHECKPOINT = "checkpoint.msgpack"


def save_params(run_dir: Path, params) -> None:
    """Saves a pytree of arrays (here: parameters stacked over the runs axis), atomically."""
    write_atomic(Path(run_dir) / CHECKPOINT, serialization.msgpack_serialize(jax.device_get(params)))


def load_params(run_dir: Path) -> dict:
    return serialization.msgpack_restore((Path(run_dir) / CHECKPOINT).read_bytes())
