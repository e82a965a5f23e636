"""Checkpoints in flax's msgpack format: plain arrays, no pickled objects, written atomically.

`save_params`/`load_params` hold a finished run's parameters (stacked over the runs axis).
`save_tree`/`load_tree` hold any pytree, such as the whole training state of a chunk of runs,
as its flat list of leaves; loading needs a pytree of the same structure as a template.
"""

from pathlib import Path

import jax
import numpy as np
from flax import serialization

from fmnist_jax.reporting.rundir import write_atomic

CHECKPOINT = "checkpoint.msgpack"


def save_params(run_dir: Path, params) -> None:
    write_atomic(Path(run_dir) / CHECKPOINT, serialization.msgpack_serialize(jax.device_get(params)))


def load_params(run_dir: Path) -> dict:
    return serialization.msgpack_restore((Path(run_dir) / CHECKPOINT).read_bytes())


def save_tree(path: Path, tree, **meta) -> None:
    """Saves the leaves of `tree` (host arrays) and small metadata, atomically."""
    leaves = [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(tree)]
    payload = {"leaves": leaves, "meta": meta}
    write_atomic(Path(path), serialization.msgpack_serialize(payload))


def load_tree(path: Path, template) -> tuple:
    """The pytree saved at `path`, shaped like `template`, and its metadata."""
    payload = serialization.msgpack_restore(Path(path).read_bytes())
    leaves = list(payload["leaves"])
    treedef = jax.tree_util.tree_structure(template)
    if treedef.num_leaves != len(leaves):
        raise ValueError(f"{path}: holds {len(leaves)} arrays, expected {treedef.num_leaves}")
    return jax.tree_util.tree_unflatten(treedef, leaves), payload["meta"]
