"""The study's three networks as PyTorch modules, built from `fmnist_jax.protocol.ARCHITECTURES`.

Layers are named `conv<i>` and `dense<i>` (the last dense layer gives the 10 logits), so a
state_dict reads `conv0.weight`, `dense2.bias`, ... Inputs are NCHW (N, 1, 28, 28); the CNN
flattens in PyTorch's (C, H, W) order. PyTorch's default initialisation throughout.
"""

from collections import OrderedDict

from torch import nn

from fmnist_jax.protocol import IMAGE_SHAPE, NUM_CLASSES, architecture


def build_model(name: str) -> nn.Sequential:
    """The named model (`simple`, `big` or `cnn`) as an nn.Sequential of named layers."""
    arch = architecture(name)
    height, width, channels = IMAGE_SHAPE
    layers = OrderedDict()
    for i, out_channels in enumerate(arch.conv_channels):
        layers[f"conv{i}"] = nn.Conv2d(channels, out_channels, kernel_size=3, padding=1)
        layers[f"relu_conv{i}"] = nn.ReLU()
        layers[f"pool{i}"] = nn.MaxPool2d(2)
        channels, height, width = out_channels, height // 2, width // 2
    layers["flatten"] = nn.Flatten()
    features = channels * height * width
    for i, hidden in enumerate(arch.hidden):
        layers[f"dense{i}"] = nn.Linear(features, hidden)
        layers[f"relu{i}"] = nn.ReLU()
        features = hidden
    layers[f"dense{len(arch.hidden)}"] = nn.Linear(features, NUM_CLASSES)
    return nn.Sequential(layers)
