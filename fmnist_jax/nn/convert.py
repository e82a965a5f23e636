"""Weights between PyTorch and Flax, both ways, on numpy arrays (imports neither framework).

A torch state_dict is `{name: np.ndarray}` with the names of `torch_ref.models`; Flax params are
`{"Conv_i"|"Dense_i": {"kernel", "bias"}}` as `fmnist_jax.nn.models` makes them. Dense kernels are
transposed ((out, in) <-> (in, out)), conv kernels go OIHW <-> HWIO, and the CNN's first dense
layer has its input rows reordered, because PyTorch flattens (C, H, W) and the NHWC Flax model
flattens (H, W, C).
"""

from collections.abc import Mapping

import numpy as np

from fmnist_jax.protocol import Architecture, architecture, conv_output_chw


def torch_to_flax(state_dict: Mapping, model: str) -> dict:
    """Flax params holding the weights of a torch state_dict of the named model."""
    arch = architecture(model)
    _check_names(state_dict, arch)
    arrays = {name: np.asarray(value) for name, value in state_dict.items()}
    params = {}
    for i in range(len(arch.conv_channels)):
        params[f"Conv_{i}"] = {"kernel": arrays[f"conv{i}.weight"].transpose(2, 3, 1, 0),
                               "bias": arrays[f"conv{i}.bias"]}
    for i in range(len(arch.hidden) + 1):
        weight = arrays[f"dense{i}.weight"]
        if i == 0 and arch.conv_channels:
            weight = weight.reshape(-1, *conv_output_chw(arch)).transpose(0, 2, 3, 1)
        params[f"Dense_{i}"] = {"kernel": weight.reshape(len(weight), -1).T,
                                "bias": arrays[f"dense{i}.bias"]}
    return _contiguous(params)


def flax_to_torch(params: Mapping, model: str) -> dict[str, np.ndarray]:
    """A torch state_dict ({name: np.ndarray}) holding the weights of Flax params."""
    arch = architecture(model)
    state_dict = {}
    for i in range(len(arch.conv_channels)):
        layer = params[f"Conv_{i}"]
        state_dict[f"conv{i}.weight"] = np.asarray(layer["kernel"]).transpose(3, 2, 0, 1)
        state_dict[f"conv{i}.bias"] = np.asarray(layer["bias"])
    for i in range(len(arch.hidden) + 1):
        layer = params[f"Dense_{i}"]
        weight = np.asarray(layer["kernel"]).T
        if i == 0 and arch.conv_channels:
            channels, height, width = conv_output_chw(arch)
            weight = weight.reshape(-1, height, width, channels).transpose(0, 3, 1, 2)
            weight = weight.reshape(len(weight), -1)
        state_dict[f"dense{i}.weight"] = weight
        state_dict[f"dense{i}.bias"] = np.asarray(layer["bias"])
    return _contiguous(state_dict)


def _torch_names(arch: Architecture) -> list[str]:
    """The state_dict names of a torch_ref model of this architecture."""
    layers = [f"conv{i}" for i in range(len(arch.conv_channels))]
    layers += [f"dense{i}" for i in range(len(arch.hidden) + 1)]
    return [f"{layer}.{kind}" for layer in layers for kind in ("weight", "bias")]


def _check_names(state_dict: Mapping, arch: Architecture) -> None:
    expected = set(_torch_names(arch))
    if set(state_dict) != expected:
        missing, extra = sorted(expected - set(state_dict)), sorted(set(state_dict) - expected)
        raise ValueError(f"state_dict does not match the architecture: missing {missing}, "
                         f"unexpected {extra}")


def _contiguous(tree):
    if isinstance(tree, Mapping):
        return {key: _contiguous(value) for key, value in tree.items()}
    return np.ascontiguousarray(tree)
