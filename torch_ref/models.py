"""The study's three networks as PyTorch modules, built from `fmnist_jax.protocol.ARCHITECTURES`.

Layers are named `conv<i>` and `dense<i>` (the last dense layer gives the 10 logits), so a
state_dict reads `conv0.weight`, `dense2.bias`, ... Inputs are NCHW (N, 1, 28, 28); the CNN
flattens in PyTorch's (C, H, W) order. PyTorch's default initialisation throughout.
"""

from collections import OrderedDict

from torch import nn

from fmnist_jax.protocol import architecture, layer_specs


def build_model(name: str) -> nn.Sequential:
    """The named model (`simple`, `big` or `cnn`) as an nn.Sequential of named layers."""
    modules = OrderedDict()
    weight_layers = layer_specs(architecture(name))
    convs = [layer for layer in weight_layers if layer.kind == "conv"]
    for i, layer in enumerate(convs):
        modules[f"conv{i}"] = nn.Conv2d(layer.fan_in // 9, layer.features, kernel_size=3, padding=1)
        modules[f"relu_conv{i}"] = nn.ReLU()
        modules[f"pool{i}"] = nn.MaxPool2d(2)
    modules["flatten"] = nn.Flatten()
    dense = weight_layers[len(convs):]
    for i, layer in enumerate(dense):
        modules[f"dense{i}"] = nn.Linear(layer.fan_in, layer.features)
        if i < len(dense) - 1:
            modules[f"relu{i}"] = nn.ReLU()
    return nn.Sequential(modules)
